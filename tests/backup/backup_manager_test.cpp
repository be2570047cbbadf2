// Tests for BackupManager with a local directory target: run, list, retention, restore.
#include "server-node/backup/backup_manager.hpp"

#include "server-node/backup/local_dir_target.hpp"
#include "server-node/backup/sha256.hpp"
#include "server-node/backup/store_lock.hpp"
#include "tests/backup/test_support.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

namespace pdsync::backup {
namespace {

namespace fs = std::filesystem;
using std::chrono::system_clock;

// A clock that starts at 2026-11-25 03:15:00 UTC and moves one hour per backup, so
// ids are known and ordered.
BackupManager::Options stepping_clock() {
    BackupManager::Options o;
    auto t = std::make_shared<system_clock::time_point>(system_clock::from_time_t(1795576500));
    o.now = [t] {
        auto now = *t;
        *t += std::chrono::hours(1);
        return now;
    };
    return o;
}

class BackupManagerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto db = test::open_store(db_path_, /*schema_version=*/4);
        test::insert_pairs(db, 0, 50);
    }

    test::TempDir dir_;
    fs::path db_path_ = dir_ / "server.db";
    LocalDirTarget target_{dir_ / "backups"};
    BackupManager manager_{stepping_clock()};
};

TEST(BackupId, IsTimestampThenSixHexDigitsAndSortsByTime) {
    const auto t = system_clock::from_time_t(1795576500);  // 2026-11-25T03:15:00Z
    const std::string id = BackupManager::make_id(t);
    EXPECT_EQ(id.substr(0, 20), "20261125T031500000Z-");
    EXPECT_TRUE(BackupManager::is_id(id)) << id;
    EXPECT_LT(id, BackupManager::make_id(t + std::chrono::seconds(1)));
    // Backups within one second still sort by time: retention relies on it.
    EXPECT_LT(id, BackupManager::make_id(t + std::chrono::milliseconds(1)));
    EXPECT_LT(BackupManager::make_id(t + std::chrono::milliseconds(999)),
              BackupManager::make_id(t + std::chrono::seconds(1)));
    EXPECT_FALSE(BackupManager::is_id("20261125T031500000Z-1A2B3C"));
    EXPECT_FALSE(BackupManager::is_id("20261125T031500Z"));
    EXPECT_FALSE(BackupManager::is_id("../../etc/passwd"));
}

TEST_F(BackupManagerTest, RunStoresDatabaseAndManifestThatDescribesIt) {
    auto id = manager_.run(db_path_, target_, "nightly");
    ASSERT_TRUE(id.ok()) << id.error().message;
    EXPECT_EQ(id->substr(0, 20), "20261125T031500000Z-");

    auto backups = manager_.list(target_);
    ASSERT_TRUE(backups.ok());
    ASSERT_EQ(backups->size(), 1u);
    const Manifest& m = backups->front();
    EXPECT_EQ(m.id, *id);
    EXPECT_EQ(m.created_at, "2026-11-25T03:15:00Z");
    EXPECT_EQ(m.label, "nightly");
    EXPECT_EQ(m.schema_version, 4);
    EXPECT_EQ(m.source, fs::absolute(db_path_).string());
    auto digest = digest_file(dir_ / "backups" / (*id + ".db"));
    ASSERT_TRUE(digest.ok());
    EXPECT_EQ(m.size, digest->size);
    EXPECT_EQ(m.sha256, digest->sha256);
    EXPECT_EQ(test::rows_of(dir_ / "backups" / (*id + ".db")), test::rows_of(db_path_));
    // Nothing staged is left behind next to the store.
    for (const auto& e : fs::directory_iterator(dir_.path())) {
        EXPECT_NE(e.path().filename().string().rfind(".pdsync-backup-", 0), 0u) << e.path();
    }
}

TEST_F(BackupManagerTest, ListIsOldestFirstAndSkipsBackupsWithoutManifest) {
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        auto id = manager_.run(db_path_, target_);
        ASSERT_TRUE(id.ok());
        ids.push_back(*id);
    }
    // An upload that died before its manifest: not a backup.
    fs::remove(dir_ / "backups" / (ids[1] + ".json"));
    auto backups = manager_.list(target_);
    ASSERT_TRUE(backups.ok());
    ASSERT_EQ(backups->size(), 2u);
    EXPECT_EQ((*backups)[0].id, ids[0]);
    EXPECT_EQ((*backups)[1].id, ids[2]);
}

TEST_F(BackupManagerTest, RetentionKeepsTheNewestN) {
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        auto id = manager_.run(db_path_, target_);
        ASSERT_TRUE(id.ok());
        ids.push_back(*id);
    }
    auto removed = manager_.apply_retention(target_, 2);
    ASSERT_TRUE(removed.ok()) << removed.error().message;
    EXPECT_EQ(*removed, (std::vector<std::string>{ids[0], ids[1], ids[2]}));
    auto backups = manager_.list(target_);
    ASSERT_EQ(backups->size(), 2u);
    EXPECT_EQ((*backups)[0].id, ids[3]);
    EXPECT_EQ((*backups)[1].id, ids[4]);
    EXPECT_EQ(target_.list()->size(), 4u);  // two .db + two .json, nothing else

    EXPECT_TRUE(manager_.apply_retention(target_, 2)->empty());
    EXPECT_EQ(manager_.apply_retention(target_, 0).code(), Errc::invalid_argument);
}

TEST_F(BackupManagerTest, RestoreBringsBackTheDataAndDropsStaleWal) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    const auto at_backup = test::rows_of(db_path_);
    {
        auto db = test::open_store(db_path_);
        test::insert_pairs(db, 50, 10);  // changes after the backup
    }
    // Leftovers of a crashed server: they belong to the old file.
    test::write_file(db_path_.string() + "-wal", std::string(4096, 'w'));
    test::write_file(db_path_.string() + "-shm", std::string(4096, 's'));

    auto st = manager_.restore(target_, *id, db_path_);
    ASSERT_TRUE(st.ok()) << st.error().code << ": " << st.error().message;
    EXPECT_FALSE(fs::exists(db_path_.string() + "-wal"));
    EXPECT_FALSE(fs::exists(db_path_.string() + "-shm"));
    EXPECT_EQ(test::rows_of(db_path_), at_backup);
    EXPECT_TRUE(check_integrity(db_path_).ok());
}

TEST_F(BackupManagerTest, RestoreReportsBytesDownloadedThenVerified) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    const auto size = fs::file_size(target_.dir() / (*id + ".db"));
    std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
    BackupManager::Options o;
    o.progress = [&](std::uint64_t done, std::uint64_t total) { seen.emplace_back(done, total); };
    auto st = BackupManager(o).restore(target_, *id, db_path_);
    ASSERT_TRUE(st.ok()) << st.error().message;
    ASSERT_GE(seen.size(), 2u);  // at least one report per pass
    for (std::size_t i = 0; i < seen.size(); ++i) {
        EXPECT_EQ(seen[i].second, 2 * size);  // both passes, known from the manifest
        if (i > 0) {
            EXPECT_GE(seen[i].first, seen[i - 1].first);
        }
    }
    EXPECT_EQ(seen.back().first, 2 * size);
}

TEST_F(BackupManagerTest, RestoreIntoAnEmptyDirectoryCreatesTheStore) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    fs::create_directories(dir_ / "new-machine");
    const auto dest = dir_ / "new-machine" / "server.db";
    ASSERT_TRUE(manager_.restore(target_, *id, dest).ok());
    EXPECT_EQ(test::rows_of(dest), test::rows_of(db_path_));
}

TEST_F(BackupManagerTest, RestoreKeepsTheStoresOwnerAndMode) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    fs::permissions(db_path_,
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    const bool root = ::geteuid() == 0;
    constexpr uid_t kNobody = 65534;  // Debian's nobody/nogroup
    if (root) {
        ASSERT_EQ(::chown(db_path_.c_str(), kNobody, kNobody), 0);
    }

    ASSERT_TRUE(manager_.restore(target_, *id, db_path_).ok());
    struct stat st {};
    ASSERT_EQ(::stat(db_path_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    if (root) {
        EXPECT_EQ(st.st_uid, kNobody);
        EXPECT_EQ(st.st_gid, kNobody);
    }
}

TEST_F(BackupManagerTest, RestoreIntoAMissingDirectoryIsNotFound) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    auto st = manager_.restore(target_, *id, dir_ / "no-such-dir" / "server.db");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::not_found);
    EXPECT_NE(st.error().message.find("does not exist"), std::string::npos) << st.error().message;
}

TEST_F(BackupManagerTest, RestoreRefusesACorruptedBackupAndLeavesTheStoreAlone) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    {
        auto db = test::open_store(db_path_);
        test::insert_pairs(db, 50, 1);
    }
    const auto before = test::read_file(db_path_);
    // Flip one byte in the middle of the stored database.
    const auto stored = dir_ / "backups" / (*id + ".db");
    std::string bytes = test::read_file(stored);
    bytes[bytes.size() / 2] ^= 0x5a;
    test::write_file(stored, bytes);

    auto st = manager_.restore(target_, *id, db_path_);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::checksum);
    EXPECT_NE(st.error().message.find("damaged"), std::string::npos) << st.error().message;
    EXPECT_EQ(test::read_file(db_path_), before);
}

TEST_F(BackupManagerTest, RestoreRefusesABackupThatIsNotADatabaseEvenIfHashesMatch) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    // Replace the database and rewrite the manifest to match: only integrity_check can tell.
    const auto stored = dir_ / "backups" / (*id + ".db");
    test::write_file(stored, std::string(8192, 'x'));
    auto m = manager_.list(target_)->front();
    auto digest = digest_file(stored);
    m.size = digest->size;
    m.sha256 = digest->sha256;
    test::write_file(dir_ / "backups" / (*id + ".json"), to_json(m));

    EXPECT_EQ(manager_.restore(target_, *id, db_path_).code(), Errc::integrity);
    EXPECT_FALSE(test::rows_of(db_path_).empty());
}

TEST_F(BackupManagerTest, RestoreRefusesWhileTheServerHoldsTheStoreLock) {
    auto id = manager_.run(db_path_, target_);
    ASSERT_TRUE(id.ok());
    {
        auto server_lock = StoreLock::try_acquire(db_path_);
        ASSERT_TRUE(server_lock.ok());
        auto st = manager_.restore(target_, *id, db_path_);
        ASSERT_FALSE(st.ok());
        EXPECT_EQ(st.error().code, Errc::busy);
        EXPECT_EQ(st.error().message, "the server is running; stop it first (pdsync-server holds " +
                                          (db_path_.string() + ".lock") + ")");
    }
    EXPECT_TRUE(manager_.restore(target_, *id, db_path_).ok());
}

TEST_F(BackupManagerTest, RestoreOfUnknownOrMalformedIdIsRefused) {
    EXPECT_EQ(manager_.restore(target_, "20261125T031500000Z-000000", db_path_).code(),
              Errc::not_found);
    EXPECT_EQ(manager_.restore(target_, "../server", db_path_).code(), Errc::invalid_argument);
}

TEST_F(BackupManagerTest, RunOfAMissingStoreIsNotFoundAndUploadsNothing) {
    auto id = manager_.run(dir_ / "missing.db", target_);
    EXPECT_EQ(id.code(), Errc::not_found);
    EXPECT_TRUE(target_.list()->empty());
}

}  // namespace
}  // namespace pdsync::backup
