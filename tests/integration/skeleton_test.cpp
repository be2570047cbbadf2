// The walking skeleton over real processes: a real mosquitto, the real pdsync-server and
// two real pdsync-client daemons. Alice's address book follows her from device A to B.
#include <gtest/gtest.h>

#include "shared/document.hpp"
#include "tests/support/documents.hpp"
#include "tests/support/fleet.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;

TEST(Skeleton, AddressBookFollowsUserToSecondDevice) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined()) << a.log();
    ASSERT_TRUE(b.wait_joined()) << b.log();

    Value login_a = a.login("alice");
    ASSERT_TRUE(login_a.value("ok", false)) << login_a.dump();
    for (const auto& [id, name] : std::vector<std::pair<std::string, std::string>>{
             {"bob", "Bob Smith"}, {"carol", "Carol Jones"}, {"dave", "Dave Brown"}}) {
        Value r =
            a.edit("addressbook",
                   {{{"op", "add"}, {"id", id}, {"fields", {{"name", name}, {"fax", "+1-555"}}}}});
        ASSERT_EQ(r.value("state", ""), "acked") << r.dump() << server.log();
    }
    // A device-only entry must stay on A.
    Value local = a.edit(
        "addressbook",
        {{{"op", "add"}, {"id", "mine"}, {"range", "device"}, {"fields", {{"name", "Me"}}}}});
    ASSERT_TRUE(local.value("ok", false)) << local.dump();

    Value login_b = b.login("alice");
    ASSERT_TRUE(login_b.value("ok", false)) << login_b.dump();
    EXPECT_EQ(login_b.value("source", ""), "server");
    Value on_b = b.show("addressbook");
    EXPECT_EQ(ids(on_b), (std::vector<std::string>{"bob", "carol", "dave"}));
    EXPECT_EQ(on_b[1]["fields"]["name"], "Carol Jones");
    EXPECT_EQ(ids(a.show("addressbook")), (std::vector<std::string>{"bob", "carol", "dave"}));
    EXPECT_EQ(ids(a.show("addressbook"), "device"), (std::vector<std::string>{"mine"}));

    // The retained payload on the broker is the documented map.
    MqttProbe probe(broker.uri(), {Topics().user_doc("alice", Category::addressbook)});
    ASSERT_TRUE(probe.wait_for(Topics().user_doc("alice", Category::addressbook),
                               [](const std::string&) { return true; }));
    auto raw = decode_msgpack(*probe.last(Topics().user_doc("alice", Category::addressbook)));
    ASSERT_TRUE(raw.ok());
    EXPECT_EQ((*raw)["schema"], "pds.doc/1");
    EXPECT_EQ((*raw)["user"], "alice");
    EXPECT_EQ((*raw)["category"], "addressbook");
    EXPECT_EQ((*raw)["version"], 3);
    ASSERT_EQ((*raw)["entries"].size(), 3u);
    EXPECT_EQ((*raw)["entries"][0]["id"], "bob");
    EXPECT_EQ((*raw)["entries"][0]["fields"]["name"], "Bob Smith");
    EXPECT_TRUE((*raw)["entries"][0]["rev"].is_number_unsigned());
    EXPECT_EQ(raw->dump().find("\"Me\""), std::string::npos)
        << "a device-only entry reached the broker";
}

TEST(Skeleton, WithoutServerEditsStayPendingAndOtherDevicesSeeNothing) {
    TempDir dir;
    Broker broker(dir);
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(
        a.call({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 8000}}).value("ok", false));
    Value r =
        a.edit("addressbook", {{{"op", "add"}, {"id", "bob"}, {"fields", {{"name", "Bob"}}}}}, 300);
    // Never joined: the data is this device's own until a server registers it.
    ASSERT_TRUE(r.value("ok", false)) << r.dump();
    EXPECT_EQ(r.value("state", ""), "local") << r.dump();
    Value login_b = b.call({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 8000}});
    EXPECT_EQ(login_b.value("source", ""), "cache");
    EXPECT_TRUE(b.show("addressbook").empty());
}

TEST(Cli, PrintsReadableAndJsonAndFailsWithNonZeroExit) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    auto login = run_cli({"device", "--socket", a.socket(), "login", "alice"});
    ASSERT_EQ(login.exit_code, 0) << login.err;
    EXPECT_NE(login.out.find("alice is ready"), std::string::npos) << login.out;
    auto add = run_cli({"device", "--socket", a.socket(), "edit", "keychain", "--add",
                        R"({"host":"files"})", "--id", "k1"});
    ASSERT_EQ(add.exit_code, 0) << add.err;
    auto show =
        run_cli({"device", "--socket", a.socket(), "--json", "show", "--category", "keychain"});
    ASSERT_EQ(show.exit_code, 0) << show.err;
    Value v = Value::parse(show.out);
    EXPECT_EQ(v["documents"][0]["entries"][0]["id"], "k1");
    auto bad = run_cli({"device", "--socket", a.socket(), "edit", "nonsense", "--add", "{}"});
    EXPECT_NE(bad.exit_code, 0);
    EXPECT_NE(bad.err.find("unknown category"), std::string::npos) << bad.err;
    auto gone = run_cli({"device", "--socket", dir.file("nobody.sock"), "status"});
    EXPECT_NE(gone.exit_code, 0);
    EXPECT_NE(gone.err.find("not running"), std::string::npos) << gone.err;
}
