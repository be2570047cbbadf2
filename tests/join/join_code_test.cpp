// Joining by code against a real fleet (deploy/fleet-init.sh, the dynamic security
// plugin, pdsync-server, pdsync-client): the device is given only the server's address and
// the join code; every refusal is shown, and nothing is granted by a refused claim.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "shared/join_code.hpp"
#include "tests/join/join_fleet.hpp"

namespace pdsync::test {
namespace {

int mode_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return -1;
    return static_cast<int>(st.st_mode & 0777);
}

bool has_credentials(const Device& d) {
    return std::filesystem::exists(d.store() + ".credentials");
}

Value add_entry(const std::string& id, const std::string& name) {
    return {{"op", "add"}, {"id", id}, {"fields", {{"name", name}}}};
}

TEST(JoinByCode, FreshDeviceGivenOnlyAddressAndCodeJoinsAndSyncs) {
    TempDir dir;
    JoinFleet fleet(dir);
    const std::string code = fleet.join_code();
    auto a = fleet.device("mfp-a");
    EXPECT_EQ(a->status()["state"], "not enabled");
    EXPECT_FALSE(a->status().value("enabled", true));

    Value r = fleet.enable(*a, code);
    ASSERT_TRUE(r.value("ok", false)) << r.dump() << a->log();
    ASSERT_TRUE(a->wait_joined()) << a->status().dump() << a->log() << fleet.server().log();
    EXPECT_EQ(mode_of(a->store() + ".credentials"), 0600);
    EXPECT_EQ(mode_of(a->store() + ".credentials.ca.pem"), 0600);

    ASSERT_TRUE(a->login("alice").value("ok", false));
    Value e = a->edit("addressbook", add_entry("bob", "Bob"));
    ASSERT_TRUE(e.value("ok", false)) << e.dump();
    EXPECT_EQ(e.value("state", ""), "acked") << e.dump();

    auto b = fleet.device("mfp-b");
    ASSERT_TRUE(fleet.enable(*b, code).value("ok", false));
    ASSERT_TRUE(b->wait_joined()) << b->log();
    ASSERT_TRUE(b->login("alice").value("ok", false));
    Value entries = b->show("addressbook");
    ASSERT_EQ(entries.size(), 1u) << entries.dump();
    EXPECT_EQ(entries[0]["fields"]["name"], "Bob");

    // A restart keeps the account: the device joins again without the code.
    b->stop();
    b->start();
    EXPECT_TRUE(b->wait_joined()) << b->log();
}

TEST(JoinByCode, DisableStopsSyncingAndForgetsTheCredentials) {
    TempDir dir;
    JoinFleet fleet(dir);
    auto a = fleet.device("mfp-a");
    ASSERT_TRUE(fleet.enable(*a, fleet.join_code()).value("ok", false));
    ASSERT_TRUE(a->wait_joined());
    Value r = a->call({{"cmd", "disable"}});
    ASSERT_TRUE(r.value("ok", false)) << r.dump();
    EXPECT_FALSE(has_credentials(*a));
    Value s = a->status();
    EXPECT_EQ(s["state"], "not enabled");
    EXPECT_FALSE(s["connected"].get<bool>());
    // Not enabled: export works, and sync on is refused with the way to enable.
    EXPECT_TRUE(a->call({{"cmd", "export"}}).value("ok", false));
    Value on = a->call({{"cmd", "sync"}, {"enabled", true}});
    EXPECT_EQ(on["error"], "not_enabled") << on.dump();
}

TEST(JoinByCode, WrongRotatedExpiredAndUsedUpCodesAreRefusedAndGrantNothing) {
    TempDir dir;
    JoinFleet fleet(dir);
    const std::string first = fleet.join_code();

    // Wrong: the right id and CA pin, another secret.
    auto parsed = parse_join_code(first);
    ASSERT_TRUE(parsed);
    JoinCode wrong = *parsed;
    wrong.secret[0] ^= 0x5a;
    auto d1 = fleet.device("mfp-wrong");
    Value r = fleet.enable(*d1, format_join_code(wrong));
    EXPECT_EQ(r["error"], "bad_join_code") << r.dump();
    EXPECT_FALSE(has_credentials(*d1));

    // Rotated away: the old code stops working at once.
    Value rotated = fleet.server().admin({{"cmd", "join-code"}, {"rotate", true}});
    ASSERT_TRUE(rotated.value("ok", false)) << rotated.dump();
    EXPECT_NE(rotated["join_code"], first);
    auto d2 = fleet.device("mfp-rotated");
    r = fleet.enable(*d2, first);
    EXPECT_EQ(r["error"], "bad_join_code") << r.dump();
    EXPECT_FALSE(has_credentials(*d2));

    // Past its uses: one use, then refused.
    const std::string once = fleet.join_code({{"uses", 1}});
    auto d3 = fleet.device("mfp-once");
    ASSERT_TRUE(fleet.enable(*d3, once).value("ok", false));
    auto d4 = fleet.device("mfp-twice");
    r = fleet.enable(*d4, once);
    EXPECT_EQ(r["error"], "join_code_expired") << r.dump();
    EXPECT_FALSE(has_credentials(*d4));

    // Expired.
    const std::string brief = fleet.join_code({{"expires", "1s"}});
    ASSERT_TRUE(wait_until(
        [&] {
            return !fleet.server().admin({{"cmd", "join-code"}}).value("valid", true);
        },
        std::chrono::seconds(5)));
    auto d5 = fleet.device("mfp-late");
    r = fleet.enable(*d5, brief);
    EXPECT_EQ(r["error"], "join_code_expired") << r.dump();
    EXPECT_FALSE(has_credentials(*d5));
    EXPECT_NE(d5->status().value("enable_error", "").find("join_code_expired"), std::string::npos);

    // Nothing was granted: none of the refused ids has a broker account.
    for (const char* id : {"mfp-wrong", "mfp-rotated", "mfp-twice", "mfp-late"}) {
        RawClient raw(fleet.uri(), fleet.ca_file(), id);
        EXPECT_NE(raw.connect(id, "any"), 0) << id;
    }
    // A garbled code is refused before anything is sent.
    auto d6 = fleet.device("mfp-typo");
    r = fleet.enable(*d6, "7KQ2-9C4V");
    EXPECT_EQ(r["error"], "bad_join_code") << r.dump();
}

TEST(JoinByCode, BrokerWhoseCaDoesNotMatchTheCodeIsRefusedBeforeAnySecretIsSent) {
    TempDir dir;
    JoinFleet fleet(dir);
    JoinFleetOptions other_options;
    other_options.start_server = false;
    JoinFleet impostor(dir, other_options, "impostor");  // its own CA
    auto d = fleet.device("mfp-a");
    Value r = fleet.enable(*d, fleet.join_code(), impostor.server_address());
    EXPECT_EQ(r["error"], "ca_mismatch") << r.dump();
    EXPECT_FALSE(has_credentials(*d));
    // The impostor saw a TLS handshake and no MQTT CONNECT: no claim password, no proof.
    EXPECT_EQ(impostor.broker_log().find("New client connected"), std::string::npos)
        << impostor.broker_log();
    EXPECT_EQ(impostor.broker_log().find("pdsync-claim"), std::string::npos);
}

TEST(JoinByCode, FleetKeyAndDevicePasswordNeverCrossTheBrokerInClear) {
    TempDir dir;
    JoinFleetOptions o;
    o.observer = true;
    JoinFleet fleet(dir, o);
    RawClient observer(fleet.uri(), fleet.ca_file(), "observer");
    ASSERT_EQ(observer.connect("observer", fleet.server_password()), 0);
    auto codes = observer.subscribe({"#"});
    ASSERT_EQ(codes.size(), 1u);
    ASSERT_LT(codes[0], 0x80);

    auto a = fleet.device("mfp-a");
    ASSERT_TRUE(fleet.enable(*a, fleet.join_code()).value("ok", false));
    ASSERT_TRUE(a->wait_joined());
    ASSERT_TRUE(observer.wait_for("pds/v1/devices/mfp-a/hello", std::chrono::seconds(5)));

    const std::string fleet_key_hex = fleet.secret("fleet.key");
    auto key = load_fleet_key(fleet.fleet_dir() + "/secrets/fleet.key");
    ASSERT_TRUE(key);
    const std::string key_bytes(reinterpret_cast<const char*>(key->data()), key->size());
    const std::string password = account_of(*a).password;
    bool saw_claim_reply = false;
    for (const auto& [topic, payload] : observer.received()) {
        if (topic.find("/claim/") != std::string::npos && topic.ends_with("/response"))
            saw_claim_reply = true;
        EXPECT_EQ(payload.find(key_bytes), std::string::npos) << topic;
        EXPECT_EQ(payload.find(fleet_key_hex), std::string::npos) << topic;
        EXPECT_EQ(payload.find(password), std::string::npos) << topic;
    }
    EXPECT_TRUE(saw_claim_reply) << "the observer must see the (sealed) claim reply";
}

}  // namespace
}  // namespace pdsync::test
