// Enable and auto-join (docs/protocol.md §5.1-5.2): devices join by themselves; the server refuses
// a different auth profile or one machine too many, with a reason the device shows;
// accepted machines are remembered across server restarts; refused devices back off.
#include <gtest/gtest.h>

#include <iostream>

#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

TEST(Join, DeviceJoinsByItselfAndReportsWhatItSyncs) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a",
             {"--product", "MFP C5870", "--firmware", "3.2", "--location", "2F east"});
    ASSERT_TRUE(a.wait_joined()) << a.log();
    Value st = a.status();
    EXPECT_EQ(st["state"], "joined");
    EXPECT_EQ(st["syncs"].size(), 8u);
    MqttProbe probe(broker.uri(), {"pds/v1/server/status"});
    ASSERT_TRUE(probe.wait_for("pds/v1/server/status", [](const std::string& p) {
        auto v = decode_msgpack(p);
        if (!v || !(*v).contains("machines")) return false;
        for (const auto& m : (*v)["machines"]) {
            if (m["device_id"] == "dev-a" && m["product"] == "MFP C5870" &&
                m["firmware"] == "3.2" && m["location"] == "2F east" && m["online"] == true)
                return true;
        }
        return false;
    }));
}

TEST(Join, DifferentAuthProfileIsRefusedWithReasonShownOnDevice) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()},
                  {"--auth-method", "ldap", "--auth-realm", "CORP", "--department-id-management",
                   "--department-ids", "100,200"});
    Device same(dir, {broker.uri()}, "dev-same",
                {"--auth-method", "ldap", "--auth-realm", "CORP", "--department-id-management",
                 "--department-ids", "200,100"});
    Device other(dir, {broker.uri()}, "dev-other",
                 {"--auth-method", "ldap", "--auth-realm", "CORP", "--department-id-management",
                  "--department-ids", "100"});
    EXPECT_TRUE(same.wait_joined()) << same.log();
    ASSERT_TRUE(wait_until([&] { return other.status()["state"] == "refused"; })) << other.log();
    EXPECT_NE(other.status()["last_error"].get<std::string>().find("auth_profile_mismatch"),
              std::string::npos);
    auto cli = run_cli({"device", "--socket", other.socket(), "status"});
    EXPECT_NE(cli.out.find("auth_profile_mismatch"), std::string::npos) << cli.out;
}

TEST(Join, MachineLimitCountsServerMachineOnceAndSurvivesRestart) {
    TempDir dir;
    Broker broker(dir);
    // Limit 3: the server machine (whose own client is "srv-mfp") and two more.
    Server server(dir, {broker.uri()}, {"--machine-limit", "3", "--device-id", "srv-mfp"});
    Device local(dir, {broker.uri()}, "srv-mfp");
    Device d1(dir, {broker.uri()}, "dev-1");
    ASSERT_TRUE(local.wait_joined());
    ASSERT_TRUE(d1.wait_joined());
    Device d2(dir, {broker.uri()}, "dev-2");
    ASSERT_TRUE(d2.wait_joined()) << "the server's own client must not take a slot";
    Device d3(dir, {broker.uri()}, "dev-3");
    ASSERT_TRUE(wait_until([&] { return d3.status()["state"] == "refused"; })) << d3.log();
    EXPECT_NE(d3.status()["last_error"].get<std::string>().find("machine_limit"),
              std::string::npos);

    // The server forgets nothing across a restart: d3 stays refused, d1 is still a member.
    server.stop();
    server.start();
    d1.stop();
    d1.start();
    EXPECT_TRUE(d1.wait_joined()) << d1.log();
    d3.stop();
    d3.start();
    ASSERT_TRUE(wait_until([&] { return d3.status()["state"] == "refused"; })) << d3.log();
    EXPECT_NE(d3.status()["last_error"].get<std::string>().find("machine_limit"),
              std::string::npos);
}

TEST(Join, RefusedDeviceRetriesWithGrowingBackOff) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--auth-method", "ldap"});
    Device d(dir, {broker.uri()}, "dev-x");  // auth method "local": refused every time
    ASSERT_TRUE(wait_until([&] { return d.status()["join_attempts"].get<int>() >= 3; },
                           std::chrono::seconds(20)));
    Value st = d.status();
    EXPECT_EQ(st["state"], "refused");
    // 500 ms doubling: after three attempts the next one is at least 4 s away.
    EXPECT_GE(st["join_retry_ms"].get<int>(), 4000);
}

// A login on a refused device answers at once, with the refusal's reason and what this
// device can serve alone (it used to wait 5 s for a manifest that never comes).
TEST(Join, LoginOnRefusedDeviceAnswersAtOnceWithTheReason) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--auth-method", "ldap"});
    Device d(dir, {broker.uri()}, "dev-x");  // auth method "local": refused
    ASSERT_TRUE(wait_until([&] { return d.status()["state"] == "refused"; })) << d.log();
    ASSERT_TRUE(d.status()["server_online"].get<bool>());
    auto started = std::chrono::steady_clock::now();
    auto cli = run_cli({"device", "--socket", d.socket(), "login", "alice"});
    auto took = std::chrono::steady_clock::now() - started;
    std::cout << "login on a refused device answered in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_LT(took, std::chrono::seconds(2)) << cli.out;
    EXPECT_NE(cli.out.find("from this device alone"), std::string::npos) << cli.out;
    EXPECT_NE(cli.out.find("auth_profile_mismatch"), std::string::npos) << cli.out;
    EXPECT_NE(cli.out.find("cached here: nothing yet"), std::string::npos) << cli.out;
    Value st = d.status();
    EXPECT_EQ(st["user"], "alice");
    EXPECT_EQ(st["login_source"], "cache");
}
