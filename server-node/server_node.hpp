// The running server: binds ServerCore to the broker. Paho's thread only queues inbound
// messages; one worker thread drains the queue in batches (group commit: one transaction
// and one fsync per batch), then publishes documents and acks, so an ack always follows
// its commit. After every (re)connect the worker republishes the store's documents, which
// makes the broker's retained messages a cache of the store again.
//
// Ownership and threads: owned by main(); start()/stop() from the owning thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "server-node/server_core.hpp"
#include "shared/net/mqtt_link.hpp"

namespace pdsync::server {

class ServerNode {
  public:
    ServerNode(std::unique_ptr<ServerStore> store, Topics topics, ServerSettings settings,
               net::MqttSettings mqtt);
    ~ServerNode();

    void start();
    void stop();

  private:
    void worker_loop();
    void publish_all(const std::vector<Outbound>& out);

    std::unique_ptr<ServerStore> store_;
    Topics topics_;
    ServerCore core_;
    std::unique_ptr<net::MqttLink> link_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Inbound> queue_;
    bool reconcile_ = false;
    // Fault injection for the tests (PDSYNC_FAULT_EXIT_AFTER_COMMITS=N): exit right after
    // the Nth commit that holds a change set, before its acks go out, as a crash would.
    int fault_exit_after_commits_ = 0;

    bool stopping_ = false;
    std::thread worker_;
};

}  // namespace pdsync::server
