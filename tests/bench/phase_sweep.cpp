// Figure f) server CPU per change against document size: the address book at 25, 200 and
// 2,000 entries (--sweep-entries). For each size, every throughput device fills its own
// user's address book to that size, then edits it: paced single edits first (each meets
// an idle server: CPU, bytes and edit → document at B per change set), then 10 devices with
// `window` change sets in flight (changes acked/s and CPU per acked change, as in e).
// Writes the points for tests/bench/doc_size_sweep.gp when --sweep-data is given.
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "shared/clock.hpp"
#include "tests/bench/bench_fleet.hpp"
#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"
#include "tests/bench/profiles.hpp"
#include "tests/bench/throughput.hpp"

namespace pdsync::bench {
namespace {

constexpr auto kStepWait = std::chrono::seconds(20);
constexpr std::size_t kFillChunk = 200;  // entries per filling change set (~190 KiB)

struct SweepPoint {
    std::size_t entries = 0;
    std::size_t document_bytes = 0;
    ThroughputResult throughput;
    double paced_cpu_us = 0;  // server CPU per paced edit
    Samples applied;          // paced edit on A → document at B
    double server_bytes_per_edit = 0;
};

std::string sweep_user(std::size_t entries, std::size_t device) {
    return user_id(900000 + entries * 16 + device);
}

// Device i's user gets an address book of `entries` entries (puts of new entries).
void fill(SimPool& pool, std::size_t entries) {
    for (std::size_t i = 0; i < pool.size(); ++i) {
        for (std::size_t first = 0; first < entries; first += kFillChunk) {
            std::vector<ChangeOp> ops;
            for (std::size_t e = first; e < std::min(entries, first + kFillChunk); ++e)
                ops.push_back(edit_op(Category::addressbook, e, 1));
            pool[i].send_changes(sweep_user(entries, i), Category::addressbook, std::move(ops));
        }
    }
    for (std::size_t i = 0; i < pool.size(); ++i) {
        if (!pool[i].wait_window(1, Clock::now() + std::chrono::seconds(120)) ||
            pool[i].acked_failed() > 0)
            throw std::runtime_error("f) filling the address book failed: " +
                                     pool[i].last_ack_error());
    }
}

SweepPoint measure_size(const BenchOptions& o, Fleet& fleet, SimPool& pool, SimDevice& watcher,
                        std::size_t entries) {
    SweepPoint p;
    p.entries = entries;
    progress("f) address book of " + std::to_string(entries) + " entries: filling");
    fill(pool, entries);
    std::string user = sweep_user(entries, 0);
    std::string topic = fleet.topics().user_doc(user, Category::addressbook);
    watcher.watch(user);
    if (!watcher.wait_document(topic, 1, Clock::now() + kStepWait))
        throw std::runtime_error("f) the watcher never received " + topic);
    uint64_t doc0 = watcher.document_bytes_received();

    progress("f) " + std::to_string(o.edits) + " paced edits");
    double cpu0 = cpu_seconds(fleet.server().pid());
    SocketBytes sent0 = socket_bytes(fleet.server().pid());
    std::size_t done = 0;
    for (std::size_t k = 0; k < o.edits; ++k) {
        uint64_t before = watcher.document_version(topic);
        auto t0 = Clock::now();
        uint64_t seq = pool[0].send_changes(user, Category::addressbook,
                                            {edit_op(Category::addressbook, k % entries, 100 + k)});
        auto at = watcher.wait_document(topic, before + 1, t0 + kStepWait);
        auto ack = pool[0].wait_ack(seq, t0 + kStepWait);
        if (at && ack && ack->first.ok) {
            p.applied.add(ms_between(t0, *at));
            ++done;
        }
        pace(o.login_gap());
    }
    double cpu = cpu_seconds(fleet.server().pid()) - cpu0;
    SocketBytes sent1 = socket_bytes(fleet.server().pid());
    p.paced_cpu_us = cpu / static_cast<double>(std::max<std::size_t>(done, 1)) * 1e6;
    p.server_bytes_per_edit = static_cast<double>(sent1.sent - sent0.sent) /
                              static_cast<double>(std::max<std::size_t>(done, 1));
    p.document_bytes = (watcher.document_bytes_received() - doc0) / std::max<std::size_t>(done, 1);

    progress("f) throughput, " + std::to_string(entries) + " entries");
    p.throughput = measure_throughput(o, fleet, pool, Category::addressbook, entries,
                                      [&](std::size_t i) { return sweep_user(entries, i); });
    return p;
}

void write_sweep_data(const std::string& path, const std::vector<SweepPoint>& points) {
    std::ofstream out(path);
    out << "# entries\tcpu_us_throughput\tcpu_us_paced\tedit_p50_ms\tedit_p99_ms\t"
           "server_kib_per_edit\tacked_per_s\n";
    for (const auto& p : points) {
        out << p.entries << "\t" << p.throughput.server_us_per_change() << "\t" << p.paced_cpu_us
            << "\t" << p.applied.p50() << "\t" << p.applied.p99() << "\t"
            << p.server_bytes_per_edit / 1024 << "\t" << p.throughput.per_second << "\n";
    }
}

}  // namespace

void run_sweep(const BenchOptions& o, Report& report) {
    test::TempDir dir;
    progress("sweep: address books of various sizes");
    Fleet fleet(dir, 10, 10, static_cast<int>(o.throughput_devices + 20));
    SimPool pool(fleet.uri(), fleet.topics(), "sw", o.throughput_devices);
    SimPool watchers(fleet.uri(), fleet.topics(), "swb", 1);
    pool.connect_and_join(Clock::now() + std::chrono::seconds(60));
    watchers.connect_and_join(Clock::now() + std::chrono::seconds(60));
    std::vector<SweepPoint> points;
    for (std::size_t entries : o.sweep_entries)
        points.push_back(measure_size(o, fleet, pool, watchers[0], entries));
    if (points.empty()) return;
    const SweepPoint& smallest = points.front();
    for (const auto& p : points) {
        bool largest = &p == &points.back() && points.size() > 1;
        report.value_ratio(
            "f) server CPU per acked change, " + std::to_string(pool.size()) + " devices × " +
                std::to_string(o.window) + " in flight, address book of " + fmt_count(p.entries) +
                " entries (baseline: " + fmt_count(smallest.entries) + " entries)",
            p.throughput.server_us_per_change(), smallest.throughput.server_us_per_change(), "µs",
            largest ? std::optional<double>(2.0) : std::nullopt);
        char buf[400];
        std::snprintf(buf, sizeof buf,
                      "f) %zu entries: %.0f changes acked/s (server %.0f %% of a core); paced "
                      "single edits: server CPU %.0f µs each, edit → document at B p50 %s / "
                      "p99 %s, server sent %.0f bytes per edit, device B received %zu bytes of "
                      "document per edit",
                      p.entries, p.throughput.per_second, p.throughput.server_cpu * 100,
                      p.paced_cpu_us, fmt_ms(p.applied.p50()).c_str(),
                      fmt_ms(p.applied.p99()).c_str(), p.server_bytes_per_edit, p.document_bytes);
        report.note(buf);
    }
    if (!o.sweep_data.empty()) write_sweep_data(o.sweep_data, points);
}

}  // namespace pdsync::bench
