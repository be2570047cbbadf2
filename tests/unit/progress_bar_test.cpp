// Tests for ProgressBar: the frame text, and drawing only on a terminal.
#include "shared/terminal/progress_bar.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace pdsync::terminal {
namespace {

// A pseudo-terminal pair: the bar draws on `tty`, the test reads from `master`.
struct Pty {
    Pty() {
        master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master >= 0 && ::grantpt(master) == 0 && ::unlockpt(master) == 0) {
            tty = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
        }
    }
    ~Pty() {
        if (tty >= 0) ::close(tty);
        if (master >= 0) ::close(master);
    }
    // Everything written so far (the pty echoes output to the master side).
    std::string drain() const {
        std::string out;
        char buf[4096];
        pollfd p{master, POLLIN, 0};
        while (::poll(&p, 1, 50) > 0) {
            ssize_t n = ::read(master, buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
    int master = -1;
    int tty = -1;
};

TEST(ProgressBar, RendersLabelBarCountsAndRate) {
    EXPECT_EQ(ProgressBar::render("backup", 300, 1000, 1234.0, 10),
              "backup [###.......] 300/1000  1.2k/s");
    EXPECT_EQ(ProgressBar::render("restore", 0, 0, 0.0, 4), "restore [....] 0/0  0/s");
    EXPECT_EQ(ProgressBar::render("x", 5, 5, 2.5e6, 4), "x [####] 5/5  2.5M/s");
}

TEST(ProgressBar, DrawsNothingWhenOutputIsNotATerminal) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    {
        ProgressBar::Options o;
        o.fd = p[1];
        ProgressBar bar("backup", o);
        EXPECT_FALSE(bar.enabled());
        bar.update(1, 2);
        bar.update(2, 2);
    }
    char c;
    EXPECT_EQ(::read(p[0], &c, 1), -1);  // EAGAIN: nothing was written
    ::close(p[0]);
    ::close(p[1]);
}

TEST(ProgressBar, DrawsOnATerminalAndEndsTheLine) {
    Pty pty;
    ASSERT_GE(pty.tty, 0);
    {
        ProgressBar::Options o;
        o.fd = pty.tty;
        o.width = 4;
        ProgressBar bar("backup", o);
        EXPECT_TRUE(bar.enabled());
        bar.update(1, 4);
        bar.update(4, 4);
    }
    const std::string out = pty.drain();
    EXPECT_NE(out.find("\rbackup [#...] 1/4"), std::string::npos) << out;
    EXPECT_NE(out.find("\rbackup [####] 4/4"), std::string::npos) << out;
    EXPECT_EQ(out.back(), '\n');
}

TEST(ProgressBar, QuietAndJsonModesDrawNothingEvenOnATerminal) {
    Pty pty;
    ASSERT_GE(pty.tty, 0);
    for (bool json : {false, true}) {
        ProgressBar::Options o;
        o.fd = pty.tty;
        o.quiet = !json;
        o.json = json;
        ProgressBar bar("backup", o);
        EXPECT_FALSE(bar.enabled());
        bar.update(4, 4);
    }
    EXPECT_EQ(pty.drain(), "");
}

}  // namespace
}  // namespace pdsync::terminal
