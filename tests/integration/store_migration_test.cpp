// Store migrations on real SQLite files: a store made by the first schema (documents in a
// WITHOUT ROWID table) opens with every document readable, in the rowid table that
// replaced it.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>

#include "client-node/client_store.hpp"
#include "server-node/server_store.hpp"
#include "tests/support/process.hpp"

using namespace pdsync;

namespace {

std::string table_sql(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT sql FROM sqlite_master WHERE name='documents'").getString();
}

// A store file as the first schema made it: `ddl`, then one document row by `insert`, whose
// last parameter is the document's bytes.
void write_first_schema(const std::string& path, const char* ddl, const char* insert,
                        const std::string& body) {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(ddl);
    db.exec("PRAGMA user_version = 1");
    SQLite::Statement q(db, insert);
    q.bind(1, body.data(), static_cast<int>(body.size()));
    q.exec();
}

Document book() {
    Document d{"alice", Category::addressbook, 3, 1700000000000, {}, Value::object()};
    d.entries.push_back(Entry{"e1", 3, false, {{"name", "Bob"}}, {}});
    return d;
}

}  // namespace

TEST(StoreMigration, ServerStoreOfTheFirstSchemaKeepsItsDocumentsInARowidTable) {
    test::TempDir dir;
    const std::string path = dir.file("server.db");
    const std::string body = encode_document(book());
    write_first_schema(path, R"sql(
            CREATE TABLE documents (user TEXT NOT NULL, category TEXT NOT NULL,
                version INTEGER NOT NULL, updated_at INTEGER NOT NULL, body BLOB NOT NULL,
                PRIMARY KEY (user, category)) WITHOUT ROWID;
            CREATE TABLE users (user TEXT PRIMARY KEY, created_at INTEGER NOT NULL,
                last_used_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX users_by_last_use ON users(last_used_at, user);
            CREATE TABLE devices (device_id TEXT PRIMARY KEY, product TEXT NOT NULL DEFAULT '',
                firmware TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',
                supported TEXT NOT NULL DEFAULT '', joined_at INTEGER NOT NULL DEFAULT 0,
                last_seen_at INTEGER NOT NULL DEFAULT 0, last_sync_at INTEGER NOT NULL DEFAULT 0,
                last_error TEXT NOT NULL DEFAULT '', epoch TEXT NOT NULL DEFAULT '',
                last_seq INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT NULL DEFAULT 0)
                WITHOUT ROWID;
            CREATE TABLE applied (device_id TEXT NOT NULL, epoch TEXT NOT NULL,
                seq INTEGER NOT NULL, ok INTEGER NOT NULL, reason TEXT NOT NULL,
                message TEXT NOT NULL, version INTEGER NOT NULL, conflicts TEXT NOT NULL,
                PRIMARY KEY (device_id, epoch, seq)) WITHOUT ROWID;
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        )sql",
                       "INSERT INTO documents VALUES('alice','addressbook',3,1,?)", body);
    {
        auto store = server::open_sqlite_server_store(path);
        auto doc = store->load_document({"alice", Category::addressbook});
        ASSERT_TRUE(doc);
        EXPECT_EQ(encode_document(*doc), body);
        EXPECT_EQ(store->load_encoded_document({"alice", Category::addressbook}), body);
        EXPECT_EQ(store->document_versions("alice").at(Category::addressbook), 3u);
    }
    EXPECT_EQ(table_sql(path).find("WITHOUT ROWID"), std::string::npos) << table_sql(path);
}

TEST(StoreMigration, ClientStoreOfTheFirstSchemaKeepsItsDocumentsInARowidTable) {
    test::TempDir dir;
    const std::string path = dir.file("client.db");
    const std::string body = encode_document(book());
    write_first_schema(path, R"sql(
            CREATE TABLE documents (user TEXT NOT NULL, category TEXT NOT NULL,
                version INTEGER NOT NULL, origin TEXT NOT NULL, body BLOB NOT NULL,
                PRIMARY KEY (user, category)) WITHOUT ROWID;
            CREATE TABLE outbox (seq INTEGER PRIMARY KEY, user TEXT NOT NULL,
                category TEXT NOT NULL, registers INTEGER NOT NULL, ops BLOB NOT NULL,
                created_at INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0,
                acked_version INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX outbox_by_doc ON outbox(user, category, seq);
            CREATE TABLE device_items (user TEXT NOT NULL, category TEXT NOT NULL,
                id TEXT NOT NULL, pos REAL NOT NULL, fields BLOB NOT NULL,
                PRIMARY KEY (user, category, id)) WITHOUT ROWID;
            CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
        )sql",
                       "INSERT INTO documents VALUES('alice','addressbook',3,'server',?)", body);
    {
        auto store = client::open_sqlite_client_store(path);
        auto v = store->version_of({"alice", Category::addressbook});
        ASSERT_TRUE(v);
        EXPECT_EQ(v->version, 3u);
        EXPECT_EQ(store->load_encoded({"alice", Category::addressbook}), body);
        EXPECT_EQ(encode_document(store->load({"alice", Category::addressbook})->doc), body);
    }
    EXPECT_EQ(table_sql(path).find("WITHOUT ROWID"), std::string::npos) << table_sql(path);
}
