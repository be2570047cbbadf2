// Raft cluster under faults (docs/failover.md): three servers, each with its own broker and
// store, three devices editing one document without pause, through kill -9 of the leader, a
// partition of the leader from both followers (raft-aware proxies the test owns), the heal,
// the death of a follower, and restarts. At the end every acked change is in every store
// exactly once, the stores are equal, every device sees the leader's document, and no two
// servers published different contents for one document version.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "shared/base/hex.hpp"
#include "shared/document.hpp"
#include "shared/net/mqtt_link.hpp"
#include "tests/support/fleet.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "topics/topics.hpp"

using namespace pdsync;
using namespace pdsync::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kMembers = 3;

Value add(const std::string& id, int n) {
    return Value{{"op", "add"}, {"id", id}, {"fields", {{"n", n}}}};
}

// Every document publication and status seen on one broker, in order.
class Recorder {
  public:
    struct Publication {
        std::string topic;
        uint64_t version = 0;
        std::string body;
        uint64_t term = 0;  // the raft term the publishing server last announced
        Clock::time_point at;
    };
    Recorder(const std::string& uri, const std::string& doc_topic) : doc_topic_(doc_topic) {
        net::MqttSettings s;
        s.servers = {uri};
        s.client_id = "recorder-" + random_hex(4);
        net::MqttLink::Handlers h;
        h.on_message = [this](net::Received m) { on_message(std::move(m)); };
        link_ = std::make_unique<net::MqttLink>(s, h);
        link_->subscribe({doc_topic_, Topics().server_status()});
        link_->start();
        if (!link_->wait_connected(std::chrono::seconds(10)))
            throw std::runtime_error("recorder could not connect to " + uri);
    }
    ~Recorder() { link_->stop(std::chrono::milliseconds(0)); }
    std::vector<Publication> publications() {
        std::lock_guard lock(mu_);
        return pubs_;
    }

  private:
    void on_message(net::Received m) {
        std::lock_guard lock(mu_);
        if (m.topic == Topics().server_status()) {
            auto v = decode_msgpack(m.payload);
            if (v && v->contains("cluster")) term_ = (*v)["cluster"].value("term", uint64_t{0});
            return;
        }
        if (m.payload.empty()) return;
        auto doc = decode_document(m.payload);
        if (!doc) return;
        pubs_.push_back({m.topic, doc->version, m.payload, term_, Clock::now()});
    }
    std::string doc_topic_;
    std::mutex mu_;
    uint64_t term_ = 0;
    std::vector<Publication> pubs_;
    std::unique_ptr<net::MqttLink> link_;
};

// Three devices add entries as fast as their acks come back, each on its own thread.
class Editors {
  public:
    explicit Editors(std::vector<std::unique_ptr<Device>>& devices) {
        for (auto& d : devices) threads_.emplace_back([this, &dev = *d] { run(dev); });
    }
    ~Editors() { stop(); }
    void stop() {
        stop_ = true;
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }
    std::size_t acked() {
        std::lock_guard lock(mu_);
        return acked_.size();
    }
    std::set<std::string> acked_ids() {
        std::lock_guard lock(mu_);
        return acked_;
    }
    std::set<std::string> queued_ids() {
        std::lock_guard lock(mu_);
        return queued_;
    }
    // The first edit issued at or after `t` that came back acked.
    std::optional<Clock::time_point> first_ack_issued_after(Clock::time_point t) {
        std::lock_guard lock(mu_);
        std::optional<Clock::time_point> best;
        for (const auto& [issued, done] : ack_times_) {
            if (issued >= t && (!best || done < *best)) best = done;
        }
        return best;
    }
    std::string failure() {
        std::lock_guard lock(mu_);
        return failure_;
    }

  private:
    void run(Device& d) {
        for (int i = 0; !stop_; ++i) {
            std::string id = d.id() + "-" + std::to_string(i);
            try {
                auto issued = Clock::now();
                Value r = d.edit("addressbook", add(id, i), 1500);
                std::lock_guard lock(mu_);
                if (!r.value("ok", false)) {
                    failure_ = id + ": " + r.dump();
                    return;
                }
                queued_.insert(id);
                if (r.value("state", "") == "acked") {
                    acked_.insert(id);
                    ack_times_.emplace_back(issued, Clock::now());
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
    std::set<std::string> acked_;
    std::set<std::string> queued_;
    std::vector<std::pair<Clock::time_point, Clock::time_point>> ack_times_;
    std::string failure_;
    std::vector<std::thread> threads_;
};

struct Member {
    int raft_port = 0;
    std::unique_ptr<TcpProxy> proxy;
    std::unique_ptr<Broker> broker;
    std::unique_ptr<Server> server;
};

// A new cluster secret file, made as an administrator makes one.
std::string new_secret(const TempDir& dir, const std::string& name) {
    std::string path = dir.file(name);
    auto r = run_cli({"cluster", "secret", "--out", path});
    if (r.exit_code != 0) throw std::runtime_error("pdsync cluster secret: " + r.out + r.err);
    return path;
}

void put64(std::string& out, uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

// What a stranger without the secret sends: libraft's TCP handshake as member `id`
// (protocol 1, id, address length padded to 8 bytes, address), then a RequestVote for a
// far higher term, as libraft encodes messages (type, body size, body), padded to 64 bytes.
std::string forged_raft_hello(uint64_t id, const std::string& address, uint64_t term) {
    std::string out;
    std::size_t len = (address.size() + 1 + 7) / 8 * 8;
    put64(out, 1);
    put64(out, id);
    put64(out, len);
    out += address;
    out.append(len - address.size(), '\0');
    put64(out, 3);  // RAFT_IO_REQUEST_VOTE
    put64(out, 40);
    for (uint64_t v : {term, id, uint64_t{1000000}, term, uint64_t{0}}) put64(out, v);
    out.append(8, '\0');
    return out;
}

// Sends `bytes` to 127.0.0.1:port and returns all the peer sends until it closes the
// connection, or nullopt if it is still open after `within`.
std::optional<std::string> send_and_read_to_close(int port, const std::string& bytes,
                                                  std::chrono::milliseconds within) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot connect to the raft port");
    }
    if (::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(bytes.size())) {
        ::close(fd);
        throw std::runtime_error("cannot send to the raft port");
    }
    std::string got;
    auto until = Clock::now() + within;
    while (Clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            ::close(fd);
            return got;
        }
        got.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return std::nullopt;
}

Value cluster_status(Server& s) {
    if (!s.running()) return Value::object();
    try {
        return s.admin({{"cmd", "cluster-status"}}, 3000);
    } catch (const std::exception&) {
        return Value::object();
    }
}

// The member that leads and serves, among those in `among`; -1 if none.
int serving_leader(std::vector<Member>& m, const std::set<int>& among) {
    for (int i : among) {
        Value st = cluster_status(*m[i].server);
        if (st.value("state", "") == "leader" && st.value("serving", false)) return i;
    }
    return -1;
}

std::string all_logs(std::vector<Member>& m) {
    std::string out;
    for (std::size_t i = 0; i < m.size(); ++i)
        out += "\n==== server-" + std::to_string(i) + "\n" + m[i].server->log();
    return out;
}

std::set<int> all_members() {
    std::set<int> s;
    for (int i = 0; i < kMembers; ++i) s.insert(i);
    return s;
}

// One stored document's live entry ids and version, read from a store file.
struct StoredDoc {
    uint64_t version = 0;
    std::multiset<std::string> ids;
    std::string body;
};
StoredDoc stored_doc(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement q(db,
                        "SELECT version, body FROM documents WHERE user='alice' AND "
                        "category='addressbook'");
    StoredDoc out;
    if (!q.executeStep()) return out;
    out.version = static_cast<uint64_t>(q.getColumn(0).getInt64());
    const auto* b = static_cast<const char*>(q.getColumn(1).getBlob());
    out.body.assign(b, static_cast<std::size_t>(q.getColumn(1).getBytes()));
    auto doc = decode_document(out.body);
    if (doc) {
        for (const auto* e : doc->live_entries()) out.ids.insert(e->id);
    }
    return out;
}

// Applied change-set records, as rows, to compare stores.
std::set<std::string> applied_rows(const std::string& path) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT device_id, epoch, seq, ok, version FROM applied");
    std::set<std::string> rows;
    while (q.executeStep()) {
        rows.insert(q.getColumn(0).getString() + "/" + q.getColumn(1).getString() + "/" +
                    q.getColumn(2).getString() + "/" + q.getColumn(3).getString() + "/" +
                    q.getColumn(4).getString());
    }
    return rows;
}

}  // namespace

TEST(Cluster, LeaderKillPartitionAndFollowerDeathLoseNoAcknowledgedChange) {
    TempDir dir;
    const std::string doc_topic = Topics().user_doc("alice", Category::addressbook);
    std::vector<Member> m(kMembers);
    std::string peers;
    const std::string secret = new_secret(dir, "cluster.key");
    for (int i = 0; i < kMembers; ++i) {
        m[i].raft_port = free_port();
        m[i].proxy = std::make_unique<TcpProxy>(m[i].raft_port, TcpProxy::Mode::raft_member);
        m[i].broker = std::make_unique<Broker>(dir, BrokerOptions{}, "broker-" + std::to_string(i));
        peers += (i ? "," : "") + std::to_string(i + 1) + "=" + m[i].proxy->address();
    }
    for (int i = 0; i < kMembers; ++i) {
        m[i].server = std::make_unique<Server>(
            dir, std::vector<std::string>{m[i].broker->uri()},
            std::vector<std::string>{"--cluster-id", std::to_string(i + 1), "--cluster-listen",
                                     "127.0.0.1:" + std::to_string(m[i].raft_port),
                                     "--cluster-advertise", m[i].proxy->address(),
                                     "--cluster-peers", peers, "--cluster-secret-file", secret,
                                     // Small, so members restarted below catch up from
                                     // snapshots as well as from the log.
                                     "--cluster-snapshot-every", "24"},
            "server-" + std::to_string(i));
        ASSERT_TRUE(m[i].server->running()) << m[i].server->log();
    }
    int leader = -1;
    ASSERT_TRUE(wait_until([&] { return (leader = serving_leader(m, all_members())) >= 0; }))
        << m[0].server->log();

    std::vector<std::unique_ptr<Recorder>> recorders;
    for (int i = 0; i < kMembers; ++i)
        recorders.push_back(std::make_unique<Recorder>(m[i].broker->uri(), doc_topic));

    // Each device lists the three brokers, starting at a different one.
    std::vector<std::unique_ptr<Device>> devices;
    for (int k = 0; k < kMembers; ++k) {
        std::vector<std::string> brokers;
        for (int j = 0; j < kMembers; ++j) brokers.push_back(m[(k + j) % kMembers].broker->uri());
        devices.push_back(
            std::make_unique<Device>(dir, brokers, "dev-" + std::to_string(k),
                                     std::vector<std::string>{"--failover-after-ms", "1000"}));
    }
    for (auto& d : devices) {
        ASSERT_TRUE(d->wait_joined(std::chrono::seconds(30))) << d->log();
        ASSERT_TRUE(d->login("alice").value("ok", false)) << d->log();
    }

    Editors editors(devices);
    auto acks_grow_by = [&](std::size_t n, std::chrono::seconds within) {
        std::size_t from = editors.acked();
        return wait_until([&] { return editors.acked() >= from + n || !editors.failure().empty(); },
                          within) &&
               editors.failure().empty();
    };
    ASSERT_TRUE(acks_grow_by(15, std::chrono::seconds(20))) << editors.failure();

    // Round 1: kill -9 of the leader. A new one is elected and acks within 5 s.
    {
        uint64_t last_version = 0;
        for (auto& r : recorders) {
            for (const auto& p : r->publications())
                last_version = std::max(last_version, p.version);
        }
        auto killed_at = Clock::now();
        m[leader].server->kill9();
        std::set<int> rest = all_members();
        rest.erase(leader);
        int next = -1;
        ASSERT_TRUE(wait_until([&] { return (next = serving_leader(m, rest)) >= 0; }))
            << m[*rest.begin()].server->log();
        auto elected_at = Clock::now();
        ASSERT_TRUE(
            wait_until([&] { return editors.first_ack_issued_after(killed_at).has_value(); },
                       std::chrono::seconds(20)))
            << editors.failure() << devices[0]->log();
        auto device_ack = *editors.first_ack_issued_after(killed_at);
        // The new leader publishes a batch's documents and then its acks, in one go, right
        // after the commit: its first new version on its broker is its first ack.
        std::optional<Clock::time_point> first_ack;
        ASSERT_TRUE(wait_until([&] {
            for (const auto& p : recorders[next]->publications()) {
                if (p.version > last_version && p.at > killed_at) {
                    first_ack = p.at;
                    return true;
                }
            }
            return false;
        })) << m[next].server->log();
        auto ms = [&](Clock::time_point t) {
            return std::chrono::duration_cast<std::chrono::milliseconds>(t - killed_at).count();
        };
        std::cout << "[cluster] kill -9 of the leader: new leader serving after " << ms(elected_at)
                  << " ms, its first ack after " << ms(*first_ack)
                  << " ms, first edit issued after the kill acked at its device after "
                  << ms(device_ack) << " ms" << std::endl;
        RecordProperty("failover_new_leader_ms", std::to_string(ms(elected_at)));
        RecordProperty("failover_first_ack_ms", std::to_string(ms(*first_ack)));
        RecordProperty("failover_device_ack_ms", std::to_string(ms(device_ack)));
        EXPECT_LT(ms(*first_ack), 5000) << "kill -9 of the leader to the first ack";
        m[leader].server->start();  // back as a follower; catches up from the log
        ASSERT_TRUE(m[leader].server->running()) << m[leader].server->log();
        leader = next;
        ASSERT_TRUE(acks_grow_by(10, std::chrono::seconds(20))) << editors.failure();
    }

    // Round 2: the leader is cut off from both followers. It acks nothing from then on and
    // says so in its status; the two others elect a leader and go on acking.
    {
        const int isolated = leader;
        for (int i = 0; i < kMembers; ++i) {
            if (i == isolated) continue;
            m[isolated].proxy->block(static_cast<uint64_t>(i + 1));
            m[i].proxy->block(static_cast<uint64_t>(isolated + 1));
        }
        auto cut_at = Clock::now();
        std::set<int> rest = all_members();
        rest.erase(isolated);
        int next = -1;
        ASSERT_TRUE(wait_until([&] { return (next = serving_leader(m, rest)) >= 0; }))
            << all_logs(m);
        // Within its election timeout (1 s) and a state poll, the cut-off leader stops serving.
        ASSERT_TRUE(
            wait_until([&] { return !cluster_status(*m[isolated].server).value("serving", true); },
                       std::chrono::seconds(3)))
            << cluster_status(*m[isolated].server).dump();
        ASSERT_TRUE(acks_grow_by(10, std::chrono::seconds(20))) << editors.failure();
        // Nothing committed after the cut: the isolated leader's broker got no new version.
        auto grace = cut_at + std::chrono::milliseconds(300);
        for (const auto& p : recorders[isolated]->publications()) {
            EXPECT_LT(p.at, grace) << "version " << p.version << " published by the cut-off leader "
                                   << "after the partition";
        }
        Value st = cluster_status(*m[isolated].server);
        EXPECT_NE(st.value("state", ""), "leader") << st.dump();
        for (int i = 0; i < kMembers; ++i) {
            m[i].proxy->heal();
        }
        leader = next;
        ASSERT_TRUE(acks_grow_by(10, std::chrono::seconds(20))) << editors.failure();
    }

    // Round 3: a follower dies. Two of three keep acking; it comes back and catches up.
    {
        int follower = (leader + 1) % kMembers;
        m[follower].server->kill9();
        ASSERT_TRUE(acks_grow_by(15, std::chrono::seconds(20))) << editors.failure();
        m[follower].server->start();
        ASSERT_TRUE(m[follower].server->running()) << m[follower].server->log();
        ASSERT_TRUE(acks_grow_by(5, std::chrono::seconds(20))) << editors.failure();
        // It missed more entries than the leader keeps behind its snapshot.
        ASSERT_TRUE(wait_until([&] {
            return cluster_status(*m[follower].server).value("snapshots_restored", 0) > 0;
        })) << m[follower].server->log();
    }

    editors.stop();
    ASSERT_EQ(editors.failure(), "");
    for (auto& d : devices) {
        ASSERT_TRUE(
            wait_until([&] { return d->status()["pending"] == 0; }, std::chrono::seconds(30)))
            << d->log();
    }
    const auto acked = editors.acked_ids();
    const auto queued = editors.queued_ids();
    ASSERT_TRUE(wait_until([&] { return (leader = serving_leader(m, all_members())) >= 0; }));
    // Every member has applied all the leader has committed.
    ASSERT_TRUE(wait_until([&] {
        Value l = cluster_status(*m[leader].server);
        for (auto& mem : m) {
            if (cluster_status(*mem.server)["last_applied"] != l["commit_index"]) return false;
        }
        return true;
    })) << cluster_status(*m[0].server).dump();

    // The stores: every acked (and every queued) change once, and all three equal.
    StoredDoc lead = stored_doc(m[leader].server->store());
    for (const auto& id : acked) EXPECT_EQ(lead.ids.count(id), 1u) << id << " was acked";
    for (const auto& id : queued) EXPECT_EQ(lead.ids.count(id), 1u) << id << " was queued";
    EXPECT_EQ(lead.ids.size(), queued.size());
    EXPECT_EQ(lead.version, queued.size()) << "one version per change set: none applied twice";
    for (int i = 0; i < kMembers; ++i) {
        StoredDoc d = stored_doc(m[i].server->store());
        EXPECT_EQ(d.version, lead.version) << "server-" << i;
        EXPECT_EQ(d.body, lead.body) << "server-" << i;
        EXPECT_EQ(applied_rows(m[i].server->store()), applied_rows(m[leader].server->store()))
            << "server-" << i;
    }
    for (auto& mem : m)
        EXPECT_EQ(cluster_status(*mem.server).value("divergences", 1), 0) << mem.server->log();
    // Every device's view is the leader's.
    for (auto& d : devices) {
        ASSERT_TRUE(wait_until([&] { return d->show("addressbook").size() == lead.ids.size(); }))
            << d->log();
        std::multiset<std::string> seen;
        for (const auto& e : d->show("addressbook")) seen.insert(e.value("id", ""));
        EXPECT_EQ(seen, lead.ids) << d->id();
    }
    // No two servers, in any term, published different contents for one version.
    std::map<uint64_t, std::pair<std::string, uint64_t>> by_version;
    std::size_t checked = 0;
    for (int i = 0; i < kMembers; ++i) {
        for (const auto& p : recorders[i]->publications()) {
            auto [it, fresh] = by_version.emplace(p.version, std::make_pair(p.body, p.term));
            ++checked;
            if (!fresh) {
                EXPECT_EQ(it->second.first, p.body)
                    << "version " << p.version << ": term " << it->second.second << " and term "
                    << p.term << " (server-" << i << ") published different documents";
            }
        }
    }
    // Group commit folds several change sets into one document version, so the number of
    // publications has no fixed ratio to the number of changes (the merged tree's quieter
    // batches made it ~1 per 4); what matters is that the recorders saw publications at all
    // and that no version above was published with two contents.
    EXPECT_GT(checked, 0u);
    std::cout << "[cluster] " << acked.size() << " acked and " << queued.size()
              << " queued changes; " << checked << " publications checked" << std::endl;
}

// A single server with data becomes a cluster with `pdsync cluster init`; a standby added
// with `pdsync cluster add --role standby` copies it without voting; after the leader's
// kill -9, `pdsync server promote` makes the standby serve, with every change it held.
TEST(Cluster, InitFromASingleServerThenPromoteItsStandby) {
    TempDir dir;
    const std::string doc_topic = Topics().user_doc("alice", Category::addressbook);
    Broker broker_a(dir, {}, "broker-a");
    Broker broker_b(dir, {}, "broker-b");
    int port_a = free_port(), port_b = free_port();
    const std::string addr_a = "127.0.0.1:" + std::to_string(port_a);
    const std::string addr_b = "127.0.0.1:" + std::to_string(port_b);
    Server a(dir, {broker_a.uri()}, {}, "server-a");
    Device d(dir, {broker_a.uri(), broker_b.uri()}, "dev-a", {"--failover-after-ms", "1000"});
    ASSERT_TRUE(d.wait_joined()) << d.log();
    ASSERT_TRUE(d.login("alice").value("ok", false));
    ASSERT_EQ(d.edit("addressbook", add("single", 1)).value("state", ""), "acked");

    // The same store, now as a cluster member waiting for init: it does not serve yet.
    // A single server has no standby to promote.
    Value single = a.admin({{"cmd", "promote"}});
    EXPECT_FALSE(single.value("ok", true)) << single.dump();
    a.stop();
    const std::string secret = new_secret(dir, "cluster.key");
    a = Server(dir, {broker_a.uri()},
               {"--cluster-id", "1", "--cluster-listen", addr_a, "--cluster-secret-file", secret},
               "server-a");
    ASSERT_TRUE(wait_until([&] { return cluster_status(a).value("state", "") == "uninitialized"; }))
        << cluster_status(a).dump() << a.log();
    EXPECT_FALSE(cluster_status(a).value("serving", true));
    auto init = run_cli({"cluster", "init", "--server-socket", a.admin_socket()});
    ASSERT_EQ(init.exit_code, 0) << init.out << init.err << a.log();
    ASSERT_TRUE(wait_until([&] { return cluster_status(a).value("serving", false); })) << a.log();
    ASSERT_TRUE(d.wait_joined()) << d.log();
    ASSERT_EQ(d.edit("addressbook", add("clustered", 2)).value("state", ""), "acked") << a.log();

    // The standby: started empty, added by the leader, catches up without voting.
    const std::string backups_b = dir.file("backups-b");
    Server b(dir, {broker_b.uri()},
             {"--cluster-id", "2", "--cluster-listen", addr_b, "--cluster-join",
              "--cluster-secret-file", secret, "--backup-dir", backups_b},
             "server-b");
    auto added = run_cli({"cluster", "add", "--server-socket", a.admin_socket(), "--id", "2",
                          "--address", addr_b, "--role", "standby"});
    ASSERT_EQ(added.exit_code, 0) << added.out << added.err << a.log();
    ASSERT_EQ(d.edit("addressbook", add("replicated", 3)).value("state", ""), "acked");
    ASSERT_TRUE(wait_until([&] {
        Value s = cluster_status(b);
        return s["last_applied"] == cluster_status(a)["commit_index"] &&
               s.value("last_applied", uint64_t{0}) > 0;
    })) << b.log();
    // The standby serves nothing before its promotion: administration goes to the leader.
    Value refused = b.admin({{"cmd", "users-list"}});
    EXPECT_FALSE(refused.value("ok", true)) << refused.dump();
    EXPECT_NE(refused.value("message", "").find("does not lead"), std::string::npos)
        << refused.dump();
    // The leader goes on acking while its standby is down; back, the standby catches up.
    b.kill9();
    ASSERT_EQ(d.edit("addressbook", add("standby-down", 5)).value("state", ""), "acked");
    b.start();
    ASSERT_TRUE(b.running()) << b.log();
    ASSERT_TRUE(wait_until([&] {
        Value s = cluster_status(b);
        return s["last_applied"] == cluster_status(a)["commit_index"] &&
               s.value("last_applied", uint64_t{0}) > 0;
    })) << b.log();
    // Backups work on the standby's store as on a single server's: it holds what was applied.
    Value backup = b.admin({{"cmd", "backup-now"}, {"label", "standby"}});
    ASSERT_TRUE(backup.value("ok", false)) << backup.dump() << b.log();
    StoredDoc saved = stored_doc(backups_b + "/" + backup.value("id", "") + ".db");
    for (const char* id : {"single", "clustered", "replicated", "standby-down"})
        EXPECT_EQ(saved.ids.count(id), 1u) << id << " missing from the standby's backup";
    // The status says in words which member this is and who leads.
    auto words = run_cli({"status", "--server-socket", a.admin_socket()});
    ASSERT_EQ(words.exit_code, 0) << words.err;
    EXPECT_NE(words.out.find("cluster      member 1 of 2, leader (serving)"), std::string::npos)
        << words.out;
    auto st = run_cli({"cluster", "status", "--json", "--server-socket", a.admin_socket()});
    ASSERT_EQ(st.exit_code, 0) << st.err;
    auto sv = Value::parse(st.out);
    ASSERT_EQ(sv["members"].size(), 2u) << st.out;
    EXPECT_EQ(sv["members"][1]["role"], "standby") << st.out;

    // The leader dies; the standby alone cannot be elected: it does not vote.
    a.kill9();
    EXPECT_FALSE(wait_until([&] { return cluster_status(b).value("serving", false); },
                            std::chrono::seconds(3)));
    auto promoted = run_cli({"server", "promote", "--server-socket", b.admin_socket()});
    ASSERT_EQ(promoted.exit_code, 0) << promoted.out << promoted.err << b.log();
    ASSERT_TRUE(wait_until([&] { return cluster_status(b).value("serving", false); })) << b.log();
    // The device moves to broker B and goes on; everything acked before is there. (The
    // edit may find it between brokers: queued then, and acked once it reaches B.)
    Value r = d.edit("addressbook", add("promoted", 4), 15000);
    ASSERT_TRUE(r.value("ok", false)) << r.dump();
    ASSERT_TRUE(wait_until([&] { return d.status()["pending"] == 0; }, std::chrono::seconds(20)))
        << d.log() << b.log();
    StoredDoc doc = stored_doc(b.store());
    for (const char* id : {"single", "clustered", "replicated", "standby-down", "promoted"})
        EXPECT_EQ(doc.ids.count(id), 1u) << id;
    // It served from broker B: the device left A, whose broker stayed up without a server.
    EXPECT_NE(d.log().find("leaving " + broker_a.uri()), std::string::npos) << d.log();
}

// Only a peer holding the cluster secret is handed to raft: a stranger who speaks raft's
// handshake and asks for votes in a far higher term gets a random challenge and a closed
// connection, and the leader's term and log do not move; a member started with another
// secret, though added by the leader, receives nothing. A server refuses a secret file
// others may read, and cluster options without one.
TEST(ClusterAuth, PeersWithoutTheClusterSecretAreDroppedBeforeRaftSeesThem) {
    TempDir dir;
    Broker broker_a(dir, {}, "broker-a");
    Broker broker_b(dir, {}, "broker-b");
    const std::string secret = new_secret(dir, "cluster.key");
    int port_a = free_port(), port_b = free_port();
    const std::string addr_a = "127.0.0.1:" + std::to_string(port_a);
    const std::string addr_b = "127.0.0.1:" + std::to_string(port_b);
    Server a(dir, {broker_a.uri()},
             {"--cluster-id", "1", "--cluster-listen", addr_a, "--cluster-peers", "1=" + addr_a,
              "--cluster-secret-file", secret},
             "server-a");
    ASSERT_TRUE(wait_until([&] { return cluster_status(a).value("serving", false); })) << a.log();
    const Value before = cluster_status(a);

    auto answer = send_and_read_to_close(port_a, forged_raft_hello(7, "127.0.0.1:9", 1000),
                                         std::chrono::milliseconds(5000));
    ASSERT_TRUE(answer.has_value()) << "the member kept the stranger's connection open";
    EXPECT_LE(answer->size(), 32u) << "more than the challenge came back";
    ASSERT_TRUE(wait_until([&] {
        return a.log().find("refused a raft connection claiming member id 7") != std::string::npos;
    })) << a.log();
    Value after = cluster_status(a);
    EXPECT_EQ(after["term"], before["term"]) << after.dump();
    EXPECT_EQ(after["last_index"], before["last_index"]) << after.dump();
    EXPECT_EQ(after.value("state", ""), "leader") << after.dump();

    // A member with another secret: added by the leader as a standby (so the leader sends it
    // the log), it never gets an entry.
    const std::string other = new_secret(dir, "other.key");
    Server b(dir, {broker_b.uri()},
             {"--cluster-id", "2", "--cluster-listen", addr_b, "--cluster-join",
              "--cluster-secret-file", other},
             "server-b");
    ASSERT_TRUE(b.running()) << b.log();
    auto added = run_cli({"cluster", "add", "--server-socket", a.admin_socket(), "--id", "2",
                          "--address", addr_b, "--role", "standby"});
    ASSERT_EQ(added.exit_code, 0) << added.out << added.err << a.log();
    ASSERT_TRUE(wait_until([&] {
        return b.log().find("refused a raft connection claiming member id 1") != std::string::npos;
    })) << b.log();
    EXPECT_FALSE(wait_until([&] { return cluster_status(b).value("last_applied", 0) > 0; },
                            std::chrono::seconds(2)))
        << cluster_status(b).dump();
    EXPECT_EQ(cluster_status(a)["term"], before["term"]);

    // `pdsync cluster secret` makes files only their owner reads, and never overwrites one.
    struct stat st {};
    ASSERT_EQ(::stat(secret.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto read_all = [](const std::string& path) {
        std::ifstream in(path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const std::string before_text = read_all(secret);
    auto again = run_cli({"cluster", "secret", "--out", secret});
    EXPECT_NE(again.exit_code, 0) << again.out;
    EXPECT_EQ(read_all(secret), before_text);
    EXPECT_EQ(before_text.size(), 65u);  // 64 hex digits and a newline

    // Refused at start: a secret others may read, and cluster options without a secret.
    const std::string loose = dir.file("loose.key");
    std::filesystem::copy_file(secret, loose);
    ::chmod(loose.c_str(), 0640);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--cluster-id", "3", "--cluster-listen", "127.0.0.1:" + std::to_string(free_port()),
              "--cluster-secret-file", loose},
             {"--cluster-id", "3", "--cluster-listen",
              "127.0.0.1:" + std::to_string(free_port())}}) {
        Server c(dir, {broker_b.uri()}, args, "server-c");
        ASSERT_TRUE(wait_until([&] { return !c.running(); })) << c.log();
        int status = c.stop();
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status << c.log();
        EXPECT_NE(c.log().find("cluster secret"), std::string::npos) << c.log();
    }
}
