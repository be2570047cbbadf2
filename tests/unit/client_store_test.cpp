// ClientStore on in-memory SQLite: the outbox queries the sender relies on, and the
// document keys first merge walks.
#include <gtest/gtest.h>

#include "client-node/client_store.hpp"

using namespace pdsync;
using namespace pdsync::client;

namespace {
OutboxRow row(const std::string& user) {
    OutboxRow r;
    r.user = user;
    r.category = Category::addressbook;
    r.ops.push_back(ChangeOp{OpKind::put, "e1", {{"name", user}}, 0, std::nullopt});
    return r;
}

std::vector<uint64_t> seqs(const std::vector<OutboxRow>& rows) {
    std::vector<uint64_t> out;
    for (const auto& r : rows) out.push_back(r.seq);
    return out;
}
}  // namespace

TEST(ClientStore, UnackedFromSkipsAckedRowsAndStopsAtTheLimit) {
    auto store = open_sqlite_client_store(":memory:");
    for (int i = 0; i < 6; ++i) store->append_outbox(row("u" + std::to_string(i)));
    store->mark_acked(2, 7);
    EXPECT_EQ(seqs(store->unacked_from(1, 3)), (std::vector<uint64_t>{1, 3, 4}));
    EXPECT_EQ(seqs(store->unacked_from(4, 10)), (std::vector<uint64_t>{4, 5, 6}));
    EXPECT_EQ(store->unacked_from(5, 1).at(0).ops.at(0).fields["name"], "u4");
    EXPECT_TRUE(store->unacked_from(7, 10).empty());
}

TEST(ClientStore, FirstUnackedSeqAndDropUnackedUpto) {
    auto store = open_sqlite_client_store(":memory:");
    EXPECT_EQ(store->first_unacked_seq(), 1u);  // empty: the next one to be assigned
    for (int i = 0; i < 4; ++i) store->append_outbox(row("u"));
    store->mark_acked(1, 1);
    EXPECT_EQ(store->first_unacked_seq(), 2u);
    store->drop_unacked_upto(3);
    EXPECT_EQ(store->first_unacked_seq(), 4u);
    EXPECT_EQ(seqs(store->outbox()), (std::vector<uint64_t>{1, 4}));  // the acked row stays
    store->drop_unacked_upto(4);
    EXPECT_EQ(store->first_unacked_seq(), 5u);
}

TEST(ClientStore, DocumentKeysListsOneOrigin) {
    auto store = open_sqlite_client_store(":memory:");
    Document d;
    d.user = "alice";
    d.category = Category::keychain;
    store->save(d, Origin::local);
    d.user = "bob";
    store->save(d, Origin::server);
    auto local = store->document_keys(Origin::local);
    ASSERT_EQ(local.size(), 1u);
    EXPECT_EQ(local[0].user, "alice");
    EXPECT_EQ(local[0].category, Category::keychain);
    EXPECT_EQ(store->document_keys(Origin::server).at(0).user, "bob");
}

TEST(ClientStore, CacheTransactionsCommitOrRollBackLikeFullOnes) {
    auto store = open_sqlite_client_store(":memory:");
    {
        auto txn = store->begin(Durability::cache);
        store->save_encoded({"bob", Category::home}, 4, Origin::server, "not decoded here");
    }  // no commit
    EXPECT_FALSE(store->version_of({"bob", Category::home}).has_value());
    {
        auto txn = store->begin(Durability::cache);
        store->save_encoded({"bob", Category::home}, 4, Origin::server, "not decoded here");
        txn->commit();
    }
    auto v = store->version_of({"bob", Category::home});
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->version, 4u);
    EXPECT_EQ(v->origin, Origin::server);
    auto txn = store->begin();  // a full one after a relaxed one still works
    store->append_outbox(row("bob"));
    txn->commit();
    EXPECT_EQ(store->first_unacked_seq(), 1u);
}
