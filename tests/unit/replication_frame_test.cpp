// The replication wire format (server-node/replication/frame.*): every row kind survives a
// round trip, and bad bytes are errors, never crashes.
#include <gtest/gtest.h>

#include "server-node/replication/fence.hpp"
#include "server-node/replication/frame.hpp"

using namespace pdsync;
using namespace pdsync::server;
using namespace pdsync::server::replication;

TEST(ReplicationFrame, CommitWithEveryRowKindRoundTrips) {
    Frame f;
    f.kind = FrameKind::commit;
    f.stream = "a1b2c3";
    f.primary = "server-1";
    f.seq = 42;
    f.part = 1;
    f.last = false;
    f.at = 1'700'000'000'000;
    Document d;
    d.user = "alice";
    d.category = Category::keychain;
    d.version = 7;
    f.rows.docs.push_back(encode_document(d));
    f.rows.deleted_docs.push_back(DocKey{"bob", Category::home});
    f.rows.users.push_back(UserRow{"alice", 1, 2});
    f.rows.deleted_users.push_back("carol");
    DeviceRow dev;
    dev.device_id = "mfp-1";
    dev.epoch = "e1";
    dev.last_seq = 9;
    dev.supported = CategorySet::personal();
    f.rows.devices.push_back(dev);
    AppliedRow applied;
    applied.ok = false;
    applied.reason = Errc::too_large;
    applied.message = "over the bound";
    applied.version = 3;
    f.rows.applied.push_back(AppliedEntry{"mfp-1", "e1", 9, applied});

    auto back = decode_frame(encode_frame(f));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->kind, FrameKind::commit);
    EXPECT_EQ(back->stream, "a1b2c3");
    EXPECT_EQ(back->primary, "server-1");
    EXPECT_EQ(back->seq, 42u);
    EXPECT_EQ(back->part, 1u);
    EXPECT_FALSE(back->last);
    EXPECT_EQ(back->at, f.at);
    ASSERT_EQ(back->rows.count(), f.rows.count());
    EXPECT_EQ(decode_document(back->rows.docs.at(0)).value(), d);
    EXPECT_EQ(back->rows.deleted_docs.at(0), (DocKey{"bob", Category::home}));
    EXPECT_EQ(back->rows.users.at(0).last_used_at, 2);
    EXPECT_EQ(back->rows.deleted_users.at(0), "carol");
    EXPECT_EQ(back->rows.devices.at(0).device_id, "mfp-1");
    EXPECT_EQ(back->rows.devices.at(0).last_seq, 9u);
    EXPECT_EQ(back->rows.devices.at(0).supported, CategorySet::personal());
    EXPECT_EQ(back->rows.applied.at(0).row.reason, Errc::too_large);
    EXPECT_EQ(back->rows.applied.at(0).row.message, "over the bound");
}

TEST(ReplicationFrame, HeartbeatAndReportRoundTrip) {
    Frame hb;
    hb.kind = FrameKind::heartbeat;
    hb.stream = "s";
    hb.seq = 1000;
    auto back = decode_frame(encode_frame(hb));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->kind, FrameKind::heartbeat);
    EXPECT_EQ(back->seq, 1000u);
    EXPECT_EQ(back->rows.count(), 0u);

    StandbyReport r{"standby-1", "s", 999, 5};
    auto rb = decode_report(encode_report(r));
    ASSERT_TRUE(rb.ok());
    EXPECT_EQ(rb->standby_id, "standby-1");
    EXPECT_EQ(rb->stream, "s");
    EXPECT_EQ(rb->applied, 999u);
}

TEST(ReplicationFrame, BadBytesAreErrors) {
    EXPECT_FALSE(decode_frame("").ok());
    EXPECT_FALSE(decode_frame("\xc1").ok());  // never-used MessagePack byte
    EXPECT_FALSE(decode_frame(encode_msgpack_unchecked(Value{{"schema", "pds.doc/1"}})).ok());
    EXPECT_FALSE(decode_frame(encode_msgpack_unchecked(Value::array({1, 2}))).ok());
    EXPECT_FALSE(decode_report(encode_msgpack_unchecked(Value{{"schema", "pds.repl/1"}})).ok());
    // A frame cut short anywhere is refused.
    Frame f;
    f.kind = FrameKind::snapshot;
    f.stream = "s";
    f.rows.users.push_back(UserRow{"alice", 1, 2});
    std::string bytes = encode_frame(f);
    for (std::size_t n = 0; n < bytes.size(); ++n)
        EXPECT_FALSE(decode_frame(bytes.substr(0, n)).ok()) << "cut at " << n;
}

TEST(Fence, RoundTripsAndRefusesAnythingElse) {
    auto back = decode_fence(encode_fence(Fence{"server-b", 1234}));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->server_id, "server-b");
    EXPECT_EQ(back->at, 1234);
    EXPECT_FALSE(decode_fence("").ok());
    EXPECT_FALSE(decode_fence(encode_msgpack_unchecked(Value{{"schema", "pds.status/1"}})).ok());
    EXPECT_FALSE(
        decode_fence(encode_msgpack_unchecked(Value{{"schema", "pds.fence/1"}, {"server_id", ""}}))
            .ok());
}
