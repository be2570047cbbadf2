// Tests for StoreLock: one holder at a time, released with its owner.
#include "server-node/backup/store_lock.hpp"

#include "tests/backup/test_support.hpp"

#include <gtest/gtest.h>

namespace pdsync::backup {
namespace {

TEST(StoreLock, SecondHolderIsRefusedAsBusy) {
    test::TempDir dir;
    auto first = StoreLock::try_acquire(dir / "server.db");
    ASSERT_TRUE(first.ok()) << first.error().message;
    EXPECT_EQ(first->path(), dir / "server.db.lock");
    auto second = StoreLock::try_acquire(dir / "server.db");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, Errc::busy);
}

TEST(StoreLock, ReleasedWhenTheHolderIsDestroyed) {
    test::TempDir dir;
    {
        auto held = StoreLock::try_acquire(dir / "server.db");
        ASSERT_TRUE(held.ok());
    }
    EXPECT_TRUE(StoreLock::try_acquire(dir / "server.db").ok());
}

TEST(StoreLock, MovedLockStaysHeldUntilItsNewOwnerGoes) {
    test::TempDir dir;
    auto held = StoreLock::try_acquire(dir / "server.db");
    ASSERT_TRUE(held.ok());
    {
        StoreLock moved = std::move(held).value();
        EXPECT_EQ(StoreLock::try_acquire(dir / "server.db").code(), Errc::busy);
    }
    EXPECT_TRUE(StoreLock::try_acquire(dir / "server.db").ok());
}

TEST(StoreLock, LockFileRecordsTheHolderPid) {
    test::TempDir dir;
    auto held = StoreLock::try_acquire(dir / "server.db");
    ASSERT_TRUE(held.ok());
    EXPECT_EQ(test::read_file(dir / "server.db.lock"), std::to_string(::getpid()) + "\n");
}

}  // namespace
}  // namespace pdsync::backup
