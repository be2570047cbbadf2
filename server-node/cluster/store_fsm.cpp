// SQLite side of the cluster state machine: changesets, images, backup-API copies.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include "server-node/cluster/store_fsm.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "server-node/server_store.hpp"

namespace pdsync::server::cluster {
namespace {

std::string sqlite_error(sqlite3* db, const char* what) {
    return std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
}

// An in-memory database, closed when it goes out of scope.
struct MemoryDb {
    sqlite3* db = nullptr;
    MemoryDb() {
        if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
            sqlite3_close(db);
            db = nullptr;
        }
    }
    ~MemoryDb() { sqlite3_close(db); }
};

Status copy_database(sqlite3* from, sqlite3* to) {
    sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
    if (!b) return Error{Errc::storage, sqlite_error(to, "backup")};
    int rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) return Error{Errc::storage, sqlite_error(to, "backup step")};
    return Ok{};
}

}  // namespace

std::string make_entry(EntryKind kind, std::string_view body) {
    // [kind, 7 zero bytes][body length, 8 bytes little-endian][body][zeros to a multiple
    // of 8]: libraft 0.15 sends an entry's bytes as they are but decodes what it receives
    // as if every entry were padded to 8 bytes, so an entry of any other length corrupts
    // the entries after it on the followers.
    std::string out(16, '\0');
    out[0] = static_cast<char>(kind);
    uint64_t n = body.size();
    for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.append(body);
    out.append((8 - out.size() % 8) % 8, '\0');
    return out;
}

StoreFsm::StoreFsm(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        std::string why = sqlite_error(db_, "open");
        sqlite3_close(db_);
        db_ = nullptr;
        throw std::runtime_error("cluster store " + path + ": " + why);
    }
    sqlite3_busy_timeout(db_, 10000);
    // The store is rebuilt from the raft log at every start: the log's fsync is the
    // durability, the store's would only double it.
    sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
}

StoreFsm::~StoreFsm() {
    sqlite3_close(db_);
}

namespace {
int on_conflict(void* self, int kind, sqlite3_changeset_iter* /*iter*/) {
    static_cast<StoreFsm*>(self)->note_divergence();
    spdlog::error(
        "cluster: a replicated change met a row in another state (conflict kind {}): "
        "this store had diverged; the leader's row wins",
        kind);
    if (kind == SQLITE_CHANGESET_DATA || kind == SQLITE_CHANGESET_CONFLICT)
        return SQLITE_CHANGESET_REPLACE;
    return SQLITE_CHANGESET_OMIT;
}
}  // namespace

Status StoreFsm::apply(std::string_view entry) {
    if (entry.size() < 16) return Error{Errc::malformed, "short cluster log entry"};
    auto kind = static_cast<EntryKind>(entry[0]);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(entry[8 + i]);
    if (n > entry.size() - 16) return Error{Errc::malformed, "truncated cluster log entry"};
    std::string_view body = entry.substr(16, n);
    if (kind == EntryKind::image) return restore(body);
    if (kind != EntryKind::changeset) {
        return Error{Errc::malformed,
                     "unknown cluster log entry kind " + std::to_string(int(entry[0]))};
    }
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
        return Error{Errc::storage, sqlite_error(db_, "begin")};
    int rc = sqlite3changeset_apply(db_, static_cast<int>(body.size()),
                                    const_cast<char*>(body.data()), nullptr, &on_conflict, this);
    if (rc != SQLITE_OK) {
        std::string why = sqlite_error(db_, "changeset apply");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return Error{Errc::storage, why};
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
        std::string why = sqlite_error(db_, "commit");
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        return Error{Errc::storage, why};
    }
    return Ok{};
}

Result<std::string> StoreFsm::image() {
    MemoryDb copy;
    if (!copy.db) return Error{Errc::storage, "cannot open an in-memory database"};
    PDS_CHECK(copy_database(db_, copy.db));
    sqlite3_int64 size = 0;
    unsigned char* bytes = sqlite3_serialize(copy.db, "main", &size, 0);
    if (!bytes) return Error{Errc::storage, sqlite_error(copy.db, "serialize")};
    std::string out(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(size));
    sqlite3_free(bytes);
    return out;
}

Status StoreFsm::restore(std::string_view image) {
    MemoryDb copy;
    if (!copy.db) return Error{Errc::storage, "cannot open an in-memory database"};
    auto* bytes = static_cast<unsigned char*>(sqlite3_malloc64(image.size()));
    if (!bytes && !image.empty()) return Error{Errc::storage, "out of memory"};
    std::copy(image.begin(), image.end(), bytes);
    // The image of a WAL store says "WAL" in its header (bytes 18 and 19), which an
    // in-memory database cannot open: read it as a rollback-journal database instead.
    if (image.size() >= 20 && bytes[18] == 2 && bytes[19] == 2) bytes[18] = bytes[19] = 1;
    int rc = sqlite3_deserialize(copy.db, "main", bytes, static_cast<sqlite3_int64>(image.size()),
                                 static_cast<sqlite3_int64>(image.size()),
                                 SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rc != SQLITE_OK) return Error{Errc::malformed, sqlite_error(copy.db, "deserialize")};
    PDS_CHECK(copy_from(copy.db));
    restores_.fetch_add(1);
    return Ok{};
}

Status StoreFsm::copy_from(sqlite3* source) {
    return copy_database(source, db_);
}

Status StoreFsm::reset_to_empty() {
    // An empty store of the current schema, made by the store's own migrations.
    auto empty = open_sqlite_server_store(":memory:");
    sqlite3* source = empty->sqlite_handle();
    if (!source) return Error{Errc::storage, "the store has no SQLite connection"};
    return copy_from(source);
}

bool StoreFsm::has_data() {
    const char* sql =
        "SELECT (SELECT count(*) FROM documents) + (SELECT count(*) FROM users) + "
        "(SELECT count(*) FROM devices)";
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &q, nullptr) != SQLITE_OK) return false;
    bool any = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int64(q, 0) > 0;
    sqlite3_finalize(q);
    return any;
}

}  // namespace pdsync::server::cluster
