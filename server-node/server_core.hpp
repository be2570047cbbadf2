// The server's protocol logic, free of I/O: it takes batches of inbound MQTT messages,
// applies them to the store in one transaction, and returns the messages to publish once
// that transaction has committed (documents, inbox replies, status). The MQTT binding
// (server_node.*) feeds it and publishes what it returns, so nothing is acknowledged
// before it is durable, and this class can be tested without a broker.
//
// Ownership and threads: owned by the server's worker thread; not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "server-node/server_store.hpp"
#include "shared/messages.hpp"
#include "topics/topics.hpp"

namespace pdsync::server {

struct Inbound {
    std::string topic;
    std::string payload;
    bool retained = false;
};

struct Outbound {
    std::string topic;
    std::string payload;  // empty with retained=true deletes a retained document
    bool retained = false;
};

struct ServerSettings {
    std::string server_id = "pdsync-server";
    std::string device_id;  // the server machine's own client ("localhost"), if any
    CategorySet categories = CategorySet::all();  // what this fleet synchronizes
    int machine_limit = 10;                       // server machine included
    int user_limit = 1000;
    std::string auth_digest;  // AuthProfile::digest() of the server's profile
    std::size_t max_tombstones = 1000;
};

class ServerCore {
  public:
    ServerCore(ServerStore& store, Topics topics, ServerSettings settings);

    // Applies a batch in one transaction and returns what to publish after it committed.
    // On a store failure nothing is applied and every change set in the batch is answered
    // with Errc::storage (the device keeps it in its outbox and re-sends).
    // `before_commit`, if given, receives replies that depend only on already committed
    // state (login manifests), so a login does not wait for this batch's fsync.
    using EarlyPublish = std::function<void(std::vector<Outbound>&&)>;
    std::vector<Outbound> handle_batch(const std::vector<Inbound>& batch,
                                       const EarlyPublish& before_commit = {});

    // Every stored document, for the start-up republish that makes the broker's retained
    // messages match the store.
    std::vector<Outbound> all_documents();

    // The retained server/status message.
    Outbound status_message() const;
    bool may_sleep() const { return online_.empty(); }
    // Whether the last handle_batch() committed at least one change set.
    bool last_batch_had_changes() const { return last_batch_had_changes_; }
    // The broker connection was re-established: presence comes again as retained messages.
    void reset_presence() { online_.clear(); }
    const ServerSettings& settings() const { return settings_; }

  private:
    struct Batch;
    void handle_one(const Inbound& msg, Batch& b);
    void on_hello(const std::string& device_id, const Hello& h, Batch& b);
    void on_changes(const std::string& device_id, const ChangeSet& cs, Batch& b);
    AckReply apply_changes(const ChangeSet& cs, DeviceRow& dev, Batch& b);
    void on_event(const std::string& device_id, const DeviceEvent& e, Batch& b);
    void on_presence(const std::string& device_id, const Presence& p, Batch& b);
    Status register_user(const std::string& user, Batch& b);
    void evict_user(const std::string& user, Batch& b);
    Document* document(const DocKey& key, Batch& b);
    DeviceRow* joined_device(const std::string& device_id, Batch& b);
    void reply(const std::string& device_id, const Reply& r, Batch& b);
    void refuse_change(const std::string& device_id, uint64_t seq, Errc reason,
                       const std::string& message, Batch& b);
    std::size_t joined_count() const;

    ServerStore& store_;
    Topics topics_;
    ServerSettings settings_;
    std::map<std::string, DeviceRow> devices_;    // committed device rows
    std::map<std::string, std::string> refused_;  // device id -> last refusal, not stored
    std::set<std::string> online_;
    int64_t started_at_;
    bool last_batch_had_changes_ = false;

    std::string boot_id_;
};

}  // namespace pdsync::server
