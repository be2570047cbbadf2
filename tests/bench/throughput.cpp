// Change throughput from a pool of simulated devices (see throughput.hpp).
#include "tests/bench/throughput.hpp"

#include <unistd.h>

#include <thread>

#include "tests/bench/profiles.hpp"

namespace pdsync::bench {
namespace {

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

}  // namespace

ThroughputResult measure_throughput(const BenchOptions& o, Fleet& fleet, SimPool& pool, Category c,
                                    std::size_t entries,
                                    const std::function<std::string(std::size_t)>& user_of) {
    return measure_throughput(o, fleet.server().pid(), fleet.broker().pid(), pool, c, entries,
                              user_of);
}

ThroughputResult measure_throughput(const BenchOptions& o, pid_t server, pid_t broker,
                                    SimPool& pool, Category c, std::size_t entries,
                                    const std::function<std::string(std::size_t)>& user_of) {
    auto warm = Clock::now() + std::chrono::seconds(1);
    auto end = warm + o.throughput_time();
    std::vector<std::thread> senders;
    for (std::size_t i = 0; i < pool.size(); ++i) {
        senders.emplace_back([&, i] { edit_loop(pool[i], user_of(i), c, entries, o.window, end); });
    }
    std::this_thread::sleep_until(warm);  // the measurement window opens, not a sync
    uint64_t acked0 = total_acked(pool);
    double server0 = cpu_seconds(server);
    double broker0 = cpu_seconds(broker);
    double bench0 = cpu_seconds(getpid());
    std::this_thread::sleep_until(end);  // the measurement window closes
    uint64_t acked1 = total_acked(pool);
    double seconds = std::chrono::duration<double>(o.throughput_time()).count();
    ThroughputResult r;
    r.per_second = static_cast<double>(acked1 - acked0) / seconds;
    r.server_cpu = (cpu_seconds(server) - server0) / seconds;
    r.broker_cpu = (cpu_seconds(broker) - broker0) / seconds;
    r.bench_cpu = (cpu_seconds(getpid()) - bench0) / seconds;
    for (auto& t : senders) t.join();
    for (std::size_t i = 0; i < pool.size(); ++i) {
        pool[i].wait_window(1, Clock::now() + std::chrono::seconds(60));  // drain
        r.failed += pool[i].acked_failed();
    }
    return r;
}

}  // namespace pdsync::bench
