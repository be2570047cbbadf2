// Tests for SmbTarget and BackupManager over SMB, against a real smbd per test.
#include "server-node/backup/smb_target.hpp"

#include "server-node/backup/backup_manager.hpp"
#include "tests/backup/smb_server.hpp"
#include "tests/backup/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace pdsync::backup {
namespace {

using test::SmbServer;

class SmbTargetTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string why;
        if (!SmbServer::can_run(&why)) GTEST_SKIP() << "real Samba unavailable: " << why;
        ASSERT_TRUE(smb_.start()) << smb_.error();
    }

    SmbTarget target(const std::string& subdir = "pdsync/server") {
        return SmbTarget(smb_.url(subdir), SmbServer::kUser, smb_.password(), "WORKGROUP");
    }

    // Declared first so it is destroyed last, after every target's connection closed.
    SmbServer smb_;
    test::TempDir dir_;
};

TEST_F(SmbTargetTest, PutListGetRemoveRoundTrip) {
    auto nas = target();
    test::write_file(dir_ / "big.bin", std::string(2 * 1024 * 1024 + 123, 'z'));
    test::write_file(dir_ / "small.bin", "small");
    ASSERT_TRUE(nas.list().ok());
    EXPECT_TRUE(nas.list()->empty());  // folder does not exist yet

    auto st = nas.put(dir_ / "big.bin", "big.db");
    ASSERT_TRUE(st.ok()) << st.error().code << ": " << st.error().message;
    ASSERT_TRUE(nas.put(dir_ / "small.bin", "small.db").ok());
    // The folder was created on the share and holds exactly the final files.
    EXPECT_EQ(test::read_file(smb_.share_dir() / "pdsync" / "server" / "small.db"), "small");
    auto names = nas.list();
    ASSERT_TRUE(names.ok());
    std::sort(names->begin(), names->end());
    EXPECT_EQ(*names, (std::vector<std::string>{"big.db", "small.db"}));

    std::uint64_t reported = 0;
    int calls = 0;
    auto progress = [&](std::uint64_t done, std::uint64_t) {
        EXPECT_GE(done, reported);  // bytes received only grow
        reported = done;
        ++calls;
    };
    ASSERT_TRUE(nas.get("big.db", dir_ / "big.out", progress).ok());
    EXPECT_EQ(test::read_file(dir_ / "big.out"), test::read_file(dir_ / "big.bin"));
    EXPECT_EQ(reported, std::filesystem::file_size(dir_ / "big.bin"));
    EXPECT_GT(calls, 1);  // several chunks, several reports

    ASSERT_TRUE(nas.remove("big.db").ok());
    EXPECT_EQ(*nas.list(), std::vector<std::string>{"small.db"});
    EXPECT_EQ(nas.remove("big.db").code(), Errc::not_found);
    EXPECT_EQ(nas.get("big.db", dir_ / "x", {}).code(), Errc::not_found);
}

TEST_F(SmbTargetTest, BackupListRetentionAndRestoreRoundTrip) {
    const auto db_path = dir_ / "server.db";
    {
        auto db = test::open_store(db_path, 2);
        test::insert_pairs(db, 0, 200);
    }
    auto nas = target();
    // One hour apart, so ids (and therefore "newest") follow the order of the runs.
    BackupManager::Options options;
    auto t =
        std::make_shared<std::chrono::system_clock::time_point>(std::chrono::system_clock::now());
    options.now = [t] { return *t += std::chrono::hours(1); };
    BackupManager manager(options);
    std::vector<std::string> ids;
    std::vector<std::vector<std::string>> contents;
    for (int i = 0; i < 3; ++i) {
        auto id = manager.run(db_path, nas, "test");
        ASSERT_TRUE(id.ok()) << id.error().code << ": " << id.error().message;
        ids.push_back(*id);
        contents.push_back(test::rows_of(db_path));
        auto db = test::open_store(db_path, 2);
        test::insert_pairs(db, 1000 + i * 10, 10);
    }

    auto backups = manager.list(nas);
    ASSERT_TRUE(backups.ok()) << backups.error().message;
    ASSERT_EQ(backups->size(), 3u);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ((*backups)[i].id, ids[i]);
        EXPECT_EQ((*backups)[i].schema_version, 2);
        EXPECT_EQ((*backups)[i].label, "test");
    }

    auto removed = manager.apply_retention(nas, 1);
    ASSERT_TRUE(removed.ok()) << removed.error().message;
    EXPECT_EQ(removed->size(), 2u);
    backups = manager.list(nas);
    ASSERT_EQ(backups->size(), 1u);
    const std::string kept = backups->front().id;
    EXPECT_EQ(kept, ids.back());

    auto st = manager.restore(nas, kept, db_path);
    ASSERT_TRUE(st.ok()) << st.error().code << ": " << st.error().message;
    EXPECT_EQ(test::rows_of(db_path), contents.back());
    EXPECT_EQ(contents.back().size(), 2u * (200 + 20));  // 200 pairs + 10 after each of 2 runs
}

TEST_F(SmbTargetTest, RestoreRefusesABackupDamagedOnTheShare) {
    const auto db_path = dir_ / "server.db";
    {
        auto db = test::open_store(db_path);
        test::insert_pairs(db, 0, 20);
    }
    auto nas = target("damaged");
    BackupManager manager;
    auto id = manager.run(db_path, nas);
    ASSERT_TRUE(id.ok()) << id.error().message;
    const auto stored = smb_.share_dir() / "damaged" / (*id + ".db");
    std::string bytes = test::read_file(stored);
    bytes[100] ^= 0x01;
    test::write_file(stored, bytes);
    EXPECT_EQ(manager.restore(nas, *id, db_path).code(), Errc::checksum);
}

TEST_F(SmbTargetTest, WrongPasswordIsAnAuthError) {
    SmbTarget nas(smb_.url("pdsync"), SmbServer::kUser, smb_.password() + "-wrong", "WORKGROUP");
    auto st = nas.probe();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::auth) << st.error().message;
    EXPECT_NE(st.error().message.find(SmbServer::kUser), std::string::npos) << st.error().message;
    EXPECT_EQ(st.error().message.find(smb_.password()), std::string::npos);
    test::write_file(dir_ / "f", "x");
    EXPECT_EQ(nas.put(dir_ / "f", "f.db").code(), Errc::auth);
    EXPECT_EQ(nas.list().code(), Errc::auth);
}

TEST_F(SmbTargetTest, UnknownShareIsNotFound) {
    SmbTarget nas("smb://127.0.0.1:" + std::to_string(smb_.port()) + "/noshare", SmbServer::kUser,
                  smb_.password());
    EXPECT_EQ(nas.probe().code(), Errc::not_found);
}

TEST_F(SmbTargetTest, StoppedServerIsUnreachable) {
    auto nas = target();
    smb_.stop();
    auto st = nas.probe();
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::unreachable) << st.error().message;
}

TEST(SmbTargetUrl, MalformedUrlsAreInvalidArguments) {
    for (const char* url :
         {"http://host/share", "smb://", "smb://host", "smb://host:0/share",
          "smb://host:99999/share", "smb://user:pw@host/share", "smb://host/share/../x"}) {
        SmbTarget nas(url, "u", "p");
        EXPECT_EQ(nas.probe().code(), Errc::invalid_argument) << url;
    }
    SmbTarget ok("smb://nas.local:4455/backups/pdsync", "pdsbackup", "secret");
    EXPECT_EQ(ok.describe(), "smb://pdsbackup@nas.local:4455/backups/pdsync");
}

}  // namespace
}  // namespace pdsync::backup
