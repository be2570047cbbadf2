// Keychain secrets are sealed end to end (docs/protocol.md §6, docs/security.md): never in
// clear in the broker's retained messages or persistence file, the server's store, backups,
// logs, or the JSON inspection view. A personal document's secrets are sealed with its
// user's key, which a device gets only with that user's login there: a device where the
// user never logged in cannot open them, fleet key or not, even holding the document.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"
#include "shared/codec.hpp"
#include "shared/secrets.hpp"
#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

const std::string kSecret = "hunter2-correct-horse";

// Every byte of every file under `dir` (stores, WAL files, broker persistence, logs, backups).
bool any_file_contains(const std::filesystem::path& dir, const std::string& needle,
                       std::string& where) {
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
        if (!f.is_regular_file()) continue;
        if (read_file(f.path().string()).find(needle) != std::string::npos) {
            where = f.path().string();
            return true;
        }
    }
    return false;
}

}  // namespace

TEST(Secrets, KeychainPasswordsOpenOnlyOnDevicesWhereTheirUserLoggedIn) {
    TempDir dir;
    std::string key_file = dir.file("fleet.key");
    std::ofstream(key_file) << random_hex(32) << "\n";
    auto fleet_key = load_fleet_key(key_file);
    ASSERT_TRUE(fleet_key);
    BrokerOptions persistent;
    persistent.persistence = true;
    Broker broker(dir, persistent);

    Server server(dir, {broker.uri()}, {"--inspect-view", "--backup-dir", dir.file("backups")});
    Device a(dir, {broker.uri()}, "dev-a", {"--fleet-key-file", key_file});
    Device b(dir, {broker.uri()}, "dev-b", {"--fleet-key-file", key_file});
    Device c(dir, {broker.uri()}, "dev-c");                                  // no fleet key
    Device d(dir, {broker.uri()}, "dev-d", {"--fleet-key-file", key_file});  // alice never here
    for (Device* x : {&a, &b, &c, &d}) ASSERT_TRUE(x->wait_joined());
    MqttProbe inspect(broker.uri(), {"pds/v1/inspect/#"});

    a.login("alice");
    Value r = a.edit(
        "keychain",
        Value{{"op", "add"},
              {"id", "nas"},
              {"fields", {{"host", "nas.corp"}, {"user", "alice"}, {"smb_password", kSecret}}}});
    ASSERT_EQ(r.value("state", ""), "acked") << r.dump();

    ASSERT_TRUE(b.login("alice").value("ok", false));
    Value on_b = b.show("keychain");
    ASSERT_EQ(on_b.size(), 1u);
    EXPECT_EQ(on_b[0]["fields"]["smb_password"], kSecret);
    // alice's key came with her login on c: the fleet key is not what opens her secrets.
    ASSERT_TRUE(c.login("alice").value("ok", false));
    Value on_c = c.show("keychain");
    ASSERT_EQ(on_c.size(), 1u);
    EXPECT_EQ(on_c[0]["fields"]["smb_password"], kSecret) << on_c.dump();

    // d holds the fleet key and a copy of alice's document (the broker here lets anyone
    // read it), but alice never logged in on d: her password stays sealed.
    MqttProbe copy(broker.uri(), {"pds/v1/users/alice/keychain"});
    ASSERT_TRUE(copy.wait_for("pds/v1/users/alice/keychain", [](const std::string& p) {
        return p.find("nas.corp") != std::string::npos;
    }));
    auto doc = decode_msgpack(*copy.last("pds/v1/users/alice/keychain"));
    ASSERT_TRUE(doc);
    bool found = false;
    for (const auto& e : (*doc)["entries"]) {
        if (!e.contains("fields") || !e["fields"].contains("smb_password")) continue;
        found = true;
        Value opened = open_secrets(e["fields"], &*fleet_key);
        EXPECT_TRUE(is_sealed(opened["smb_password"])) << "the fleet key opened alice's secret";
    }
    EXPECT_TRUE(found) << doc->dump();
    Value on_d = d.show("keychain", "alice");
    for (const auto& e : on_d) EXPECT_NE(e["fields"].value("smb_password", Value()), kSecret);
    // Nor can d seal a new secret for her: it has no key of hers.
    Value refused_d =
        d.edit("keychain", Value{{"op", "add"}, {"fields", {{"host", "y"}, {"password", "p"}}}},
               10000, "alice");
    EXPECT_EQ(refused_d.value("error", ""), "no_session") << refused_d.dump();
    // A shared document's secrets are the fleet key's: c, without it, cannot store one.
    Value refused = c.edit("group-addressbook-view",
                           Value{{"op", "add"}, {"fields", {{"host", "x"}, {"password", "p"}}}});
    EXPECT_EQ(refused.value("error", ""), "invalid_argument") << refused.dump();

    // The JSON view shows the entry, with the secret redacted.
    ASSERT_TRUE(inspect.wait_for("pds/v1/inspect/users/alice/keychain", [](const std::string& p) {
        return p.find("nas.corp") != std::string::npos;
    }));
    EXPECT_NE(inspect.last("pds/v1/inspect/users/alice/keychain")->find("[sealed]"),
              std::string::npos);
    auto watch = run_cli({"watch", "pds/v1/inspect/users/alice/keychain", "--broker", broker.uri(),
                          "--count", "1", "--timeout-ms", "10000"});
    EXPECT_EQ(watch.exit_code, 0);
    EXPECT_NE(watch.out.find("nas.corp"), std::string::npos) << watch.out;
    EXPECT_EQ(watch.out.find(kSecret), std::string::npos);

    // A backup, then stop the broker so it writes its persistence file.
    ASSERT_EQ(run_cli({"backup", "now", "--server-socket", server.admin_socket()}).exit_code, 0);
    broker.stop();
    std::string where;
    EXPECT_FALSE(any_file_contains(dir.path(), kSecret, where))
        << "the secret is in clear in " << where;
    EXPECT_TRUE(std::filesystem::exists(dir.path() / "broker-data" / "mosquitto.db"));
}
