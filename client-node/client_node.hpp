// The client node: a device's synchronization engine. One worker thread owns the local
// store and all state; Paho's thread and the control-socket threads only post events to
// it. It joins the fleet (hello), registers data that only this device holds (first
// merge), serves logins from the retained per-user documents, queues edits in a durable
// outbox and drains it (exactly once in effect, by sequence number), and applies what
// the server publishes.
//
// Ownership and threads: owned by main() (or a test); request() may be called from any
// thread except Paho's; start()/stop() from the owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <variant>

#include "client-node/client_store.hpp"
#include "shared/secrets.hpp"
#include "shared/tuning.hpp"

#include "shared/net/mqtt_link.hpp"
#include "topics/topics.hpp"

namespace pdsync::client {

struct ClientSettings {
    std::string device_id;
    std::string product = "pdsync-device";
    std::string firmware = "1.0";
    std::string location;
    CategorySet supported = CategorySet::all();  // what this firmware can sync
    std::string auth_digest;
    std::optional<FleetKey> fleet_key;  // seals and opens secret fields (keychain passwords)
    // With several brokers: how long this device stays on one whose server is not online
    // before it tries the next (a promoted standby's).
    std::chrono::milliseconds failover_after = tuning::kFailoverAfter;
};

class ClientNode {
  public:
    ClientNode(std::unique_ptr<ClientStore> store, Topics topics, ClientSettings settings,
               net::MqttSettings mqtt);
    ~ClientNode();

    void start();
    void stop();

    // A control request (docs/control-protocol.md): {"cmd": "status"|"login"|"logout"|
    // "show"|"edit", ...}. Blocks until answered; answers {"ok": true, ...} or
    // {"ok": false, "error": reason, "message": text}.
    Value request(const Value& req);

  private:
    using Clock = std::chrono::steady_clock;
    struct Connected {};
    struct Lost {};
    struct Request {
        Value body;
        std::shared_ptr<std::promise<Value>> reply;
    };
    using Event = std::variant<net::Received, Connected, Lost, Request>;

    struct LoginState {
        std::string user;
        bool manifest = false;
        std::map<Category, uint64_t> versions;
        // Documents received for this login, checked and kept as the bytes that came, so
        // they are stored without being encoded again.
        struct Received {
            uint64_t version = 0;
            std::string payload;
        };
        std::map<Category, Received> buffered;
        bool ready = false;
        std::string source;  // "server" | "cache"
        Clock::time_point started;
        Clock::time_point deadline;
        double ready_ms = 0;
    };
    struct Waiter {
        std::shared_ptr<std::promise<Value>> reply;
        Clock::time_point deadline;
        Value extra = Value::object();  // merged into the answer
    };

    void post(Event e);
    void worker_loop();
    void handle(Event& e);
    void on_connected();
    void on_lost();
    void on_message(const net::Received& m);
    void on_reply(const Reply& r);
    void on_join(const JoinReply& r);
    void on_acks(const std::vector<AckReply>& acks);
    std::optional<Value> apply_ack(const AckReply& r);
    void on_login_reply(const LoginReply& r);
    void on_document(const ParsedTopic& t, const std::string& payload);
    void tick();
    void follow_primary(Clock::time_point now);

    void send_hello();
    void register_local_documents();  // one chunk; clears merging_ when done
    uint64_t pending_changes();
    void send_outbox();
    void subscribe_user(const std::string& user);
    // Publishes a login event for `user`: the server's session for it (docs/security.md).
    void announce(const std::string& user);
    void unsubscribe_user(const std::string& user);
    void check_login_ready();
    void finish_login(const std::string& source);
    void forget_users(const std::vector<std::string>& users, const char* why);
    void set_error(const std::string& error);

    Value handle_request(Request& r, bool& deferred);
    Value cmd_status();
    Value cmd_login(Request& r, bool& deferred);
    Value cmd_logout();
    Value cmd_show(const Value& body);
    Value cmd_edit(Request& r, bool& deferred);
    Value cmd_sync(const Value& body);
    Value cmd_export();
    Value cmd_import(const Value& body);
    Document view_of(const DocKey& key);
    bool synced(Category c) const;

    std::unique_ptr<ClientStore> store_;
    Topics topics_;
    ClientSettings settings_;
    std::unique_ptr<net::MqttLink> link_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Event> events_;
    bool stopping_ = false;
    std::thread worker_;

    // Worker-thread state.
    bool sync_enabled_ = true;  // the client function is enabled (persisted)
    bool connected_ = false;

    bool joined_ = false;
    bool ever_joined_ = false;
    std::string join_state_ = "connecting";
    std::string last_error_;
    CategorySet syncs_;
    std::string epoch_;
    Clock::time_point next_hello_{};
    std::chrono::milliseconds hello_backoff_;
    int join_attempts_ = 0;

    std::map<uint64_t, Clock::time_point> inflight_;
    std::set<std::string> announced_;  // users whose login this connection has sent
    uint64_t next_send_seq_ = 0;
    std::optional<LoginState> login_;
    std::vector<Waiter> login_waiters_;
    std::map<uint64_t, Waiter> edit_waiters_;
    Value server_status_ = Value::object();                 // this broker's retained server/status
    std::optional<Clock::time_point> server_absent_since_;  // connected, no online server
    bool merging_ = false;    // a first merge has documents left to register
    std::size_t merged_ = 0;  // registered so far in this first merge
};

}  // namespace pdsync::client
