// The users table of the web admin page: paging and prefix search through the server store
// and ServerCore's users-list command, at the size the page promises (100,000 users).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "server-node/server_core.hpp"
#include "server-node/server_store.hpp"

using namespace pdsync;
using namespace pdsync::server;

namespace {
void add_users(ServerStore& store, int n, const std::string& prefix = "user-") {
    auto txn = store.begin();
    char name[32];
    for (int i = 0; i < n; ++i) {
        std::snprintf(name, sizeof name, "%s%06d", prefix.c_str(), i);
        store.save_user({name, 1000 + i, 2000 + i});
    }
    txn->commit();
}
std::vector<std::string> names(const std::vector<UserRow>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) out.push_back(r.user);
    return out;
}
}  // namespace

TEST(UsersPage, KeysetPagesFollowEachOtherInIdOrder) {
    auto store = open_sqlite_server_store(":memory:");
    add_users(*store, 7);
    EXPECT_EQ(names(store->list_users_page("", "", 3)),
              (std::vector<std::string>{"user-000000", "user-000001", "user-000002"}));
    EXPECT_EQ(names(store->list_users_page("", "user-000002", 3)),
              (std::vector<std::string>{"user-000003", "user-000004", "user-000005"}));
    EXPECT_EQ(names(store->list_users_page("", "user-000005", 3)),
              (std::vector<std::string>{"user-000006"}));
}

TEST(UsersPage, PrefixSearchMatchesOnlyIdsStartingWithIt) {
    auto store = open_sqlite_server_store(":memory:");
    for (std::string u :
         {"al", "alice", "alicia", "albert", "bob", "Alice", "ali\xff", "ali\xff\xff"})
        store->save_user({u, 1, 1});
    EXPECT_EQ(names(store->list_users_page("ali", "", 10)),
              (std::vector<std::string>{"alice", "alicia", "ali\xff", "ali\xff\xff"}));
    EXPECT_EQ(store->count_users_with_prefix("ali"), 4u);
    EXPECT_EQ(names(store->list_users_page("ali\xff", "", 10)),
              (std::vector<std::string>{"ali\xff", "ali\xff\xff"}));
    EXPECT_EQ(store->count_users_with_prefix("al"), 6u);
    EXPECT_EQ(store->count_users_with_prefix("zed"), 0u);
    EXPECT_EQ(store->count_users_with_prefix(""), 8u);
}

TEST(UsersPage, APageAndItsCountStayFastAtAHundredThousandUsers) {
    auto store = open_sqlite_server_store(":memory:");
    add_users(*store, 100000);
    add_users(*store, 50, "zoe-");
    ServerCore core(*store, Topics("pds/v1"), ServerSettings{});
    auto timed = [&](const Value& req) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = core.admin(req);
        auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
        return std::make_pair(r.answer, ms.count());
    };
    auto [middle, middle_ms] =
        timed({{"cmd", "users-list"}, {"after", "user-050000"}, {"limit", 50}});
    ASSERT_TRUE(middle.value("ok", false)) << middle.dump();
    EXPECT_EQ(middle["users"].size(), 50u);
    EXPECT_EQ(middle["users"][0]["user"], "user-050001");
    EXPECT_EQ(middle["next_after"], "user-050050");
    EXPECT_EQ(middle["matching"], 100050u);
    auto [search, search_ms] = timed({{"cmd", "users-list"}, {"prefix", "zoe-"}, {"limit", 50}});
    EXPECT_EQ(search["matching"], 50u);
    EXPECT_TRUE(search["next_after"].is_null());
    auto [last, last_ms] = timed(
        {{"cmd", "users-list"}, {"prefix", "user-0999"}, {"after", "user-099979"}, {"limit", 50}});
    EXPECT_EQ(last["users"].size(), 20u);
    std::printf(
        "users-list at 100,050 users: middle page %.2f ms, prefix search %.2f ms, last page %.2f "
        "ms\n",
        middle_ms, search_ms, last_ms);
    // A range scan of the key: a page costs well under the page's poll interval even under
    // the sanitizers; a full scan of 100,000 rows per page would not.
    EXPECT_LT(middle_ms, 100.0);
    EXPECT_LT(search_ms, 100.0);
}

TEST(UsersPage, ALimitOutsideTheBoundsIsRefused) {
    auto store = open_sqlite_server_store(":memory:");
    ServerCore core(*store, Topics("pds/v1"), ServerSettings{});
    for (const Value& limit : {Value(0), Value(100000), Value("50"), Value(-1)}) {
        auto r = core.admin({{"cmd", "users-list"}, {"limit", limit}});
        EXPECT_EQ(r.answer["error"], "invalid_argument") << limit.dump();
    }
    auto r = core.admin({{"cmd", "users-list"}, {"limit", 5}, {"prefix", 3}});
    EXPECT_EQ(r.answer["error"], "invalid_argument");
}
