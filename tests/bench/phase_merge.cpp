// Figure d): a fresh device that holds `merge_users` users' data from before it ever
// joined starts against a server that holds none of it: time until every document is
// registered (the device's outbox holds nothing unacknowledged).
#include <optional>
#include <thread>

#include "shared/clock.hpp"
#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"
#include "tests/bench/profiles.hpp"
#include "tests/bench/raw_baselines.hpp"

namespace pdsync::bench {
namespace {

constexpr std::size_t kEditsAfterMerge = 20;

struct MergeProgress {
    bool done = false;
    double joined_ms = -1;
    double done_ms = 0;
    std::optional<uint64_t> pending;  // from the last status the daemon answered
    double last_answer_ms = -1;
    std::size_t unanswered = 0;  // status requests its worker did not answer in time
};

// Polls the daemon's status (every 10 ms) until it has joined and nothing is pending.
MergeProgress wait_merged(BenchDaemon& d, Clock::time_point t0, Clock::time_point deadline) {
    MergeProgress p;
    while (Clock::now() < deadline) {
        Value s = d.call({{"cmd", "status"}, {"wait_ms", 1000}}, std::chrono::seconds(30));
        if (!s.value("ok", false)) {
            ++p.unanswered;  // its worker is busy (the daemon answers "timeout" itself)
            continue;
        }
        p.last_answer_ms = ms_between(t0, Clock::now());
        bool joined = s.value("joined", false);
        p.pending = s.value("pending", uint64_t{0});
        if (joined && p.joined_ms < 0) p.joined_ms = p.last_answer_ms;
        if (joined && *p.pending == 0) {
            p.done = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
    }
    p.done_ms = ms_between(t0, Clock::now());
    return p;
}

std::vector<std::string> registration_payloads(std::size_t users) {
    std::vector<std::string> out;
    uint64_t seq = 1;
    for (std::size_t i = 0; i < users; ++i) {
        for (const auto& doc : user_documents(user_id(i), Profile::realistic, 0, now_ms())) {
            out.push_back(encode_msgpack_unchecked(
                change_set_to_value(registration(doc, "mfp-new", "0123456789abcdef", seq++))));
        }
    }
    return out;
}

// Timed edits (edit → ack) on a logged-in daemon.
Samples timed_edits(BenchDaemon& d, const std::string& user, std::size_t n) {
    Value r = d.call({{"cmd", "login"}, {"user", user}, {"wait_ms", 15000}});
    if (!r.value("ready", false)) throw std::runtime_error(d.id() + " login failed: " + r.dump());
    Samples samples;
    for (std::size_t i = 0; i < n; ++i) {
        Value op = {{"op", "update"}, {"id", address_id(i)}, {"fields", address_fields(i, i + 7)}};
        auto t0 = Clock::now();
        Value a = d.call(
            {{"cmd", "edit"}, {"category", "addressbook"}, {"ops", {op}}, {"wait_ms", 30000}},
            std::chrono::seconds(60));
        if (a.value("state", "") == "acked") samples.add(ms_between(t0, Clock::now()));
    }
    return samples;
}

}  // namespace

void run_merge(const BenchOptions& o, Report& report) {
    test::TempDir dir;
    Fleet fleet(dir, 0, 0, 100, o.merge_users);
    std::string store = dir.file("mfp-new.db");
    progress("merge) storing " + std::to_string(o.merge_users) + " local users on a fresh device");
    Populated local = populate_client_store(store, 0, o.merge_users);

    progress("merge) the device joins and registers them");
    auto t0 = Clock::now();
    BenchDaemon device(dir, fleet.uri(), "mfp-new", kRoot, store);
    MergeProgress p = wait_merged(device, t0, t0 + o.merge_timeout());
    long peak_kib = peak_rss_kib(device.pid());
    double server_peak = static_cast<double>(peak_rss_kib(fleet.server().pid())) * 1024;

    double raw = bulk_transfer_ms(fleet.uri(), registration_payloads(o.merge_users));
    std::string label = "merge) fresh device, " + std::to_string(o.merge_users) + " local users (" +
                        std::to_string(local.documents) + " documents) → all registered";
    if (p.done) {
        report.duration(label, p.done_ms, raw);
    } else {
        std::string where = p.pending ? std::to_string(*p.pending) + " of " +
                                            std::to_string(local.documents) + " pending"
                                      : "no status answered";
        report.add({label, "> " + fmt_ms(p.done_ms) + " (gave up; " + where + ")", "-", fmt_ms(raw),
                    "-", "", ""});
        report.note("merge) status requests the device's busy worker left unanswered (6 s each): " +
                    std::to_string(p.unanswered) + "; last answer " + fmt_ms(p.last_answer_ms) +
                    " after start");
    }
    if (p.done) {
        // The merged device's outbox still holds every acknowledged registration; a device
        // that never merged anything is the like-for-like baseline.
        progress("merge) edits on the merged device and on a clean one");
        Samples merged = timed_edits(device, user_id(0), kEditsAfterMerge);
        BenchDaemon clean(dir, fleet.uri(), "mfp-clean", kRoot);
        if (!clean.wait_joined(std::chrono::seconds(30)))
            throw std::runtime_error("mfp-clean did not join");
        Samples fresh = timed_edits(clean, user_id(1), kEditsAfterMerge);
        report.latency(
            "merge) edit → ack on the merged device afterwards (baseline: a device "
            "that merged nothing)",
            merged, fresh);
    }
    report.note("merge) " + fmt_mib(static_cast<double>(local.document_bytes)) +
                " of local documents; device seen joined after " +
                (p.joined_ms < 0 ? std::string("(never)") : fmt_ms(p.joined_ms)) +
                "; device peak RSS " + fmt_mib(static_cast<double>(peak_kib) * 1024) +
                ", server peak RSS " + fmt_mib(server_peak) +
                "; baseline = the same change sets published QoS 1 to one subscriber");
}

}  // namespace pdsync::bench
