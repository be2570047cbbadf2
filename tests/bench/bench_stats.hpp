// Benchmark statistics: latency samples in milliseconds with nearest-rank percentiles, and
// the monotonic clock every figure is timed with.
//
//   Samples s;
//   s.add(ms_between(t0, Clock::now()));
//   s.p50(); s.p99();
//
// Ownership and threads: plain values; not thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

namespace pdsync::bench {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

class Samples {
  public:
    void add(double ms) { values_.push_back(ms); }
    std::size_t size() const { return values_.size(); }
    bool empty() const { return values_.empty(); }

    // Nearest-rank percentile (p in 0..100); NaN when there is no sample.
    double percentile(double p) const {
        if (values_.empty()) return std::nan("");
        std::vector<double> sorted = values_;
        std::sort(sorted.begin(), sorted.end());
        auto rank =
            static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
        return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
    }
    double p50() const { return percentile(50); }
    double p99() const { return percentile(99); }
    double max() const { return percentile(100); }

  private:
    std::vector<double> values_;
};

}  // namespace pdsync::bench
