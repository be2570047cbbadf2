// pdsync_bench: measures pdsync against the raw broker on this machine and prints one
// table (figure | pdsync p50 | p99 | raw baseline | ratio | target | met). Each phase
// starts its own mosquitto (loopback, TCP_NODELAY, receive maximum 20, no queue limit,
// no persistence) and the real pdsync-server on a store filled beforehand; simulated
// devices speak the protocol over real MQTT connections, real pdsync-client daemons are
// used where a figure is about the daemon. deploy/bench.sh builds and runs it.
//
//   pdsync_bench --quick                      # < 2 minutes
//   pdsync_bench                              # the full figures (~10 minutes)
//   pdsync_bench --phases office --logins 300 --plot-data /tmp/login.tsv
#include <sys/resource.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>

#include "tests/bench/bench_fleet.hpp"
#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"

namespace pdsync::bench {
namespace {

// Smaller numbers for --quick, applied to every option not given explicitly.
void apply_quick(CLI::App& app, BenchOptions& o) {
    auto unless_given = [&](const char* flag, auto& field, auto value) {
        if (app.count(flag) == 0) field = value;
    };
    unless_given("--users", o.users, std::size_t{200});
    unless_given("--logins", o.logins, std::size_t{200});
    unless_given("--edits", o.edits, std::size_t{100});
    unless_given("--daemon-edits", o.daemon_edits, std::size_t{50});
    unless_given("--throughput-ms", o.throughput_ms, std::size_t{3000});
    unless_given("--merge-users", o.merge_users, std::size_t{20});
    unless_given("--merge-timeout-s", o.merge_timeout_s, std::size_t{60});
    unless_given("--scale-users", o.scale_users, std::size_t{10000});
    unless_given("--scale-machines", o.scale_machines, std::size_t{200});
    unless_given("--scale-logins", o.scale_logins, std::size_t{200});
    unless_given("--scale-realistic", o.scale_realistic, std::size_t{200});
    unless_given("--plot-users", o.plot_users, std::vector<std::size_t>{200, 2000, 10000});
    unless_given("--plot-logins", o.plot_logins, std::size_t{100});
    unless_given("--session-logins", o.session_logins, std::size_t{30});
}

void add_options(CLI::App& app, BenchOptions& o, bool& quick, std::string& store_dir) {
    app.add_flag("--quick", quick, "Smaller numbers (under 2 minutes)");
    app.add_option("--store-dir", store_dir,
                   "Where stores, logs and sockets go (default: $TMPDIR or /tmp; /dev/shm "
                   "shows the figures without disk syncs)");
    app.add_option("--phases", o.phases,
                   "office (a-e, g), sweep (f), merge (first merge), scale (1,000 machines, plot), "
                   "cluster (i: a raft cluster of 3 beside a single server)")
        ->delimiter(',');
    app.add_option("--users", o.users, "a-c, e: users stored (all realistic)");
    app.add_option("--session-logins", o.session_logins,
                   "h: logins with and without the broker's session plugin");
    app.add_option("--machines", o.machines, "a, b: machines connected (2 daemons + simulated)");
    app.add_option("--logins", o.logins, "a: logins on the daemon");
    app.add_option("--rss-logins", o.rss_logins, "e: logins before the daemon's RSS is read");
    app.add_option("--login-gap-ms", o.login_gap_ms, "pause after each login or edit");
    app.add_option("--edits", o.edits, "b: edits between simulated devices");
    app.add_option("--daemon-edits", o.daemon_edits, "b: edits between real daemons");
    app.add_option("--throughput-devices", o.throughput_devices, "c: devices sending changes");
    app.add_option("--throughput-ms", o.throughput_ms, "c: measurement window per case");
    app.add_option("--window", o.window, "c: change sets in flight per device");
    app.add_option("--merge-users", o.merge_users, "d: local users on the fresh device");
    app.add_option("--merge-timeout-s", o.merge_timeout_s, "d: give up after this long");
    app.add_option("--scale-users", o.scale_users, "f: users stored");
    app.add_option("--scale-machines", o.scale_machines, "f: simulated machines connected");
    app.add_option("--scale-logins", o.scale_logins, "f: logins (random users)");
    app.add_option("--scale-realistic", o.scale_realistic,
                   "f, plot: users with realistic documents (the rest are light)");
    app.add_option("--plot-users", o.plot_users, "plot: store sizes")->delimiter(',');
    app.add_option("--plot-logins", o.plot_logins, "plot: logins per store size");
    app.add_option("--plot-data", o.plot_data, "write the plot's data (TSV) here");
    app.add_option("--sweep-entries", o.sweep_entries, "f: address-book sizes of the sweep")
        ->delimiter(',');
    app.add_option("--sweep-data", o.sweep_data, "write the sweep's points (TSV) here");
}

// The helper mode MachineHolders starts: hold simulated machines until SIGTERM.
struct HoldOptions {
    std::size_t machines = 0;
    std::string prefix = "held";
    std::string broker;
};

void add_hold_options(CLI::App& app, HoldOptions& h) {
    const char* group = "Internal (machine-holder helper processes)";
    app.add_option("--hold-machines", h.machines, "hold this many joined machines")->group(group);
    app.add_option("--hold-prefix", h.prefix, "their device-id prefix")->group(group);
    app.add_option("--hold-broker", h.broker, "broker URI")->group(group);
}

// Room for one socket per simulated machine on both ends, but no more: the MQTT link
// sets TCP_NODELAY by walking every descriptor number up to this limit on each connect.
void raise_descriptor_limit(std::size_t machines) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
    rlim_t want = std::max<rlim_t>(4096, static_cast<rlim_t>(machines) * 2 + 512);
    lim.rlim_cur = std::min(want, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
}

void print_header(int argc, char** argv) {
    std::time_t now = std::time(nullptr);
    std::cout << "pdsync benchmark, " << std::put_time(std::localtime(&now), "%Y-%m-%d %H:%M %Z")
              << "\nmachine:  " << machine_description();
    if (const char* rev = std::getenv("PDSYNC_BENCH_REVISION")) std::cout << "\nrevision: " << rev;
    if (const char* cmd = std::getenv("PDSYNC_BENCH_COMMAND")) std::cout << "\ncommand:  " << cmd;
    std::cout << "\nload:     " << load_average() << " (1, 5, 15 min) at the start";
    std::cout << "\nbench:   ";
    for (int i = 0; i < argc; ++i) std::cout << " " << argv[i];
    std::cout << "\n\n" << std::flush;
}

void write_plot_data(const std::string& path, const std::vector<PlotPoint>& plot) {
    std::ofstream out(path);
    out << "# users\tdaemon_p50\tdaemon_p99\tsim_p50\tsim_p99\traw_p50\traw_p99 (ms)\n";
    for (const auto& p : plot) {
        out << p.users << "\t" << p.daemon.p50() << "\t" << p.daemon.p99() << "\t" << p.sim.p50()
            << "\t" << p.sim.p99() << "\t" << p.baseline.p50() << "\t" << p.baseline.p99() << "\n";
    }
}

template <typename Phase>
void run_phase(const std::string& name, const BenchOptions& o, Report& report, Phase phase) {
    if (!o.phases.count(name)) return;
    try {
        phase();
    } catch (const std::exception& e) {
        report.note("phase " + name + " FAILED: " + e.what());
        progress("phase " + name + " failed: " + e.what());
    }
}

}  // namespace

void progress(const std::string& line) {
    static std::mutex mu;
    static const auto start = Clock::now();
    std::lock_guard lock(mu);
    std::cerr << "[" << std::fixed << std::setprecision(1) << ms_between(start, Clock::now()) / 1000
              << " s] " << line << std::endl;
}

}  // namespace pdsync::bench

int main(int argc, char** argv) {
    using namespace pdsync::bench;
    CLI::App app{"pdsync_bench: pdsync against the raw broker, on this machine"};
    BenchOptions o;
    bool quick = false;
    std::string store_dir;
    HoldOptions hold;
    add_options(app, o, quick, store_dir);
    add_hold_options(app, hold);
    CLI11_PARSE(app, argc, argv);
    if (quick) apply_quick(app, o);
    if (!store_dir.empty()) setenv("TMPDIR", store_dir.c_str(), 1);  // test::TempDir honours it
    std::signal(SIGPIPE, SIG_IGN);
    // The MQTT links log through spdlog: keep stdout for the table, and only problems.
    spdlog::set_default_logger(spdlog::stderr_color_mt("bench"));
    spdlog::set_level(spdlog::level::warn);
    raise_descriptor_limit(o.scale_machines);

    if (hold.machines > 0) hold_machines(hold.broker, hold.prefix, hold.machines);
    print_header(argc, argv);
    Report report;
    std::vector<PlotPoint> plot;
    run_phase("office", o, report, [&] { run_office(o, report, plot); });
    run_phase("sweep", o, report, [&] { run_sweep(o, report); });
    run_phase("merge", o, report, [&] { run_merge(o, report); });
    run_phase("scale", o, report, [&] { run_scale(o, report, plot); });
    run_phase("sessions", o, report, [&] { run_sessions(o, report); });
    run_phase("cluster", o, report, [&] { run_cluster(o, report); });
    report.note("load average at the end: " + load_average());
    report.print(std::cout);
    if (!o.plot_data.empty()) write_plot_data(o.plot_data, plot);
    return 0;
}
