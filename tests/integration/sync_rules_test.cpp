// Sync semantics over real processes (docs/protocol.md §5.3-5.8): first merge, every category with
// exact order, per-entry merge and tombstones, categories and capabilities, device-only
// items.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "shared/document.hpp"
#include "tests/support/documents.hpp"
#include "tests/support/fleet.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id, Value fields, std::optional<std::string> after = std::nullopt) {
    Value op = {{"op", "add"}, {"id", id}, {"fields", std::move(fields)}};
    if (after) op["after"] = *after;
    return op;
}

bool acked(const Value& r) {
    return r.value("state", "") == "acked";
}

int count_rows(const std::string& db, const std::string& sql) {
    SQLite::Database d(db, SQLite::OPEN_READONLY);
    return d.execAndGet(sql).getInt();
}

}  // namespace

TEST(FirstMerge, FirstClientRegistersAndServerCopyWinsAfterwards) {
    TempDir dir;
    Broker broker(dir);
    // Three devices that hold data from before synchronization was enabled.
    auto seed = [&](const std::string& id,
                    const std::vector<std::tuple<std::string, std::string, std::string>>& docs) {
        Device d(dir, {broker.uri()}, id);
        for (const auto& [user, category, entry] : docs) {
            Value r = d.edit(category, {add(entry, {{"from", id}})}, 0, user);
            ASSERT_EQ(r.value("state", ""), "local") << r.dump();
        }
        d.stop();
    };
    seed("dev-a", {{"alice", "addressbook", "a1"}, {"bob", "keychain", "kA"}});
    seed("dev-b", {{"alice", "addressbook", "b1"}, {"carol", "home", "hB"}});
    seed("dev-c", {{"bob", "keychain", "kC"}, {"dave", "prefs", "pC"}});

    Server server(dir, {broker.uri()});
    auto join_in_order = [&](const std::string& id) {
        auto d = std::make_unique<Device>(dir, std::vector<std::string>{broker.uri()}, id);
        EXPECT_TRUE(d->wait_joined()) << d->log();
        EXPECT_TRUE(wait_until([&] { return d->status()["pending"] == 0; })) << d->log();
        return d;
    };
    auto a = join_in_order("dev-a");
    auto b = join_in_order("dev-b");
    auto c = join_in_order("dev-c");

    // Only on clients: the first to connect registered it; later copies were replaced.
    ASSERT_TRUE(b->login("alice").value("ok", false));
    EXPECT_EQ(ids(b->show("addressbook")), std::vector<std::string>{"a1"});
    // On the server when a client joined: the client's copy was replaced.
    ASSERT_TRUE(c->login("bob").value("ok", false));
    EXPECT_EQ(ids(c->show("keychain")), std::vector<std::string>{"kA"});
    // Data that only one device held is now everybody's.
    ASSERT_TRUE(a->login("carol").value("ok", false));
    EXPECT_EQ(ids(a->show("home")), std::vector<std::string>{"hB"});
    ASSERT_TRUE(a->login("dave").value("ok", false));
    EXPECT_EQ(ids(a->show("prefs")), std::vector<std::string>{"pC"});
}

TEST(Categories, EveryCategorySyncsAndOrderedOnesKeepExactOrder) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    ASSERT_TRUE(a.login("alice").value("ok", false));
    for (std::string c :
         {"addressbook", "shortcuts", "home", "prefs", "group-addressbook-view", "guest-home"}) {
        ASSERT_TRUE(acked(a.edit(c, {add(c + "-1", {{"v", 1}}), add(c + "-2", {{"v", 2}})}))) << c;
    }
    ASSERT_TRUE(
        acked(a.edit("keychain", {add("k1", {{"host", "nas"}}), add("k2", {{"host", "ldap"}}),
                                  add("k3", {{"host", "smb"}})})));
    ASSERT_TRUE(acked(a.edit("keychain", {{{"op", "move"}, {"id", "k3"}, {"after", ""}}})));
    ASSERT_TRUE(
        acked(a.edit("buttons", {add("b1", {{"label", "Copy"}}), add("b2", {{"label", "Scan"}}),
                                 add("b0", {{"label", "Fax"}}, std::string(""))})));

    ASSERT_TRUE(b.login("alice").value("ok", false));
    for (std::string c :
         {"addressbook", "shortcuts", "home", "prefs", "group-addressbook-view", "guest-home"}) {
        EXPECT_EQ(ids(b.show(c)), (std::vector<std::string>{c + "-1", c + "-2"})) << c;
    }
    EXPECT_EQ(ids(b.show("keychain")), (std::vector<std::string>{"k3", "k1", "k2"}));
    EXPECT_EQ(ids(b.show("buttons")), (std::vector<std::string>{"b0", "b1", "b2"}));

    // A move on B reaches A, which is logged in as alice too, in exactly that order.
    ASSERT_TRUE(acked(b.edit("keychain", {{{"op", "move"}, {"id", "k1"}, {"after", "k2"}}})));
    EXPECT_TRUE(wait_until([&] {
        return ids(a.show("keychain")) == std::vector<std::string>{"k3", "k2", "k1"};
    })) << a.show("keychain").dump();
}

TEST(Merge, ConcurrentEditsOfDifferentEntriesBothSurviveSameEntryServerOrderWins) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    a.login("alice");
    b.login("alice");
    ASSERT_TRUE(acked(a.edit("addressbook", {add("e1", {{"n", 0}}), add("e2", {{"n", 0}})})));
    ASSERT_TRUE(wait_until([&] { return ids(b.show("addressbook")).size() == 2; }));
    // Different entries at the same time: both survive.
    Value ra =
        a.edit("addressbook", {{{"op", "update"}, {"id", "e1"}, {"fields", {{"n", "from-a"}}}}}, 0);
    Value rb =
        b.edit("addressbook", {{{"op", "update"}, {"id", "e2"}, {"fields", {{"n", "from-b"}}}}}, 0);
    ASSERT_TRUE(ra.value("ok", false) && rb.value("ok", false));
    auto converged = [&](const std::string& n1, const std::string& n2) {
        return wait_until([&] {
            for (Device* d : {&a, &b}) {
                Value e = d->show("addressbook");
                if (e.size() != 2 || e[0]["fields"]["n"] != n1 || e[1]["fields"]["n"] != n2)
                    return false;
            }
            return true;
        });
    };
    EXPECT_TRUE(converged("from-a", "from-b"))
        << a.show("addressbook").dump() << b.show("addressbook").dump();
    // The same entry: the later one in the server's order wins, everywhere.
    ASSERT_TRUE(acked(
        a.edit("addressbook", {{{"op", "update"}, {"id", "e1"}, {"fields", {{"n", "a-first"}}}}})));
    ASSERT_TRUE(acked(b.edit("addressbook",
                             {{{"op", "update"}, {"id", "e1"}, {"fields", {{"n", "b-second"}}}}})));
    EXPECT_TRUE(converged("b-second", "from-b"));
}

TEST(Merge, LateEditFromOfflineDeviceDoesNotResurrectDeletedEntry) {
    TempDir dir;
    Broker broker(dir);
    TcpProxy link_b(broker.port());
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {link_b.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    a.login("alice");
    b.login("alice");
    ASSERT_TRUE(acked(a.edit("addressbook", {add("gone", {{"n", 1}}), add("kept", {{"n", 1}})})));
    ASSERT_TRUE(wait_until([&] { return ids(b.show("addressbook")).size() == 2; }));

    link_b.cut();
    ASSERT_TRUE(wait_until([&] { return !b.status()["connected"].get<bool>(); }));
    ASSERT_TRUE(acked(a.edit("addressbook", {{{"op", "delete"}, {"id", "gone"}}})));
    // B has not seen the delete and edits the entry while offline.
    Value late =
        b.edit("addressbook", {{{"op", "update"}, {"id", "gone"}, {"fields", {{"n", 2}}}}}, 0);
    ASSERT_TRUE(late.value("ok", false)) << late.dump();
    link_b.heal();
    ASSERT_TRUE(wait_until([&] { return b.status()["pending"] == 0; })) << b.log();
    EXPECT_TRUE(wait_until([&] {
        return ids(b.show("addressbook")) == std::vector<std::string>{"kept"};
    })) << b.show("addressbook").dump();
    EXPECT_EQ(ids(a.show("addressbook")), std::vector<std::string>{"kept"});
}

TEST(Categories, ServerSyncsOnlyEnabledCategories) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--categories", "addressbook,buttons,guest-home"});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    EXPECT_EQ(a.status()["syncs"], (Value{"addressbook", "buttons", "guest-home"}));
    MqttProbe probe(broker.uri(), {"pds/v1/#"});
    a.login("alice");
    ASSERT_TRUE(acked(a.edit("addressbook", {add("e1", {{"n", 1}})})));
    Value r = a.edit("shortcuts", {add("s1", {{"n", 1}})});
    EXPECT_EQ(r.value("state", ""), "local") << r.dump();  // kept on the device, never sent
    b.login("alice");
    EXPECT_EQ(ids(b.show("addressbook")), std::vector<std::string>{"e1"});
    EXPECT_TRUE(b.show("shortcuts").empty());
    EXPECT_FALSE(probe.last(Topics().user_doc("alice", Category::shortcuts)).has_value());
}

TEST(Capabilities, OldFirmwareNeitherReceivesNorSendsUnsupportedCategories) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device modern(dir, {broker.uri()}, "dev-new");
    Device old(dir, {broker.uri()}, "dev-old",
               {"--firmware", "1.0", "--categories",
                "addressbook,buttons,home,prefs,group-addressbook-view,guest-home"});
    ASSERT_TRUE(modern.wait_joined());
    ASSERT_TRUE(old.wait_joined());
    modern.login("alice");
    ASSERT_TRUE(acked(modern.edit("keychain", {add("k1", {{"host", "nas"}})})));
    ASSERT_TRUE(acked(modern.edit("shortcuts", {add("s1", {{"to", "scan"}})})));
    ASSERT_TRUE(acked(modern.edit("addressbook", {add("e1", {{"n", 1}})})));
    ASSERT_TRUE(old.login("alice").value("ok", false));
    EXPECT_EQ(ids(old.show("addressbook")), std::vector<std::string>{"e1"});
    EXPECT_EQ(
        count_rows(old.store(),
                   "SELECT count(*) FROM documents WHERE category IN ('keychain','shortcuts')"),
        0);
    Value refused = old.edit("keychain", {add("k2", {{"host", "x"}})});
    EXPECT_EQ(refused.value("error", ""), "category_disabled");
    MqttProbe probe(broker.uri(), {"pds/v1/server/status"});
    ASSERT_TRUE(probe.wait_for("pds/v1/server/status", [](const std::string& p) {
        auto v = decode_msgpack(p);
        if (!v || !v->contains("machines")) return false;
        for (const auto& m : (*v)["machines"]) {
            if (m["device_id"] == "dev-old")
                return m["not_synced"] == Value{"shortcuts", "keychain"};
        }
        return false;
    }));
}

TEST(SharingRange, DeviceOnlyItemsNeverLeaveAndSurviveKill9) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    MqttProbe all(broker.uri(), {"#"});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    a.login("alice");
    ASSERT_TRUE(acked(a.edit("addressbook", {add("shared-1", {{"name", "Shared Sam"}})})));
    Value local = a.edit("addressbook", {{{"op", "add"},
                                          {"id", "secret-1"},
                                          {"range", "device"},
                                          {"fields", {{"name", "Only Here Olga"}}}}});
    ASSERT_TRUE(local.value("ok", false));
    ASSERT_TRUE(acked(a.edit("addressbook", {add("shared-2", {{"name", "Shared Sue"}})})));
    ASSERT_TRUE(all.wait_for(
        Topics().user_doc("alice", Category::addressbook),
        [](const std::string& p) { return p.find("Shared Sue") != std::string::npos; }));
    for (const auto& [topic, payload] : all.all()) {
        EXPECT_EQ(payload.find("Only Here Olga"), std::string::npos) << topic;
        EXPECT_EQ(payload.find("secret-1"), std::string::npos) << topic;
    }
    a.kill9();
    a.start();
    EXPECT_EQ(ids(a.show("addressbook", "alice"), "device"), std::vector<std::string>{"secret-1"});
}
