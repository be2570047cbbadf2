// Online-backup snapshot of a live SQLite store and integrity checking (see snapshot.hpp).
#include "server-node/backup/snapshot.hpp"

#include "server-node/backup/file_util.hpp"
#include "server-node/backup/sha256.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <thread>

namespace pdsync::backup {

namespace fs = std::filesystem;

namespace {

struct BackupDeleter {
    // Only reached on an error path: the success path calls sqlite3_backup_finish itself
    // to read its result.
    void operator()(sqlite3_backup* b) const { sqlite3_backup_finish(b); }
};
using BackupHandle = std::unique_ptr<sqlite3_backup, BackupDeleter>;

Error sqlite_error(const std::string& what, const std::string& detail) {
    return make_error(Errc::sqlite, what + ": " + detail);
}

// integrity_check lists up to 100 problems; the first few are enough to diagnose.
Status integrity_of(SQLite::Database& db, const std::string& what) {
    SQLite::Statement q(db, "PRAGMA integrity_check(10)");
    std::string report;
    while (q.executeStep()) {
        if (!report.empty()) report += "; ";
        report += q.getColumn(0).getString();
    }
    if (report != "ok") {
        return make_error(Errc::integrity, "integrity check of " + what + " failed: " + report);
    }
    return Ok{};
}

// Copies source to dest_tmp page by page. Returns the number of pages copied.
Result<std::uint64_t> copy_pages(const fs::path& source_db, const fs::path& dest_tmp,
                                 const ProgressFn& progress, const SnapshotOptions& options) {
    // Read-write without CREATE rather than read-only: a read-only connection cannot open
    // a WAL database whose -wal/-shm are missing when the server is stopped. query_only
    // makes sure this connection never writes anyway.
    SQLite::Database src(source_db.string(), SQLite::OPEN_READWRITE,
                         static_cast<int>(tuning::backup::kSourceBusyTimeout.count()));
    src.exec("PRAGMA query_only = 1");
    // The read transaction pins one WAL snapshot for the whole copy: the server's commits
    // land after it (readers never block writers in WAL mode), and since this connection's
    // view never changes, sqlite3_backup_step never has to restart.
    SQLite::Transaction pin(src);
    src.execAndGet("SELECT count(*) FROM sqlite_master");

    SQLite::Database dst(dest_tmp.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    BackupHandle backup(sqlite3_backup_init(dst.getHandle(), "main", src.getHandle(), "main"));
    if (!backup) return sqlite_error("starting the backup", sqlite3_errmsg(dst.getHandle()));

    const int step = options.pages_per_step > 0 ? options.pages_per_step : -1;
    auto busy_deadline = std::chrono::steady_clock::now() + tuning::backup::kStepBusyDeadline;
    for (;;) {
        int rc = sqlite3_backup_step(backup.get(), step);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            if (std::chrono::steady_clock::now() > busy_deadline) {
                return sqlite_error("copying " + source_db.string(), "database stayed locked");
            }
            std::this_thread::sleep_for(tuning::backup::kStepBusyPause);
            continue;
        }
        if (rc != SQLITE_OK && rc != SQLITE_DONE) {
            return sqlite_error("copying " + source_db.string(), sqlite3_errstr(rc));
        }
        busy_deadline = std::chrono::steady_clock::now() + tuning::backup::kStepBusyDeadline;
        const auto total = static_cast<std::uint64_t>(sqlite3_backup_pagecount(backup.get()));
        const auto left = static_cast<std::uint64_t>(sqlite3_backup_remaining(backup.get()));
        if (progress) progress(total - left, total);
        if (rc == SQLITE_DONE) break;
    }
    const auto pages = static_cast<std::uint64_t>(sqlite3_backup_pagecount(backup.get()));
    if (int rc = sqlite3_backup_finish(backup.release()); rc != SQLITE_OK) {
        return sqlite_error("finishing the copy of " + source_db.string(), sqlite3_errstr(rc));
    }
    return pages;
}

}  // namespace

Result<SnapshotInfo> snapshot(const fs::path& source_db, const fs::path& dest_file,
                              const ProgressFn& progress, const SnapshotOptions& options) {
    std::error_code ec;
    if (!fs::is_regular_file(source_db, ec)) {
        return make_error(Errc::not_found, "no database file at " + source_db.string());
    }
    const auto started = std::chrono::steady_clock::now();
    detail::TempPath tmp(detail::temp_sibling(dest_file, "snapshot"));
    SnapshotInfo info;
    try {
        auto pages = copy_pages(source_db, tmp.path(), progress, options);
        if (!pages) return pages.error();
        info.pages = *pages;

        SQLite::Database copy(tmp.path().string(), SQLite::OPEN_READWRITE);
        // The page header of a WAL source says "WAL"; switch the copy to a rollback
        // journal so the backup is one file, readable without a -wal/-shm beside it.
        copy.exec("PRAGMA journal_mode = DELETE");
        if (auto st = integrity_of(copy, "the copy of " + source_db.string()); !st) {
            return st.error();
        }
        info.schema_version = copy.execAndGet("PRAGMA user_version").getInt();
    } catch (const SQLite::Exception& e) {
        return sqlite_error("snapshot of " + source_db.string(), e.what());
    }

    if (auto st = fsync_path(tmp.path()); !st) return st.error();
    auto digest = digest_file(tmp.path());
    if (!digest) return digest.error();
    info.size = digest->size;
    info.sha256 = digest->sha256;
    if (auto st = rename_durably(tmp.path(), dest_file); !st) return st.error();
    tmp.keep();

    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    spdlog::debug("backup: snapshot of {} -> {}: {} pages, {} bytes, sha256 {}, {} ms",
                  source_db.string(), dest_file.string(), info.pages, info.size, info.sha256,
                  ms.count());
    return info;
}

Status check_integrity(const fs::path& db_file) {
    std::error_code ec;
    if (!fs::is_regular_file(db_file, ec)) {
        return make_error(Errc::not_found, "no database file at " + db_file.string());
    }
    try {
        SQLite::Database db(db_file.string(), SQLite::OPEN_READWRITE);
        return integrity_of(db, db_file.string());
    } catch (const SQLite::Exception& e) {
        // "file is not a database" and friends: the bytes are not a sound SQLite file.
        return make_error(Errc::integrity,
                          "integrity check of " + db_file.string() + " failed: " + e.what());
    }
}

}  // namespace pdsync::backup
