// The server's backups: on demand (`pdsync backup now`) and on a schedule, to a local
// directory or an SMB share, with retention; listing; and the target a restore reads
// from. Built on server-node/backup (snapshot, targets, manifests).
//
// Ownership and threads: owned by ServerNode. run_now() and list() may be called from any
// thread; they are serialized (one backup at a time). The scheduler runs its own thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server-node/backup/backup_target.hpp"
#include "shared/codec.hpp"

namespace pdsync::server {

struct BackupSettings {
    std::string dir;      // local directory target, or
    std::string smb_url;  // smb://host[:port]/share/path
    std::string smb_user;
    std::string smb_password;
    std::string smb_password_file;
    std::string smb_workgroup = "WORKGROUP";
    int interval_s = 0;  // 0: no scheduled backups
    int keep = 7;        // backups kept by retention
    bool configured() const { return !dir.empty() || !smb_url.empty(); }
};

// Builds the configured target; nullptr with `error` set when none is configured.
std::unique_ptr<backup::BackupTarget> make_backup_target(const BackupSettings& s,
                                                         std::string& error);

class ServerBackups {
  public:
    using Progress = std::function<void(uint64_t done, uint64_t total)>;
    // `on_result` receives each backup's summary (for the server status).
    ServerBackups(std::string store_path, BackupSettings settings,
                  std::function<void(const Value&)> on_result);
    ~ServerBackups();

    void start_schedule();
    void stop();
    // {"ok": true, "id": ..., "removed": [...]} or {"ok": false, "error", "message"}.
    Value run_now(const std::string& label, const Progress& progress);
    Value list();

  private:
    void schedule_loop();

    std::string store_path_;
    BackupSettings settings_;
    std::function<void(const Value&)> on_result_;
    std::mutex run_mu_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread scheduler_;
};

}  // namespace pdsync::server
