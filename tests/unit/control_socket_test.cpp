// The control socket over a real Unix socket: requests, progress lines, and that a
// long-running daemon does not keep a thread per past connection.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "shared/net/control_socket.hpp"

using namespace pdsync;

namespace {

// An exited thread that was never joined keeps its stack mapped: counting mappings finds
// the leak that counting live threads cannot.
std::size_t mappings() {
    std::ifstream maps("/proc/self/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(maps, line);) ++n;
    return n;
}

}  // namespace

TEST(ControlSocket, AnswersRequestsWithProgressAndReapsFinishedConnections) {
    std::string path = "/tmp/pdsync-control-test-" + std::to_string(::getpid()) + ".sock";
    net::ControlServer server(path,
                              [](const Value& req, const net::ControlServer::Progress& progress) {
                                  progress({{"done", 1}, {"total", 2}});
                                  return Value{{"ok", true}, {"echo", req.value("n", 0)}};
                              });
    ASSERT_TRUE(server.start().ok());
    std::size_t before = mappings();
    int progress_lines = 0;
    for (int i = 0; i < 300; ++i) {
        auto r = net::control_call(path, {{"n", i}}, std::chrono::seconds(5),
                                   [&](const Value&) { ++progress_lines; });
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ((*r)["echo"], i);
    }
    EXPECT_EQ(progress_lines, 300);
    // Finished connections are joined by the accept loop (every 200 ms at the latest).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (mappings() > before + 40 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling with a deadline
    }
    EXPECT_LE(mappings(), before + 40) << "a thread (and its stack) per past connection was kept";
    auto bad = net::control_call("/tmp/pdsync-no-such.sock", {{"n", 1}}, std::chrono::seconds(1));
    EXPECT_EQ(bad.code(), Errc::io);
    server.stop();
}
