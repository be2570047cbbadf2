// Fleet-wide rules over real processes: the user limit evicts the least recently used
// user everywhere (docs/protocol.md §5.7); the broker's retained documents are rebuilt from the
// store (7); the server may sleep only when no client is online (5.10).
#include <gtest/gtest.h>

#include "shared/document.hpp"
#include "tests/support/fleet.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id) {
    return Value{{"op", "add"}, {"id", id}, {"fields", {{"name", id}}}};
}

bool status_says(MqttProbe& probe, const std::function<bool(const Value&)>& pred) {
    return probe.wait_for("pds/v1/server/status", [&](const std::string& p) {
        auto v = decode_msgpack(p);
        return v && v->is_object() && pred(*v);
    });
}

}  // namespace

TEST(UserLimit, RegisteringOneMoreEvictsLeastRecentlyUsedEverywhere) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--user-limit", "3"});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    for (std::string u : {"u1", "u2", "u3"}) {
        ASSERT_TRUE(a.login(u).value("ok", false));
        ASSERT_EQ(a.edit("addressbook", add(u + "-entry")).value("state", ""), "acked");
    }
    // b caches u2; then u1 logs in again, so u2 becomes the least recently used.
    ASSERT_TRUE(b.login("u2").value("ok", false));
    ASSERT_EQ(b.show("addressbook").size(), 1u);
    ASSERT_TRUE(b.login("u3").value("ok", false));
    ASSERT_TRUE(a.login("u1").value("ok", false));
    ASSERT_TRUE(a.login("u2").value("ok", false));  // touches u2 ...
    ASSERT_TRUE(a.login("u3").value("ok", false));  // ... then u3
    ASSERT_TRUE(a.login("u1").value("ok", false));  // ... then u1: u2 is now the oldest

    MqttProbe probe(broker.uri(), {"pds/v1/users/+/+"});
    ASSERT_TRUE(probe.wait_for(Topics().user_doc("u2", Category::addressbook),
                               [](const std::string& p) { return !p.empty(); }));
    ASSERT_TRUE(a.login("u4").value("ok", false));
    ASSERT_EQ(a.edit("addressbook", add("u4-entry")).value("state", ""), "acked");

    // The retained topic was cleared with a zero-length publish ...
    EXPECT_TRUE(probe.wait_for(Topics().user_doc("u2", Category::addressbook),
                               [](const std::string& p) { return p.empty(); }));
    // ... so a fresh subscriber finds nothing, and the other users are intact.
    MqttProbe fresh(broker.uri(), {"pds/v1/users/+/+"});
    ASSERT_TRUE(fresh.wait_for(Topics().user_doc("u4", Category::addressbook),
                               [](const std::string&) { return true; }));
    EXPECT_FALSE(fresh.last(Topics().user_doc("u2", Category::addressbook)).has_value());
    EXPECT_TRUE(fresh.last(Topics().user_doc("u1", Category::addressbook)).has_value());
    EXPECT_TRUE(fresh.last(Topics().user_doc("u3", Category::addressbook)).has_value());
    // The devices' cached copies are gone too.
    EXPECT_TRUE(wait_until([&] { return b.show("addressbook", "u2").empty(); })) << b.log();
    EXPECT_TRUE(a.show("addressbook", "u2").empty());
    // u2 logging in again starts from nothing.
    ASSERT_TRUE(b.login("u2").value("ok", false));
    EXPECT_TRUE(b.show("addressbook").empty());
}

// Logging in the user already logged in is a use: the device tells the server again, so
// that user's last use moves (it used to reprint the first login's result and send
// nothing), and the command says so.
TEST(UserLimit, LoggingInTheLoggedInUserAgainMovesTheirLastUse) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(a.login("alice").value("ok", false));
    ASSERT_EQ(a.edit("addressbook", add("alice-entry")).value("state", ""), "acked");
    Value before = server.admin({{"cmd", "users-show"}, {"user", "alice"}});
    ASSERT_TRUE(before.value("ok", false)) << before.dump();
    const int64_t first_use = before["last_used_at"].get<int64_t>();

    auto cli = run_cli({"device", "--socket", a.socket(), "login", "alice"});
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_NE(cli.out.find("alice was already logged in; this login counts as a use (sent to "
                           "the server)"),
              std::string::npos)
        << cli.out;
    EXPECT_TRUE(wait_until([&] {
        Value now = server.admin({{"cmd", "users-show"}, {"user", "alice"}});
        return now.value("ok", false) && now["last_used_at"].get<int64_t>() > first_use;
    })) << server.log();
}

TEST(Recovery, BrokerThatLostRetainedMessagesIsRebuiltFromStore) {
    TempDir dir;
    Broker broker(dir);  // persistence off: a restart loses every retained message
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(a.login("alice").value("ok", false));
    ASSERT_EQ(a.edit("addressbook", add("e1")).value("state", ""), "acked");
    ASSERT_EQ(a.edit("keychain", add("k1")).value("state", ""), "acked");

    broker.stop();
    broker.start();  // same port, empty broker
    ASSERT_TRUE(a.wait_joined()) << a.log();
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(b.wait_joined());
    Value login = b.login("alice");
    ASSERT_TRUE(login.value("ok", false));
    EXPECT_EQ(login["source"], "server");
    EXPECT_EQ(b.show("addressbook").size(), 1u);
    EXPECT_EQ(b.show("keychain").size(), 1u);

    // And a server restart: logins still get every document.
    server.stop();
    server.start();
    Device c(dir, {broker.uri()}, "dev-c");
    ASSERT_TRUE(c.wait_joined());
    ASSERT_TRUE(c.login("alice").value("ok", false));
    EXPECT_EQ(c.show("addressbook").size(), 1u);
    EXPECT_EQ(c.show("keychain").size(), 1u);
    // The device resubscribed after the broker restart: it still receives updates.
    ASSERT_EQ(b.edit("addressbook", add("e2")).value("state", ""), "acked");
    EXPECT_TRUE(wait_until([&] { return a.show("addressbook").size() == 2; }));
}

TEST(Sleep, ServerMayNotSleepWhileAnyClientIsOnline) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--device-id", "srv-mfp"});
    MqttProbe probe(broker.uri(), {"pds/v1/server/status"});
    EXPECT_TRUE(status_says(probe, [](const Value& v) { return v.value("may_sleep", false); }));
    Device local(dir, {broker.uri()}, "srv-mfp",
                 {"--keep-alive-s", "1"});  // the server's own "localhost"
    Device a(dir, {broker.uri()}, "dev-a", {"--keep-alive-s", "1"});
    ASSERT_TRUE(local.wait_joined());
    ASSERT_TRUE(a.wait_joined());
    EXPECT_TRUE(status_says(
        probe, [](const Value& v) { return !v.value("may_sleep", true) && v["online"] == 2; }));
    a.stop();  // a clean stop says offline
    EXPECT_TRUE(status_says(
        probe, [](const Value& v) { return !v.value("may_sleep", true) && v["online"] == 1; }));
    local.kill9();  // a crash: the broker publishes the will after the keep-alive
    EXPECT_TRUE(status_says(probe, [](const Value& v) { return v.value("may_sleep", false); }));
}
