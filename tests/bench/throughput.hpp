// Change throughput: every device of a pool edits its own user's document with `window`
// change sets in flight for a measurement window; acked changes per second and the CPU
// the server, the broker and this process (the simulated devices) used meanwhile.
// Shared by the office phase (e) and the document-size sweep (f).
//
//   auto r = measure_throughput(o, fleet, pool, Category::prefs, 25, user_id);
//
// Ownership and threads: one sender thread per device during the call; joined before it returns.
#pragma once

#include <functional>
#include <string>

#include "tests/bench/fleet_setup.hpp"
#include "tests/bench/phases.hpp"

namespace pdsync::bench {

struct ThroughputResult {
    double per_second = 0;
    double server_cpu = 0;  // share of one core during the window
    double broker_cpu = 0;
    double bench_cpu = 0;  // this process: the simulated devices
    uint64_t failed = 0;
    double server_us_per_change() const { return server_cpu / std::max(per_second, 1.0) * 1e6; }
};

// Device i edits user `user_of(i)`'s `category` document, entries 0..entries-1 in turn.
ThroughputResult measure_throughput(const BenchOptions& o, Fleet& fleet, SimPool& pool, Category c,
                                    std::size_t entries,
                                    const std::function<std::string(std::size_t)>& user_of);
// The same against any server and broker, by their PIDs (the cluster phase's leader).
ThroughputResult measure_throughput(const BenchOptions& o, pid_t server, pid_t broker,
                                    SimPool& pool, Category c, std::size_t entries,
                                    const std::function<std::string(std::size_t)>& user_of);

}  // namespace pdsync::bench
