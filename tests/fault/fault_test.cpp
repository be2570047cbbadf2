// The fault suite (issue 6): every acknowledged change survives kill -9 of any process,
// a broker that loses its retained messages, a full disk, and a partition; a crash while
// a device applies a document leaves the old or the new one; skewed clocks change no
// merge result. Real mosquitto, real daemons, real SQLite files.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <fstream>
#include <set>
#include <thread>

#include "shared/document.hpp"
#include "tests/support/documents.hpp"
#include "tests/support/fleet.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id, Value fields = Value::object()) {
    return Value{{"op", "add"}, {"id", id}, {"fields", std::move(fields)}};
}

// Three devices logged in as alice, each adding `per_device` entries without waiting.
struct ThreeDevices {
    std::vector<std::unique_ptr<Device>> devices;
    ThreeDevices(const TempDir& dir, const std::vector<std::string>& brokers) {
        for (std::string id : {"dev-a", "dev-b", "dev-c"})
            devices.push_back(std::make_unique<Device>(dir, brokers, id));
        for (auto& d : devices) {
            EXPECT_TRUE(d->wait_joined());
            EXPECT_TRUE(d->login("alice").value("ok", false));
        }
    }
    std::vector<std::thread> stream(int per_device) {
        std::vector<std::thread> threads;
        for (auto& d : devices) {
            threads.emplace_back([&d, per_device] {
                for (int i = 0; i < per_device; ++i)
                    d->edit("addressbook", add(d->id() + "-" + std::to_string(i)), 0);
            });
        }
        return threads;
    }
    bool drained(std::chrono::seconds timeout = std::chrono::seconds(40)) {
        for (auto& d : devices) {
            if (!wait_until([&] { return d->status()["pending"] == 0; }, timeout)) return false;
        }
        return true;
    }
    std::set<std::string> expected(int per_device) const {
        std::set<std::string> ids;
        for (const auto& d : devices) {
            for (int i = 0; i < per_device; ++i) ids.insert(d->id() + "-" + std::to_string(i));
        }
        return ids;
    }
};

}  // namespace

TEST(Fault, ServerKilledDuringChangeStreamLosesNothing) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    ThreeDevices fleet(dir, {broker.uri()});
    MqttProbe probe(broker.uri(), {Topics().user_doc("alice", Category::addressbook)});
    auto threads = fleet.stream(60);
    // Kill the server once it has committed part of the stream.
    ASSERT_TRUE(wait_until([&] {
        auto d = retained(probe, "alice", Category::addressbook);
        return d && d->live_count() >= 30;
    }));
    server.kill9();
    for (auto& t : threads) t.join();
    server.start();
    ASSERT_TRUE(fleet.drained()) << server.log();
    std::set<std::string> want = fleet.expected(60);
    ASSERT_TRUE(wait_until([&] {
        auto d = retained(probe, "alice", Category::addressbook);
        return d && d->live_count() == want.size();
    })) << retained(probe, "alice", Category::addressbook)->live_count();
    for (auto& d : fleet.devices) {
        EXPECT_TRUE(wait_until([&] { return id_set(d->show("addressbook")) == want; })) << d->id();
    }
}

class BrokerKill : public ::testing::TestWithParam<bool> {};

TEST_P(BrokerKill, BrokerKilledWithOrWithoutPersistenceLosesNothing) {
    TempDir dir;
    BrokerOptions options;
    options.persistence = GetParam();
    Broker broker(dir, options);
    Server server(dir, {broker.uri()});
    ThreeDevices fleet(dir, {broker.uri()});
    auto threads = fleet.stream(40);
    ASSERT_TRUE(wait_until([&] { return fleet.devices[0]->status()["pending"] < 40; }));
    broker.kill9();
    for (auto& t : threads) t.join();  // edits keep going into the outboxes
    broker.start();
    ASSERT_TRUE(fleet.drained()) << server.log();
    std::set<std::string> want = fleet.expected(40);
    Device fresh(dir, {broker.uri()}, "dev-fresh");
    ASSERT_TRUE(fresh.wait_joined());
    ASSERT_TRUE(fresh.login("alice").value("ok", false));
    EXPECT_TRUE(wait_until([&] { return id_set(fresh.show("addressbook")) == want; }))
        << id_set(fresh.show("addressbook")).size();
}

INSTANTIATE_TEST_SUITE_P(Persistence, BrokerKill, ::testing::Values(false, true),
                         [](const auto& p) {
                             return p.param ? "PersistenceOn" : "PersistenceOff";
                         });

TEST(Fault, DeviceKilledMidApplyHoldsOldOrNewDocumentNeverAMix) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device writer(dir, {broker.uri()}, "dev-writer");
    Device reader(dir, {broker.uri()}, "dev-reader");
    ASSERT_TRUE(writer.wait_joined());
    ASSERT_TRUE(reader.wait_joined());
    writer.login("alice");
    reader.login("alice");
    // 200 entries that always change together: every version has one "gen" throughout.
    auto generation = [](int gen) {
        Value ops = Value::array();
        for (int i = 0; i < 200; ++i) {
            ops.push_back(
                add("e" + std::to_string(i), {{"gen", gen}, {"pad", std::string(300, 'x')}}));
        }
        return ops;
    };
    ASSERT_EQ(writer.edit("addressbook", generation(0)).value("state", ""), "acked");
    std::thread stream([&] {
        for (int gen = 1; gen <= 30; ++gen) writer.edit("addressbook", generation(gen), 0);
    });
    ASSERT_TRUE(wait_until([&] {
        Value e = reader.show("addressbook");
        return !e.empty() && e[0]["fields"]["gen"].get<int>() >= 3;
    }));
    reader.kill9();  // somewhere in the middle of applying the stream
    stream.join();
    SQLite::Database db(reader.store(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db,
                        "SELECT body FROM documents WHERE user='alice' AND category='addressbook'");
    ASSERT_TRUE(q.executeStep());
    auto blob = q.getColumn(0);
    auto doc = decode_document(std::string(static_cast<const char*>(blob.getBlob()),
                                           static_cast<size_t>(blob.getBytes())));
    ASSERT_TRUE(doc.ok());
    ASSERT_EQ(doc->live_count(), 200u);
    std::set<int> gens;
    for (const auto* e : doc->live_entries()) gens.insert(e->fields["gen"].get<int>());
    EXPECT_EQ(gens.size(), 1u) << "a mix of generations survived the crash";
}

TEST(Fault, FullDiskRefusesChangesWithReasonAndResumesWhenSpaceReturns) {
    TempDir dir;
    std::filesystem::path disk = dir.path() / "disk";
    std::filesystem::create_directories(disk);
    if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=3m") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here";
    struct Unmount {
        std::string path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{disk.string()};
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--store", (disk / "server.db").string()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    a.login("alice");
    ASSERT_EQ(a.edit("addressbook", add("before")).value("state", ""), "acked");
    // Fill the disk.
    {
        std::ofstream filler(disk / "filler", std::ios::binary);
        std::string mb(1 << 20, 'f');
        for (int i = 0; i < 8 && filler; ++i)
            filler.write(mb.data(), static_cast<std::streamsize>(mb.size()));
    }
    Value big = Value::array();
    for (int i = 0; i < 40; ++i)
        big.push_back(add("big-" + std::to_string(i), {{"pad", std::string(4000, 'y')}}));
    Value r = a.edit("addressbook", big, 3000);
    EXPECT_NE(r.value("state", ""), "acked") << r.dump();
    EXPECT_TRUE(wait_until([&] {
        return a.status()["last_error"].get<std::string>().find("storage") != std::string::npos;
    })) << a.status().dump();
    EXPECT_TRUE(server.running()) << "a full disk must not kill the server";
    // Space returns: the outbox drains and the acknowledged data was never damaged.
    std::filesystem::remove(disk / "filler");
    ASSERT_TRUE(wait_until([&] { return a.status()["pending"] == 0; }, std::chrono::seconds(30)))
        << a.log();
    EXPECT_EQ(id_set(a.show("addressbook")).size(), 41u);
    server.stop();
    SQLite::Database db((disk / "server.db").string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST(Fault, PartitionedDevicesReconcileWhenTheNetworkHeals) {
    TempDir dir;
    Broker broker(dir);
    TcpProxy link_a(broker.port());
    TcpProxy link_b(broker.port());
    Server server(dir, {broker.uri()});
    Device a(dir, {link_a.uri()}, "dev-a");
    Device b(dir, {link_b.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    a.login("alice");
    b.login("alice");
    link_a.cut();
    link_b.cut();
    for (int i = 0; i < 5; ++i) {
        a.edit("keychain", add("a" + std::to_string(i)), 0);
        b.edit("keychain", add("b" + std::to_string(i)), 0);
    }
    link_a.heal();
    link_b.heal();
    for (Device* d : {&a, &b}) ASSERT_TRUE(wait_until([&] { return d->status()["pending"] == 0; }));
    EXPECT_TRUE(wait_until([&] {
        return a.show("keychain") == b.show("keychain") && a.show("keychain").size() == 10;
    }));
}

TEST(Fault, ClocksSkewedByHoursChangeNoMergeResult) {
    auto run = [](bool skewed) {
        TempDir dir;
        Broker broker(dir);
        Server server(dir, {broker.uri()});
        Device a(dir, {broker.uri()}, "dev-a");
        Device b(dir, {broker.uri()}, "dev-b");
        if (skewed) {
            a.stop();
            a.start({"PDSYNC_CLOCK_SKEW_MS=18000000"});  // five hours fast
            b.stop();
            b.start({"PDSYNC_CLOCK_SKEW_MS=-18000000"});  // five hours slow
        }
        EXPECT_TRUE(a.wait_joined());
        EXPECT_TRUE(b.wait_joined());
        a.login("alice");
        b.login("alice");
        // The same sequence both times: the later edit in the server's order wins.
        a.edit("prefs", add("lang", {{"v", "en"}}));
        b.edit("prefs", Value{{"op", "update"}, {"id", "lang"}, {"fields", {{"v", "de"}}}});
        a.edit("prefs", Value{{"op", "update"}, {"id", "lang"}, {"fields", {{"v", "fr"}}}});
        b.edit("prefs", add("tz", {{"v", "UTC"}}));
        a.edit("prefs", Value{{"op", "delete"}, {"id", "tz"}});
        EXPECT_TRUE(wait_until([&] { return a.show("prefs") == b.show("prefs"); }));
        Value out = Value::array();
        for (const auto& e : a.show("prefs")) out.push_back({e["id"], e["fields"]});
        return out;
    };
    Value plain = run(false);
    Value skewed = run(true);
    EXPECT_EQ(plain, skewed);
    Value want = Value::array();
    want.push_back(Value::array({"lang", {{"v", "fr"}}}));
    EXPECT_EQ(plain, want);
}
