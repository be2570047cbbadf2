// Keychain secrets are sealed end to end with the fleet key (docs/protocol.md §6): never in clear
// in the broker's retained messages or persistence file, the server's store, backups,
// logs, or the JSON inspection view; a device without the key cannot read them.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"
#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

const std::string kSecret = "hunter2-correct-horse";

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every byte of every file under `dir` (stores, WAL files, broker persistence, logs, backups).
bool any_file_contains(const std::filesystem::path& dir, const std::string& needle,
                       std::string& where) {
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir)) {
        if (!f.is_regular_file()) continue;
        if (slurp(f.path()).find(needle) != std::string::npos) {
            where = f.path().string();
            return true;
        }
    }
    return false;
}

}  // namespace

TEST(Secrets, KeychainPasswordsAreSealedEverywhereButOnDevicesWithTheFleetKey) {
    TempDir dir;
    std::string key_file = dir.file("fleet.key");
    std::ofstream(key_file) << random_hex(32) << "\n";
    BrokerOptions persistent;
    persistent.persistence = true;
    Broker broker(dir, persistent);

    Server server(dir, {broker.uri()}, {"--inspect-view", "--backup-dir", dir.file("backups")});
    Device a(dir, {broker.uri()}, "dev-a", {"--fleet-key-file", key_file});
    Device b(dir, {broker.uri()}, "dev-b", {"--fleet-key-file", key_file});
    Device c(dir, {broker.uri()}, "dev-c");  // no fleet key
    for (Device* d : {&a, &b, &c}) ASSERT_TRUE(d->wait_joined());
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
    ASSERT_TRUE(c.login("alice").value("ok", false));
    Value on_c = c.show("keychain");
    ASSERT_EQ(on_c.size(), 1u);
    EXPECT_EQ(on_c[0]["fields"]["host"], "nas.corp");
    EXPECT_TRUE(on_c[0]["fields"]["smb_password"].contains("$sealed")) << on_c.dump();
    Value refused =
        c.edit("keychain", Value{{"op", "add"}, {"fields", {{"host", "x"}, {"password", "p"}}}});
    EXPECT_EQ(refused.value("error", ""), "invalid_argument");

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
