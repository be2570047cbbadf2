// "Back up now" from the web page: runs the server's backup-now command on its own thread,
// so the HTTP request that started it answers at once, and keeps its progress for the page
// to poll. One job at a time; the last finished job's result stays until the next starts.
//
// Ownership and threads: owned by WebApi; start() and state() from any thread; the
// destructor waits for a running backup to finish (a snapshot is never cut off half-way).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "shared/codec.hpp"

namespace pdsync::server::web {

class BackupJob {
  public:
    using Run = std::function<Value(const std::string& label,
                                    const std::function<void(uint64_t, uint64_t)>& progress)>;
    explicit BackupJob(Run run);
    ~BackupJob();

    // False if a backup is already running.
    bool start(const std::string& label, int64_t at_ms);
    // {"state": "idle"|"running"|"done"|"failed", "done", "total", "label", "started_at",
    //  "finished_at", "result"}.
    Value state() const;

  private:
    Run run_;
    mutable std::mutex mu_;
    Value state_;
    std::thread thread_;
};

}  // namespace pdsync::server::web
