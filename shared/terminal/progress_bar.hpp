// A one-line terminal progress bar for long operations (backup, restore, export...):
//   backup [#########.....................] 300/1000  1.2k/s
// drawn on stderr only when stderr is a terminal and the program is not in quiet or JSON
// mode; otherwise it prints nothing, so logs and machine-readable output stay clean.
#pragma once

#include "shared/base/progress.hpp"
#include "shared/base/tuning.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pdsync::terminal {

// Owned by the command that runs the operation; used from one thread (the one reporting
// progress). Not tied to backups: any (done, total) producer can feed it.
//
//   ProgressBar bar("backup", {.quiet = args.quiet, .json = args.json});
//   auto id = BackupManager({.progress = bar.callback()}).run(db, target);
//   bar.finish();  // ends the line (also done by the destructor)
class ProgressBar {
  public:
    struct Options {
        bool quiet = false;      // --quiet: no progress at all
        bool json = false;       // --json: stdout/stderr are for machines
        int fd = STDERR_FILENO;  // where to draw; tests pass a pseudo-terminal
        std::chrono::milliseconds min_interval = tuning::terminal::kProgressMinInterval;
        int width = tuning::terminal::kProgressBarWidth;  // cells between the brackets
    };

    explicit ProgressBar(std::string label) : ProgressBar(std::move(label), Options{}) {}
    ProgressBar(std::string label, Options options);
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;
    ~ProgressBar() { finish(); }

    // Whether anything will be drawn (fd is a TTY, not quiet, not JSON).
    bool enabled() const { return enabled_; }
    // Redraws if at least min_interval passed since the last draw, or on completion.
    void update(std::uint64_t done, std::uint64_t total);
    // Draws the last state and ends the line; idempotent.
    void finish();
    // A callback for APIs taking a ProgressFn; valid while this object lives.
    ProgressFn callback() {
        return [this](std::uint64_t done, std::uint64_t total) { update(done, total); };
    }

    // The text of one frame, without the leading '\r': pure, for tests and other UIs.
    //   render("backup", 300, 1000, 1234.0, 10) == "backup [###.......] 300/1000  1.2k/s"
    static std::string render(std::string_view label, std::uint64_t done, std::uint64_t total,
                              double rate_per_s, int width);

  private:
    void draw(bool force);

    std::string label_;
    Options options_;
    bool enabled_ = false;
    bool drawn_ = false;
    bool finished_ = false;
    std::uint64_t done_ = 0;
    std::uint64_t total_ = 0;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_{};
    std::size_t last_len_ = 0;
};

}  // namespace pdsync::terminal
