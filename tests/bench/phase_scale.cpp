// Figure f) and the login-vs-users plot: stores of growing size (the first
// `scale_realistic` users realistic, the rest light), the server's start-up republish,
// `scale_machines` simulated machines on real connections, and logins at each size.
#include <algorithm>

#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"
#include "tests/bench/profiles.hpp"
#include "tests/bench/raw_baselines.hpp"

namespace pdsync::bench {
namespace {

constexpr std::size_t kDocumentsPerUser = 6;
constexpr std::size_t kPlotSims = 8;
// Documents the raw republish baseline publishes; the figure scales it to the store.
constexpr std::size_t kReconcileSample = 50000;
constexpr double kLoginP99Target = 5.0;
// Idle machines per helper process: few enough that Paho's per-process cost stays small.
constexpr std::size_t kMachinesPerHolder = 100;

// Logins of realistic users at one store size: the daemon, then simulated devices.
PlotPoint login_point(const BenchOptions& o, const test::TempDir& dir, Fleet& fleet, SimPool& sims,
                      std::size_t users, Report& report) {
    PlotPoint point;
    point.users = users;
    auto picked = pick_users(o.plot_logins, std::min(users, o.scale_realistic));
    progress("plot: " + std::to_string(picked.size()) + " logins at " + fmt_count(users) +
             " users");
    BenchDaemon daemon(dir, fleet.uri(), "mfp-plot", kRoot);
    if (!daemon.wait_joined(std::chrono::seconds(30)))
        throw std::runtime_error("plot daemon did not join");
    point.daemon = daemon_logins(daemon, picked, o.login_gap()).latency;
    std::size_t failures = 0;
    point.sim = sim_logins(sims, picked, o.login_gap(), &failures);
    point.baseline =
        subscribe_retained(fleet.uri(), user_filters(fleet.topics(), picked), kDocumentsPerUser);
    report.latency(
        "plot) login → ready (daemon, realistic user), " + fmt_count(users) + " users stored",
        point.daemon, point.baseline, 3.0);
    report.latency(
        "plot) login → ready (simulated device, same users), " + fmt_count(users) + " users stored",
        point.sim, point.baseline, 3.0);
    if (failures) report.note("plot) simulated logins that timed out: " + std::to_string(failures));
    return point;
}

void reconcile_rows(const Fleet& fleet, std::size_t users, Report& report) {
    std::size_t stride = std::max<std::size_t>(1, fleet.populated().documents / kReconcileSample);
    auto sample = read_server_documents(fleet.store(), "bench/raw-republish", stride);
    std::vector<std::pair<std::string, std::string>> messages;
    for (auto& p : sample) messages.emplace_back(std::move(p.topic), std::move(p.body));
    double raw = retained_publish_ms(fleet.uri(), messages);
    double scaled = raw * static_cast<double>(fleet.populated().documents) /
                    static_cast<double>(std::max<std::size_t>(messages.size(), 1));
    report.duration("scale) server start → " + fmt_count(fleet.populated().documents) +
                        " documents republished (" + fmt_count(users) + " users)",
                    fleet.reconcile_ms(), scaled);
    report.note(
        "scale) of which server start → \"reconcile: republishing\" log line (store opened, "
        "connected; the stored bytes are then streamed to the broker as they are): " +
        fmt_ms(fleet.reconcile_log_ms()) + "; baseline = " + fmt_count(messages.size()) +
        " of the same documents (every " + std::to_string(stride) +
        "th) published retained by one raw client, scaled to all");
    double bytes = static_cast<double>(store_bytes(fleet.store()));
    double payload = static_cast<double>(fleet.populated().document_bytes);
    report.memory(
        "scale) server store size, " + fmt_count(users) + " users (baseline: the documents' bytes)",
        bytes, payload, std::nullopt);
}

void scale_figure(const BenchOptions& o, Report& report, std::vector<PlotPoint>& plot) {
    test::TempDir dir;
    progress("scale) storing " + fmt_count(o.scale_users) + " users");
    Fleet fleet(dir, o.scale_users, o.scale_realistic, static_cast<int>(o.scale_machines + 100));
    report.note("scale) store populated in " + fmt_ms(fleet.populated().seconds * 1000) +
                " through ServerStore (" +
                fmt_mib(static_cast<double>(fleet.populated().document_bytes)) + " of documents)");
    reconcile_rows(fleet, o.scale_users, report);

    std::size_t held = o.scale_machines > kPlotSims ? o.scale_machines - kPlotSims : 0;
    progress("scale) connecting " + fmt_count(o.scale_machines) + " simulated machines (" +
             fmt_count(held) + " in helper processes)");
    MachineHolders holders(dir, fleet.uri(), held, kMachinesPerHolder);
    double held_ms = holders.wait_ready(Clock::now() + std::chrono::minutes(5));
    SimPool devices(fleet.uri(), fleet.topics(), "m", std::min(o.scale_machines, kPlotSims));
    devices.connect_and_join(Clock::now() + std::chrono::minutes(1));
    report.duration("scale) " + fmt_count(held) + " machines connect and join (" +
                        std::to_string((held + kMachinesPerHolder - 1) / kMachinesPerHolder) +
                        " processes at once)",
                    held_ms, std::nullopt);

    progress("scale) " + std::to_string(o.scale_logins) + " logins");
    auto users = pick_users(o.scale_logins, o.scale_users, o.scale_users);
    std::size_t failures = 0;
    Samples logins = sim_logins(devices, users, o.login_gap(), &failures);
    Samples baseline =
        subscribe_retained(fleet.uri(), user_filters(fleet.topics(), users), kDocumentsPerUser);
    report.latency_p99("scale) login → ready, " + fmt_count(o.scale_machines) + " machines, " +
                           fmt_count(o.scale_users) + " users (random users, simulated devices)",
                       logins, baseline, kLoginP99Target);
    Samples contended = sim_logins(devices, pick_users(o.plot_logins, o.scale_users, o.scale_users),
                                   o.login_gap(), &failures, LoginPacing::after_logout);
    report.latency_p99(
        "scale) the same, each login right after another device's logout (it "
        "waits for that batch's commit)",
        contended, baseline, kLoginP99Target);
    if (failures) report.note("scale) logins that timed out: " + std::to_string(failures));

    plot.push_back(login_point(o, dir, fleet, devices, o.scale_users, report));
    report.memory("scale) server RSS, " + fmt_count(o.scale_users) + " users, " +
                      fmt_count(o.scale_machines) + " machines",
                  static_cast<double>(rss_kib(fleet.server().pid())) * 1024, std::nullopt,
                  std::nullopt);
    report.note(
        "scale) server peak RSS at " + fmt_count(o.scale_users) + " users (start-up republish): " +
        fmt_mib(static_cast<double>(peak_rss_kib(fleet.server().pid())) * 1024) +
        "; mosquitto RSS " + fmt_mib(static_cast<double>(rss_kib(fleet.broker().pid())) * 1024));
}

void intermediate_point(const BenchOptions& o, std::size_t users, Report& report,
                        std::vector<PlotPoint>& plot) {
    test::TempDir dir;
    progress("plot: storing " + fmt_count(users) + " users");
    Fleet fleet(dir, users, std::min(users, o.scale_realistic), 100);
    SimPool sims(fleet.uri(), fleet.topics(), "sim", kPlotSims);
    sims.connect_and_join(Clock::now() + std::chrono::seconds(60));
    report.note("plot) " + fmt_count(users) + " users: server start → all documents republished " +
                fmt_ms(fleet.reconcile_ms()));
    plot.push_back(login_point(o, dir, fleet, sims, users, report));
}

}  // namespace

void run_scale(const BenchOptions& o, Report& report, std::vector<PlotPoint>& plot) {
    std::vector<std::size_t> sizes = o.plot_users;
    std::sort(sizes.begin(), sizes.end());
    for (std::size_t users : sizes) {
        bool covered = users == o.scale_users ||
                       std::any_of(plot.begin(), plot.end(),
                                   [&](const PlotPoint& p) { return p.users == users; });
        if (!covered) intermediate_point(o, users, report, plot);
    }
    scale_figure(o, report, plot);
    std::sort(plot.begin(), plot.end(),
              [](const PlotPoint& a, const PlotPoint& b) { return a.users < b.users; });
}

}  // namespace pdsync::bench
