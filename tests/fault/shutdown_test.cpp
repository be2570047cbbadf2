// Stopping pdsync-server after its broker has gone (issue 12, item 7): SIGTERM must give a
// clean exit whatever the MQTT link is doing at that moment: waiting out its back-off, or
// with a reconnect attempt in flight. Each round starts a real broker and a real server
// (ASan in the test build), takes the broker away, then stops the server; a crash inside
// Paho, a sanitizer report or a hang fails the round.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

constexpr int kRounds = 24;  // about 25 s in the sanitizer build; the bug showed 1 in 4

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// A port where something accepts TCP connections and never says a word: a broker that
// hangs. A client's CONNECT there stays in flight until its connect timeout.
class SilentListener {
  public:
    explicit SilentListener(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bound_ =
            ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 16) == 0;
    }
    ~SilentListener() {
        for (int c : accepted_) ::close(c);
        if (fd_ >= 0) ::close(fd_);
    }
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;
    bool bound() const { return bound_; }
    // True once a client has connected (and is now waiting for a CONNACK that never comes).
    bool wait_accept(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return false;
        accepted_.push_back(c);
        return true;
    }

  private:
    int fd_ = -1;
    bool bound_ = false;
    std::vector<int> accepted_;
};

enum class Moment { in_backoff, connect_in_flight };

// One round: broker up, server connected, broker gone, then SIGTERM at `moment`.
void stop_after_broker_is_gone(const TempDir& dir, int round, Moment moment) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string name = "server" + std::to_string(round);
    Broker broker(dir, {}, "broker" + std::to_string(round));
    Server server(dir, {broker.uri()}, {}, name);
    const std::string log = dir.file(name + ".log");
    ASSERT_TRUE(wait_until([&] { return count_of(read_file(log), "connected to") > 0; }))
        << read_file(log);
    broker.stop();
    ASSERT_TRUE(wait_until([&] { return count_of(read_file(log), "connection lost") > 0; }))
        << read_file(log);
    std::unique_ptr<SilentListener> silent;
    if (moment == Moment::connect_in_flight) {
        silent = std::make_unique<SilentListener>(broker.port());
        ASSERT_TRUE(silent->bound()) << "port " << broker.port() << " was taken meanwhile";
        ASSERT_TRUE(silent->wait_accept(std::chrono::seconds(10)))
            << "the server never tried to reconnect:\n"
            << read_file(log);
    }
    const auto before = std::chrono::steady_clock::now();
    const int status = server.stop();
    const auto took = std::chrono::steady_clock::now() - before;
    const std::string text = read_file(log);
    EXPECT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status) << ":\n" << text;
    if (WIFEXITED(status)) {
        EXPECT_EQ(WEXITSTATUS(status), 0) << text;
    }
    EXPECT_EQ(text.find("AddressSanitizer"), std::string::npos) << text;
    EXPECT_EQ(text.find("runtime error"), std::string::npos) << text;
    // A stop must not wait out a connect timeout (5 s) on a broker that does not answer.
    EXPECT_LT(took, std::chrono::seconds(4)) << text;
}

}  // namespace

TEST(ServerShutdown, StopsCleanlyManyTimesAfterItsBrokerIsGone) {
    TempDir dir;
    for (int round = 0; round < kRounds && !::testing::Test::HasFailure(); ++round) {
        stop_after_broker_is_gone(dir, round,
                                  round % 2 == 0 ? Moment::in_backoff : Moment::connect_in_flight);
    }
}
