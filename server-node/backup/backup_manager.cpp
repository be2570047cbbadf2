// Backup runs, listing, retention and restore (see backup_manager.hpp).
#include "server-node/backup/backup_manager.hpp"

#include <cstdio>

#include "server-node/backup/file_util.hpp"
#include "server-node/backup/sha256.hpp"
#include "server-node/backup/store_lock.hpp"
#include "shared/base/hex.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <set>

namespace pdsync::backup {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDbSuffix = ".db";
constexpr std::string_view kManifestSuffix = ".json";
constexpr std::size_t kMaxManifestBytes = std::size_t{1} << 20;

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string utc_string(std::chrono::system_clock::time_point t, const char* format) {
    const std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

Result<std::string> read_small_file(const fs::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error(errno, "opening " + file.string());
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "reading " + file.string());
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        // Manifests are a few hundred bytes; anything huge is not one of ours.
        if (out.size() > kMaxManifestBytes) {
            return make_error(Errc::bad_manifest, file.string() + " is too large");
        }
    }
    return out;
}

Status write_small_file(const fs::path& file, const std::string& content) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return errno_error(errno, "creating " + file.string());
    if (auto st = write_all(fd.get(), content.data(), content.size(), file); !st) return st;
    if (::fsync(fd.get()) != 0) return errno_error(errno, "fsync " + file.string());
    return fd.close(file);
}

// Downloads and parses "<id>.json" into a staging file in `dir`.
Result<Manifest> fetch_manifest(BackupTarget& target, const std::string& id, const fs::path& dir) {
    detail::TempPath local(dir / (".pdsync-manifest-" + id + "-" + random_hex(3) + ".json"));
    if (auto st = target.get(id + std::string(kManifestSuffix), local.path(), {}); !st)
        return st.error();
    auto text = read_small_file(local.path());
    if (!text) return text.error();
    auto m = parse_manifest(*text);
    if (!m) {
        return make_error(Errc::bad_manifest, "manifest of backup " + id + " on " +
                                                  target.describe() + ": " + m.error().message);
    }
    if (m->id != id) {
        return make_error(Errc::bad_manifest, "manifest " + id + ".json on " + target.describe() +
                                                  " describes backup " + m->id);
    }
    return m;
}

// Ids that have a manifest on the target, sorted oldest first (ids sort by time).
Result<std::vector<std::string>> manifest_ids(BackupTarget& target, std::set<std::string>* db_ids) {
    auto names = target.list();
    if (!names) return names.error();
    std::vector<std::string> ids;
    for (const auto& name : *names) {
        std::string_view n = name;
        if (ends_with(n, kManifestSuffix)) {
            auto id = n.substr(0, n.size() - kManifestSuffix.size());
            if (BackupManager::is_id(id)) ids.emplace_back(id);
        } else if (db_ids && ends_with(n, kDbSuffix)) {
            auto id = n.substr(0, n.size() - kDbSuffix.size());
            if (BackupManager::is_id(id)) db_ids->emplace(id);
        }
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

// The old store's sidecars must not outlive it: SQLite would replay the old WAL or hot
// journal into the restored file. Failing to delete one is therefore an error.
Status remove_sidecars(const fs::path& db) {
    for (const char* suffix : {"-wal", "-shm", "-journal"}) {
        const fs::path p(db.string() + suffix);
        if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
            return errno_error(errno, "removing stale " + p.string());
        }
    }
    return Ok{};
}

// Gives `to` the owner and mode of `from` if `from` exists. Restore usually runs as root
// while pdsync-server runs as its own user, which must still be able to open its store.
Status copy_owner_and_mode(const fs::path& from, const fs::path& to) {
    struct stat st {};
    if (::stat(from.c_str(), &st) != 0) {
        if (errno == ENOENT) return Ok{};  // a new store: the caller's user, mode 0600
        return errno_error(errno, "stat " + from.string());
    }
    if (::chmod(to.c_str(), st.st_mode & 07777) != 0)
        return errno_error(errno, "chmod " + to.string());
    if ((st.st_uid != ::geteuid() || st.st_gid != ::getegid()) &&
        ::chown(to.c_str(), st.st_uid, st.st_gid) != 0) {
        return errno_error(errno, "giving " + to.string() + " the owner of " + from.string());
    }
    return Ok{};
}

}  // namespace

std::string BackupManager::make_id(std::chrono::system_clock::time_point t) {
    // Milliseconds, so several backups within one second still sort by time (retention
    // deletes the oldest by this order).
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
    char millis[8];
    std::snprintf(millis, sizeof millis, "%03d", static_cast<int>(ms));
    return utc_string(t, "%Y%m%dT%H%M%S") + millis + "Z-" + random_hex(3);
}

bool BackupManager::is_id(std::string_view s) {
    // d: decimal digit, h: lowercase hex digit, anything else: itself.
    constexpr std::string_view kPattern = "ddddddddTdddddddddZ-hhhhhh";
    if (s.size() != kPattern.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        switch (kPattern[i]) {
            case 'd':
                if (c < '0' || c > '9') return false;
                break;
            case 'h':
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
                break;
            default:
                if (c != kPattern[i]) return false;
        }
    }
    return true;
}

Result<std::string> BackupManager::run(const fs::path& source_db, BackupTarget& target,
                                       const std::string& label) {
    const auto started = std::chrono::steady_clock::now();
    const auto now = options_.now();
    Manifest m;
    m.id = make_id(now);
    m.created_at = utc_string(now, "%Y-%m-%dT%H:%M:%SZ");
    m.label = label;
    std::error_code ec;
    m.source = fs::absolute(source_db, ec).string();
    if (ec) m.source = source_db.string();

    const fs::path staging =
        options_.staging_dir.empty() ? source_db.parent_path() : options_.staging_dir;
    detail::TempPath db_file(staging / (".pdsync-backup-" + m.id + ".db"));
    detail::TempPath manifest_file(staging / (".pdsync-backup-" + m.id + ".json"));

    auto info = snapshot(source_db, db_file.path(), options_.progress);
    if (!info) return info.error();
    m.size = info->size;
    m.sha256 = info->sha256;
    m.schema_version = info->schema_version;
    if (auto st = write_small_file(manifest_file.path(), to_json(m)); !st) return st.error();

    if (auto st = target.put(db_file.path(), m.db_name()); !st) return st.error();
    if (auto st = target.put(manifest_file.path(), m.manifest_name()); !st) {
        // Without its manifest the database file is an orphan no one lists; take it back.
        if (auto rm = target.remove(m.db_name()); !rm) {
            spdlog::warn("backup: could not remove orphan {} from {}: {}", m.db_name(),
                         target.describe(), rm.error().message);
        }
        return st.error();
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    spdlog::info("backup {} of {} to {}: {} bytes, schema {}, sha256 {}, {} ms", m.id, m.source,
                 target.describe(), m.size, m.schema_version, m.sha256, ms.count());
    return m.id;
}

Result<std::vector<Manifest>> BackupManager::list(BackupTarget& target) {
    std::set<std::string> db_ids;
    auto ids = manifest_ids(target, &db_ids);
    if (!ids) return ids.error();
    const fs::path staging =
        options_.staging_dir.empty() ? fs::temp_directory_path() : options_.staging_dir;
    std::vector<Manifest> out;
    for (const auto& id : *ids) {
        if (!db_ids.count(id)) {
            spdlog::warn("backup: {} on {} has a manifest but no database file; skipped", id,
                         target.describe());
            continue;
        }
        auto m = fetch_manifest(target, id, staging);
        if (!m) {
            // One damaged manifest must not hide every other backup from the administrator.
            spdlog::warn("backup: skipping {}: {}", id, m.error().message);
            continue;
        }
        out.push_back(std::move(m).value());
    }
    return out;
}

Result<std::vector<std::string>> BackupManager::apply_retention(BackupTarget& target,
                                                                std::size_t keep_last_n) {
    if (keep_last_n == 0) {
        return make_error(Errc::invalid_argument, "retention must keep at least one backup");
    }
    // Works on names only: retention must still work when a manifest is unreadable.
    auto ids = manifest_ids(target, nullptr);
    if (!ids) return ids.error();
    std::vector<std::string> removed;
    if (ids->size() <= keep_last_n) return removed;
    const std::size_t drop = ids->size() - keep_last_n;
    for (std::size_t i = 0; i < drop; ++i) {
        const std::string& id = (*ids)[i];
        // Manifest first: a crash in between leaves an unlisted orphan, never a listed
        // backup without its data.
        for (std::string_view suffix : {kManifestSuffix, kDbSuffix}) {
            auto st = target.remove(id + std::string(suffix));
            if (!st && st.error().code != Errc::not_found) return st.error();
        }
        spdlog::info("backup: retention removed {} from {}", id, target.describe());
        removed.push_back(id);
    }
    return removed;
}

Status BackupManager::restore(BackupTarget& target, const std::string& id,
                              const fs::path& dest_db) {
    if (!is_id(id)) return make_error(Errc::invalid_argument, "'" + id + "' is not a backup id");
    const fs::path dir = dest_db.parent_path().empty() ? fs::path(".") : dest_db.parent_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return make_error(Errc::not_found, "cannot restore into " + dest_db.string() +
                                               ": directory " + dir.string() + " does not exist");
    }
    auto lock = StoreLock::try_acquire(dest_db);
    if (!lock) {
        if (lock.error().code == Errc::busy) {
            return make_error(Errc::busy,
                              "the server is running; stop it first (pdsync-server holds " +
                                  StoreLock::lock_path_for(dest_db).string() + ")");
        }
        return lock.error();
    }
    auto m = fetch_manifest(target, id, dir);
    if (!m) {
        if (m.error().code == Errc::not_found) {
            return make_error(Errc::not_found, "no backup " + id + " on " + target.describe());
        }
        return m.error();
    }
    detail::TempPath staged(detail::temp_sibling(dest_db, "restore-" + id));
    // Progress in bytes over both passes: the download, then reading it back to verify.
    const std::uint64_t total = 2 * m->size;
    auto report = [&](std::uint64_t base) -> ProgressFn {
        if (!options_.progress) return {};
        return [&, base](std::uint64_t done, std::uint64_t) {
            options_.progress(std::min(base + done, total), total);
        };
    };
    if (auto st = target.get(m->db_name(), staged.path(), report(0)); !st) return st;

    auto digest = digest_file(staged.path(), report(m->size));
    if (!digest) return digest.error();
    if (digest->size != m->size || digest->sha256 != m->sha256) {
        return make_error(Errc::checksum, "backup " + id + " on " + target.describe() +
                                              " is damaged: " + std::to_string(digest->size) +
                                              " bytes with sha256 " + digest->sha256 +
                                              ", but its manifest says " + std::to_string(m->size) +
                                              " bytes with sha256 " + m->sha256 + "; " +
                                              dest_db.string() + " was not changed");
    }
    if (auto st = check_integrity(staged.path()); !st) {
        return make_error(Errc::integrity, "backup " + id +
                                               " matches its manifest but is not a sound "
                                               "database (" +
                                               st.error().message + "); " + dest_db.string() +
                                               " was not changed");
    }
    if (auto st = copy_owner_and_mode(dest_db, staged.path()); !st) return st;
    // The old -wal/-shm go first: SQLite would replay the old WAL into the new file.
    // A crash between this and the rename leaves the old database without its WAL, which
    // is being replaced anyway; running restore again completes the job.
    if (auto st = remove_sidecars(dest_db); !st) return st;
    if (auto st = rename_durably(staged.path(), dest_db); !st) return st;
    staged.keep();
    spdlog::info("backup: restored {} ({} bytes, schema {}, taken {}) from {} into {}", id, m->size,
                 m->schema_version, m->created_at, target.describe(), dest_db.string());
    return Ok{};
}

}  // namespace pdsync::backup
