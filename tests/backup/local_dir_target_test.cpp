// Tests for LocalDirTarget: put/list/get/remove on a local directory.
#include "server-node/backup/local_dir_target.hpp"

#include "tests/backup/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace pdsync::backup {
namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

TEST(LocalDirTarget, PutListGetRemoveRoundTrip) {
    test::TempDir dir;
    LocalDirTarget target(dir / "backups" / "pdsync");  // created on first put
    test::write_file(dir / "a.bin", "alpha");
    test::write_file(dir / "b.bin", std::string(3 * 1024 * 1024 + 7, 'b'));  // several chunks

    ASSERT_TRUE(target.put(dir / "a.bin", "a.db").ok());
    ASSERT_TRUE(target.put(dir / "b.bin", "b.db").ok());
    auto names = target.list();
    ASSERT_TRUE(names.ok());
    EXPECT_EQ(sorted(*names), (std::vector<std::string>{"a.db", "b.db"}));

    std::uint64_t reported = 0;
    ASSERT_TRUE(
        target
            .get("b.db", dir / "b.out", [&](std::uint64_t done, std::uint64_t) { reported = done; })
            .ok());
    EXPECT_EQ(test::read_file(dir / "b.out"), test::read_file(dir / "b.bin"));
    EXPECT_EQ(reported, 3u * 1024 * 1024 + 7);

    ASSERT_TRUE(target.remove("a.db").ok());
    EXPECT_EQ(*target.list(), std::vector<std::string>{"b.db"});
}

TEST(LocalDirTarget, PutReplacesAnExistingFile) {
    test::TempDir dir;
    LocalDirTarget target(dir.path());
    test::write_file(dir / "v1", "one");
    test::write_file(dir / "v2", "two");
    ASSERT_TRUE(target.put(dir / "v1", "f.db").ok());
    ASSERT_TRUE(target.put(dir / "v2", "f.db").ok());
    EXPECT_EQ(test::read_file(dir / "f.db"), "two");
}

TEST(LocalDirTarget, MissingFilesAreNotFound) {
    test::TempDir dir;
    LocalDirTarget target(dir / "never-written");
    auto names = target.list();
    ASSERT_TRUE(names.ok());
    EXPECT_TRUE(names->empty());
    EXPECT_EQ(target.get("x.db", dir / "x", {}).code(), Errc::not_found);
    EXPECT_EQ(target.remove("x.db").code(), Errc::not_found);
    EXPECT_EQ(target.put(dir / "no-such-local-file", "x.db").code(), Errc::not_found);
}

TEST(LocalDirTarget, ListHidesInProgressUploadsAndRefusesUnsafeNames) {
    test::TempDir dir;
    LocalDirTarget target(dir.path());
    test::write_file(dir / ".x.db.part-1234.tmp", "partial");
    test::write_file(dir / "done.db", "done");
    EXPECT_EQ(*target.list(), std::vector<std::string>{"done.db"});
    for (const char* bad : {"", ".hidden", "../escape", "a/b", "sp ace"}) {
        EXPECT_EQ(target.put(dir / "done.db", bad).code(), Errc::invalid_argument) << bad;
    }
}

}  // namespace
}  // namespace pdsync::backup
