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
#include "tests/bench/bench_fleet.hpp"
#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"
#include "tests/bench/profiles.hpp"
#include "tests/bench/raw_baselines.hpp"
#include "tests/bench/throughput.hpp"

namespace pdsync::bench {
namespace {

constexpr auto kStepWait = std::chrono::seconds(10);  // one edit or one login
constexpr std::size_t kDocumentsPerUser = 6;

// ---- a) login -----------------------------------------------------------------------------

LoginRun login_figure(const BenchOptions& o, Fleet& fleet, BenchDaemon& daemon, Report& report,
                      PlotPoint& point) {
    auto users = pick_users(o.logins, o.users);
    progress("a) " + std::to_string(users.size()) + " logins on the daemon");
    SocketBytes bytes0 = socket_bytes(daemon.pid());
    LoginRun run = daemon_logins(daemon, users, o.login_gap(), std::min(o.rss_logins, o.logins));
    SocketBytes bytes1 = socket_bytes(daemon.pid());
    Samples baseline =
        subscribe_retained(fleet.uri(), user_filters(fleet.topics(), users), kDocumentsPerUser);
    report.latency_ratios("c) cold login → ready (daemon, nothing cached, realistic user, " +
                              fmt_count(o.users) + " users, " + std::to_string(o.machines) +
                              " machines)",
                          run.latency, baseline, 3.0, std::nullopt);
    report.note(
        "c) bytes received by the daemon per cold login (TCP, MQTT framing included): " +
        fmt_count((bytes1.received - bytes0.received) / std::max<std::size_t>(users.size(), 1)) +
        " (a realistic user's six documents: about 197,000)");
    report.note("c) daemon-reported login time (its own clock, no control socket): p50 " +
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
    report.latency_ratios("c) cold login → ready (simulated device, same users)", point.sim,
                          point.baseline, 3.0, std::nullopt);
    Samples contended =
        sim_logins(sims, users, o.login_gap(), &failures, LoginPacing::after_logout);
    report.latency_ratios(
        "c) the same, each login right after another device's logout (it waits "
        "for that batch's commit)",
        contended, point.baseline, 3.0, std::nullopt);
    if (failures) report.note("c) simulated logins that timed out: " + std::to_string(failures));
}

// ---- b) edit on A → applied on B ------------------------------------------------------------

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
        throw std::runtime_error("d) device B never received " + topic);
    progress("d) " + std::to_string(o.edits) + " edits, simulated devices, " + label);
    SocketBytes server0 = socket_bytes(fleet.server().pid());
    uint64_t at_b0 = b.document_bytes_received();
    EditRun run = sim_edits(a, b, topic, user, c, entries, o.edits, o.login_gap());
    SocketBytes server1 = socket_bytes(fleet.server().pid());
    uint64_t at_b1 = b.document_bytes_received();
    Document doc;
    for (auto& d : user_documents(user, Profile::realistic, 1, now_ms())) {
        if (d.category == c) doc = std::move(d);
    }
    Samples baseline =
        relay_two_hops(fleet.uri(), change_set_bytes(user, c, 0), encode_document(doc), o.edits);
    report.latency_ratios("d) edit on A → document at B (simulated devices, " + label + ")",
                          run.applied, baseline, 4.0, std::nullopt);
    report.latency("d) edit on A → ack at A (same edits, " + label + ")", run.acked, baseline);
    std::size_t n = std::max<std::size_t>(o.edits, 1);
    report.note("d) bytes per edit, " + label + ": the server sent " +
                fmt_count((server1.sent - server0.sent) / n) +
                " (TCP, all its publishes), device B received " + fmt_count((at_b1 - at_b0) / n) +
                " of document payload; the edit's change set is " +
                fmt_count(change_set_bytes(user, c, 0).size()));
    if (run.lost)
        report.note("d) " + label +
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

// The daemon's own figure for the login (request received -> ready), in ms.
double login_ready(BenchDaemon& d, const std::string& user) {
    Value r = d.call({{"cmd", "login"}, {"user", user}, {"wait_ms", 15000}});
    if (!r.value("ready", false)) throw std::runtime_error(d.id() + " login failed: " + r.dump());
    return r.value("ms", 0.0);
}

void edit_figure_daemons(const BenchOptions& o, Fleet& fleet, BenchDaemon& a, BenchDaemon& b,
                         Report& report) {
    std::string user = user_id(o.users - 2);
    login_ready(a, user);
    login_ready(b, user);
    StoredVersion stored(b.store(), user);
    progress("d) " + std::to_string(o.daemon_edits) + " edits, real daemons");
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
    report.latency_ratios("d) edit on A → stored at B (real daemons, device commits included)",
                          applied, baseline, 4.0, std::nullopt);
    if (lost) report.note("d) daemon edits not stored at B within 10 s: " + std::to_string(lost));
}

// ---- c) throughput ----------------------------------------------------------------------------

void throughput_figure(const BenchOptions& o, Fleet& fleet, Report& report) {
    SimPool pool(fleet.uri(), fleet.topics(), "tp", o.throughput_devices);
    pool.connect_and_join(Clock::now() + std::chrono::seconds(60));
    double raw = qos1_throughput(fleet.uri(), change_set_bytes(user_id(0), Category::prefs, 0),
                                 std::min(o.throughput_time(), std::chrono::milliseconds(5000)));
    struct Case {
        Category category;
        std::size_t entries;
        const char* label;
        double min_ratio;
    };
    for (Case k : {Case{Category::prefs, 25, "prefs, 25 entries", 1.0},
                   Case{Category::addressbook, 200, "address book, 200 entries", 0.8}}) {
        progress(std::string("e) throughput, ") + k.label);
        auto r = measure_throughput(o, fleet, pool, k.category, k.entries, user_id);
        report.throughput_ratio("e) changes acked/s, " + std::to_string(pool.size()) +
                                    " devices × " + std::to_string(o.window) + " in flight (" +
                                    k.label + ")",
                                r.per_second, raw, k.min_ratio);
        char buf[320];
        std::snprintf(buf, sizeof buf,
                      "e) %s: CPU in %% of one core: server %.0f, mosquitto %.0f, simulated "
                      "devices %.0f; server CPU per acked change %.0f µs; refused: %llu",
                      k.label, r.server_cpu * 100, r.broker_cpu * 100, r.bench_cpu * 100,
                      r.server_cpu / std::max(r.per_second, 1.0) * 1e6,
                      static_cast<unsigned long long>(r.failed));
        report.note(buf);
    }
}

// ---- a, b) warm and stale logins ------------------------------------------------------------

// The same user logs in again and again on the daemon: with nothing changed in between
// (warm: its cache holds the current versions), or after another device changed one
// address-book entry while it was logged out (stale: it holds version v - 1).
void warm_stale_figures(const BenchOptions& o, Fleet& fleet, BenchDaemon& daemon, SimPool& sims,
                        Report& report) {
    std::string user = user_id(o.users - 3);
    std::size_t n = std::min<std::size_t>(o.logins, 200);
    login_ready(daemon, user);  // cached from here on
    daemon.call({{"cmd", "logout"}});
    Samples baseline = subscribe_retained(
        fleet.uri(), user_filters(fleet.topics(), std::vector<std::string>(n, user)),
        kDocumentsPerUser);
    progress("a) " + std::to_string(n) + " warm logins on the daemon");
    SocketBytes warm0 = socket_bytes(daemon.pid());
    LoginRun warm = daemon_logins(daemon, std::vector<std::string>(n, user), o.login_gap());
    SocketBytes warm1 = socket_bytes(daemon.pid());
    report.latency_ratios("a) warm login → ready (daemon, its cache holds the current versions)",
                          warm.latency, baseline, 1.5, 3.0);
    report.note("a) bytes received by the daemon per warm login (TCP, MQTT framing included): " +
                fmt_count((warm1.received - warm0.received) / n) +
                " (target: no document bytes; the user's six documents are about 197,000)");
    report.note("a) daemon-reported warm login time (its own clock, no control socket): p50 " +
                fmt_ms(warm.daemon_reported.p50()) + ", p99 " + fmt_ms(warm.daemon_reported.p99()));

    progress("b) " + std::to_string(n) + " stale logins on the daemon");
    SimDevice& editor = sims[0];
    Samples stale;
    Samples stale_reported;
    uint64_t stale_bytes = 0;
    std::size_t lost = 0;
    for (std::size_t i = 0; i < n; ++i) {
        daemon.call({{"cmd", "logout"}});
        uint64_t seq = editor.send_changes(user, Category::addressbook,
                                           {edit_op(Category::addressbook, i % 200, 1000 + i)});
        auto ack = editor.wait_ack(seq, Clock::now() + kStepWait);
        if (!ack || !ack->first.ok) {
            ++lost;
            continue;
        }
        pace(o.login_gap());
        SocketBytes before = socket_bytes(daemon.pid());
        auto t0 = Clock::now();
        stale_reported.add(login_ready(daemon, user));
        stale.add(ms_between(t0, Clock::now()));
        stale_bytes += socket_bytes(daemon.pid()).received - before.received;
    }
    daemon.call({{"cmd", "logout"}});
    report.latency_ratios(
        "b) stale login → ready (daemon holds v − 1: one address-book entry changed)", stale,
        baseline, 3.0, std::nullopt);
    report.note("b) bytes received by the daemon per stale login: " +
                fmt_count(stale_bytes / std::max<std::size_t>(stale.size(), 1)) +
                " (the changed entry is about 1,000; the address book about 190,000)" +
                (lost ? "; edits not acked: " + std::to_string(lost) : ""));
    report.note("b) daemon-reported stale login time (its own clock, no control socket): p50 " +
                fmt_ms(stale_reported.p50()) + ", p99 " + fmt_ms(stale_reported.p99()));
}

// ---- g) memory ----------------------------------------------------------------------------------

struct IdleMemory {
    MemoryUse daemon;
    MemoryUse baseline;
    std::string shared_pages;
};

std::string describe(const MemoryUse& m) {
    constexpr double kKiB = 1024;
    return "RSS " + fmt_mib(m.rss * kKiB) + ", PSS " + fmt_mib(m.pss * kKiB) + ", private " +
           fmt_mib(m.private_kib * kKiB) + ", shared " + fmt_mib(m.shared_kib * kKiB);
}

void memory_figures(const BenchOptions& o, const IdleMemory& idle, std::size_t logins,
                    BenchDaemon& daemon, Fleet& fleet, Report& report) {
    constexpr double kKiB = 1024;
    MemoryUse after = memory_use(daemon.pid());
    report.memory("g) client daemon private memory, idle (joined, no login)",
                  idle.daemon.private_kib * kKiB, idle.baseline.private_kib * kKiB, 2 * 1048576.0);
    report.memory("g) client daemon private memory after " + fmt_count(logins) + " logins",
                  after.private_kib * kKiB, idle.baseline.private_kib * kKiB, 4 * 1048576.0);
    report.note("g) idle daemon: " + describe(idle.daemon) + "; after " + fmt_count(logins) +
                " logins: " + describe(after) + ", peak RSS " +
                fmt_mib(peak_rss_kib(daemon.pid()) * kKiB) +
                "; baseline = bench_idle_client (pdsync::net + Paho, connected, nothing else): " +
                describe(idle.baseline));
    report.note(
        "g) the idle daemon's shared pages (library files, mapped by every process "
        "that uses them): " +
        idle.shared_pages);
    // Each control request should leave nothing behind; measure what 1,000 status calls leave.
    constexpr int kRequests = 1000;
    long before = memory_use(daemon.pid()).private_kib;
    for (int i = 0; i < kRequests; ++i) daemon.call({{"cmd", "status"}});
    long grown = memory_use(daemon.pid()).private_kib - before;
    report.memory("g) client daemon private memory growth per 1,000 control requests (status)",
                  static_cast<double>(grown) * kKiB, std::nullopt, std::nullopt);
    report.memory("g) server RSS, " + fmt_count(o.users) + " users",
                  rss_kib(fleet.server().pid()) * kKiB, std::nullopt, std::nullopt);
    report.note("g) server peak RSS at " + fmt_count(o.users) +
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
    IdleMemory idle_memory{memory_use(a.pid()), memory_use(idle.pid()),
                           top_shared_mappings(a.pid(), 8)};

    PlotPoint point;
    point.users = o.users;
    login_figure(o, fleet, a, report, point);
    sim_login_point(o, sims, report, point);
    plot.push_back(point);
    edit_figure_sim(o, fleet, sims, Category::addressbook, 200, "200-entry address book", report);
    edit_figure_sim(o, fleet, sims, Category::prefs, 25, "25-entry prefs", report);
    edit_figure_daemons(o, fleet, a, b, report);
    warm_stale_figures(o, fleet, a, sims, report);
    std::size_t logins = o.logins + 2 * std::min<std::size_t>(o.logins, 200) + 2;
    memory_figures(o, idle_memory, logins, a, fleet, report);
    throughput_figure(o, fleet, report);
}

}  // namespace pdsync::bench
