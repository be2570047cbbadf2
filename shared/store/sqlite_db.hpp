// Opening pdsync's SQLite files the one way both nodes need: WAL, synchronous=FULL (an
// acknowledged change must survive kill -9 and power loss), a busy timeout, foreign keys,
// and schema migrations keyed by PRAGMA user_version.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <memory>
#include <string>
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

// Reads a BLOB column as bytes.
std::string blob(const SQLite::Column& column);

}  // namespace pdsync::store
