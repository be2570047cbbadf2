// Terminal progress bar (see progress_bar.hpp).
#include "shared/terminal/progress_bar.hpp"

#include <unistd.h>

#include "shared/base/durable_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace pdsync::terminal {

namespace {

std::string human_rate(double per_s) {
    char buf[32];
    if (per_s >= 1e9) {
        std::snprintf(buf, sizeof buf, "%.1fG", per_s / 1e9);
    } else if (per_s >= 1e6) {
        std::snprintf(buf, sizeof buf, "%.1fM", per_s / 1e6);
    } else if (per_s >= 1e3) {
        std::snprintf(buf, sizeof buf, "%.1fk", per_s / 1e3);
    } else {
        std::snprintf(buf, sizeof buf, "%.0f", per_s);
    }
    return buf;
}

// A broken terminal must not break the operation it reports on: write errors are dropped.
void write_fully(int fd, const std::string& s) {
    (void)write_all(fd, s, "the terminal");
}

}  // namespace

ProgressBar::ProgressBar(std::string label, Options options)
    : label_(std::move(label)),
      options_(options),
      enabled_(!options.quiet && !options.json && ::isatty(options.fd) == 1),
      start_(std::chrono::steady_clock::now()) {}

std::string ProgressBar::render(std::string_view label, std::uint64_t done, std::uint64_t total,
                                double rate_per_s, int width) {
    width = std::max(width, 1);
    const double fraction =
        total == 0 ? 0.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    const int filled = static_cast<int>(fraction * width);
    std::string out(label);
    out += " [";
    out.append(static_cast<std::size_t>(filled), '#');
    out.append(static_cast<std::size_t>(width - filled), '.');
    out += "] " + std::to_string(done) + "/" + std::to_string(total) + "  " +
           human_rate(rate_per_s) + "/s";
    return out;
}

void ProgressBar::update(std::uint64_t done, std::uint64_t total) {
    done_ = done;
    total_ = total;
    draw(total != 0 && done >= total);
}

void ProgressBar::draw(bool force) {
    if (!enabled_ || finished_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && drawn_ && now - last_draw_ < options_.min_interval) return;
    last_draw_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0.0;
    std::string frame = render(label_, done_, total_, rate, options_.width);
    const std::size_t len = frame.size();
    // Pad with spaces to wipe the tail of a longer previous frame (no terminal escapes,
    // so it also works on a dumb terminal).
    if (len < last_len_) frame.append(last_len_ - len, ' ');
    last_len_ = len;
    write_fully(options_.fd, "\r" + frame);
    drawn_ = true;
}

void ProgressBar::finish() {
    if (finished_) return;
    if (enabled_ && drawn_) {
        draw(true);
        write_fully(options_.fd, "\n");
    }
    finished_ = true;
}

}  // namespace pdsync::terminal
