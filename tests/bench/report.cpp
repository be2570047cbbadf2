// The benchmark's table (see report.hpp).
#include "tests/bench/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace pdsync::bench {
namespace {

std::string printf_string(const char* format, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, value);
    return buf;
}

std::string fmt_ratio(double ratio) {
    if (!std::isfinite(ratio)) return "-";
    return printf_string(ratio < 10 ? "%.1f×" : "%.0f×", ratio);
}

const char* verdict(bool met) {
    return met ? "yes" : "NO";
}

// Display width of a UTF-8 string (each code point counts one column).
std::size_t width(const std::string& s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string pad(const std::string& s, std::size_t w) {
    return s + std::string(w > width(s) ? w - width(s) : 0, ' ');
}

}  // namespace

std::string fmt_ms(double ms) {
    if (!std::isfinite(ms)) return "-";
    if (ms >= 10000) return printf_string("%.1f s", ms / 1000);
    if (ms >= 100) return printf_string("%.0f ms", ms);
    if (ms >= 10) return printf_string("%.1f ms", ms);
    return printf_string("%.2f ms", ms);
}

std::string fmt_rate(double per_second) {
    return printf_string("%.0f /s", per_second);
}

std::string fmt_mib(double bytes) {
    return printf_string(bytes >= 100 * 1048576.0 ? "%.0f MiB" : "%.1f MiB", bytes / 1048576.0);
}

std::string fmt_count(std::size_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
        out.push_back(digits[i]);
    }
    return out;
}

void Report::latency(const std::string& figure, const Samples& pdsync, const Samples& baseline,
                     std::optional<double> max_ratio) {
    double r50 = pdsync.p50() / baseline.p50();
    double r99 = pdsync.p99() / baseline.p99();
    Row row{figure,
            fmt_ms(pdsync.p50()),
            fmt_ms(pdsync.p99()),
            baseline.empty() ? "-" : fmt_ms(baseline.p50()) + " / " + fmt_ms(baseline.p99()),
            baseline.empty() ? "-" : fmt_ratio(r50) + " / " + fmt_ratio(r99),
            "",
            ""};
    samples_.push_back(figure + ": " + std::to_string(pdsync.size()) + " samples, max " +
                       fmt_ms(pdsync.max()) + "; baseline " + std::to_string(baseline.size()) +
                       " samples, max " + fmt_ms(baseline.max()));
    if (max_ratio) {
        row.target = "p50 ≤ " + printf_string("%.0f×", *max_ratio);
        row.met = verdict(std::isfinite(r50) && r50 <= *max_ratio);
    }
    rows_.push_back(std::move(row));
}

void Report::latency_p99(const std::string& figure, const Samples& pdsync, const Samples& baseline,
                         double max_p99_ms) {
    latency(figure, pdsync, baseline);
    rows_.back().target = "p99 ≤ " + fmt_ms(max_p99_ms);
    rows_.back().met = verdict(!pdsync.empty() && pdsync.p99() <= max_p99_ms);
}

void Report::latency_ratios(const std::string& figure, const Samples& pdsync,
                            const Samples& baseline, double max_p50_ratio,
                            std::optional<double> max_p99_ratio) {
    latency(figure, pdsync, baseline);
    double r50 = pdsync.p50() / baseline.p50();
    double r99 = pdsync.p99() / baseline.p99();
    bool met = std::isfinite(r50) && r50 <= max_p50_ratio;
    rows_.back().target = "p50 ≤ " + printf_string("%.1f×", max_p50_ratio);
    if (max_p99_ratio) {
        rows_.back().target += ", p99 ≤ " + printf_string("%.1f×", *max_p99_ratio);
        met = met && std::isfinite(r99) && r99 <= *max_p99_ratio;
    }
    rows_.back().met = verdict(met);
}

void Report::throughput_ratio(const std::string& figure, double per_second,
                              double baseline_per_second, double min_ratio) {
    throughput(figure, per_second, baseline_per_second, std::nullopt);
    rows_.back().target = "≥ " + printf_string("%.1f×", min_ratio);
    rows_.back().met = verdict(per_second >= min_ratio * baseline_per_second);
}

void Report::value_ratio(const std::string& figure, double value, double baseline,
                         const std::string& unit, std::optional<double> max_ratio) {
    auto fmt = [&](double v) { return printf_string(v >= 100 ? "%.0f " : "%.1f ", v) + unit; };
    double ratio = baseline > 0 ? value / baseline : std::nan("");
    Row row{figure, fmt(value), "-", fmt(baseline), fmt_ratio(ratio), "", ""};
    if (max_ratio) {
        row.target = "≤ " + printf_string("%.1f×", *max_ratio);
        row.met = verdict(std::isfinite(ratio) && ratio <= *max_ratio);
    }
    rows_.push_back(std::move(row));
}

void Report::duration(const std::string& figure, double ms, std::optional<double> baseline_ms,
                      const std::string& note) {
    rows_.push_back(Row{figure, fmt_ms(ms) + (note.empty() ? "" : " " + note), "-",
                        baseline_ms ? fmt_ms(*baseline_ms) : "-",
                        baseline_ms ? fmt_ratio(ms / *baseline_ms) : "-", "", ""});
}

void Report::throughput(const std::string& figure, double per_second, double baseline_per_second,
                        std::optional<double> min_per_second) {
    Row row{figure,
            fmt_rate(per_second),
            "-",
            fmt_rate(baseline_per_second),
            printf_string("%.2f×", per_second / baseline_per_second),
            "",
            ""};
    if (min_per_second) {
        row.target = "≥ " + fmt_rate(*min_per_second);
        row.met = verdict(per_second >= *min_per_second);
    }
    rows_.push_back(std::move(row));
}

void Report::memory(const std::string& figure, double bytes, std::optional<double> baseline_bytes,
                    std::optional<double> max_bytes) {
    Row row{figure,
            fmt_mib(bytes),
            "-",
            baseline_bytes ? fmt_mib(*baseline_bytes) : "-",
            baseline_bytes ? fmt_ratio(bytes / *baseline_bytes) : "-",
            "",
            ""};
    if (max_bytes) {
        row.target = "≤ " + fmt_mib(*max_bytes);
        row.met = verdict(bytes <= *max_bytes);
    }
    rows_.push_back(std::move(row));
}

void Report::print(std::ostream& out) const {
    std::vector<Row> all = {{"figure", "pdsync p50", "p99", "raw baseline (p50 / p99)",
                             "ratio (p50 / p99)", "target", "met"}};
    all.insert(all.end(), rows_.begin(), rows_.end());
    std::size_t w[7] = {};
    for (const auto& r : all) {
        const std::string* cells[7] = {&r.figure, &r.p50,    &r.p99, &r.baseline,
                                       &r.ratio,  &r.target, &r.met};
        for (int i = 0; i < 7; ++i) w[i] = std::max(w[i], width(*cells[i]));
    }
    auto line = [&](const Row& r) {
        const std::string* cells[7] = {&r.figure, &r.p50,    &r.p99, &r.baseline,
                                       &r.ratio,  &r.target, &r.met};
        out << "|";
        for (int i = 0; i < 7; ++i) out << " " << pad(*cells[i], w[i]) << " |";
        out << "\n";
    };
    line(all[0]);
    out << "|";
    for (auto n : w) out << std::string(n + 2, '-') << "|";
    out << "\n";
    for (std::size_t i = 1; i < all.size(); ++i) line(all[i]);
    if (!notes_.empty()) out << "\nNotes:\n";
    for (const auto& n : notes_) out << "- " << n << "\n";
    if (!samples_.empty()) out << "\nSamples:\n";
    for (const auto& n : samples_) out << "- " << n << "\n";
}

}  // namespace pdsync::bench
