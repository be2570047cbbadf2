// Consistent copies of a live SQLite store. The server keeps writing (WAL mode, other
// connections) while snapshot() copies: the copy is one committed state of the database,
// checked with PRAGMA integrity_check, and described by its size and SHA-256 so that a
// restore can prove it got back exactly these bytes.
#pragma once

#include "shared/base/progress.hpp"
#include "shared/base/result.hpp"
#include "shared/base/tuning.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace pdsync::backup {

struct SnapshotOptions {
    int pages_per_step = tuning::backup::kSnapshotPagesPerStep;
};

struct SnapshotInfo {
    std::uint64_t size = 0;   // bytes of the copy
    std::string sha256;       // of the copy, lowercase hex
    int schema_version = 0;   // PRAGMA user_version of the copy (the store's schema version)
    std::uint64_t pages = 0;  // pages copied
};

// Copies `source_db` (which may be open and written by other connections and processes)
// to `dest_file` with SQLite's online backup API. The copy:
//  - is one committed state of the source: a read transaction on the source is held for
//    the whole copy, so concurrent commits neither leak in half-way nor restart the copy;
//  - is a single self-contained file (rollback journal mode, no -wal beside it);
//  - appears under `dest_file` only once complete, checked and fsynced (written beside it
//    and renamed), so a crash never leaves a partial copy under that name.
// Errors: not_found (no source), sqlite, integrity, io, no_space.
// Thread-safe: uses only its own connections; call from any thread.
//
//   auto info = snapshot("/var/lib/pdsync/server.db", "/tmp/copy.db",
//                        [](auto done, auto total) { bar.update(done, total); });
Result<SnapshotInfo> snapshot(const std::filesystem::path& source_db,
                              const std::filesystem::path& dest_file,
                              const ProgressFn& progress = {}, const SnapshotOptions& options = {});

// Runs PRAGMA integrity_check on `db_file` and returns integrity unless it says "ok".
// The file is opened read-write (no create) so a rollback-journal file needs no sidecar.
// Thread-safe.
Status check_integrity(const std::filesystem::path& db_file);

}  // namespace pdsync::backup
