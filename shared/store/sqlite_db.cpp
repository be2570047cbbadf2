// SQLite opening, pragmas and migrations.
#include "shared/store/sqlite_db.hpp"

namespace pdsync::store {

std::unique_ptr<SQLite::Database> open_database(const std::string& path,
                                                const Migrations& migrations) {
    auto db =
        std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(5000);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    int version = schema_version(*db);
    for (auto i = static_cast<std::size_t>(version); i < migrations.size(); ++i) {
        SQLite::Transaction txn(*db);
        db->exec(migrations[i]);
        db->exec("PRAGMA user_version=" + std::to_string(i + 1));
        txn.commit();
    }
    return db;
}

int schema_version(SQLite::Database& db) {
    return db.execAndGet("PRAGMA user_version").getInt();
}

StatementUse StatementCache::use(const std::string& sql) {
    auto& slot = statements_[sql];
    if (!slot) slot = std::make_unique<SQLite::Statement>(db_, sql);
    return StatementUse(*slot);
}

std::string blob(const SQLite::Column& column) {
    const void* p = column.getBlob();
    return std::string(static_cast<const char*>(p), static_cast<std::size_t>(column.getBytes()));
}

}  // namespace pdsync::store
