// Backups of the server store end to end: snapshot the live database, upload it with its
// manifest to a target, list what a target holds, keep the newest N, and restore one
// into place after proving it is the intact snapshot that was taken.
#pragma once

#include "server-node/backup/backup_target.hpp"
#include "server-node/backup/manifest.hpp"
#include "server-node/backup/snapshot.hpp"
#include "shared/base/progress.hpp"
#include "shared/base/result.hpp"

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pdsync::backup {

// Stateless apart from its options: owned by the server (scheduled backups) or the CLI
// (on-demand backup and restore). Calls on one object may come from any thread, but the
// target passed in must not be used by another thread at the same time.
//
//   BackupManager manager({.progress = bar.callback()});
//   LocalDirTarget target("/mnt/backup/pdsync");
//   auto id = manager.run("/var/lib/pdsync/server.db", target, "nightly");
//   auto removed = manager.apply_retention(target, 14);
//   // ... later, with pdsync-server stopped:
//   auto st = manager.restore(target, *id, "/var/lib/pdsync/server.db");
class BackupManager {
  public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;

    struct Options {
        // Progress (done, total): pages for run()'s snapshot, bytes downloaded and then
        // verified for restore(); empty for none.
        ProgressFn progress;
        // Where run() stages the snapshot and manifest before upload. Empty: the source
        // database's own directory, which sits on the disk sized for the store (a small
        // tmpfs /tmp might not hold it).
        std::filesystem::path staging_dir;
        // Source of backup timestamps; tests inject a fixed clock to get known ids.
        Clock now = [] { return std::chrono::system_clock::now(); };
    };

    BackupManager() : BackupManager(Options{}) {}
    explicit BackupManager(Options options) : options_(std::move(options)) {}

    // Takes a consistent snapshot of `source_db` (the server may keep writing), uploads
    // "<id>.db" and then "<id>.json" (the manifest last, so a listed backup is complete)
    // and returns the backup id. Errors: those of snapshot() and of the target.
    Result<std::string> run(const std::filesystem::path& source_db, BackupTarget& target,
                            const std::string& label = {});

    // The complete backups on `target` (manifest and database present), oldest first.
    // Unreadable manifests are skipped with a warning rather than hiding every backup.
    Result<std::vector<Manifest>> list(BackupTarget& target);

    // Deletes all but the newest `keep_last_n` backups (manifest first, so a crash never
    // leaves a manifest without its database). Returns the ids deleted, oldest first.
    // keep_last_n == 0 is refused (invalid_argument): retention never deletes everything.
    Result<std::vector<std::string>> apply_retention(BackupTarget& target, std::size_t keep_last_n);

    // Replaces `dest_db` with backup `id`: refuses with busy while anyone (the running
    // pdsync-server) holds the StoreLock on `dest_db`, and holds it itself meanwhile;
    // downloads beside `dest_db`; checks size and SHA-256 against the manifest (checksum)
    // and PRAGMA integrity_check (integrity); removes the old store's -wal, -shm and
    // -journal (they belong to the old file and would corrupt the new one); gives the
    // new file the old one's owner and mode (restore often runs as root, the server as
    // its own user; a new store gets the caller's user and mode 0600); then renames the
    // download over `dest_db` and fsyncs the directory. On any error `dest_db` is
    // untouched. Errors: busy, invalid_argument, not_found (no such backup, or no
    // directory for `dest_db`), bad_manifest, checksum, integrity, io, no_space, and the
    // target's.
    Status restore(BackupTarget& target, const std::string& id,
                   const std::filesystem::path& dest_db);

    // "20261125T031500123Z-1a2b3c": UTC time to the millisecond, then 6 random hex digits so two
    // backups in one second differ. Sorting ids as strings sorts them by time.
    static std::string make_id(std::chrono::system_clock::time_point t);
    static bool is_id(std::string_view s);

  private:
    Options options_;
};

}  // namespace pdsync::backup
