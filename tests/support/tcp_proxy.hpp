// Test support: a TCP proxy the test owns, to make a network partition on demand: between
// a device and its broker, or in front of a raft cluster member. cut() drops every
// connection and refuses new ones (they are accepted and closed at once); heal() lets
// traffic through again.
//
// Raft-aware (Mode::raft_member): libraft's transport opens every connection with a
// preamble that carries the dialing member's id (8 bytes protocol, 8 bytes id, 8 bytes
// address length, all little-endian), and a member sends all it has to say to another over
// the connection it dialed; so block(id) in front of member B cuts every message from
// member `id` to B, and blocking both directions makes a real partition between two members.
//
// Ownership and threads: owned by a test; runs its own accept and pump threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace pdsync::test {

class TcpProxy {
  public:
    enum class Mode { plain, raft_member };
    explicit TcpProxy(int target_port, Mode mode = Mode::plain);
    ~TcpProxy();
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    int port() const { return port_; }
    std::string uri() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    void cut();
    // Raft-aware only: drops the connections from member `from` and refuses new ones.
    void block(uint64_t from);
    void heal();  // undoes cut() and every block()
    // Bytes passed from the target to the clients so far (what a device received).
    uint64_t bytes_to_clients() const { return to_clients_.load(); }

  private:
    struct Link {
        int client;
        int upstream;
        uint64_t from;
    };
    void accept_loop();
    void serve(int client);
    bool refused(uint64_t from);

    int target_port_;
    Mode mode_;
    int port_ = 0;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> cut_{false};
    std::atomic<uint64_t> to_clients_{0};
    std::mutex mu_;
    std::set<uint64_t> blocked_;
    std::list<Link> links_;
    std::list<std::thread> threads_;
    std::thread acceptor_;
};

}  // namespace pdsync::test
