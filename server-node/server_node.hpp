// The running server: binds ServerCore to the broker. Paho's thread only queues inbound
// messages; one worker thread drains the queue in batches (group commit: one transaction
// and one fsync per batch), then publishes documents and acks, so an ack always follows
// its commit. After every (re)connect the worker republishes the store's documents, which
// makes the broker's retained messages a cache of the store again. Administration
// requests from the admin socket run on the same worker, between batches; backups run
// beside it on their own SQLite connection.
//
// Cluster mode (server-node/cluster/, with ServerNodeOptions::cluster): the store is the
// state machine of a raft cluster. Only while this server leads does it hold a core, take
// change sets and publish documents; its commits go through the raft log, so an ack
// follows a majority's commit. Otherwise it publishes a status naming the leader, with
// server_online false, so devices move on to another broker.
//
// Ownership and threads: owned by main(); start()/stop() from the owning thread;
// admin() from any thread but Paho's.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "server-node/cluster/cluster_node.hpp"
#include "server-node/join/join_service.hpp"
#include "server-node/server_backups.hpp"
#include "server-node/server_core.hpp"
#include "shared/base/tuning.hpp"
#include "shared/net/control_socket.hpp"
#include "shared/net/mqtt_link.hpp"

namespace pdsync::server {

struct ServerNodeOptions {
    std::string store_path;
    std::string admin_socket;  // empty: no admin socket
    BackupSettings backup;
    // The broker's max_packet_size: a publish that would not fit is never sent.
    std::size_t max_packet_bytes = tuning::mqtt::kBrokerMaxPacketBytes;
    // Shown by the "settings" command beside the core's and the backup's settings: what
    // main() knows of the broker link and the web page (no secrets).
    Value settings_extra = Value::object();
    // Set: a member of a raft cluster; unset: a single server.
    std::optional<cluster::ClusterSettings> cluster;
    // Set: the broker runs the dynamic security plugin and this server grants every
    // device's rights through it (server-node/join/). Unset: the broker's rights are not
    // the server's business (a password file and ACL, or an anonymous test broker).
    std::optional<JoinSettings> join;
};

class ServerNode {
  public:
    ServerNode(std::unique_ptr<ServerStore> store, Topics topics, ServerSettings settings,
               net::MqttSettings mqtt, ServerNodeOptions options);
    ~ServerNode();

    [[nodiscard]] Status start();
    void stop();

    // One administration request ({"cmd": ...}); see docs/architecture.md.
    Value admin(const Value& request, const net::ControlServer::Progress& progress);

  private:
    struct AdminJob {
        Value request;
        std::promise<Value> reply;
    };
    void worker_loop();
    void publish_all(const std::vector<Outbound>& out);
    Value run_on_worker(const Value& request);
    // Paho's thread: queues a device message unless its device, or the queue as a whole,
    // holds more payload bytes than the bounds in tuning.hpp (docs/security.md).
    void enqueue(Inbound&& in);
    // The device a topic under {root}/devices/ belongs to ("" for any other topic).
    std::string device_of(const std::string& topic) const;
    // Worker thread, under mu_: the bytes of a message taken off the queue.
    void dequeued(const Inbound& in);

    std::unique_ptr<ServerStore> store_;
    Topics topics_;
    ServerSettings settings_;
    std::unique_ptr<ServerCore> core_;  // null while a cluster member does not lead
    ServerNodeOptions options_;
    Value status_extras_ = Value::object();  // kept for the core a new cluster leader builds
    std::unique_ptr<net::MqttLink> link_;
    std::unique_ptr<net::ControlServer> admin_socket_;
    std::unique_ptr<ServerBackups> backups_;
    std::unique_ptr<JoinService> join_;  // with options_.join

    // Cluster mode: events from the raft thread, taken by the worker under mu_.
    std::unique_ptr<cluster::ClusterNode> cluster_;
    bool cluster_event_ = false;
    bool cluster_step_down_ = false;
    uint64_t cluster_lead_term_ = 0;
    void on_cluster_event(bool step_down, uint64_t lead_term, bool& reconcile);  // worker
    Outbound follower_status() const;
    void cluster_wake(const std::function<void()>& set);

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Inbound> queue_;
    std::size_t queued_bytes_ = 0;                         // under mu_
    std::map<std::string, std::size_t> queued_by_device_;  // under mu_
    std::map<std::string, uint64_t> dropped_by_device_;    // under mu_
    std::deque<std::shared_ptr<AdminJob>> admin_jobs_;
    bool reconcile_ = false;
    bool stopping_ = false;
    // Fault injection for the tests (PDSYNC_FAULT_EXIT_AFTER_COMMITS=N): exit right after
    // the Nth commit that holds a change set, before its acks go out, as a crash would.
    int fault_exit_after_commits_ = 0;
    std::thread worker_;
};

}  // namespace pdsync::server
