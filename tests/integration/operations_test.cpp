// The administrator's side (docs/protocol.md §5.9-5.12) through the real `pdsync` CLI against real
// processes: fleet status, user administration, import/export, backups to a directory
// and to a real Samba share, restore, removing and replacing machines, moving the server.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "shared/document.hpp"
#include "tests/backup/smb_server.hpp"
#include "tests/support/documents.hpp"
#include "tests/support/fleet.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id) {
    return Value{{"op", "add"}, {"id", id}, {"fields", {{"name", id}}}};
}

Value cli_json(const std::vector<std::string>& args) {
    std::vector<std::string> a = args;
    a.push_back("--json");
    auto r = run_cli(a);
    EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
    try {
        return Value::parse(r.out);
    } catch (...) {
        return Value::object();
    }
}

}  // namespace

TEST(Operations, StatusShowsMachinesUsersLimitsAndSleep) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--user-limit", "50", "--machine-limit", "5"});
    Device a(dir, {broker.uri()}, "dev-a",
             {"--firmware", "2.1", "--location", "lobby", "--categories",
              "addressbook,buttons,home,prefs"});
    ASSERT_TRUE(a.wait_joined());
    a.login("alice");
    ASSERT_EQ(a.edit("addressbook", add("e1")).value("state", ""), "acked");
    Value s;
    ASSERT_TRUE(wait_until([&] {
        s = cli_json({"status", "--server-socket", server.admin_socket()});
        return s.value("users", 0) == 1 && !s["machines"].empty() &&
               s["machines"][0].value("online", false);
    })) << s.dump();
    EXPECT_EQ(s["user_limit"], 50);
    EXPECT_EQ(s["machine_limit"], 5);
    EXPECT_EQ(s["machine_count"], 2);
    EXPECT_FALSE(s["may_sleep"].get<bool>());
    const Value& m = s["machines"][0];
    EXPECT_EQ(m["device_id"], "dev-a");
    EXPECT_EQ(m["firmware"], "2.1");
    EXPECT_EQ(m["location"], "lobby");
    EXPECT_EQ(m["pending"], 0);
    EXPECT_EQ(m["not_synced"],
              (Value{"shortcuts", "keychain", "group-addressbook-view", "guest-home"}));
    auto readable = run_cli({"status", "--server-socket", server.admin_socket()});
    EXPECT_EQ(readable.exit_code, 0);
    EXPECT_NE(readable.out.find("dev-a"), std::string::npos) << readable.out;
    EXPECT_NE(readable.out.find("1 / 50"), std::string::npos) << readable.out;
}

TEST(Operations, UsersListShowAndDeleteEverywhere) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    for (std::string u : {"alice", "bob"}) {
        a.login(u);
        ASSERT_EQ(a.edit("addressbook", add(u + "-contact")).value("state", ""), "acked");
        ASSERT_EQ(a.edit("keychain", add(u + "-key")).value("state", ""), "acked");
    }
    b.login("bob");
    ASSERT_EQ(b.show("keychain").size(), 1u);
    Value list = cli_json({"users", "list", "--server-socket", server.admin_socket()});
    ASSERT_EQ(list["users"].size(), 2u);
    EXPECT_EQ(list["users"][1]["user"], "bob");
    EXPECT_EQ(list["users"][1]["documents"]["keychain"], 1);

    Value show = cli_json({"users", "show", "bob", "--server-socket", server.admin_socket()});
    EXPECT_EQ(show["documents"].size(), 2u);

    // One category: gone from the server, the broker and the logged-in device.
    Value del = cli_json({"users", "delete", "bob", "--category", "keychain", "--server-socket",
                          server.admin_socket()});
    EXPECT_EQ(del["documents_deleted"], 1);
    EXPECT_TRUE(wait_until([&] { return b.show("keychain").empty(); }));
    EXPECT_EQ(b.show("addressbook").size(), 1u);
    // The whole user: rows, retained topics, and a device's cached copy (a is not logged in as
    // bob).
    a.login("alice");
    cli_json({"users", "delete", "bob", "--server-socket", server.admin_socket()});
    EXPECT_TRUE(wait_until([&] { return a.show("addressbook", "bob").empty(); }));
    MqttProbe fresh(broker.uri(), {"pds/v1/users/+/+"});
    ASSERT_TRUE(fresh.wait_for(Topics().user_doc("alice", Category::addressbook),
                               [](const std::string&) { return true; }));
    EXPECT_FALSE(fresh.last(Topics().user_doc("bob", Category::addressbook)).has_value());
    auto missing = run_cli({"users", "show", "bob", "--server-socket", server.admin_socket()});
    EXPECT_NE(missing.exit_code, 0);
    EXPECT_NE(missing.err.find("no user"), std::string::npos) << missing.err;
}

TEST(Operations, DeviceExportImportRefusedWhileSyncingAndRegisteredAtFirstMerge) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    a.login("alice");
    ASSERT_EQ(a.edit("addressbook", add("e1")).value("state", ""), "acked");
    a.edit("addressbook",
           Value{{"op", "add"}, {"id", "mine"}, {"range", "device"}, {"fields", {{"n", 1}}}});

    std::string file = dir.file("a-export.json");
    auto refused = run_cli({"device", "--socket", a.socket(), "export", file});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("synchronization is active"), std::string::npos) << refused.err;
    ASSERT_EQ(run_cli({"device", "--socket", a.socket(), "sync", "off"}).exit_code, 0);
    auto exported = run_cli({"device", "--socket", a.socket(), "export", file});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    std::ifstream in(file);
    Value data = Value::parse(in);
    EXPECT_EQ(data["schema"], "pds.export/1");
    EXPECT_EQ(data["device_items"].size(), 1u);

    // A second server and a fresh device: import, then enable synchronization.
    TempDir other;
    Broker broker2(other);
    Server server2(other, {broker2.uri()});
    Device c(other, {broker2.uri()}, "dev-c");
    ASSERT_TRUE(c.wait_joined());
    EXPECT_NE(run_cli({"device", "--socket", c.socket(), "import", file}).exit_code,
              0);  // refused while syncing
    ASSERT_EQ(run_cli({"device", "--socket", c.socket(), "sync", "off"}).exit_code, 0);
    auto imported = run_cli({"device", "--socket", c.socket(), "import", file});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    ASSERT_EQ(run_cli({"device", "--socket", c.socket(), "sync", "on"}).exit_code, 0);
    ASSERT_TRUE(c.wait_joined());
    ASSERT_TRUE(wait_until([&] { return c.status()["pending"] == 0; }));
    Device d(other, {broker2.uri()}, "dev-d");
    ASSERT_TRUE(d.wait_joined());
    ASSERT_TRUE(d.login("alice").value("ok", false));
    EXPECT_EQ(ids(d.show("addressbook")), std::vector<std::string>{"e1"});  // registered on server2
}

// A device holding more than one first-merge chunk (100 documents) of its own data: the
// import goes in chunks, the merge goes in chunks, and `pending` counts what is not yet
// registered, so `sync on` waits for all of it.
TEST(Operations, LargeDeviceImportIsRegisteredInChunksAndCountedAsPending) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device c(dir, {broker.uri()}, "dev-c");
    ASSERT_TRUE(c.wait_joined());
    ASSERT_EQ(run_cli({"device", "--socket", c.socket(), "sync", "off"}).exit_code, 0);
    Value bulk = {{"schema", "pds.export/1"}, {"documents", Value::array()}};
    for (int i = 0; i < 250; ++i) {
        bulk["documents"].push_back(
            {{"schema", "pds.doc/1"},
             {"user", "user-" + std::to_string(i)},
             {"category", "prefs"},
             {"version", 1},
             {"entries", Value::array({{{"id", "lang"}, {"rev", 1}, {"fields", {{"v", i}}}}})}});
    }
    std::string file = dir.file("bulk.json");
    std::ofstream(file) << bulk.dump();
    auto imported = run_cli({"device", "--socket", c.socket(), "--json", "import", file});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    EXPECT_EQ(Value::parse(imported.out)["documents_imported"], 250) << imported.out;

    auto on = run_cli({"device", "--socket", c.socket(), "sync", "on"});  // waits for it
    ASSERT_EQ(on.exit_code, 0) << on.err;
    EXPECT_EQ(c.status()["pending"], 0);
    Value users = cli_json({"users", "list", "--server-socket", server.admin_socket()});
    EXPECT_EQ(users["users"].size(), 250u) << users.dump();
    Device d(dir, {broker.uri()}, "dev-d");
    ASSERT_TRUE(d.wait_joined());
    ASSERT_TRUE(d.login("user-249").value("ok", false));
    EXPECT_EQ(ids(d.show("prefs")), std::vector<std::string>{"lang"});
}

TEST(Operations, ServerExportAndImportRoundTrip) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    for (std::string u : {"alice", "bob"}) {
        a.login(u);
        ASSERT_EQ(a.edit("buttons", add(u + "-b1")).value("state", ""), "acked");
    }
    std::string all = dir.file("all.msgpack");
    std::string alice = dir.file("alice.json");
    cli_json({"export", all, "--server-socket", server.admin_socket()});
    Value one =
        cli_json({"export", "--user", "alice", alice, "--server-socket", server.admin_socket()});
    EXPECT_EQ(one["documents"], 1);
    TempDir other;
    Broker broker2(other);
    Server server2(other, {broker2.uri()});
    Value imported = cli_json({"import", all, "--server-socket", server2.admin_socket()});
    EXPECT_EQ(imported["documents_imported"], 2);
    Device b(other, {broker2.uri()}, "dev-b");
    ASSERT_TRUE(b.wait_joined());
    b.login("bob");
    EXPECT_EQ(ids(b.show("buttons")), std::vector<std::string>{"bob-b1"});
}

TEST(Operations, BackupWhileChangesStreamListRestoreRefusedWhileRunning) {
    TempDir dir;
    std::string backups = dir.file("backups");
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--backup-dir", backups, "--backup-keep", "2"});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    a.login("alice");
    ASSERT_EQ(a.edit("addressbook", add("before")).value("state", ""), "acked");
    // Changes keep streaming in while the backups run.
    std::atomic<bool> done{false};
    std::thread writer([&] {
        for (int i = 0; !done && i < 200; ++i) a.edit("keychain", add("k" + std::to_string(i)), 0);
    });
    Value first = cli_json({"backup", "now", "--server-socket", server.admin_socket()});
    Value second = cli_json({"backup", "now", "--server-socket", server.admin_socket()});
    Value third = cli_json({"backup", "now", "--server-socket", server.admin_socket()});
    done = true;
    writer.join();
    ASSERT_TRUE(first.value("ok", false)) << first.dump();
    EXPECT_EQ(third["removed"].size(), 1u);  // retention keeps 2
    Value list = cli_json({"backup", "list", "--server-socket", server.admin_socket()});
    ASSERT_EQ(list["backups"].size(), 2u);
    Value s = cli_json({"status", "--server-socket", server.admin_socket()});
    EXPECT_EQ(s["last_backup"]["id"], third["id"]);
    EXPECT_TRUE(s["last_backup"]["ok"].get<bool>());

    // After the backup, alice adds more; restoring brings the store back to the backup.
    ASSERT_TRUE(wait_until([&] { return a.status()["pending"] == 0; }));
    ASSERT_EQ(a.edit("addressbook", add("after")).value("state", ""), "acked");
    std::string id = third["id"].get<std::string>();
    auto refused = run_cli({"backup", "restore", id, "--store", server.store(), "--backup-dir",
                            backups, "--server-socket", server.admin_socket()});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_NE(refused.err.find("server is running"), std::string::npos) << refused.err;
    auto restored = run_cli({"backup", "restore", id, "--store", server.store(), "--backup-dir",
                             backups, "--stop", "--server-socket", server.admin_socket()});
    ASSERT_EQ(restored.exit_code, 0) << restored.err;
    EXPECT_TRUE(wait_until([&] { return !server.running(); }));
    server.start();
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(b.wait_joined());
    ASSERT_TRUE(b.login("alice").value("ok", false));
    EXPECT_EQ(ids(b.show("addressbook")), std::vector<std::string>{"before"});
}

TEST(Operations, BackupToRealSambaShareAndRestoreOnNewHardware) {
    std::string why;
    if (!backup::test::SmbServer::can_run(&why)) GTEST_SKIP() << why;
    backup::test::SmbServer smb;
    ASSERT_TRUE(smb.start()) << smb.error();
    TempDir dir;
    Broker broker(dir);
    std::vector<std::string> smb_args = {"--backup-smb-url",      smb.url("pdsync"),
                                         "--backup-smb-user",     backup::test::SmbServer::kUser,
                                         "--backup-smb-password", smb.password()};
    Server old_server(dir, {broker.uri()}, smb_args, "old-server");
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    a.login("alice");
    ASSERT_EQ(a.edit("keychain", add("nas")).value("state", ""), "acked");
    Value backup = cli_json({"backup", "now", "--server-socket", old_server.admin_socket()});
    ASSERT_TRUE(backup.value("ok", false)) << backup.dump();
    EXPECT_TRUE(std::filesystem::exists(smb.share_dir() / "pdsync" /
                                        (backup["id"].get<std::string>() + ".db")));

    // Move the server: stop it, restore the backup on the new machine, start there.
    ASSERT_EQ(run_cli({"server", "stop", "--server-socket", old_server.admin_socket()}).exit_code,
              0);
    ASSERT_TRUE(wait_until([&] { return !old_server.running(); }));
    TempDir new_host;
    std::string new_store = new_host.file("new-server.db");
    std::vector<std::string> restore = {"backup", "restore", backup["id"].get<std::string>(),
                                        "--store", new_store};
    restore.insert(restore.end(), smb_args.begin(), smb_args.end());
    auto r = run_cli(restore);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Server new_server(new_host, {broker.uri()}, {}, "new-server");
    (void)new_store;
    // The fixture's store is new-host/new-server.db, the file just restored.
    ASSERT_TRUE(a.wait_joined());
    ASSERT_EQ(a.edit("keychain", add("printer-2")).value("state", ""), "acked") << a.log();
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(b.wait_joined());
    ASSERT_TRUE(b.login("alice").value("ok", false));
    EXPECT_EQ(ids(b.show("keychain")), (std::vector<std::string>{"nas", "printer-2"}));
}

TEST(Operations, RemovedMachineFreesItsSlotAtOnceAndIsRefusedIfItReturns) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--machine-limit", "2"});
    auto old_device =
        std::make_unique<Device>(dir, std::vector<std::string>{broker.uri()}, "old-mfp");
    ASSERT_TRUE(old_device->wait_joined());
    old_device->login("alice");
    ASSERT_EQ(old_device->edit("home", add("tile-1")).value("state", ""), "acked");
    old_device->kill9();  // broken and unreachable
    Device replacement(dir, {broker.uri()}, "new-mfp");
    ASSERT_TRUE(wait_until(
        [&] { return replacement.status()["state"] == "refused"; }));  // the fleet is full
    Value removed =
        cli_json({"machines", "remove", "old-mfp", "--server-socket", server.admin_socket()});
    EXPECT_EQ(removed["device_id"], "old-mfp");
    ASSERT_TRUE(replacement.wait_joined(std::chrono::seconds(40))) << replacement.log();
    ASSERT_TRUE(replacement.login("alice").value("ok", false));
    EXPECT_EQ(ids(replacement.show("home")), std::vector<std::string>{"tile-1"});
    old_device->start();  // it comes back
    ASSERT_TRUE(wait_until([&] { return old_device->status()["state"] == "refused"; }));
    EXPECT_NE(old_device->status()["last_error"].get<std::string>().find("not_joined"),
              std::string::npos);
}

TEST(Operations, LongOperationsShowProgressOnATerminalOnly) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--backup-dir", dir.file("backups")});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    a.login("alice");
    for (int i = 0; i < 20; ++i) a.edit("addressbook", add("e" + std::to_string(i)), 0);
    ASSERT_TRUE(wait_until([&] { return a.status()["pending"] == 0; }));
    // `script` gives the CLI a pseudo-terminal, as a person at a console would have.
    auto on_tty = [&](const std::string& args) {
        TempDir t;
        std::string out = t.file("typescript");
        std::string cmd = "PDSYNC_SERVER_BIN=" + std::string(PDSYNC_SERVER_BIN) +
                          " script -q -e -c '" + std::string(PDSYNC_CLI_BIN) + " " + args + "' " +
                          out + " >/dev/null 2>&1";
        int rc = std::system(cmd.c_str());
        std::ifstream in(out);
        std::stringstream ss;
        ss << in.rdbuf();
        return std::make_pair(rc, ss.str());
    };
    auto [rc, tty] = on_tty("backup now --server-socket " + server.admin_socket());
    EXPECT_EQ(rc, 0) << tty;
    EXPECT_NE(tty.find("backup ["), std::string::npos) << tty;
    EXPECT_NE(tty.find("/s"), std::string::npos) << "a rate" << tty;
    auto piped = run_cli({"backup", "now", "--server-socket", server.admin_socket()});
    EXPECT_EQ(piped.exit_code, 0);
    EXPECT_EQ(piped.err.find("["), std::string::npos) << "no bar without a terminal: " << piped.err;
    auto json = on_tty("backup now --json --server-socket " + server.admin_socket());
    EXPECT_EQ(json.second.find("backup ["), std::string::npos) << json.second;

    // A device's first sync after it was off: a bar while its outbox drains.
    ASSERT_EQ(run_cli({"device", "--socket", a.socket(), "sync", "off"}).exit_code, 0);
    for (int i = 0; i < 30; ++i) a.edit("keychain", add("k" + std::to_string(i)), 0);
    auto [rc2, first] = on_tty("device --socket " + a.socket() + " sync on");
    EXPECT_EQ(rc2, 0) << first;
    EXPECT_NE(first.find("first sync"), std::string::npos) << first;
    EXPECT_EQ(a.status()["pending"], 0);

    // A bulk import goes in chunks, each counted on the bar; every document arrives.
    Value bulk = {{"schema", "pds.export/1"}, {"documents", Value::array()}};
    for (int i = 0; i < 450; ++i) {
        bulk["documents"].push_back(
            {{"schema", "pds.doc/1"},
             {"user", "bulk-" + std::to_string(i)},
             {"category", "prefs"},
             {"version", 1},
             {"entries", Value::array({{{"id", "lang"}, {"rev", 1}, {"fields", {{"v", "fr"}}}}})}});
    }
    std::string bulk_file = dir.file("bulk.json");
    std::ofstream(bulk_file) << bulk.dump();
    auto [rc3, imported] =
        on_tty("import " + bulk_file + " --server-socket " + server.admin_socket());
    EXPECT_EQ(rc3, 0) << imported;
    EXPECT_NE(imported.find("import ["), std::string::npos) << imported;
    EXPECT_NE(imported.find("450/450"), std::string::npos) << imported;
    EXPECT_NE(imported.find("imported 450 documents"), std::string::npos) << imported;
    Value again = cli_json({"import", bulk_file, "--server-socket", server.admin_socket()});
    EXPECT_EQ(again["documents_imported"], 450);  // importing again is safe

    // A restore counts the bytes it downloads and verifies.
    Value backup = cli_json({"backup", "now", "--server-socket", server.admin_socket()});
    ASSERT_TRUE(backup.value("ok", false)) << backup.dump();
    ASSERT_EQ(run_cli({"server", "stop", "--server-socket", server.admin_socket()}).exit_code, 0);
    ASSERT_TRUE(wait_until([&] { return !server.running(); }));
    auto [rc4, restored] =
        on_tty("backup restore " + backup["id"].get<std::string>() + " --store " + server.store() +
               " --backup-dir " + dir.file("backups"));
    EXPECT_EQ(rc4, 0) << restored;
    EXPECT_NE(restored.find("restore ["), std::string::npos) << restored;
}
