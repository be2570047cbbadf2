// Test support: a TCP proxy the test owns, between a device and the broker, to make a
// network partition on demand. cut() drops every connection and refuses new ones (they
// are accepted and closed at once); heal() lets traffic through again.
//
// Ownership and threads: owned by a test; runs its own accept and pump threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace pdsync::test {

class TcpProxy {
  public:
    explicit TcpProxy(int target_port);
    ~TcpProxy();
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    int port() const { return port_; }
    std::string uri() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
    void cut();
    void heal();
    // Bytes passed from the broker to the clients so far (what a device received).
    uint64_t bytes_to_clients() const { return to_clients_.load(); }

  private:
    void accept_loop();
    void pump(int client, int upstream);

    int target_port_;
    int port_ = 0;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> cut_{false};
    std::atomic<uint64_t> to_clients_{0};
    std::mutex mu_;
    std::list<int> fds_;
    std::list<std::thread> pumps_;
    std::thread acceptor_;
};

}  // namespace pdsync::test
