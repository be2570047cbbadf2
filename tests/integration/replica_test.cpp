// Replication and failover (docs/protocol.md §5.11, §5.12 and §7): a standby pdsync-server on its
// own broker keeps a copy of the primary's store; after kill -9 of the primary and its broker,
// `promote` makes the standby the server, the devices (configured with both brokers) follow
// it, and no change the primary acknowledged is lost or applied twice.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "shared/document.hpp"
#include "tests/support/documents.hpp"
#include "tests/support/fleet.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id, int n) {
    return Value{{"op", "add"}, {"id", id}, {"fields", {{"n", n}}}};
}

// The standby holds every commit the primary made, and the primary knows it.
bool caught_up(Server& primary, Server& standby) {
    Value p = primary.admin({{"cmd", "status"}});
    Value s = standby.admin({{"cmd", "status"}});
    return s.value("state", "") == "streaming" && s["lag"]["records"] == 0 &&
           p["replica"].value("attached", false) && p["replica"]["lag"]["records"] == 0 &&
           s["applied_seq"] == p["replica"]["seq"];
}

// Three devices add entries as fast as their acks come back, each on its own thread.
class Editors {
  public:
    explicit Editors(std::vector<std::unique_ptr<Device>>& devices) : acked_(devices.size()) {
        for (std::size_t i = 0; i < devices.size(); ++i) {
            threads_.emplace_back([this, i, &d = *devices[i]] { run(i, d); });
        }
    }
    ~Editors() { stop(); }
    void stop() {
        stop_ = true;
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }
    int acked(std::size_t device) {
        std::lock_guard lock(mu_);
        return acked_[device];
    }
    int min_acked() {
        std::lock_guard lock(mu_);
        return *std::min_element(acked_.begin(), acked_.end());
    }
    std::set<std::string> acked_ids() {
        std::lock_guard lock(mu_);
        return acked_ids_;
    }
    std::set<std::string> queued_ids() {
        std::lock_guard lock(mu_);
        return queued_ids_;
    }
    std::string failure() {
        std::lock_guard lock(mu_);
        return failure_;
    }

  private:
    void run(std::size_t index, Device& d) {
        for (int i = 0; !stop_; ++i) {
            std::string id = d.id() + "-" + std::to_string(i);
            try {
                Value r = d.edit("addressbook", add(id, i), 1500);
                std::lock_guard lock(mu_);
                if (!r.value("ok", false)) {
                    failure_ = id + ": " + r.dump();
                    return;
                }
                queued_ids_.insert(id);  // in the device's outbox: it must arrive in the end
                if (r.value("state", "") == "acked") {
                    acked_ids_.insert(id);
                    ++acked_[index];
                }
            } catch (const std::exception& e) {
                std::lock_guard lock(mu_);
                failure_ = id + ": " + e.what();
                return;
            }
        }
    }

    std::atomic<bool> stop_{false};
    std::mutex mu_;
    std::vector<int> acked_;
    std::set<std::string> acked_ids_;
    std::set<std::string> queued_ids_;
    std::string failure_;
    std::vector<std::thread> threads_;
};

}  // namespace

TEST(Replica, FailoverToPromotedStandbyLosesNoAcknowledgedChange) {
    TempDir dir;
    Broker broker_a(dir, {}, "broker-a");
    Broker broker_b(dir, {}, "broker-b");
    Server primary(dir, {broker_a.uri()}, {}, "primary");
    std::vector<std::unique_ptr<Device>> devices;
    for (std::string id : {"dev-a", "dev-b", "dev-c"}) {
        devices.push_back(std::make_unique<Device>(
            dir, std::vector<std::string>{broker_a.uri(), broker_b.uri()}, id));
    }
    for (auto& d : devices) {
        ASSERT_TRUE(d->wait_joined()) << d->log();
        ASSERT_TRUE(d->login("alice").value("ok", false)) << d->log();
    }
    // Made before the standby exists: it reaches the standby in the snapshot.
    ASSERT_EQ(devices[0]->edit("addressbook", add("early", 0)).value("state", ""), "acked");
    Server standby(dir, {broker_b.uri()}, {"--standby-of", broker_a.uri()}, "standby");
    ASSERT_TRUE(wait_until([&] { return caught_up(primary, standby); })) << standby.log();

    // The three devices edit without pause; the primary and its broker die in the middle.
    Editors editors(devices);
    ASSERT_TRUE(wait_until([&] { return editors.min_acked() >= 10; })) << editors.failure();
    primary.kill9();
    broker_a.kill9();
    const auto acked_before = editors.acked_ids();

    Value promoted = standby.admin({{"cmd", "promote"}});
    ASSERT_TRUE(promoted.value("ok", false)) << promoted.dump() << standby.log();
    EXPECT_EQ(promoted["role"], "primary");
    EXPECT_TRUE(promoted.value("in_sync", false)) << promoted.dump();

    // The devices find broker B, join the promoted server and go on.
    std::vector<int> at_failover;
    for (std::size_t i = 0; i < devices.size(); ++i) at_failover.push_back(editors.acked(i));
    ASSERT_TRUE(wait_until(
        [&] {
            for (std::size_t i = 0; i < devices.size(); ++i) {
                if (editors.acked(i) < at_failover[i] + 3) return false;
            }
            return true;
        },
        std::chrono::seconds(15)))
        << editors.failure() << devices[0]->log() << standby.log();
    editors.stop();
    ASSERT_EQ(editors.failure(), "");
    for (auto& d : devices) {
        ASSERT_TRUE(wait_until([&] { return d->status()["pending"] == 0; })) << d->log();
    }

    // Broker B holds, from the promoted server's store, every change: each applied once.
    const auto queued = editors.queued_ids();
    MqttProbe probe(broker_b.uri(), {Topics().user_doc("alice", Category::addressbook)});
    ASSERT_TRUE(wait_until([&] {
        auto doc = retained(probe, "alice", Category::addressbook);
        return doc && doc->live_count() == queued.size() + 1;
    })) << standby.log();
    auto doc = retained(probe, "alice", Category::addressbook);
    std::set<std::string> held;
    for (const auto* e : doc->live_entries()) held.insert(e->id);
    EXPECT_TRUE(held.count("early"));
    for (const auto& id : acked_before)
        EXPECT_TRUE(held.count(id)) << id << " was acked, then lost";
    for (const auto& id : queued) EXPECT_TRUE(held.count(id)) << id << " was queued, then lost";
    EXPECT_EQ(doc->version, queued.size() + 1) << "one version per change set: none applied twice";

    // A device that never knew the old primary sees the same through the new one.
    Device fresh(dir, {broker_b.uri()}, "dev-d");
    ASSERT_TRUE(fresh.wait_joined()) << fresh.log();
    Value login = fresh.login("alice");
    ASSERT_TRUE(login.value("ok", false)) << login.dump();
    EXPECT_EQ(login.value("source", ""), "server");
    EXPECT_EQ(fresh.show("addressbook").size(), queued.size() + 1);
}

// Only the primary server dies; its broker stays up. The devices, seeing no online server
// there, move on to the next broker of their list and find the promoted standby.
TEST(Replica, DevicesLeaveABrokerWhoseServerIsGoneForThePromotedStandby) {
    TempDir dir;
    Broker broker_a(dir, {}, "broker-a");
    Broker broker_b(dir, {}, "broker-b");
    Server primary(dir, {broker_a.uri()}, {}, "primary");
    Device a(dir, {broker_a.uri(), broker_b.uri()}, "dev-a", {"--failover-after-ms", "1000"});
    ASSERT_TRUE(a.wait_joined()) << a.log();
    ASSERT_TRUE(a.login("alice").value("ok", false));
    ASSERT_EQ(a.edit("addressbook", add("before", 0)).value("state", ""), "acked");
    Server standby(dir, {broker_b.uri()}, {"--standby-of", broker_a.uri()}, "standby");
    ASSERT_TRUE(wait_until([&] { return caught_up(primary, standby); })) << standby.log();
    // With the primary alive, an empty broker B is no reason to leave A.
    EXPECT_EQ(a.status()["server_online"], true);

    primary.kill9();
    ASSERT_TRUE(standby.admin({{"cmd", "promote"}}).value("ok", false)) << standby.log();
    // Queued while the device still sits on A, acked once it has moved to B.
    Value r = a.edit("addressbook", add("after", 1), 0);
    ASSERT_TRUE(r.value("ok", false)) << r.dump();
    ASSERT_TRUE(wait_until([&] { return a.status()["pending"] == 0; }, std::chrono::seconds(20)))
        << a.log();
    EXPECT_NE(a.log().find("leaving " + broker_a.uri()), std::string::npos) << a.log();
    MqttProbe probe(broker_b.uri(), {Topics().user_doc("alice", Category::addressbook)});
    ASSERT_TRUE(wait_until([&] {
        auto doc = retained(probe, "alice", Category::addressbook);
        return doc && doc->live_count() == 2;
    })) << standby.log();

    // The old primary comes back on A (a watchdog, a reboot): the fence the promoted server
    // left on A stops it, so it never becomes a second primary a device could follow.
    MqttProbe fence_probe(broker_a.uri(), {Topics().server_fence()});
    ASSERT_TRUE(wait_until([&] { return fence_probe.last(Topics().server_fence()).has_value(); }))
        << standby.log();
    primary.start();
    ASSERT_TRUE(wait_until([&] { return !primary.running(); })) << primary.log();
    int status = primary.stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3)  // systemd does not restart it
        << status << primary.log();
    EXPECT_NE(primary.log().find("fence: server standby was promoted"), std::string::npos)
        << primary.log();

    // Brought back on purpose, it clears the fence and serves again.
    standby.stop();
    primary = Server(dir, {broker_a.uri()}, {"--clear-fence"}, "primary");
    ASSERT_TRUE(wait_until([&] {
        auto f = fence_probe.last(Topics().server_fence());
        return f && f->empty();
    })) << primary.log();
    EXPECT_TRUE(primary.running()) << primary.log();
}

TEST(Replica, StatusShowsStandbyLagAndAcksGoOnWhenStandbyDies) {
    TempDir dir;
    Broker broker_a(dir, {}, "broker-a");
    Broker broker_b(dir, {}, "broker-b");
    Server primary(dir, {broker_a.uri()}, {}, "primary");
    Server standby(dir, {broker_b.uri()}, {"--standby-of", broker_a.uri()}, "standby");
    Device d(dir, {broker_a.uri()}, "dev-a");
    ASSERT_TRUE(d.wait_joined()) << d.log();
    ASSERT_TRUE(d.login("alice").value("ok", false));
    ASSERT_EQ(d.edit("keychain", add("k1", 1)).value("state", ""), "acked");
    ASSERT_TRUE(wait_until([&] { return caught_up(primary, standby); })) << standby.log();

    Value p = primary.admin({{"cmd", "status"}});
    EXPECT_EQ(p["role"], "primary");
    EXPECT_TRUE(p["replica"]["connected"].get<bool>()) << p.dump();
    EXPECT_EQ(p["replica"]["standby_id"], "standby");
    EXPECT_GE(p["replica"]["seq"].get<uint64_t>(), 1u);
    Value s = standby.admin({{"cmd", "status"}});
    EXPECT_EQ(s["role"], "standby") << s.dump();
    EXPECT_EQ(s["primary_id"], "primary");
    EXPECT_EQ(s["lag"]["records"], 0);
    EXPECT_EQ(s["lag"]["ms"], 0);

    // A standby answers only status and promote; a primary has nothing to promote.
    Value refused = standby.admin({{"cmd", "users-list"}});
    EXPECT_FALSE(refused.value("ok", true));
    EXPECT_NE(refused.value("message", "").find("standby"), std::string::npos) << refused.dump();
    EXPECT_FALSE(primary.admin({{"cmd", "promote"}}).value("ok", true));

    // Without its standby the primary goes on acking, and its status shows the lag grow.
    standby.kill9();
    Value r = d.edit("keychain", add("k2", 2), 8000);
    EXPECT_EQ(r.value("state", ""), "acked") << r.dump() << primary.log();
    ASSERT_TRUE(wait_until([&] {
        Value now = primary.admin({{"cmd", "status"}});
        return !now["replica"]["connected"].get<bool>() && now["replica"]["lag"]["records"] >= 1;
    })) << primary.admin({{"cmd", "status"}}).dump();
    MqttProbe probe(broker_a.uri(), {Topics().server_status()});
    ASSERT_TRUE(probe.wait_for(Topics().server_status(), [](const std::string& raw) {
        auto v = decode_msgpack(raw);
        return v && v->contains("replica") && !(*v)["replica"].value("connected", true);
    }));
}

TEST(Replica, StandbyResynchronizesWhenPrimaryRestarts) {
    TempDir dir;
    Broker broker_a(dir, {}, "broker-a");
    Broker broker_b(dir, {}, "broker-b");
    Server primary(dir, {broker_a.uri()}, {}, "primary");
    Server standby(dir, {broker_b.uri()}, {"--standby-of", broker_a.uri()}, "standby");
    Device d(dir, {broker_a.uri()}, "dev-a");
    ASSERT_TRUE(d.wait_joined()) << d.log();
    ASSERT_TRUE(d.login("alice").value("ok", false));
    ASSERT_EQ(d.edit("home", add("h1", 1)).value("state", ""), "acked");
    ASSERT_TRUE(wait_until([&] { return caught_up(primary, standby); })) << standby.log();
    const auto snapshots = standby.admin({{"cmd", "status"}})["snapshots"].get<uint64_t>();

    // A new primary process starts a new stream: the standby takes a fresh snapshot.
    primary.kill9();
    primary.start();
    ASSERT_TRUE(d.wait_joined()) << d.log();
    ASSERT_EQ(d.edit("home", add("h2", 2)).value("state", ""), "acked");
    ASSERT_TRUE(wait_until([&] { return caught_up(primary, standby); })) << standby.log();
    EXPECT_GT(standby.admin({{"cmd", "status"}})["snapshots"].get<uint64_t>(), snapshots);

    // And after promotion it holds both entries.
    primary.stop();
    ASSERT_TRUE(standby.admin({{"cmd", "promote"}}).value("ok", false));
    MqttProbe probe(broker_b.uri(), {Topics().user_doc("alice", Category::home)});
    ASSERT_TRUE(wait_until([&] {
        auto doc = retained(probe, "alice", Category::home);
        return doc && doc->live_count() == 2;
    })) << standby.log();
}
