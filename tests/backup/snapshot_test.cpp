// Tests for snapshot(): a consistent, checked copy of a store that is being written.
#include "server-node/backup/snapshot.hpp"

#include "server-node/backup/sha256.hpp"
#include "tests/backup/test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

namespace pdsync::backup {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

// Writes pairs of rows (one transaction per pair) until stopped, counting commits.
class PairWriter {
  public:
    PairWriter(const std::filesystem::path& db, int first_txn) : next_(first_txn) {
        thread_ = std::thread([this, db] {
            try {
                SQLite::Database conn(db.string(), SQLite::OPEN_READWRITE, 5000);
                conn.exec("PRAGMA synchronous = NORMAL");
                while (!stop_) {
                    test::insert_pairs(conn, next_, 1);
                    ++next_;
                    ++committed_;
                }
            } catch (const std::exception& e) {
                error_ = e.what();
            }
        });
    }
    ~PairWriter() { stop(); }
    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    int committed() const { return committed_; }
    const std::string& error() const { return error_; }

  private:
    std::atomic<bool> stop_{false};
    std::atomic<int> next_;
    std::atomic<int> committed_{0};
    std::string error_;
    std::thread thread_;
};

TEST(Snapshot, CopyOfStoreUnderConcurrentWritesIsConsistentPrefix) {
    TempDir dir;
    const auto src = dir / "server.db";
    {
        auto db = test::open_store(src);
        test::insert_pairs(db, 0, 1500);  // ~700 KiB: a few hundred pages to copy
    }
    // The writer's connection keeps the database in WAL mode with a live -wal file.
    PairWriter writer(src, 1500);
    ASSERT_TRUE(test::wait_until([&] { return writer.committed() >= 20; }, 10s)) << writer.error();

    // Copy one page per step, and on the first steps wait until the writer has committed
    // more: proves commits landed in the middle of the copy.
    int steps = 0;
    bool interleaved = false;
    const int at_start = writer.committed();
    SnapshotOptions options;
    options.pages_per_step = 1;
    auto info = snapshot(
        src, dir / "copy.db",
        [&](std::uint64_t, std::uint64_t) {
            if (++steps == 3) {
                interleaved =
                    test::wait_until([&] { return writer.committed() >= at_start + 20; }, 10s);
            }
        },
        options);
    const int at_end = writer.committed();
    writer.stop();
    ASSERT_TRUE(info.ok()) << info.error().code << ": " << info.error().message;
    ASSERT_TRUE(writer.error().empty()) << writer.error();
    EXPECT_TRUE(interleaved);
    EXPECT_GT(steps, 100);

    EXPECT_TRUE(check_integrity(dir / "copy.db").ok());
    std::map<int, int> parts_per_txn;
    for (const auto& row : test::rows_of(dir / "copy.db")) {
        ++parts_per_txn[std::stoi(row.substr(0, row.find(':')))];
    }
    // Prefix-consistent: transactions 0..N-1 each with both rows, nothing after a gap.
    ASSERT_FALSE(parts_per_txn.empty());
    EXPECT_EQ(parts_per_txn.begin()->first, 0);
    EXPECT_EQ(parts_per_txn.rbegin()->first, static_cast<int>(parts_per_txn.size()) - 1);
    for (const auto& [txn, parts] : parts_per_txn) {
        ASSERT_EQ(parts, 2) << "transaction " << txn << " copied half-way";
    }
    const int copied_from_writer = static_cast<int>(parts_per_txn.size()) - 1500;
    EXPECT_GE(copied_from_writer, at_start);
    EXPECT_LE(copied_from_writer, at_end);
}

TEST(Snapshot, ReportsSizeHashSchemaAndMonotoneProgress) {
    TempDir dir;
    const auto src = dir / "server.db";
    {
        auto db = test::open_store(src, /*schema_version=*/7);
        test::insert_pairs(db, 0, 300);
    }
    std::uint64_t last_done = 0;
    std::uint64_t last_total = 0;
    int calls = 0;
    SnapshotOptions options;
    options.pages_per_step = 8;
    auto info = snapshot(
        src, dir / "copy.db",
        [&](std::uint64_t done, std::uint64_t total) {
            EXPECT_GE(done, last_done);
            last_done = done;
            last_total = total;
            ++calls;
        },
        options);
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_GT(calls, 1);
    EXPECT_EQ(last_done, last_total);
    EXPECT_EQ(info->pages, last_total);
    EXPECT_EQ(info->schema_version, 7);
    auto digest = digest_file(dir / "copy.db");
    ASSERT_TRUE(digest.ok());
    EXPECT_EQ(info->size, digest->size);
    EXPECT_EQ(info->sha256, digest->sha256);
    EXPECT_EQ(test::rows_of(dir / "copy.db"), test::rows_of(src));
}

TEST(Snapshot, CopyIsOneFileInRollbackJournalMode) {
    TempDir dir;
    const auto src = dir / "server.db";
    auto live = test::open_store(src);  // stays open: the source has a -wal
    test::insert_pairs(live, 0, 10);
    ASSERT_TRUE(snapshot(src, dir / "copy.db").ok());
    {
        SQLite::Database copy((dir / "copy.db").string(), SQLite::OPEN_READONLY);
        EXPECT_EQ(copy.execAndGet("PRAGMA journal_mode").getString(), "delete");
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "copy.db-wal"));
    // No staging file left beside the copy.
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        files += e.path().filename().string().rfind("copy.db", 0) == 0 ||
                 e.path().filename().string().rfind(".copy.db", 0) == 0;
    }
    EXPECT_EQ(files, 1);
}

TEST(Snapshot, MissingSourceIsNotFound) {
    TempDir dir;
    auto info = snapshot(dir / "nope.db", dir / "copy.db");
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code, Errc::not_found);
    EXPECT_FALSE(std::filesystem::exists(dir / "copy.db"));
}

TEST(CheckIntegrity, GarbageFileIsAnIntegrityError) {
    TempDir dir;
    test::write_file(dir / "bad.db", std::string(8192, 'x'));
    auto st = check_integrity(dir / "bad.db");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::integrity);
}

}  // namespace
}  // namespace pdsync::backup
