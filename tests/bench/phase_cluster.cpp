// The cluster phase: edit → ack latency and change throughput of a raft cluster of three
// pdsync-servers on loopback (each with its own broker), beside a single server measured
// the same way in the same run, each against the raw baselines of the broker it uses.
// docs/performance.md "Cluster mode" holds a run's rows.
#include <sys/stat.h>

#include <fstream>
#include <memory>

#include "shared/base/hex.hpp"
#include "shared/net/control_socket.hpp"
#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"
#include "tests/bench/profiles.hpp"
#include "tests/bench/raw_baselines.hpp"
#include "tests/bench/throughput.hpp"

namespace pdsync::bench {
namespace {

constexpr int kMembers = 3;
constexpr auto kLeaderWait = std::chrono::seconds(30);

// One server (with --cluster-* options, or none) on its own broker, with an admin socket.
struct Node {
    std::unique_ptr<BenchBroker> broker;
    std::unique_ptr<BenchServer> server;
    std::string socket;
};

Node start_node(const test::TempDir& dir, const std::string& name,
                std::vector<std::string> cluster_args) {
    Node n;
    n.broker = std::make_unique<BenchBroker>(dir, "broker-" + name);
    n.socket = dir.file(name + ".sock");
    ServerOptions o;
    o.store = dir.file(name + ".db");
    o.root = kRoot;
    o.extra = {"--admin-socket", n.socket};
    o.extra.insert(o.extra.end(), cluster_args.begin(), cluster_args.end());
    n.server = std::make_unique<BenchServer>(dir, n.broker->uri(), o);
    return n;
}

bool serving(const Node& n, bool cluster) {
    auto r = net::control_call(n.socket, {{"cmd", cluster ? "cluster-status" : "status"}},
                               std::chrono::milliseconds(500));
    if (!r || !r->value("ok", true)) return false;
    return cluster ? (r->value("state", "") == "leader" && r->value("serving", false)) : true;
}

struct Figures {
    Samples acked;
    ThroughputResult prefs;
    Samples baseline;
    double raw_per_second = 0;
};

// On the serving node's broker: paced edits, one at a time, each timed to its ack; then
// the throughput of a pool editing with a full window.
Figures measure(const BenchOptions& o, Node& n, const std::string& prefix) {
    Topics topics(kRoot);
    Figures f;
    std::size_t edits = std::min<std::size_t>(o.edits, 100);
    SimPool pool(n.broker->uri(), topics, prefix, std::max<std::size_t>(o.throughput_devices, 1));
    pool.connect_and_join(Clock::now() + std::chrono::seconds(60));
    const std::string user = user_id(0);
    for (std::size_t i = 0; i < edits; ++i) {
        pace(o.login_gap());
        auto t0 = Clock::now();
        uint64_t seq = pool[0].send_changes(user, Category::prefs,
                                            {edit_op(Category::prefs, i % 25, 5000 + i)});
        auto ack = pool[0].wait_ack(seq, Clock::now() + std::chrono::seconds(10));
        if (ack && ack->first.ok) f.acked.add(ms_between(t0, ack->second));
    }
    f.baseline = relay_two_hops(n.broker->uri(), change_set_bytes(user, Category::prefs, 0),
                                change_set_bytes(user, Category::prefs, 0), edits);
    BenchOptions t = o;
    t.throughput_ms = std::min<std::size_t>(o.throughput_ms, 5000);
    f.raw_per_second = qos1_throughput(n.broker->uri(), change_set_bytes(user, Category::prefs, 0),
                                       std::chrono::milliseconds(t.throughput_ms));
    f.prefs = measure_throughput(t, n.server->pid(), n.broker->pid(), pool, Category::prefs, 25,
                                 [](std::size_t i) { return user_id(i); });
    return f;
}

void report_figures(Report& report, const std::string& label, const Figures& f, std::size_t devices,
                    std::size_t window) {
    report.latency("i) edit → ack, one device, 25-entry prefs (" + label + ")", f.acked,
                   f.baseline);
    report.throughput("i) changes acked/s, " + std::to_string(devices) + " devices × " +
                          std::to_string(window) + " in flight, prefs (" + label + ")",
                      f.prefs.per_second, f.raw_per_second, std::nullopt);
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "i) %s: the serving server's CPU %.0f %% of one core, %.0f µs per acked "
                  "change; refused: %llu",
                  label.c_str(), f.prefs.server_cpu * 100, f.prefs.server_us_per_change(),
                  static_cast<unsigned long long>(f.prefs.failed));
    report.note(buf);
}

}  // namespace

void run_cluster(const BenchOptions& o, Report& report) {
    std::size_t devices = std::max<std::size_t>(o.throughput_devices, 1);
    {
        test::TempDir dir;
        progress("cluster: a single server, for comparison");
        Node single = start_node(dir, "single", {});
        if (!test::wait_until([&] { return serving(single, false); }, kLeaderWait))
            throw std::runtime_error("the single server did not start");
        report_figures(report, "single server", measure(o, single, "one"), devices, o.window);
    }
    test::TempDir dir;
    const std::string secret = dir.file("cluster.key");
    {
        std::ofstream out(secret);
        out << random_hex(32) << "\n";
    }
    ::chmod(secret.c_str(), 0600);
    std::vector<int> ports;
    std::string peers;
    for (int i = 0; i < kMembers; ++i) {
        ports.push_back(test::free_port());
        peers += (i ? "," : "") + std::to_string(i + 1) + "=127.0.0.1:" + std::to_string(ports[i]);
    }
    progress("cluster: three members on loopback, each with its own broker");
    std::vector<Node> nodes;
    for (int i = 0; i < kMembers; ++i) {
        nodes.push_back(
            start_node(dir, "member-" + std::to_string(i + 1),
                       {"--cluster-id", std::to_string(i + 1), "--cluster-listen",
                        "127.0.0.1:" + std::to_string(ports[static_cast<std::size_t>(i)]),
                        "--cluster-peers", peers, "--cluster-secret-file", secret}));
    }
    int leader = -1;
    if (!test::wait_until(
            [&] {
                for (int i = 0; i < kMembers; ++i) {
                    if (serving(nodes[static_cast<std::size_t>(i)], true)) leader = i;
                }
                return leader >= 0;
            },
            kLeaderWait))
        throw std::runtime_error("no cluster member became a serving leader");
    report_figures(report, "cluster of 3, loopback",
                   measure(o, nodes[static_cast<std::size_t>(leader)], "three"), devices, o.window);
}

}  // namespace pdsync::bench
