// The reference fleet: `users` realistic users stored, `machines` machines connected.
// Figures a) login → ready, b) edit on A → applied on B, c) change throughput, e) memory.
#include <SQLiteCpp/SQLiteCpp.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <thread>

#include "shared/category.hpp"
#include "shared/clock.hpp"
#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"
#include "tests/bench/profiles.hpp"
#include "tests/bench/raw_baselines.hpp"

namespace pdsync::bench {
namespace {

constexpr auto kStepWait = std::chrono::seconds(10);  // one edit or one login
constexpr std::size_t kDocumentsPerUser = 6;

// ---- a) login -----------------------------------------------------------------------------

LoginRun login_figure(const BenchOptions& o, Fleet& fleet, BenchDaemon& daemon, Report& report,
                      PlotPoint& point) {
    auto users = pick_users(o.logins, o.users);
    progress("a) " + std::to_string(users.size()) + " logins on the daemon");
    LoginRun run = daemon_logins(daemon, users, o.login_gap(), std::min(o.rss_logins, o.logins));
    Samples baseline =
        subscribe_retained(fleet.uri(), user_filters(fleet.topics(), users), kDocumentsPerUser);
    report.latency("a) login → ready (daemon, realistic user, " + fmt_count(o.users) + " users, " +
                       std::to_string(o.machines) + " machines)",
                   run.latency, baseline, 3.0);
    report.note("a) daemon-reported login time (its own clock, no control socket): p50 " +
                fmt_ms(run.daemon_reported.p50()) + ", p99 " + fmt_ms(run.daemon_reported.p99()) +
                "; logins not served by the server (cache fallback or error): " +
                std::to_string(run.not_from_server));
    point.daemon = run.latency;
    point.baseline = baseline;
    return run;
}

void sim_login_point(const BenchOptions& o, SimPool& sims, Report& report, PlotPoint& point) {
    std::size_t failures = 0;
    auto users = pick_users(o.plot_logins, o.users);
    point.sim = sim_logins(sims, users, o.login_gap(), &failures);
    report.latency("a) login → ready (simulated device, same users)", point.sim, point.baseline,
                   3.0);
    Samples contended =
        sim_logins(sims, users, o.login_gap(), &failures, LoginPacing::after_logout);
    report.latency(
        "a) the same, each login right after another device's logout (it waits "
        "for that batch's commit)",
        contended, point.baseline, 3.0);
    if (failures) report.note("a) simulated logins that timed out: " + std::to_string(failures));
}

// ---- b) edit on A → applied on B ------------------------------------------------------------

std::string change_set_bytes(const std::string& user, Category c, std::size_t entry) {
    ChangeSet cs;
    cs.device_id = "sim-0000";
    cs.epoch = "0123456789abcdef";
    cs.seq = 1;
    cs.user = user;
    cs.category = c;
    cs.created_at = now_ms();
    cs.ops = {edit_op(c, entry, 1)};
    return encode_msgpack_unchecked(change_set_to_value(cs));
}

struct EditRun {
    Samples applied;  // edit sent at A → new document version delivered at B
    Samples acked;    // edit sent at A → its ack at A
    std::size_t lost = 0;
};

EditRun sim_edits(SimDevice& a, SimDevice& b, const std::string& topic, const std::string& user,
                  Category c, std::size_t entries, std::size_t n, std::chrono::milliseconds gap) {
    EditRun run;
    for (std::size_t i = 0; i < n; ++i) {
        uint64_t before = b.document_version(topic);
        auto t0 = Clock::now();
        uint64_t seq = a.send_changes(user, c, {edit_op(c, i % entries, i + 1)});
        auto at = b.wait_document(topic, before + 1, t0 + kStepWait);
        auto ack = a.wait_ack(seq, t0 + kStepWait);
        if (!at || !ack || !ack->first.ok) {
            ++run.lost;
            continue;
        }
        run.applied.add(ms_between(t0, *at));
        run.acked.add(ms_between(t0, ack->second));
        pace(gap);
    }
    return run;
}

void edit_figure_sim(const BenchOptions& o, Fleet& fleet, SimPool& sims, Category c,
                     std::size_t entries, const std::string& label, Report& report) {
    SimDevice& a = sims[0];
    SimDevice& b = sims[1];
    std::string user = user_id(o.users - 1);
    std::string topic = fleet.topics().user_doc(user, c);
    b.watch(user);
    if (!b.wait_document(topic, 1, Clock::now() + kStepWait))
        throw std::runtime_error("b) device B never received " + topic);
    progress("b) " + std::to_string(o.edits) + " edits, simulated devices, " + label);
    EditRun run = sim_edits(a, b, topic, user, c, entries, o.edits, o.login_gap());
    Document doc;
    for (auto& d : user_documents(user, Profile::realistic, 1, now_ms())) {
        if (d.category == c) doc = std::move(d);
    }
    Samples baseline =
        relay_two_hops(fleet.uri(), change_set_bytes(user, c, 0), encode_document(doc), o.edits);
    report.latency("b) edit on A → document at B (simulated devices, " + label + ")", run.applied,
                   baseline, 4.0);
    report.latency("b) edit on A → ack at A (same edits, " + label + ")", run.acked, baseline);
    if (run.lost)
        report.note("b) " + label +
                    ": edits without a document or ack within 10 s: " + std::to_string(run.lost));
}

// B's stored version of the document, read from its SQLite file (read-only, WAL).
class StoredVersion {
  public:
    StoredVersion(const std::string& path, const std::string& user)
        : db_(path, SQLite::OPEN_READONLY),
          query_(db_, "SELECT version FROM documents WHERE user=? AND category='addressbook'") {
        query_.bind(1, user);
    }
    uint64_t read() {
        query_.reset();
        return query_.executeStep() ? static_cast<uint64_t>(query_.getColumn(0).getInt64()) : 0;
    }
    // Polls (every 0.2 ms) until the version exceeds `version`; false at the deadline.
    bool wait_above(uint64_t version, Clock::time_point deadline) {
        while (Clock::now() < deadline) {
            if (read() > version) return true;
            std::this_thread::sleep_for(std::chrono::microseconds(200));  // poll interval
        }
        return read() > version;
    }

  private:
    SQLite::Database db_;
    SQLite::Statement query_;
};

void login_ready(BenchDaemon& d, const std::string& user) {
    Value r = d.call({{"cmd", "login"}, {"user", user}, {"wait_ms", 15000}});
    if (!r.value("ready", false)) throw std::runtime_error(d.id() + " login failed: " + r.dump());
}

void edit_figure_daemons(const BenchOptions& o, Fleet& fleet, BenchDaemon& a, BenchDaemon& b,
                         Report& report) {
    std::string user = user_id(o.users - 2);
    login_ready(a, user);
    login_ready(b, user);
    StoredVersion stored(b.store(), user);
    progress("b) " + std::to_string(o.daemon_edits) + " edits, real daemons");
    Samples applied;
    std::size_t lost = 0;
    for (std::size_t i = 0; i < o.daemon_edits; ++i) {
        uint64_t before = stored.read();
        std::size_t entry = i % 200;
        Value op = {
            {"op", "update"}, {"id", address_id(entry)}, {"fields", address_fields(entry, i + 1)}};
        auto t0 = Clock::now();
        a.call({{"cmd", "edit"}, {"category", "addressbook"}, {"ops", {op}}, {"wait_ms", 0}});
        if (!stored.wait_above(before, t0 + kStepWait)) {
            ++lost;
            continue;
        }
        applied.add(ms_between(t0, Clock::now()));
        pace(o.login_gap());
    }
    a.call({{"cmd", "logout"}});
    b.call({{"cmd", "logout"}});
    auto doc = user_documents(user, Profile::realistic, 1, now_ms()).front();
    Samples baseline = relay_two_hops(fleet.uri(), change_set_bytes(user, Category::addressbook, 0),
                                      encode_document(doc), o.daemon_edits);
    report.latency("b) edit on A → stored at B (real daemons, device commits included)", applied,
                   baseline, 4.0);
    if (lost) report.note("b) daemon edits not stored at B within 10 s: " + std::to_string(lost));
}

// ---- c) throughput ----------------------------------------------------------------------------

struct ThroughputResult {
    double per_second = 0;
    double server_cpu = 0;  // share of one core during the window
    double broker_cpu = 0;
    double bench_cpu = 0;  // this process: the simulated devices
    uint64_t failed = 0;
};

void edit_loop(SimDevice& d, const std::string& user, Category c, std::size_t entries,
               std::size_t window, Clock::time_point end) {
    uint64_t variant = 0;
    while (Clock::now() < end) {
        if (!d.wait_window(window, end)) continue;
        ++variant;
        d.send_changes(user, c, {edit_op(c, variant % entries, variant)});
    }
}

uint64_t total_acked(SimPool& pool) {
    uint64_t n = 0;
    for (std::size_t i = 0; i < pool.size(); ++i) n += pool[i].acked_ok();
    return n;
}

ThroughputResult measure_throughput(const BenchOptions& o, Fleet& fleet, SimPool& pool, Category c,
                                    std::size_t entries) {
    auto warm = Clock::now() + std::chrono::seconds(1);
    auto end = warm + o.throughput_time();
    std::vector<std::thread> senders;
    for (std::size_t i = 0; i < pool.size(); ++i) {
        senders.emplace_back([&, i] { edit_loop(pool[i], user_id(i), c, entries, o.window, end); });
    }
    std::this_thread::sleep_until(warm);  // the measurement window opens, not a sync
    uint64_t acked0 = total_acked(pool);
    double server0 = cpu_seconds(fleet.server().pid());
    double broker0 = cpu_seconds(fleet.broker().pid());
    double bench0 = cpu_seconds(getpid());
    std::this_thread::sleep_until(end);  // the measurement window closes
    uint64_t acked1 = total_acked(pool);
    double seconds = std::chrono::duration<double>(o.throughput_time()).count();
    ThroughputResult r;
    r.per_second = static_cast<double>(acked1 - acked0) / seconds;
    r.server_cpu = (cpu_seconds(fleet.server().pid()) - server0) / seconds;
    r.broker_cpu = (cpu_seconds(fleet.broker().pid()) - broker0) / seconds;
    r.bench_cpu = (cpu_seconds(getpid()) - bench0) / seconds;
    for (auto& t : senders) t.join();
    for (std::size_t i = 0; i < pool.size(); ++i) {
        pool[i].wait_window(1, Clock::now() + std::chrono::seconds(60));  // drain
        r.failed += pool[i].acked_failed();
    }
    return r;
}

void throughput_figure(const BenchOptions& o, Fleet& fleet, Report& report) {
    SimPool pool(fleet.uri(), fleet.topics(), "tp", o.throughput_devices);
    pool.connect_and_join(Clock::now() + std::chrono::seconds(60));
    double raw = qos1_throughput(fleet.uri(), change_set_bytes(user_id(0), Category::prefs, 0),
                                 std::min(o.throughput_time(), std::chrono::milliseconds(5000)));
    struct Case {
        Category category;
        std::size_t entries;
        const char* label;
    };
    for (Case k : {Case{Category::prefs, 25, "prefs, 25 entries"},
                   Case{Category::addressbook, 200, "address book, 200 entries"}}) {
        progress(std::string("c) throughput, ") + k.label);
        auto r = measure_throughput(o, fleet, pool, k.category, k.entries);
        report.throughput("c) changes acked/s, " + std::to_string(pool.size()) + " devices × " +
                              std::to_string(o.window) + " in flight (" + k.label + ")",
                          r.per_second, raw, 10000.0);
        char buf[320];
        std::snprintf(buf, sizeof buf,
                      "c) %s: CPU in %% of one core: server %.0f, mosquitto %.0f, simulated "
                      "devices %.0f; server CPU per acked change %.0f µs; refused: %llu",
                      k.label, r.server_cpu * 100, r.broker_cpu * 100, r.bench_cpu * 100,
                      r.server_cpu / std::max(r.per_second, 1.0) * 1e6,
                      static_cast<unsigned long long>(r.failed));
        report.note(buf);
    }
}

// ---- e) memory ----------------------------------------------------------------------------------

struct IdleMemory {
    long daemon_kib = 0;
    long daemon_anon_kib = 0;
    long baseline_kib = 0;
    long baseline_anon_kib = 0;
};

void memory_figures(const BenchOptions& o, const IdleMemory& idle, const LoginRun& run,
                    BenchDaemon& daemon, Fleet& fleet, Report& report) {
    constexpr double kKiB = 1024;
    constexpr double kClientMax = 10 * 1048576.0;
    long idle_kib = idle.daemon_kib;
    long idle_anon_kib = idle.daemon_anon_kib;
    long baseline_kib = idle.baseline_kib;
    long baseline_anon_kib = idle.baseline_anon_kib;
    report.memory("e) client daemon RSS, idle (joined, no login)", idle_kib * kKiB,
                  baseline_kib * kKiB, kClientMax);
    report.memory("e) client daemon RSS after " + std::to_string(std::min(o.rss_logins, o.logins)) +
                      " logins",
                  run.rss_kib_after_mark * kKiB, baseline_kib * kKiB, kClientMax);
    report.note("e) client daemon RSS after all " + std::to_string(o.logins) +
                " logins: " + fmt_mib(rss_kib(daemon.pid()) * kKiB) + " (private " +
                fmt_mib(anon_rss_kib(daemon.pid()) * kKiB) + "), peak " +
                fmt_mib(peak_rss_kib(daemon.pid()) * kKiB) + "; idle private " +
                fmt_mib(idle_anon_kib * kKiB) + " vs baseline private " +
                fmt_mib(baseline_anon_kib * kKiB) +
                "; baseline = bench_idle_client (pdsync::net + Paho, connected, nothing else)");
    // Each control request should leave nothing behind; measure what 1,000 status calls leave.
    constexpr int kRequests = 1000;
    long before = rss_kib(daemon.pid());
    for (int i = 0; i < kRequests; ++i) daemon.call({{"cmd", "status"}});
    long grown = rss_kib(daemon.pid()) - before;
    report.memory("e) client daemon RSS growth per 1,000 control requests (status)",
                  static_cast<double>(grown) * kKiB, std::nullopt, std::nullopt);
    report.memory("e) server RSS, " + fmt_count(o.users) + " users",
                  rss_kib(fleet.server().pid()) * kKiB, std::nullopt, std::nullopt);
    report.note("e) server peak RSS at " + fmt_count(o.users) +
                " users: " + fmt_mib(peak_rss_kib(fleet.server().pid()) * kKiB));
}

}  // namespace

void run_office(const BenchOptions& o, Report& report, std::vector<PlotPoint>& plot) {
    test::TempDir dir;
    progress("office: storing " + std::to_string(o.users) + " realistic users");
    Fleet fleet(dir, o.users, o.users, static_cast<int>(o.machines + o.throughput_devices + 10));
    report.note(
        "office fleet: " + fmt_count(o.users) + " users, " +
        fmt_count(fleet.populated().documents) + " documents, " +
        fmt_mib(static_cast<double>(fleet.populated().document_bytes)) +
        " encoded; server start → all documents republished: " + fmt_ms(fleet.reconcile_ms()));
    IdleClient idle(dir, fleet.uri());
    BenchDaemon a(dir, fleet.uri(), "mfp-a", kRoot);
    BenchDaemon b(dir, fleet.uri(), "mfp-b", kRoot);
    SimPool sims(fleet.uri(), fleet.topics(), "sim", std::max<std::size_t>(o.machines, 4) - 2);
    sims.connect_and_join(Clock::now() + std::chrono::seconds(60));
    if (!a.wait_joined(std::chrono::seconds(30)) || !b.wait_joined(std::chrono::seconds(30)))
        throw std::runtime_error("the daemons did not join");
    IdleMemory idle_memory{rss_kib(a.pid()), anon_rss_kib(a.pid()), rss_kib(idle.pid()),
                           anon_rss_kib(idle.pid())};

    PlotPoint point;
    point.users = o.users;
    LoginRun run = login_figure(o, fleet, a, report, point);
    sim_login_point(o, sims, report, point);
    plot.push_back(point);
    edit_figure_sim(o, fleet, sims, Category::addressbook, 200, "200-entry address book", report);
    edit_figure_sim(o, fleet, sims, Category::prefs, 25, "25-entry prefs", report);
    edit_figure_daemons(o, fleet, a, b, report);
    throughput_figure(o, fleet, report);
    memory_figures(o, idle_memory, run, a, fleet, report);
}

}  // namespace pdsync::bench
