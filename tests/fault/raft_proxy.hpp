// Test support for the cluster fault test: a TCP proxy in front of one raft member that
// knows who is calling. libraft's transport opens every connection with a handshake that
// carries the dialing member's id (8 bytes protocol, 8 bytes id, 8 bytes address length,
// all little-endian, then the address), and a member sends all it has to say to another
// over the connection it dialed; so block(id) in front of member B cuts every message from
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

class RaftProxy {
  public:
    explicit RaftProxy(int target_port);
    ~RaftProxy();
    RaftProxy(const RaftProxy&) = delete;
    RaftProxy& operator=(const RaftProxy&) = delete;

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    // Drops the connections from member `from` and refuses new ones until heal().
    void block(uint64_t from);
    void heal();

  private:
    struct Link {
        int client;
        int upstream;
        uint64_t from;
    };
    void accept_loop();
    void serve(int client);
    bool blocked(uint64_t from);

    int target_port_;
    int port_ = 0;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::set<uint64_t> blocked_;
    std::list<Link> links_;
    std::list<std::thread> threads_;
    std::thread acceptor_;
};

}  // namespace pdsync::test
