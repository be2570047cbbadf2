// Helpers shared by the backup tests: a temporary directory that removes itself, small
// SQLite fixtures, file helpers, and running a child process with input.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace pdsync::backup::test {

// A fresh directory under the system temp dir, removed with everything in it on
// destruction. Owned by one test.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

// Opens (creating) a WAL-mode database like the server's store with table
// `t(txn INTEGER, part INTEGER, payload BLOB)` and the given schema version.
SQLite::Database open_store(const std::filesystem::path& path, int schema_version = 1);
// Inserts transactions first..first+count-1, each as one transaction of two rows.
void insert_pairs(SQLite::Database& db, int first, int count, int payload_bytes = 200);
// Every (txn, part) row in order, as "txn:part" strings: compares two databases' data.
std::vector<std::string> rows_of(const std::filesystem::path& db_path);

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& content);

// Polls `condition` until it is true or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// Runs argv[0] (searched in PATH) with `input` on its stdin; returns its exit status
// (-1 if it could not start or was killed) and its combined stdout+stderr in `output`.
int run_command(const std::vector<std::string>& argv, const std::string& input,
                std::string* output);

}  // namespace pdsync::backup::test
