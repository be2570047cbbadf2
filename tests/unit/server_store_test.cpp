// ServerStore on in-memory SQLite: documents, users, devices, transactions.
#include <gtest/gtest.h>

#include "server-node/server_store.hpp"

using namespace pdsync;
using namespace pdsync::server;

namespace {
Document doc(const std::string& user, Category c, uint64_t version) {
    Document d;
    d.user = user;
    d.category = c;
    d.version = version;
    d.entries.push_back(Entry{"e1", version, false, {{"name", "x"}}, Value::object()});
    return d;
}
}  // namespace

TEST(ServerStore, SavesAndLoadsDocuments) {
    auto store = open_sqlite_server_store(":memory:");
    store->save_document(doc("alice", Category::addressbook, 3));
    auto back = store->load_document({"alice", Category::addressbook});
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, doc("alice", Category::addressbook, 3));
    EXPECT_FALSE(store->load_document({"alice", Category::home}).has_value());
    EXPECT_EQ(store->document_versions("alice").at(Category::addressbook), 3u);
}

TEST(ServerStore, TransactionRollsBackUnlessCommitted) {
    auto store = open_sqlite_server_store(":memory:");
    {
        auto txn = store->begin();
        store->save_document(doc("bob", Category::home, 1));
        store->save_user({"bob", 1, 1});
    }  // no commit
    EXPECT_FALSE(store->load_document({"bob", Category::home}).has_value());
    EXPECT_EQ(store->count_users(), 0u);
    {
        auto txn = store->begin();
        store->save_document(doc("bob", Category::home, 1));
        txn->commit();
    }
    EXPECT_TRUE(store->load_document({"bob", Category::home}).has_value());
}

TEST(ServerStore, LeastRecentUserAndDeleteUserRemovesDocuments) {
    auto store = open_sqlite_server_store(":memory:");
    store->save_user({"a", 1, 30});
    store->save_user({"b", 1, 10});
    store->save_user({"c", 1, 20});
    store->save_document(doc("b", Category::home, 1));
    EXPECT_EQ(store->least_recent_user("")->user, "b");
    EXPECT_EQ(store->least_recent_user("b")->user, "c");
    store->delete_user("b");
    EXPECT_EQ(store->count_users(), 2u);
    EXPECT_FALSE(store->load_document({"b", Category::home}).has_value());
}

TEST(ServerStore, DevicesAndAppliedResultsPersist) {
    auto store = open_sqlite_server_store(":memory:");
    DeviceRow d;
    d.device_id = "mfp-1";
    d.supported = CategorySet::personal();
    d.supported.erase(Category::keychain);
    d.epoch = "ep";
    d.last_seq = 5;
    store->save_device(d);
    auto back = store->find_device("mfp-1");
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->supported, d.supported);
    EXPECT_EQ(back->last_seq, 5u);
    store->record_applied("mfp-1", "ep", 5,
                          AppliedRow{false, Errc::conflict_deleted, "m", 7, {"x", "y"}});
    auto a = store->find_applied("mfp-1", "ep", 5);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->reason, Errc::conflict_deleted);
    EXPECT_EQ(a->conflicts, (std::vector<std::string>{"x", "y"}));
}
