// The benchmark's phases and the options that size them. Each phase builds its own fleet
// (fresh broker, fresh store, real server), measures its figures and their raw baselines
// on that same broker, adds rows to the report, and tears everything down by PID.
//
//   office: a) warm, b) stale, c) cold login, d) edit A → B, e) change throughput,
//           g) memory, at `users` users
//   sweep:  f) server CPU per change at 25, 200 and 2,000 address-book entries
//   merge:  a fresh device with `merge_users` local users joining (first merge)
//   scale:  `scale_machines` machines and `scale_users` users; the login-vs-users plot
//   sessions: h) login → ready with the broker's session plugin against without it
//   cluster: i) edit → ack and throughput, a raft cluster of 3 beside a single server
//
// Ownership and threads: called from main(), one phase at a time.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "tests/bench/bench_stats.hpp"
#include "tests/bench/report.hpp"

namespace pdsync::bench {

struct BenchOptions {
    // a, b, c, e: the reference fleet.
    std::size_t users = 1000;   // users stored, all with realistic documents
    std::size_t machines = 10;  // connected during a and b: 2 daemons + simulated devices
    std::size_t logins = 1000;  // a) logins on the daemon, one user after another
    std::size_t rss_logins = 100;
    std::size_t login_gap_ms = 20;   // pause after each login or edit
    std::size_t edits = 200;         // b) simulated devices
    std::size_t daemon_edits = 100;  // b) real daemons
    std::size_t throughput_devices = 10;
    std::size_t throughput_ms = 10000;
    std::size_t window = 16;  // change sets in flight per device (tuning::client::kOutboxWindow)
    // d
    std::size_t merge_users = 1000;
    std::size_t merge_timeout_s = 120;
    // f and the plot
    std::size_t scale_users = 100000;
    std::size_t scale_machines = 1000;
    std::size_t scale_logins = 1000;
    std::size_t scale_realistic = 1000;  // users of the scale stores with realistic documents
    std::vector<std::size_t> plot_users = {1000, 10000, 100000};
    std::size_t plot_logins = 300;
    std::string plot_data;  // where to write the plot's data (gnuplot); empty: nowhere
    // f) the document-size sweep
    std::vector<std::size_t> sweep_entries = {25, 200, 2000};
    std::string sweep_data;  // where to write the sweep's points (gnuplot); empty: nowhere
    // h
    std::size_t session_logins = 100;
    std::set<std::string> phases = {"office", "sweep", "merge", "scale", "sessions", "cluster"};

    std::chrono::milliseconds login_gap() const { return std::chrono::milliseconds(login_gap_ms); }
    std::chrono::milliseconds throughput_time() const {
        return std::chrono::milliseconds(throughput_ms);
    }
    std::chrono::seconds merge_timeout() const { return std::chrono::seconds(merge_timeout_s); }
};

// One point of the login-latency plot.
struct PlotPoint {
    std::size_t users = 0;
    Samples daemon;    // real pdsync-client, realistic users
    Samples sim;       // simulated device, same users
    Samples baseline;  // SUBSCRIBE → retained documents, same users
};

void run_office(const BenchOptions& o, Report& report, std::vector<PlotPoint>& plot);
void run_merge(const BenchOptions& o, Report& report);
void run_sweep(const BenchOptions& o, Report& report);
void run_scale(const BenchOptions& o, Report& report, std::vector<PlotPoint>& plot);
void run_sessions(const BenchOptions& o, Report& report);
void run_cluster(const BenchOptions& o, Report& report);

// Progress lines on stderr, so stdout holds only the header and the table.
void progress(const std::string& line);

}  // namespace pdsync::bench
