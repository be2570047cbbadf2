// Opening pdsync's SQLite files the one way both nodes need: WAL, synchronous=FULL (an
// acknowledged change must survive kill -9 and power loss), a busy timeout, foreign keys,
// and schema migrations keyed by PRAGMA user_version.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace pdsync::store {

// One migration: the SQL that takes the schema from version index to index + 1.
using Migrations = std::vector<std::string>;

// Opens (creating if needed) the database at `path` (":memory:" for tests) and applies
// the migrations not yet applied, each in its own transaction. Throws SQLite::Exception
// if the file cannot be opened or migrated; daemons catch it at start-up.
std::unique_ptr<SQLite::Database> open_database(const std::string& path,
                                                const Migrations& migrations);

// The schema version stored in the file.
int schema_version(SQLite::Database& db);

// Resets a cached statement and its bindings when it goes out of scope, so its next use
// starts clean and no finished query keeps a read snapshot open.
struct StatementUse {
    explicit StatementUse(SQLite::Statement& s) : stmt(s) {}
    ~StatementUse() {
        stmt.reset();
        stmt.clearBindings();
    }
    StatementUse(const StatementUse&) = delete;
    StatementUse& operator=(const StatementUse&) = delete;
    SQLite::Statement& stmt;
};

// Statements prepared once per connection and reset after each use: parsing the SQL costs
// more than the lookups the stores run most (one document's version, one setting).
//
//   auto use = statements.use("SELECT version FROM documents WHERE user=?");
//   use.stmt.bind(1, user);  // reset and unbound again when `use` goes out of scope
//
// A statement must not be used again while a use of it is alive (the inner use would
// reset the outer one's cursor). Destroy the cache before its database.
class StatementCache {
  public:
    explicit StatementCache(SQLite::Database& db) : db_(db) {}
    StatementUse use(const std::string& sql);

  private:
    SQLite::Database& db_;
    std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

// Reads a BLOB column as bytes.
std::string blob(const SQLite::Column& column);

}  // namespace pdsync::store
