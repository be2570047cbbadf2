// The advisory lock that says "pdsync-server is using this store". The server holds a
// StoreLock on its database for as long as it runs; restore (and anything else that must
// not touch a live store) tries to take the same lock and refuses while it cannot.
#pragma once

#include "shared/base/progress.hpp"
#include "shared/base/result.hpp"

#include <filesystem>

namespace pdsync::backup {

// RAII exclusive flock(2) on "<db>.lock". The lock dies with its holder, even on kill -9,
// so a crashed server never leaves the store locked. flock locks belong to the open file,
// so two StoreLocks on one store conflict even inside one process.
// Owned by whoever must keep the store to itself (the server's main object, or a restore
// for its duration); move-only; any thread may create or destroy one, but a given object
// is used by one thread at a time.
//
//   auto lock = StoreLock::try_acquire("/var/lib/pdsync/server.db");
//   if (!lock) { spdlog::error("{}", lock.error().message); return 1; }  // code "busy"
//   run_server();  // the lock is released when `lock` goes out of scope
class StoreLock {
  public:
    // Takes the lock without waiting. Errors: busy (another holder), io.
    static Result<StoreLock> try_acquire(const std::filesystem::path& db_path);
    // "<db>.lock": the file the lock lives on. It is left in place on release, on purpose:
    // removing it would let a waiter lock a file that another process then recreates.
    static std::filesystem::path lock_path_for(const std::filesystem::path& db_path);

    StoreLock(StoreLock&& other) noexcept;
    StoreLock& operator=(StoreLock&& other) noexcept;
    StoreLock(const StoreLock&) = delete;
    StoreLock& operator=(const StoreLock&) = delete;
    ~StoreLock();

    const std::filesystem::path& path() const { return path_; }

  private:
    StoreLock(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
    void release();

    int fd_ = -1;
    std::filesystem::path path_;
};

}  // namespace pdsync::backup
