// A compromised device against the pure logic (docs/security.md): sessions and the bound
// on new users in ServerCore, printable-text checks and escaping, and the decoder's bound
// on the values of one payload. The same attacks against real processes are in
// tests/integration/compromised_device_test.cpp.
#include <gtest/gtest.h>

#include "server-node/server_core.hpp"
#include "server-node/sessions.hpp"
#include "shared/base/tuning.hpp"
#include "shared/secrets.hpp"
#include "shared/text.hpp"
#include "shared/user_id.hpp"

using namespace pdsync;
using namespace pdsync::server;

namespace {

class SessionCore : public ::testing::Test {
  protected:
    void SetUp() override {
        settings.auth_digest = profile.digest();
        settings.user_limit = 5;
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
    void join(const std::string& device) {
        Hello h;
        h.device_id = device;
        h.protocol = tuning::protocol::kProtocolVersion;
        h.categories = CategorySet::all();
        h.auth_digest = profile.digest();
        h.epoch = "ep-" + device;
        auto r = replies_to(send(topics.device(device, TopicKind::device_hello), hello_to_value(h)),
                            device);
        ASSERT_TRUE(std::get<JoinReply>(r.at(0)).accepted);
    }
    std::vector<Outbound> event(const std::string& device, EventKind kind,
                                const std::string& user) {
        return send(topics.device(device, TopicKind::device_events),
                    event_to_value({device, kind, user, 0, {}}));
    }
    LoginReply login(const std::string& device, const std::string& user) {
        last_out = event(device, EventKind::login, user);
        return std::get<LoginReply>(replies_to(last_out, device).at(0));
    }
    AckReply change(const std::string& device, const std::string& user, bool registers = false) {
        uint64_t seq = ++seqs[device];
        ChangeSet cs{
            device,
            "ep-" + device,
            seq,
            user,
            Category::keychain,
            registers,
            0,
            {ChangeOp{OpKind::put, "e" + std::to_string(seq), {{"host", "nas"}}, 0, std::nullopt}}};
        auto out = send(topics.device(device, TopicKind::device_changes), change_set_to_value(cs));
        // An eviction this change caused also tells every device (an EvictNotice).
        for (auto& r : replies_to(out, device))
            if (auto* a = std::get_if<AckReply>(&r)) return *a;
        throw std::runtime_error("no ack for " + device);
    }
    void presence(const std::string& device, bool online) {
        send(topics.device(device, TopicKind::device_presence),
             presence_to_value({device, online, 0, 0}));
    }

    std::unique_ptr<ServerStore> store = open_sqlite_server_store(":memory:");
    Topics topics{"pds/v1"};
    AuthProfile profile{"ldap", "corp", true, {"10"}};
    ServerSettings settings;
    std::unique_ptr<ServerCore> core;
    std::map<std::string, uint64_t> seqs;
    std::vector<Outbound> last_out;
};

TEST_F(SessionCore, ChangeSetForAUserWithoutASessionOnThatDeviceIsRefused) {
    join("mfp-1");
    join("mfp-2");
    login("mfp-1", "alice");
    ASSERT_TRUE(change("mfp-1", "alice").ok);
    // mfp-2 never saw alice log in: it may not write her keychain.
    auto ack = change("mfp-2", "alice");
    EXPECT_FALSE(ack.ok);
    EXPECT_EQ(ack.reason, Errc::no_session);
    EXPECT_EQ(store->load_document({"alice", Category::keychain})->entries.size(), 1u);
}

TEST_F(SessionCore, LogoutAndGoingOfflineEndTheSession) {
    join("mfp-1");
    login("mfp-1", "alice");
    event("mfp-1", EventKind::logout, "alice");
    EXPECT_EQ(change("mfp-1", "alice").reason, Errc::no_session);
    login("mfp-1", "alice");
    presence("mfp-1", true);
    EXPECT_TRUE(change("mfp-1", "alice").ok);
    presence("mfp-1", false);
    EXPECT_EQ(change("mfp-1", "alice").reason, Errc::no_session);
}

TEST_F(SessionCore, LoginGrantGoesToTheBrokerBeforeTheLoginReply) {
    join("mfp-1");
    login("mfp-1", "a/b");
    ASSERT_GE(last_out.size(), 2u);
    EXPECT_EQ(last_out[0].topic, topics.server_sessions());
    EXPECT_EQ(last_out[0].payload, "grant mfp-1 a%2Fb\n");
    EXPECT_EQ(last_out[1].topic, topics.device("mfp-1", TopicKind::device_inbox));
    auto out = event("mfp-1", EventKind::logout, "a/b");
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out[0].payload, "revoke mfp-1 a%2Fb\n");
    EXPECT_EQ(core->session_table_message().payload, "reset\n");
}

TEST_F(SessionCore, NewUsersPerDeviceAreBoundedAndTheRefusalShowsInStatus) {
    join("mfp-1");
    int refused = 0;
    for (int i = 0; i < tuning::sessions::kNewUsersBurstPerDevice + 5; ++i) {
        auto r = login("mfp-1", "made-up-" + std::to_string(i));
        if (r.reason == Errc::rate_limited) ++refused;
    }
    EXPECT_EQ(refused, 5);
    Value machine = core->status_value()["machines"][0];
    EXPECT_EQ(machine["new_users_refused"], 5);
    EXPECT_GT(machine["rate_limited_at"].get<int64_t>(), 0);
    // A user the server already holds is no new user: no token needed.
    login("mfp-1", "made-up-0");  // a refresh
}

TEST_F(SessionCore, FloodOfMadeUpUsersNeverEvictsARealUser) {
    join("mfp-1");
    join("mfp-evil");
    for (std::string u : {"alice", "bob"}) {
        login("mfp-1", u);
        ASSERT_TRUE(change("mfp-1", u).ok);
    }
    // Edits without logins: refused outright.
    for (int i = 0; i < 10; ++i)
        EXPECT_EQ(change("mfp-evil", "x" + std::to_string(i)).reason, Errc::no_session);
    // Registrations without logins (what a first merge sends): they fill free slots only.
    for (int i = 0; i < 10; ++i) change("mfp-evil", "r" + std::to_string(i), true);
    // Logins of new users may evict (the fixed policy), at the bounded rate: see
    // NewUsersPerDeviceAreBoundedAndTheRefusalShowsInStatus.
    EXPECT_TRUE(store->find_user("alice").has_value());
    EXPECT_TRUE(store->find_user("bob").has_value());
    EXPECT_LE(store->count_users(), 5u);
}

TEST(Sessions, IdleSessionsExpireAndThePerDeviceBoundDropsTheOldest) {
    Sessions s;
    std::string lines;
    const int64_t idle =
        std::chrono::duration_cast<std::chrono::milliseconds>(tuning::sessions::kIdleTimeout)
            .count();
    s.open("d", "u0", 0, lines);
    s.expire(idle, lines);
    EXPECT_TRUE(s.has("d", "u0"));
    s.expire(idle + 1, lines);
    EXPECT_FALSE(s.has("d", "u0"));
    for (std::size_t i = 0; i <= tuning::sessions::kMaxPerDevice; ++i)
        s.open("d", "u" + std::to_string(i), static_cast<int64_t>(i), lines);
    EXPECT_FALSE(s.has("d", "u0"));
    EXPECT_TRUE(s.has("d", "u1"));
    EXPECT_EQ(s.status_of("d")["sessions"], tuning::sessions::kMaxPerDevice);
}

TEST(Text, ControlCharactersAndBidiOverridesInUserIdsAreRefused) {
    EXPECT_TRUE(validate_user_id("jörg.müller"));
    EXPECT_EQ(validate_user_id("evil\x1b[2J").code(), Errc::bad_user_id);
    EXPECT_EQ(validate_user_id("a\nINFO forged line").code(), Errc::bad_user_id);
    EXPECT_EQ(validate_user_id("admin\xe2\x80\xae"
                               "gpj")
                  .code(),
              Errc::bad_user_id);                                        // U+202E
    EXPECT_EQ(validate_user_id("x\xc2\x9b").code(), Errc::bad_user_id);  // C1 CSI
    EXPECT_EQ(validate_text(std::string(300, 'a'), 256, "location").code(), Errc::too_large);
    EXPECT_EQ(validate_text("Floor\t3", 256, "location").code(), Errc::bad_text);
}

TEST(Text, EscapingMakesNetworkTextInertOnATerminal) {
    EXPECT_EQ(escape_for_display("plain jörg"), "plain jörg");
    EXPECT_EQ(escape_for_display("a\x1b[2Jb\n"), "a\\x1b[2Jb\\n");
    EXPECT_EQ(escape_for_display("x\xe2\x80\xaey"), "x\\u202ey");
    EXPECT_EQ(escape_for_display("\xff"), "\\xff");
    EXPECT_EQ(quoted_text("say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"");
}

TEST(Text, HelloWithOversizedOrControlTextIsRefusedWithAReason) {
    Hello h;
    h.device_id = "mfp-1";
    h.protocol = 1;
    h.product = std::string(250000, 'P');
    EXPECT_EQ(hello_from_value(hello_to_value(h)).code(), Errc::too_large);
    h.product = "MFP";
    h.location = "Floor 3\r\nFAKE";
    EXPECT_EQ(hello_from_value(hello_to_value(h)).code(), Errc::bad_text);
    h.location = "Floor 3";
    EXPECT_TRUE(hello_from_value(hello_to_value(h)));
}

TEST(Codec, PayloadOfMoreValuesThanTheBoundIsRefusedBeforeDecoding) {
    // 300 arrays of 1,000 nils: each array within its bound, the sum over the item bound.
    std::string bytes;
    bytes += '\xdc';
    bytes += '\x01';
    bytes += '\x2c';  // array16 of 300
    for (int i = 0; i < 300; ++i) {
        bytes += '\xdc';
        bytes += '\x03';
        bytes += '\xe8';  // array16 of 1000
        bytes += std::string(1000, '\xc0');
    }
    auto v = decode_msgpack(bytes);
    EXPECT_EQ(v.code(), Errc::too_large);
    EXPECT_NE(v.error().message.find("values"), std::string::npos);
    // Below the bound it decodes.
    EXPECT_TRUE(decode_msgpack(std::string("\x93\xc0\xc0\xc0", 4)));
}

}  // namespace

namespace {

TEST(SealedFields, OneListCoversPasswordsPinsPassphrasesAndTokens) {
    for (std::string name : {"password", "smbPassword", "passphrase", "pin", "card_pin", "userPin",
                             "token", "apiToken", "api_key", "secret", "private_key", "otp"})
        EXPECT_TRUE(is_secret_field(name)) << name;
    for (std::string name : {"host", "spin", "shipping", "opinion", "user", "tokenizer_mode"})
        EXPECT_FALSE(is_secret_field(name)) << name;
}

}  // namespace
