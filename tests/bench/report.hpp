// The one table the benchmark prints: figure | pdsync p50 | p99 | raw baseline | ratio |
// target | met, plus notes under it (breakdowns, counts, anything a reader needs to trust
// a row). Rows are added as phases finish and printed once at the end.
//
//   Report r;
//   r.latency("a) login → ready", login, baseline, 3.0);
//   r.print(std::cout);
//
// Ownership and threads: owned by main(); not thread-safe.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "tests/bench/bench_stats.hpp"

namespace pdsync::bench {

std::string fmt_ms(double ms);
std::string fmt_rate(double per_second);
std::string fmt_mib(double bytes);
std::string fmt_count(std::size_t n);  // 100000 -> "100,000"

class Report {
  public:
    struct Row {
        std::string figure;
        std::string p50;
        std::string p99;
        std::string baseline;
        std::string ratio;
        std::string target;
        std::string met;  // "yes", "NO", or "" when the row has no target
    };

    // A latency row: p50/p99 of `pdsync` against `baseline`'s; `max_ratio` (if set) is the
    // target on the p50 ratio.
    void latency(const std::string& figure, const Samples& pdsync, const Samples& baseline,
                 std::optional<double> max_ratio = std::nullopt);
    // A latency row with an absolute target on p99 (ms).
    void latency_p99(const std::string& figure, const Samples& pdsync, const Samples& baseline,
                     double max_p99_ms);
    // A latency row with ratio targets on p50 and (if set) p99.
    void latency_ratios(const std::string& figure, const Samples& pdsync, const Samples& baseline,
                        double max_p50_ratio, std::optional<double> max_p99_ratio);
    // A throughput row whose target is a minimum ratio to the raw rate.
    void throughput_ratio(const std::string& figure, double per_second, double baseline_per_second,
                          double min_ratio);
    // A row of one measured value against a baseline value, with a maximum ratio
    // (`unit` formats both, e.g. "µs", "B").
    void value_ratio(const std::string& figure, double value, double baseline,
                     const std::string& unit, std::optional<double> max_ratio);
    // A single duration (ms) against an optional baseline duration.
    void duration(const std::string& figure, double ms, std::optional<double> baseline_ms,
                  const std::string& note = "");
    // A throughput row: changes/s against the raw rate, with an optional minimum.
    void throughput(const std::string& figure, double per_second, double baseline_per_second,
                    std::optional<double> min_per_second);
    // A memory row (bytes) against a baseline, with an optional maximum.
    void memory(const std::string& figure, double bytes, std::optional<double> baseline_bytes,
                std::optional<double> max_bytes);
    void add(Row row) { rows_.push_back(std::move(row)); }
    void note(const std::string& text) { notes_.push_back(text); }

    void print(std::ostream& out) const;

  private:
    std::vector<Row> rows_;
    std::vector<std::string> notes_;
    std::vector<std::string> samples_;  // sample counts and maxima of the latency rows
};

}  // namespace pdsync::bench
