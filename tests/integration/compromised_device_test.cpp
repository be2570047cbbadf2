// A compromised device against the real fleet (docs/security.md). A raw MQTT client with
// one device's identity plays the attacker: it joins as a device would, then floods the
// user limit, writes and reads another user's keychain, sends an oversized hello and
// 4 MiB change sets, and user ids holding control characters. Real pdsync-server and
// pdsync-client processes are the fleet; the broker loads the session plugin
// (broker-config/sessions-plugin/) with an ACL file that allows the rest, as the session tier of
// tests/security does with the dynamic security plugin.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include "server-node/server_store.hpp"
#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"
#include "shared/messages.hpp"
#include "shared/net/mqtt_link.hpp"
#include "tests/support/fleet.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;
using namespace std::chrono_literals;

namespace {

const Topics kTopics;

// Broker config: the session plugin decides users/ reads; the ACL file allows the rest.
BrokerOptions with_session_plugin(const TempDir& dir, const std::string& more = "") {
    std::string acl = dir.file("allow-all.acl");
    std::ofstream(acl) << "topic readwrite #\npattern readwrite #\n";
    BrokerOptions o;
    o.acl_file = acl;
    o.extra = std::string("plugin ") + PDSYNC_SESSIONS_PLUGIN +
              "\nplugin_opt_root pds/v1\nplugin_opt_server server\n" + more;
    return o;
}

// The attacker: one MQTT connection under the device's own client id, publishing on the
// device's topics and recording everything it receives.
class RawDevice {
  public:
    RawDevice(const std::string& uri, std::string id, std::vector<std::string> filters = {})
        : id_(std::move(id)) {
        net::MqttSettings s;
        s.servers = {uri};
        s.client_id = id_;
        s.username = id_;
        net::MqttLink::Handlers h;
        h.on_message = [this](net::Received m) {
            std::lock_guard lock(mu_);
            log_.push_back(std::move(m));
        };
        link_ = std::make_unique<net::MqttLink>(s, h);
        filters.push_back(inbox());
        link_->subscribe(filters);
        link_->start();
        if (!link_->wait_connected(10s)) throw std::runtime_error(id_ + " did not connect");
    }
    // Waits for queued publishes: Paho crashes destroying a client with pending tokens.
    ~RawDevice() { link_->stop(10s); }

    std::string inbox() const { return kTopics.device(id_, TopicKind::device_inbox); }
    net::MqttLink& link() { return *link_; }

    Hello hello() const {
        Hello h;
        h.device_id = id_;
        h.product = "MFP";
        h.firmware = "1.0";
        h.protocol = tuning::protocol::kProtocolVersion;
        h.categories = CategorySet::all();
        h.auth_digest = AuthProfile{}.digest();
        h.epoch = "evil-epoch";
        return h;
    }
    void publish(TopicKind kind, const std::string& bytes) {
        auto st = link_->publish(kTopics.device(id_, kind), bytes, false);
        ASSERT_TRUE(st.ok()) << st.error().message;
    }
    // Joins (retrying the hello until the server answers); the join reply.
    JoinReply join(const Value& hello) {
        std::optional<JoinReply> r;
        wait_until(
            [&] {
                publish(TopicKind::device_hello, encode_msgpack_unchecked(hello));
                r = wait_reply<JoinReply>([](const JoinReply&) { return true; }, 500ms);
                return r.has_value();
            },
            15s);
        if (!r) throw std::runtime_error("no join reply for " + id_);
        return *r;
    }
    void login(const std::string& user) {
        publish(
            TopicKind::device_events,
            encode_msgpack_unchecked(event_to_value({id_, EventKind::login, user, now_ms(), {}})));
    }
    void send(uint64_t seq, const std::string& user, Category c, std::vector<ChangeOp> ops,
              bool registers = false) {
        ChangeSet cs{id_, "evil-epoch", seq, user, c, registers, now_ms(), std::move(ops)};
        publish(TopicKind::device_changes, encode_msgpack_unchecked(change_set_to_value(cs)));
    }
    std::optional<AckReply> wait_ack(uint64_t seq, std::chrono::milliseconds timeout = 10s) {
        return wait_reply<AckReply>([&](const AckReply& a) { return a.seq == seq; }, timeout);
    }
    // Every ack received so far, by reason.
    std::map<std::string, int> reasons() {
        std::map<std::string, int> out;
        for (const auto& r : replies()) {
            if (const auto* a = std::get_if<AckReply>(&r))
                ++out[a->ok ? "ok" : std::string(errc_name(a->reason))];
        }
        return out;
    }
    // Messages received on topics under users/.
    std::vector<std::string> user_topics_seen() {
        std::lock_guard lock(mu_);
        std::vector<std::string> out;
        for (const auto& m : log_)
            if (m.topic.rfind(kTopics.root() + "/users/", 0) == 0) out.push_back(m.topic);
        return out;
    }

    template <typename T>
    std::optional<T> wait_reply(const std::function<bool(const T&)>& pred,
                                std::chrono::milliseconds timeout) {
        std::optional<T> found;
        wait_until(
            [&] {
                for (const auto& r : replies()) {
                    if (const auto* x = std::get_if<T>(&r); x && pred(*x)) {
                        found = *x;
                        return true;
                    }
                }
                return false;
            },
            timeout);
        return found;
    }

  private:
    std::vector<Reply> replies() {
        std::lock_guard lock(mu_);
        std::vector<Reply> out;
        for (const auto& m : log_) {
            if (m.topic != inbox()) continue;
            auto v = decode_msgpack(m.payload);
            if (!v) continue;
            auto r = reply_from_value(*v);
            if (!r) continue;
            for (auto& one : flatten_reply(std::move(*r))) out.push_back(std::move(one));
        }
        return out;
    }

    std::string id_;
    std::mutex mu_;
    std::deque<net::Received> log_;
    std::unique_ptr<net::MqttLink> link_;
};

ChangeOp put(std::string id, Value fields) {
    return ChangeOp{OpKind::put, std::move(id), std::move(fields), 0, std::nullopt};
}

Value add(const std::string& id, Value fields) {
    return {{"op", "add"}, {"id", id}, {"fields", std::move(fields)}};
}

std::vector<std::string> users_on(Server& server) {
    Value v = server.admin({{"cmd", "users-list"}});
    if (!v.value("ok", false)) throw std::runtime_error("users-list failed: " + v.dump());
    std::vector<std::string> out;
    for (const auto& u : v["users"]) out.push_back(u["user"].get<std::string>());
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

TEST(CompromisedDevice, UserLimitFloodLeavesEveryRealUserInPlace) {
    TempDir dir;
    Broker broker(dir, with_session_plugin(dir));
    Server server(dir, {broker.uri()}, {"--user-limit", "40"});
    Device office(dir, {broker.uri()}, "mfp-office");
    ASSERT_TRUE(office.wait_joined()) << office.log();
    for (std::string user : {"alice", "bob"}) {
        ASSERT_TRUE(office.login(user).value("ok", false));
        Value r = office.edit("addressbook", add("e1", {{"name", user + "'s contact"}}));
        ASSERT_EQ(r.value("state", ""), "acked") << r.dump() << server.log();
    }

    RawDevice evil(broker.uri(), "mfp-evil");
    ASSERT_TRUE(evil.join(hello_to_value(evil.hello())).accepted);
    // 1,008 made-up users, as in the report: edits without a login, first-merge style
    // registrations without a login, and logins followed by edits.
    const int kFlood = 1008;
    uint64_t seq = 0;
    for (int i = 0; i < kFlood; ++i) {
        std::string user = "fake-" + std::to_string(i);
        switch (i % 3) {
            case 0:
                evil.send(++seq, user, Category::addressbook, {put("x", {{"n", i}})});
                break;
            case 1:
                evil.send(++seq, user, Category::addressbook, {put("x", {{"n", i}})}, true);
                break;
            default:
                evil.login(user);
                evil.send(++seq, user, Category::addressbook, {put("x", {{"n", i}})});
        }
    }
    ASSERT_TRUE(evil.wait_ack(seq, 60s)) << server.log();
    auto reasons = evil.reasons();
    std::cout << "flood of " << kFlood << " users:";
    for (const auto& [why, n] : reasons) std::cout << " " << why << "=" << n;
    std::cout << "\n";
    EXPECT_GT(reasons["no_session"], kFlood / 3);

    auto users = users_on(server);
    EXPECT_TRUE(contains(users, "alice")) << "alice was evicted";
    EXPECT_TRUE(contains(users, "bob")) << "bob was evicted";
    EXPECT_LE(users.size(), 40u);
    ASSERT_TRUE(office.login("alice").value("ok", false));
    EXPECT_EQ(office.show("addressbook").size(), 1u);
    // The refusals show in the status, against the device.
    Value status = server.admin({{"cmd", "status"}});
    bool shown = false;
    for (const auto& m : status["machines"]) {
        if (m.value("device_id", "") == "mfp-evil")
            shown = m.value("new_users_refused", uint64_t{0}) > 0;
    }
    EXPECT_TRUE(shown) << status.dump();
    auto cli = run_cli({"status", "--server-socket", server.admin_socket()});
    EXPECT_NE(cli.out.find("rate limited: mfp-evil"), std::string::npos) << cli.out;
}

TEST(CompromisedDevice, WriteAndReadOfAUserWithoutASessionOnThatDeviceAreRefused) {
    TempDir dir;
    Broker broker(dir, with_session_plugin(dir));
    Server server(dir, {broker.uri()});
    Device office(dir, {broker.uri()}, "mfp-office");
    ASSERT_TRUE(office.wait_joined()) << office.log();
    // The plugin lets the real device read alice's documents after her login.
    ASSERT_TRUE(office.login("alice").value("ok", false)) << office.log();
    Value r = office.edit("keychain", add("nas", {{"host", "nas.corp"}, {"user", "alice"}}));
    ASSERT_EQ(r.value("state", ""), "acked") << r.dump();

    RawDevice evil(broker.uri(), "mfp-evil", {kTopics.root() + "/users/+/keychain"});
    ASSERT_TRUE(evil.join(hello_to_value(evil.hello())).accepted);
    // Write: delete alice's entry and add one of its own.
    evil.send(1, "alice", Category::keychain,
              {ChangeOp{OpKind::remove, "nas", {}, 0, std::nullopt}, put("evil", {{"host", "x"}})});
    auto ack = evil.wait_ack(1);
    ASSERT_TRUE(ack) << server.log();
    EXPECT_FALSE(ack->ok);
    EXPECT_EQ(ack->reason, Errc::no_session);
    // alice goes on editing on her device; the attacker's subscription gets none of it.
    Value again = office.edit("keychain", add("printer", {{"host", "p.corp"}}));
    ASSERT_EQ(again.value("state", ""), "acked") << again.dump();
    auto entries = office.show("keychain");
    ASSERT_EQ(entries.size(), 2u) << entries.dump();
    EXPECT_EQ(entries[0]["id"], "nas");

    // A user with a session on the attacker's device (its own login): its documents do
    // reach it, and they come after alice's edit, so had alice's been delivered it would
    // be here by now.
    evil.login("mallory");
    evil.send(2, "mallory", Category::keychain, {put("m", {{"host", "m"}})});
    ASSERT_TRUE(evil.wait_ack(2)->ok);
    ASSERT_TRUE(wait_until([&] { return !evil.user_topics_seen().empty(); }, 10s));
    for (const auto& t : evil.user_topics_seen())
        EXPECT_EQ(t, kTopics.user_doc("mallory", Category::keychain));
    // A fresh subscription's retained copies: only mallory's, then the status.
    MqttProbe probe(broker.uri(), {kTopics.root() + "/users/+/keychain", kTopics.server_status()},
                    "mfp-evil-2", "mfp-evil");
    ASSERT_TRUE(probe.wait_for(kTopics.server_status(), [](const std::string&) { return true; }));
    EXPECT_FALSE(probe.last(kTopics.user_doc("alice", Category::keychain)).has_value());
}

TEST(CompromisedDevice, OversizedHelloIsRefusedAndTheServerStaysConnected) {
    TempDir dir;
    // A broker that refuses packets over 512 KiB, and a server told so.
    Broker broker(dir, with_session_plugin(dir, "max_packet_size 524288\n"));
    Server server(dir, {broker.uri()}, {"--inspect-view", "--max-packet-bytes", "524288"});
    Device office(dir, {broker.uri()}, "mfp-office");
    ASSERT_TRUE(office.wait_joined()) << office.log();
    ASSERT_TRUE(office.login("alice").value("ok", false));

    RawDevice evil(broker.uri(), "mfp-evil");
    Value hello = hello_to_value(evil.hello());
    hello["product"] = std::string(150000, 'P');
    hello["firmware"] = std::string(150000, 'F');
    hello["location"] = std::string(150000, 'L');
    auto reply = evil.join(hello);
    EXPECT_FALSE(reply.accepted);
    EXPECT_EQ(reply.reason, Errc::too_large) << reply.message;

    // A document whose JSON twin (--inspect-view) is over the packet limit, though the
    // document itself is not: the twin is not sent, and nothing else is lost.
    // 100,000 control bytes: 100 kB of MessagePack, 600 kB of JSON (each one \u0001).
    Value big = {{"host", "h"}, {"note", std::string(100000, '\x01')}};
    Value r = office.edit("keychain", add("big", big));
    EXPECT_EQ(r.value("state", ""), "acked") << r.dump() << server.log();
    EXPECT_TRUE(
        wait_until([&] { return server.log().find("not publishing") != std::string::npos; }, 5s));
    Value after = office.edit("keychain", add("small", {{"host", "s"}}));
    EXPECT_EQ(after.value("state", ""), "acked") << after.dump();
    EXPECT_EQ(broker.process().log().find("disconnected, packet too large"), std::string::npos);
    auto log = broker.process().log();
    EXPECT_EQ(log.find("Client server disconnected"), std::string::npos) << log;
    EXPECT_TRUE(server.running());
}

int64_t edit_ms(Device& d, int i) {
    auto start = std::chrono::steady_clock::now();
    Value r = d.edit("addressbook", add("c" + std::to_string(i), {{"name", "n"}}));
    if (r.value("state", "") != "acked") throw std::runtime_error("edit not acked: " + r.dump());
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
}

std::size_t peak_rss_kib(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6));
    return 0;
}

TEST(CompromisedDevice, FloodOfLargeChangeSetsDoesNotStallAnotherDevicesEdits) {
    TempDir dir;
    Broker broker(dir, with_session_plugin(dir));
    Server server(dir, {broker.uri()});
    Device office(dir, {broker.uri()}, "mfp-office");
    ASSERT_TRUE(office.wait_joined()) << office.log();
    ASSERT_TRUE(office.login("alice").value("ok", false));
    int64_t baseline = 0;
    for (int i = 0; i < 3; ++i) baseline = std::max(baseline, edit_ms(office, i));

    RawDevice evil(broker.uri(), "mfp-evil");
    ASSERT_TRUE(evil.join(hello_to_value(evil.hello())).accepted);
    evil.login("mallory");
    // 40 change sets of ~4 MB: one op whose field holds 2,000 arrays of 2,000 nils. The
    // same bytes each time: an unguarded server decodes every copy before it looks at the
    // sequence number.
    std::string junk;
    {
        Value nils = Value::array();
        for (int i = 0; i < 2000; ++i) nils.push_back(Value(std::vector<Value>(2000, nullptr)));
        ChangeSet cs{"mfp-evil",
                     "evil-epoch",
                     1,
                     "mallory",
                     Category::addressbook,
                     false,
                     0,
                     {put("x", {{"junk", std::move(nils)}})}};
        junk = encode_msgpack_unchecked(change_set_to_value(cs));
    }
    ASSERT_GT(junk.size(), 4000000u);
    std::atomic<bool> done{false};
    std::thread flood([&] {
        for (int n = 0; n < 40; ++n)
            (void)evil.link().publish(kTopics.device("mfp-evil", TopicKind::device_changes), junk,
                                      false);
        done = true;
    });
    int64_t during = 0;
    int i = 10;
    while (!done || i < 16) during = std::max(during, edit_ms(office, i++));
    flood.join();
    std::cout << "edit ack: " << baseline << " ms before the flood, at most " << during
              << " ms during it (" << (i - 10) << " edits); server peak RSS "
              << peak_rss_kib(server.process().pid()) / 1024 << " MiB\n";
    // A sanitizer build on a shared machine: the bound is loose, the printed figure is
    // what the report quotes (the unguarded server stalled 5.3 s).
    EXPECT_LT(during, std::max<int64_t>(3000, 10 * baseline));
    EXPECT_TRUE(server.running());
}

TEST(CompromisedDevice, ControlCharactersInUserIdsAreRefusedAndEscapedWherePrinted) {
    TempDir dir;
    Broker broker(dir, with_session_plugin(dir));
    // A store from before this version may hold such an id: the CLI must print it inert.
    {
        auto store = server::open_sqlite_server_store(dir.file("server.db"));
        store->save_user(server::UserRow{"old\x1b[2Jid", 1, 1});
    }
    Server server(dir, {broker.uri()});
    RawDevice evil(broker.uri(), "mfp-evil");
    ASSERT_TRUE(evil.join(hello_to_value(evil.hello())).accepted);
    evil.login("evil\x1b[2J");
    evil.login("x\nINFO forged line");
    evil.send(1, "bob\nINFO user=admin login", Category::addressbook, {put("e", {{"n", 1}})});
    auto ack = evil.wait_ack(1);
    ASSERT_TRUE(ack) << server.log();
    EXPECT_EQ(ack->reason, Errc::bad_user_id);
    evil.send(1,
              "admin\xe2\x80\xae"
              "gpj",
              Category::addressbook, {put("e", {{"n", 1}})});
    EXPECT_TRUE(wait_until([&] { return evil.reasons()["bad_user_id"] >= 2; }, 10s));

    std::string log = server.log();
    EXPECT_EQ(log.find('\x1b'), std::string::npos) << "an escape sequence reached the log";
    EXPECT_EQ(log.find("\nINFO forged line"), std::string::npos) << "a forged log line";
    EXPECT_EQ(log.find("\nINFO user=admin"), std::string::npos) << "a forged log line";
    auto users = users_on(server);
    EXPECT_EQ(users.size(), 1u);  // only the old one

    auto cli = run_cli({"users", "list", "--server-socket", server.admin_socket()});
    EXPECT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(cli.out.find('\x1b'), std::string::npos) << cli.out;
    EXPECT_NE(cli.out.find("old\\x1b[2Jid"), std::string::npos) << cli.out;
    auto json = run_cli({"users", "list", "--json", "--server-socket", server.admin_socket()});
    EXPECT_EQ(json.out.find('\x1b'), std::string::npos) << json.out;
}

std::string mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "missing";
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", st.st_mode & 07777);
    return buf;
}

TEST(CompromisedDevice, StoresLogsAndTheirDirectoriesArePrivate) {
    TempDir dir;
    Broker broker(dir);
    std::string state = dir.file("state");  // created by the daemons
    Server server(
        dir, {broker.uri()},
        {"--store", state + "/server/server.db", "--log-file", state + "/log/server.log"});
    Device office(dir, {broker.uri()}, "mfp-office", {"--log-file", state + "/log/client.log"});
    ASSERT_TRUE(office.wait_joined()) << office.log() << server.log();
    ASSERT_TRUE(office.login("alice").value("ok", false));
    ASSERT_EQ(office.edit("keychain", add("k", {{"host", "x"}})).value("state", ""), "acked");
    for (const auto& f :
         {"/server/server.db", "/server/server.db-wal", "/log/server.log", "/log/client.log"})
        EXPECT_EQ(mode_of(state + f), "0600") << f;
    EXPECT_EQ(mode_of(office.store()), "0600");
    EXPECT_EQ(mode_of(office.store() + "-wal"), "0600");
    for (const auto& d : {"/server", "/log"}) EXPECT_EQ(mode_of(state + d), "0700") << d;
}

}  // namespace
