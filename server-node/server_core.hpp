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
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server-node/document_cache.hpp"
#include "server-node/server_store.hpp"
#include "server-node/sessions.hpp"
#include "shared/base/tuning.hpp"
#include "shared/environment.hpp"
#include "shared/messages.hpp"
#include "shared/secrets.hpp"
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

// A hello's outcome, for the broker rights that follow it (server-node/join/).
struct JoinDecision {
    std::string device_id;
    bool accepted = false;
    Errc reason = Errc::ok;
    std::string message;
};

struct ServerSettings {
    std::string server_id = "pdsync-server";
    std::string device_id;  // the server machine's own client ("localhost"), if any
    CategorySet categories = CategorySet::all();               // what this fleet synchronizes
    int machine_limit = tuning::limits::kDefaultMachineLimit;  // server machine included
    int user_limit = tuning::limits::kDefaultUserLimit;
    std::string auth_digest;  // AuthProfile::digest() of the server's profile
    std::size_t max_tombstones = tuning::limits::kMaxTombstones;
    // Also publish a JSON view of every document and of the status under {root}/inspect/,
    // secrets redacted, for MQTT Explorer / MQTTX (only the inspector account reads it).
    bool inspect_view = false;
    // Set: asked about a machine the server has not accepted before; Errc::ok admits it,
    // anything else (pending_approval, denied) is the refusal's reason.
    std::function<Errc(const std::string& device_id, const Hello& hello)> admission;
    // Set: the secret users' keys derive from (--user-key-file); each accepted login
    // carries its user's key sealed to the device (shared/user_keys.hpp).
    std::optional<FleetKey> user_key_secret;
};

class ServerCore {
  public:
    // `env`: the wall clock and random source (ids, timestamps); a test passes fixed ones.
    ServerCore(ServerStore& store, Topics topics, ServerSettings settings, Environment env = {});

    // Applies a batch in one transaction and returns what to publish after it committed.
    // On a store failure nothing is applied and every change set in the batch is answered
    // with Errc::storage (the device keeps it in its outbox and re-sends).
    // `before_commit`, if given, receives replies that depend only on already committed
    // state (login manifests), so a login does not wait for this batch's fsync.
    using EarlyPublish = std::function<void(std::vector<Outbound>&&)>;
    // Called on the worker thread after every commit that changed something.
    std::vector<Outbound> handle_batch(const std::vector<Inbound>& batch,
                                       const EarlyPublish& before_commit = {});

    // Every stored document as it is stored, for the start-up republish that makes the
    // broker's retained messages match the store; handed to `sink` one at a time so a
    // store of any size republishes in constant memory.
    void for_each_document_message(const std::function<void(Outbound&&)>& sink);
    std::vector<Outbound> all_documents();  // the same, collected (tests)

    // The retained server/status message.
    Outbound status_message() const;
    // The whole session table for the broker's session plugin, sent after every
    // (re)connect: a restarted broker holds no grants (server-node/sessions.hpp).
    Outbound session_table_message() const;
    bool may_sleep() const { return online_.empty(); }
    // Whether the last handle_batch() committed at least one change set.
    bool last_batch_had_changes() const { return last_batch_had_changes_; }
    // The broker connection was re-established: presence comes again as retained messages.
    void reset_presence() { online_.clear(); }
    const ServerSettings& settings() const { return settings_; }
    // The hellos decided since the last call, in order (accepted or refused).
    std::vector<JoinDecision> take_join_decisions() { return std::move(join_decisions_); }

    // ---- Administration (server_admin.cpp) --------------------------------------------
    struct AdminResult {
        Value answer;  // {"ok": true, ...} or {"ok": false, "error", "message"}
        std::vector<Outbound> publish;
    };
    // One administration command, in its own transaction: users-list, users-show,
    // users-delete, machines-remove, export, import, status, settings; users-list with a
    // "limit" answers one page (see docs/admin-api.md).
    AdminResult admin(const Value& request);
    // The status as a Value (what status_message() publishes).
    Value status_value() const;
    // Extra fields merged into the status (backup, cluster), set by the node.
    void set_status_extra(const std::string& key, Value value);

  private:
    struct Batch;
    std::vector<Outbound> transact(Batch& b, const std::function<void()>& work);
    std::string doc_topic(const DocKey& key) const;
    // Adds the inspection-view twin of a document or status publication, if enabled.
    void add_inspect(std::vector<Outbound>& out, const std::string& topic, const Value* v) const;

    AdminResult users_page(const Value& request);
    AdminResult delete_user_data(const std::string& user, std::optional<Category> category);
    AdminResult remove_machine(const std::string& device_id);
    AdminResult import_documents(const Value& documents);
    void handle_one(const Inbound& msg, Batch& b);
    void on_hello(const std::string& device_id, const Hello& h, Batch& b);
    void on_changes(const std::string& device_id, const ChangeSet& cs, Batch& b);
    AckReply apply_changes(const ChangeSet& cs, DeviceRow& dev, Batch& b);
    void on_event(const std::string& device_id, const DeviceEvent& e, Batch& b);
    void on_presence(const std::string& device_id, const Presence& p, Batch& b);
    // A stale login's deltas: for each category the device holds at an older version.
    void add_deltas(const DeviceEvent& e, LoginReply& r);
    // `may_evict` false: a registration without a login (a first merge) never makes room
    // by evicting someone; it is refused at the limit instead (docs/security.md).
    Status register_user(const std::string& user, Batch& b, bool may_evict = true);
    // Device–user binding (sessions.*): whether `cs` may write its user's document.
    Status check_session(const ChangeSet& cs, const std::string& device_id, Batch& b);
    void evict_user(const std::string& user, Batch& b);
    Document* document(const DocKey& key, Batch& b);
    DeviceRow* joined_device(const std::string& device_id, Batch& b);
    void reply(const std::string& device_id, const Reply& r, Batch& b);
    void flush_acks(Batch& b) const;
    void refuse_change(const std::string& device_id, uint64_t seq, Errc reason,
                       const std::string& message, Batch& b);
    std::size_t joined_count() const;

    ServerStore& store_;
    DocumentCache cache_;
    Topics topics_;
    ServerSettings settings_;
    // Every member reads time and randomness through these two, so nothing here calls
    // the machine's clock or random source itself.
    Environment env_;
    int64_t now_ms() const { return env_.wall_ms(); }
    std::string random_hex(std::size_t bytes) const { return env_.random_hex(bytes); }
    std::map<std::string, DeviceRow> devices_;    // committed device rows
    std::map<std::string, std::string> refused_;  // device id -> last refusal, not stored
    std::set<std::string> online_;
    std::map<std::string, uint64_t> pending_;      // outbox sizes devices report in presence
    std::map<std::string, std::string> box_keys_;  // device id -> box public key of its hello
    std::set<std::string> helloed_;                // devices whose hello this process accepted
    Sessions sessions_;
    Value status_extra_ = Value::object();
    int64_t started_at_;

    bool last_batch_had_changes_ = false;
    std::vector<JoinDecision> join_decisions_;

    std::string boot_id_;
};

}  // namespace pdsync::server
