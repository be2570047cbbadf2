// ServerCore without a broker: join rules, change sets, idempotence, user limit.
#include <gtest/gtest.h>

#include "server-node/server_core.hpp"
#include "shared/base/tuning.hpp"

using namespace pdsync;
using namespace pdsync::server;

namespace {

class ServerCoreTest : public ::testing::Test {
  protected:
    void SetUp() override { make_core(); }
    void make_core() {
        settings.auth_digest = profile.digest();
        settings.device_id = "server-mfp";
        core = std::make_unique<ServerCore>(*store, topics, settings);
    }

    std::vector<Outbound> send(const std::string& topic, const Value& v) {
        return core->handle_batch({Inbound{topic, encode_msgpack_unchecked(v), false}});
    }

    std::vector<Reply> replies_to(const std::vector<Outbound>& out, const std::string& device) {
        std::vector<Reply> r;
        for (const auto& o : out) {
            if (o.topic != topics.device(device, TopicKind::device_inbox)) continue;
            for (auto& one :
                 flatten_reply(reply_from_value(decode_msgpack(o.payload).value()).value()))
                r.push_back(std::move(one));
        }
        return r;
    }

    JoinReply join(const std::string& device, CategorySet cats = CategorySet::all()) {
        Hello h;
        h.device_id = device;
        h.protocol = tuning::protocol::kProtocolVersion;
        h.categories = cats;
        h.auth_digest = profile.digest();
        h.epoch = "ep-" + device;
        auto r = replies_to(send(topics.device(device, TopicKind::device_hello), hello_to_value(h)),
                            device);
        return std::get<JoinReply>(r.at(0));
    }

    AckReply change(const std::string& device, uint64_t seq, const std::string& user, Category c,
                    std::vector<ChangeOp> ops, bool registers = false) {
        ChangeSet cs{device, "ep-" + device, seq, user, c, registers, 0, std::move(ops)};
        auto out = send(topics.device(device, TopicKind::device_changes), change_set_to_value(cs));
        last_out = out;
        return std::get<AckReply>(replies_to(out, device).at(0));
    }

    // A login event: the session a device needs before it may change the user's documents.
    LoginReply login(const std::string& device, const std::string& user,
                     std::map<Category, uint64_t> have = {}) {
        DeviceEvent e{device, EventKind::login, user, 0, std::move(have)};
        auto r = replies_to(
            send(topics.device(device, TopicKind::device_events), event_to_value(e)), device);
        return std::get<LoginReply>(r.at(0));
    }

    static ChangeOp put(std::string id, Value fields) {
        return ChangeOp{OpKind::put, std::move(id), std::move(fields), 0, std::nullopt};
    }

    std::unique_ptr<ServerStore> store = open_sqlite_server_store(":memory:");
    Topics topics{"pds/v1"};
    AuthProfile profile{"ldap", "corp", true, {"10"}};
    ServerSettings settings;
    std::unique_ptr<ServerCore> core;
    std::vector<Outbound> last_out;
};

TEST_F(ServerCoreTest, JoinAcceptsMatchingDevice) {
    auto r = join("mfp-1");
    EXPECT_TRUE(r.accepted);
    EXPECT_EQ(r.categories, CategorySet::all());
}

TEST_F(ServerCoreTest, JoinRefusesOtherAuthProfile) {
    Hello h;
    h.device_id = "mfp-2";
    h.protocol = tuning::protocol::kProtocolVersion;
    h.auth_digest = AuthProfile{"local", "", false, {}}.digest();
    auto r = replies_to(send(topics.device("mfp-2", TopicKind::device_hello), hello_to_value(h)),
                        "mfp-2");
    auto j = std::get<JoinReply>(r.at(0));
    EXPECT_FALSE(j.accepted);
    EXPECT_EQ(j.reason, Errc::auth_profile_mismatch);
}

TEST_F(ServerCoreTest, ChangeIsStoredPublishedAndAcked) {
    join("mfp-1");
    login("mfp-1", "alice");
    auto ack = change("mfp-1", 1, "alice", Category::addressbook, {put("e1", {{"name", "Bob"}})});
    EXPECT_TRUE(ack.ok);
    EXPECT_EQ(ack.version, 1u);
    auto stored = store->load_document({"alice", Category::addressbook});
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(stored->find("e1")->fields["name"], "Bob");
    // The retained document is published before the ack.
    ASSERT_GE(last_out.size(), 2u);
    EXPECT_EQ(last_out[0].topic, topics.user_doc("alice", Category::addressbook));
    EXPECT_TRUE(last_out[0].retained);
}

TEST_F(ServerCoreTest, ResentChangeSetIsAnsweredNotReapplied) {
    join("mfp-1");
    login("mfp-1", "alice");
    change("mfp-1", 1, "alice", Category::addressbook, {put("e1", {{"n", 1}})});
    auto again = change("mfp-1", 1, "alice", Category::addressbook, {put("e1", {{"n", 1}})});
    EXPECT_TRUE(again.ok);
    EXPECT_EQ(again.version, 1u);
    EXPECT_EQ(store->load_document({"alice", Category::addressbook})->version, 1u);
}

TEST_F(ServerCoreTest, GapInSequenceAsksForResend) {
    join("mfp-1");
    login("mfp-1", "alice");
    auto ack = change("mfp-1", 3, "alice", Category::addressbook, {put("e1", {})});
    EXPECT_FALSE(ack.ok);
    EXPECT_EQ(ack.reason, Errc::out_of_order);
    EXPECT_EQ(ack.expected_seq, 1u);
}

TEST_F(ServerCoreTest, MalformedPayloadGetsReasonAndNothingChanges) {
    join("mfp-1");
    auto out = core->handle_batch(
        {Inbound{topics.device("mfp-1", TopicKind::device_changes), "\xc1garbage", false}});
    auto r = std::get<AckReply>(replies_to(out, "mfp-1").at(0));
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, Errc::malformed);
    EXPECT_EQ(store->count_documents(), 0u);
}

TEST_F(ServerCoreTest, UnjoinedDeviceIsRefused) {
    auto ack = change("stranger", 1, "alice", Category::addressbook, {put("e1", {})});
    EXPECT_EQ(ack.reason, Errc::not_joined);
    EXPECT_EQ(store->count_documents(), 0u);
}
}  // namespace

TEST_F(ServerCoreTest, AcksOfOneBatchGoToEachDeviceAsOneMessageInOrder) {
    join("mfp-1");
    join("mfp-2");
    login("mfp-1", "alice");
    login("mfp-2", "alice");
    std::vector<Inbound> batch;
    for (uint64_t seq = 1; seq <= 3; ++seq) {
        for (std::string device : {"mfp-1", "mfp-2"}) {
            ChangeSet cs{device,
                         "ep-" + device,
                         seq,
                         "alice",
                         Category::prefs,
                         false,
                         0,
                         {put("k" + std::to_string(seq), {{"v", seq}})}};
            batch.push_back(Inbound{topics.device(device, TopicKind::device_changes),
                                    encode_msgpack_unchecked(change_set_to_value(cs)), false});
        }
    }
    auto out = core->handle_batch(batch);
    for (std::string device : {"mfp-1", "mfp-2"}) {
        std::size_t messages = 0;
        for (const auto& o : out)
            messages += o.topic == topics.device(device, TopicKind::device_inbox) ? 1 : 0;
        EXPECT_EQ(messages, 1u) << device;
        auto acks = replies_to(out, device);
        ASSERT_EQ(acks.size(), 3u) << device;
        for (uint64_t i = 0; i < 3; ++i) {
            EXPECT_EQ(std::get<AckReply>(acks[i]).seq, i + 1);
            EXPECT_TRUE(std::get<AckReply>(acks[i]).ok);
        }
    }
}

// The core reads time and randomness only through what it is given.
TEST(ServerCoreEnvironment, StatusTimesAndBootIdComeFromTheInjectedSources) {
    auto store = open_sqlite_server_store(":memory:");
    int64_t wall = 1'234'567;
    Environment env{[&] { return wall; }, [](std::size_t n) { return std::string(2 * n, 'a'); }};
    ServerCore core(*store, Topics(), ServerSettings{}, env);
    wall += 1000;
    Value st = core.status_value();
    EXPECT_EQ(st["boot_id"], "aaaaaaaaaaaaaaaa");
    EXPECT_EQ(st["started_at"], 1'234'567);
    EXPECT_EQ(st["at"], 1'235'567);
}

TEST_F(ServerCoreTest, StaleLoginIsAnsweredWithTheEntriesChangedSinceTheDevicesVersion) {
    join("mfp-1");
    login("mfp-1", "alice");
    std::vector<ChangeOp> thirty;
    for (int i = 0; i < 30; ++i)
        thirty.push_back(put("e" + std::to_string(i), {{"name", "Person " + std::to_string(i)}}));
    ASSERT_TRUE(change("mfp-1", 1, "alice", Category::addressbook, thirty).ok);
    const DocKey key{"alice", Category::addressbook};
    std::string v1 = *store->load_encoded_document(key);
    ASSERT_TRUE(
        change("mfp-1", 2, "alice", Category::addressbook, {put("e5", {{"name", "X"}})}).ok);
    std::string v2 = *store->load_encoded_document(key);

    // From the server's cache of recent documents, then from the store (a fresh core).
    for (bool fresh : {false, true}) {
        if (fresh) make_core(), join("mfp-1");
        auto r = login("mfp-1", "alice", {{Category::addressbook, 1}});
        ASSERT_EQ(r.deltas.count(Category::addressbook), 1u) << "fresh core: " << fresh;
        const DocumentDelta& d = r.deltas.at(Category::addressbook);
        EXPECT_EQ(d.from, 1u);
        EXPECT_EQ(d.version, 2u);
        EXPECT_EQ(d.entries.size(), 1u);  // e5 only
        EXPECT_EQ(d.order.size(), 30u);
        auto applied = apply_delta(v1, d, key);
        ASSERT_TRUE(applied) << applied.error().message;
        EXPECT_EQ(*applied, v2);
    }
    // A current device and one that holds nothing get no delta.
    EXPECT_TRUE(login("mfp-1", "alice", {{Category::addressbook, 2}}).deltas.empty());
    EXPECT_TRUE(login("mfp-1", "alice").deltas.empty());
}
