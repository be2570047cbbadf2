// The server decides and the broker enforces (dynamic security plugin): a refused device
// reads no user's document, even with its credentials in a raw client; removal ends the
// live session; no account takes over another's session; the claim account can only
// claim; machines can be held for approval.
#include <gtest/gtest.h>

#include "shared/join_code.hpp"
#include "tests/join/join_fleet.hpp"

namespace pdsync::test {
namespace {

constexpr int kNotAuthorized = 0x87;

Value add_entry(const std::string& id, const std::string& name) {
    return {{"op", "add"}, {"id", id}, {"fields", {{"name", name}}}};
}

// A joined member holding alice's address book on the server.
std::unique_ptr<Device> member_with_alice(JoinFleet& fleet, const std::string& code) {
    auto a = fleet.device("mfp-member");
    EXPECT_TRUE(fleet.enable(*a, code).value("ok", false));
    EXPECT_TRUE(a->wait_joined()) << a->log();
    EXPECT_TRUE(a->login("alice").value("ok", false));
    EXPECT_EQ(a->edit("addressbook", add_entry("bob", "Bob")).value("state", ""), "acked");
    return a;
}

// With the refused device's own credentials: users/ is refused at SUBSCRIBE, and nothing
// of it is delivered. server/status is subscribed after it and delivered, so had users/
// been routed, its retained document would have come first.
void expect_reads_no_user_document(JoinFleet& fleet, Device& refused) {
    DeviceAccount acc = account_of(refused);
    refused.stop();  // its session is bound to its client id: the raw client takes it
    RawClient raw(fleet.uri(), fleet.ca_file(), acc.username);
    ASSERT_EQ(raw.connect(acc.username, acc.password), 0);
    auto codes = raw.subscribe({"pds/v1/users/#", "pds/v1/users/alice/addressbook",
                                "pds/v1/shared/#", "pds/v1/server/status"});
    ASSERT_EQ(codes.size(), 4u);
    EXPECT_EQ(codes[0], kNotAuthorized);
    EXPECT_EQ(codes[1], kNotAuthorized);
    EXPECT_EQ(codes[2], kNotAuthorized);
    EXPECT_LT(codes[3], 0x80);
    ASSERT_TRUE(raw.wait_for("pds/v1/server/status", std::chrono::seconds(5)));
    for (const auto& [topic, payload] : raw.received())
        EXPECT_EQ(topic.find("/users/"), std::string::npos) << topic;
}

TEST(BrokerRights, DeviceOfAnotherAuthProfileReadsNoUsersDocument) {
    TempDir dir;
    JoinFleet fleet(dir);
    const std::string code = fleet.join_code();
    auto member = member_with_alice(fleet, code);

    auto other = fleet.device("mfp-other", {"--auth-method", "kerberos"});
    ASSERT_TRUE(fleet.enable(*other, code).value("ok", false));
    // The refusal's reason reaches it on its inbox and shows in its status.
    ASSERT_TRUE(wait_until([&] {
        return other->status().value("last_error", "").find("auth_profile_mismatch") !=
               std::string::npos;
    })) << other->status().dump();
    EXPECT_FALSE(other->status().value("joined", true));
    // Through its daemon: the login is served from nothing; no document arrives.
    (void)other->login("alice");
    EXPECT_TRUE(other->show("addressbook", "alice").empty());
    expect_reads_no_user_document(fleet, *other);
}

TEST(BrokerRights, DeviceBeyondTheMachineLimitReadsNoUsersDocument) {
    TempDir dir;
    JoinFleetOptions o;
    o.server_args = {"--machine-limit", "2"};  // the server machine and one more
    JoinFleet fleet(dir, o);
    const std::string code = fleet.join_code();
    auto member = member_with_alice(fleet, code);
    auto extra = fleet.device("mfp-extra");
    ASSERT_TRUE(fleet.enable(*extra, code).value("ok", false));
    ASSERT_TRUE(wait_until([&] {
        return extra->status().value("last_error", "").find("machine_limit") != std::string::npos;
    })) << extra->status().dump();
    EXPECT_FALSE(extra->status().value("joined", true));
    // Through its daemon: the login is served from nothing; no document arrives.
    (void)extra->login("alice");
    EXPECT_TRUE(extra->show("addressbook", "alice").empty());
    expect_reads_no_user_document(fleet, *extra);
}

TEST(BrokerRights, RemovalEndsTheLiveSessionWithinASecondAndTheCredentialsStopWorking) {
    TempDir dir;
    JoinFleet fleet(dir);
    auto d = fleet.device("mfp-gone");
    ASSERT_TRUE(fleet.enable(*d, fleet.join_code()).value("ok", false));
    ASSERT_TRUE(d->wait_joined());
    DeviceAccount acc = account_of(*d);
    d->stop();
    RawClient live(fleet.uri(), fleet.ca_file(), acc.username);
    ASSERT_EQ(live.connect(acc.username, acc.password), 0);
    ASSERT_LT(live.subscribe({"pds/v1/users/#"})[0], 0x80);  // a member, reading

    auto t0 = std::chrono::steady_clock::now();
    Value r = fleet.server().admin({{"cmd", "machines-remove"}, {"device_id", "mfp-gone"}});
    ASSERT_TRUE(r.value("ok", false)) << r.dump();
    ASSERT_TRUE(live.wait_disconnected(std::chrono::seconds(1))) << fleet.broker_log();
    auto took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0);
    RecordProperty("session_end_ms", std::to_string(took.count()));
    EXPECT_LT(took.count(), 1000.0);

    RawClient again(fleet.uri(), fleet.ca_file(), acc.username);
    EXPECT_NE(again.connect(acc.username, acc.password), 0);
}

TEST(BrokerRights, TakeoverOfTheServersAndAnotherDevicesClientIdIsRefused) {
    TempDir dir;
    JoinFleet fleet(dir);
    const std::string code = fleet.join_code();
    auto a = fleet.device("mfp-a");
    auto b = fleet.device("mfp-b");
    ASSERT_TRUE(fleet.enable(*a, code).value("ok", false));
    ASSERT_TRUE(fleet.enable(*b, code).value("ok", false));
    ASSERT_TRUE(a->wait_joined());
    ASSERT_TRUE(b->wait_joined());
    DeviceAccount acc = account_of(*a);
    const std::string server_log_before = fleet.server().log();
    const std::string b_log_before = b->log();

    for (const std::string victim : {"fleet-server", "mfp-b", "pdsync-claim", "inspector"}) {
        RawClient thief(fleet.uri(), fleet.ca_file(), victim);
        EXPECT_NE(thief.connect(acc.username, acc.password), 0) << victim;
    }
    // Both stayed on the broker: no connection loss since, and still in service.
    EXPECT_EQ(fleet.server().log().find("connection lost", server_log_before.size()),
              std::string::npos);
    EXPECT_EQ(b->log().find("connection lost", b_log_before.size()), std::string::npos);
    EXPECT_TRUE(b->status()["connected"].get<bool>());
    ASSERT_TRUE(b->login("carol").value("ok", false));
    EXPECT_EQ(b->edit("addressbook", add_entry("x", "X")).value("state", ""), "acked");
}

TEST(BrokerRights, ClaimAccountCanDoNothingButClaim) {
    TempDir dir;
    JoinFleet fleet(dir);
    const std::string code = fleet.join_code();
    auto member = member_with_alice(fleet, code);
    auto parsed = parse_join_code(code);
    ASSERT_TRUE(parsed);
    RawClient claim(fleet.uri(), fleet.ca_file(), "pdsync-claim");
    ASSERT_EQ(claim.connect("pdsync-claim", parsed->id), 0);
    for (const std::string topic :
         {"pds/v1/devices/mfp-member/hello", "pds/v1/devices/mfp-x/hello",
          "pds/v1/devices/mfp-member/changes", "pds/v1/users/alice/addressbook",
          "pds/v1/shared/guest-home", "pds/v1/server/status", "pds/v1/devices/mfp-member/inbox",
          "pds/v1/claim/0123/response", "$CONTROL/dynamic-security/v1"}) {
        EXPECT_EQ(claim.publish(topic, "junk"), kNotAuthorized) << topic;
    }
    auto codes = claim.subscribe({"pds/v1/users/#", "pds/v1/shared/#", "pds/v1/server/status",
                                  "pds/v1/devices/+/inbox", "pds/v1/claim/+/request", "#",
                                  "$CONTROL/dynamic-security/v1/response"});
    for (int c : codes) EXPECT_EQ(c, kNotAuthorized);
    // What it may do: publish a claim request (the server answers it, refusing junk).
    auto ok = claim.subscribe({"pds/v1/claim/00000000000000000000000000000000/response"});
    ASSERT_LT(ok[0], 0x80);
    EXPECT_EQ(claim.publish("pds/v1/claim/00000000000000000000000000000000/request", "junk"), 0);
    EXPECT_TRUE(claim.wait_for("pds/v1/claim/00000000000000000000000000000000/response",
                               std::chrono::seconds(5)));
}

TEST(BrokerRights, ManualApprovalHoldsNewMachinesUntilApprovedOrDenied) {
    TempDir dir;
    JoinFleetOptions o;
    o.fleet_init_args = {"--join-approval", "manual"};
    JoinFleet fleet(dir, o);
    const std::string code = fleet.join_code();
    auto a = fleet.device("mfp-a");
    auto b = fleet.device("mfp-b");
    ASSERT_TRUE(fleet.enable(*a, code).value("ok", false));
    ASSERT_TRUE(fleet.enable(*b, code).value("ok", false));
    for (auto* d : {a.get(), b.get()}) {
        ASSERT_TRUE(wait_until([&] {
            return d->status().value("last_error", "").find("pending_approval") !=
                   std::string::npos;
        })) << d->status().dump();
    }
    Value pending = fleet.server().admin({{"cmd", "machines-pending"}});
    ASSERT_EQ(pending["pending"].size(), 2u) << pending.dump();
    Value status = fleet.server().admin({{"cmd", "status"}});
    EXPECT_EQ(status["joining"]["pending"].size(), 2u) << status.dump();

    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(fleet.server()
                    .admin({{"cmd", "machines-approve"}, {"device_id", "mfp-a"}})
                    .value("ok", false));
    ASSERT_TRUE(a->wait_joined(std::chrono::seconds(5))) << a->log();
    RecordProperty("approve_to_joined_ms", std::to_string(std::chrono::duration<double, std::milli>(
                                                              std::chrono::steady_clock::now() - t0)
                                                              .count()));
    ASSERT_TRUE(fleet.server()
                    .admin({{"cmd", "machines-deny"}, {"device_id", "mfp-b"}})
                    .value("ok", false));
    // b's next hello is refused as denied, and it still reads nothing.
    b->stop();
    b->start();
    ASSERT_TRUE(wait_until([&] {
        return b->status().value("last_error", "").find("denied") != std::string::npos;
    })) << b->status().dump();
    EXPECT_TRUE(fleet.server().admin({{"cmd", "machines-pending"}})["pending"].empty());
    EXPECT_EQ(fleet.server().admin({{"cmd", "machines-approve"}, {"device_id", "mfp-b"}})["error"],
              "not_found");
}

}  // namespace
}  // namespace pdsync::test
