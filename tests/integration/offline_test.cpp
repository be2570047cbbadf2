// Offline editing and exactly-once delivery (docs/protocol.md §5.5 and §7): a device cut off from
// the broker keeps editing; its outbox survives kill -9 and drains on reconnect; a server that dies
// between its commit and its ack applies nothing twice.
#include <gtest/gtest.h>

#include <iostream>

#include "shared/document.hpp"
#include "tests/support/documents.hpp"
#include "tests/support/fleet.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id, int n) {
    return Value{{"op", "add"}, {"id", id}, {"fields", {{"n", n}}}};
}

}  // namespace

TEST(Offline, EditsQueueSurviveKill9AndDrainExactlyOnceOnReconnect) {
    TempDir dir;
    Broker broker(dir);
    TcpProxy link(broker.port());
    Server server(dir, {broker.uri()});
    Device a(dir, {link.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(a.login("alice").value("ok", false));
    ASSERT_EQ(a.edit("addressbook", add("before", 0)).value("state", ""), "acked");

    link.cut();
    ASSERT_TRUE(wait_until([&] { return !a.status()["connected"].get<bool>(); }));
    for (int i = 1; i <= 3; ++i) {
        Value r = a.edit("addressbook", add("offline-" + std::to_string(i), i), 200);
        ASSERT_EQ(r.value("state", ""), "pending") << r.dump();
    }
    EXPECT_EQ(a.status()["pending"], 3);
    a.kill9();  // the outbox is in SQLite: nothing is lost
    a.start();
    EXPECT_EQ(a.status()["pending"], 3);
    EXPECT_EQ(a.show("addressbook", "alice").size(), 4u);

    MqttProbe probe(broker.uri(), {Topics().user_doc("alice", Category::addressbook)});
    link.heal();
    ASSERT_TRUE(wait_until([&] { return a.status()["pending"] == 0; }, std::chrono::seconds(20)))
        << a.log();
    ASSERT_TRUE(wait_until([&] {
        auto d = retained(probe, "alice", Category::addressbook);
        return d && d->live_count() == 4;
    }));
    auto doc = retained(probe, "alice", Category::addressbook);
    EXPECT_EQ(doc->version, 4u) << "each change set applied exactly once";
    EXPECT_EQ(doc->entries.size(), 4u);
}

TEST(Offline, ServerCrashBetweenCommitAndAckAppliesNothingTwice) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(a.login("alice").value("ok", false));
    ASSERT_EQ(a.edit("keychain", add("k1", 1)).value("state", ""), "acked");

    // The next commit holding a change set is followed by an exit before the ack.
    server.stop();
    server.start({"PDSYNC_FAULT_EXIT_AFTER_COMMITS=1"});
    ASSERT_TRUE(a.wait_joined());
    Value r = a.edit("keychain", add("k2", 2), 1000);
    EXPECT_EQ(r.value("state", ""), "pending") << r.dump();
    ASSERT_TRUE(wait_until([&] { return !server.running(); })) << server.log();
    EXPECT_NE(server.log().find("fault injection"), std::string::npos);

    MqttProbe probe(broker.uri(), {Topics().user_doc("alice", Category::keychain)});
    server.start();  // the device re-sends; the server answers from its record
    ASSERT_TRUE(wait_until([&] { return a.status()["pending"] == 0; }, std::chrono::seconds(20)))
        << a.log();
    ASSERT_TRUE(wait_until([&] {
        auto d = retained(probe, "alice", Category::keychain);
        return d && d->live_count() == 2;
    }));
    // Two change sets, two versions: the one committed before the crash was not applied
    // again (the device learned from the join reply, or from a duplicate answer).
    EXPECT_EQ(retained(probe, "alice", Category::keychain)->version, 2u);
    EXPECT_EQ(a.show("keychain").size(), 2u);
}

// An edit made while the device is offline is answered at once (it used to wait out the
// command's whole 14 s timeout for an ack that could not come), and says why it waits.
TEST(Offline, EditWhileOfflineIsAnsweredAtOnceAndSaysWhy) {
    TempDir dir;
    Broker broker(dir);
    TcpProxy link(broker.port());
    Server server(dir, {broker.uri()});
    Device a(dir, {link.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(a.login("alice").value("ok", false));
    ASSERT_EQ(a.edit("addressbook", add("before", 0)).value("state", ""), "acked");

    link.cut();
    ASSERT_TRUE(wait_until([&] { return !a.status()["connected"].get<bool>(); }));
    auto started = std::chrono::steady_clock::now();
    auto cli = run_cli({"device", "--socket", a.socket(), "edit", "addressbook", "--add",
                        R"({"name":"Offline"})"});
    auto took = std::chrono::steady_clock::now() - started;
    std::cout << "offline edit answered in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_LT(took, std::chrono::seconds(2)) << cli.out;
    EXPECT_NE(cli.out.find("saved; waiting to synchronize (offline"), std::string::npos) << cli.out;
    EXPECT_EQ(a.status()["pending"], 1);

    // Connected again, an edit waits for its ack, which comes.
    link.heal();
    ASSERT_TRUE(a.wait_joined());
    auto online = run_cli(
        {"device", "--socket", a.socket(), "edit", "addressbook", "--add", R"({"name":"Online"})"});
    EXPECT_NE(online.out.find("saved and synchronized"), std::string::npos) << online.out;
}
