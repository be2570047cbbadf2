// The client's rules without I/O: join and back-off, first merge, login and its manifest,
// edits and the outbox window, resend, applying what the server publishes, and the
// answers to control requests. Events go in (a received message, connected, lost, a
// control request, a tick), each with the time; what to publish, (un)subscribe and answer
// comes out as an Output the caller carries out in order. The wall clock and the random
// source are injected (CoreEnv), so every rule runs in a unit test with a fake clock and
// no broker (tests/unit/client_core_test.cpp). ClientNode is the thread, the store and
// the MQTT link around it.
//
//   ClientCore core(*store, Topics(), settings, CoreEnv{}, /*brokers=*/1);
//   apply(core.start(now));
//   apply(core.on_connected(now));
//   apply(core.on_request(1, {{"cmd", "status"}}, now));  // out.replies[0] = {1, {...}}
//
// Ownership and threads: owned by ClientNode (or a test); not thread-safe: one thread
// calls it. It uses the store it is given, which must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "client-node/client_store.hpp"
#include "client-node/user_key_ring.hpp"
#include "shared/base/tuning.hpp"
#include "shared/environment.hpp"
#include "shared/net/mqtt_link.hpp"
#include "shared/secrets.hpp"
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
    // before it tries the next (a cluster leader's, say).
    std::chrono::milliseconds failover_after = tuning::mqtt::kFailoverAfter;
};

// The wall clock (timestamps for people and the server's least-recently-used order) and
// the random source (the epoch, new entry ids), injected.
using CoreEnv = Environment;

// ---- What comes out --------------------------------------------------------------------
struct Publish {
    std::string topic;
    std::string payload;
    bool retained = false;
};
struct Subscribe {
    std::vector<std::string> filters;
    // false: MQTT v5 Retain Handling 2, no retained message at this SUBSCRIBE (a warm
    // login's cached categories, docs/protocol.md §5.4).
    bool send_retained = true;
};
struct Unsubscribe {
    std::vector<std::string> filters;
};
struct StartLink {};  // synchronization turned on: connect
struct StopLink {};   // synchronization turned off: disconnect
struct MoveToNextServer {
    std::string why;
};
using LinkAction =
    std::variant<Publish, Subscribe, Unsubscribe, StartLink, StopLink, MoveToNextServer>;

// Identifies a control request, so its answer can come out later (a login waiting for
// the server, an edit waiting for its ack).
using RequestId = uint64_t;
struct Answer {
    RequestId id = 0;
    Value body;
};

struct Output {
    std::vector<LinkAction> link;  // in order
    std::vector<Answer> answers;
    // For panels that watch the control socket (docs/control-protocol.md, "watch").
    std::vector<Value> events;
    bool trim_heap = false;  // a login was served: a good moment to hand memory back
    bool empty() const { return link.empty() && answers.empty() && events.empty(); }
};

// Where the device stands with its fleet, as status and events name it. Enrollment (a
// device not yet enabled, or claiming its credentials) adds its states here; the join
// rules that would consult them are connected() (claim instead of hello), send_hello()
// and on_join(), and refusal() (what a login or an edit tells the user meanwhile).
enum class JoinState : uint8_t { sync_off, connecting, joining, joined, refused, offline };
const char* join_state_name(JoinState s);

class ClientCore {
  public:
    using Clock = std::chrono::steady_clock;
    using TimePoint = Clock::time_point;

    // `brokers`: how many brokers the link may choose from (following the primary needs two).
    ClientCore(ClientStore& store, Topics topics, ClientSettings settings, CoreEnv env,
               std::size_t brokers, TimePoint now);

    // The subscriptions every device holds, the restored login's, and the link's start.
    Output start(TimePoint now);
    Output on_message(const net::Received& m, TimePoint now);
    Output on_connected(TimePoint now);
    Output on_lost(TimePoint now);
    // A control request (docs/control-protocol.md). Its answer comes out now or later,
    // under `id`.
    Output on_request(RequestId id, const Value& body, TimePoint now);
    // Timers: hello back-off, resend, login deadline, answers that waited long enough,
    // the next chunk of a first merge.
    Output on_tick(TimePoint now);
    // Every request still waiting is answered: the daemon is stopping.
    Output on_stop();

    // A first merge has more to register: tick again without waiting.
    bool has_more_work() const { return merging_ && joined_; }
    // The retained presence message; unstamped (at 0) for the link's will.
    Publish presence(bool online, bool stamped = true) const;
    const ClientSettings& settings() const { return settings_; }
    JoinState join_state() const { return join_state_; }
    bool sync_enabled() const { return sync_enabled_; }

  private:
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
        // Categories subscribed without their retained copy (the cache held one); one the
        // manifest shows stale is subscribed again for it, and leaves this set.
        std::set<Category> without_retained;
        bool ready = false;
        std::string source;  // "server" | "cache"
        TimePoint started;
        TimePoint deadline;
        double ready_ms = 0;
    };
    struct Waiter {
        RequestId id = 0;
        TimePoint deadline;
        Value extra = Value::object();  // merged into the answer
        std::chrono::milliseconds bound{0};
    };

    template <typename F>
    Output step(TimePoint now, std::optional<RequestId> request, F&& work);
    void answer(RequestId id, Value body);
    void publish(std::string topic, std::string payload, bool retained = false);
    void emit(Value event);
    void note_state();  // emits a "state" event when what a panel shows has changed

    void connected();
    void lost();
    void message(const net::Received& m);
    void on_reply(const Reply& r);
    void on_join(const JoinReply& r);
    void on_acks(const std::vector<AckReply>& acks);
    std::optional<Value> apply_ack(const AckReply& r);
    void on_login_reply(const LoginReply& r);
    void on_document(const ParsedTopic& t, const std::string& payload);
    void tick();
    void follow_primary();

    void send_hello();
    void send_login_event(const std::string& user);
    void register_local_documents();  // one chunk; clears merging_ when done
    uint64_t pending_changes();
    void send_outbox();
    void subscribe_user(const std::string& user, bool granted = true);
    const FleetKey* sealing_key(const DocKey& key) const;
    Value secret_refusal(const DocKey& key) const;
    void unsubscribe_user(const std::string& user);
    void apply_deltas(const LoginReply& r);
    void check_login_ready();
    void fetch_stale(const std::vector<Category>& stale);
    void store_buffered();
    void finish_login(const std::string& source);
    Value login_answer(const std::string& refusal) const;
    std::string refusal() const;  // why the server will not serve this device now, or ""
    void forget_users(const std::vector<std::string>& users, const char* why);
    void set_error(const std::string& error);
    void answer_edit_waiters(const std::string& why);

    void request(RequestId id, const Value& body);
    Value cmd_status();
    std::optional<Value> cmd_login(RequestId id, const Value& body);
    Value cmd_logout();
    Value cmd_show(const Value& body);
    std::optional<Value> cmd_edit(RequestId request, const Value& body);
    Value cmd_sync(const Value& body);
    Value cmd_export();
    Value cmd_import(const Value& body);
    Document view_of(const DocKey& key);
    Document view_of_entries(const DocKey& key, const std::set<std::string>& ids);
    bool synced(Category c) const { return syncs_.contains(c); }

    ClientStore& store_;
    UserKeyRing keys_;  // the device's box key pair and its users' keys (after store_)
    Topics topics_;
    ClientSettings settings_;
    CoreEnv env_;
    std::size_t brokers_;
    Output out_;
    TimePoint now_;

    bool sync_enabled_ = true;  // the client function is enabled (persisted)
    bool connected_ = false;
    bool joined_ = false;
    bool ever_joined_ = false;
    JoinState join_state_ = JoinState::connecting;
    std::string last_error_;
    std::string refused_because_;  // the last join refusal, while refused
    CategorySet syncs_;
    std::string epoch_;
    TimePoint next_hello_{};
    std::chrono::milliseconds hello_backoff_;
    int join_attempts_ = 0;

    std::map<uint64_t, TimePoint> inflight_;
    // Users whose login event this connection has sent, and when.
    std::map<std::string, TimePoint> announced_;
    uint64_t next_send_seq_ = 0;
    std::optional<LoginState> login_;
    std::vector<Waiter> login_waiters_;
    std::map<uint64_t, Waiter> edit_waiters_;
    Value server_status_ = Value::object();         // this broker's retained server/status
    std::optional<TimePoint> server_absent_since_;  // connected, no online server
    bool merging_ = false;                          // a first merge has documents left to register
    std::size_t merged_ = 0;                        // registered so far in this first merge
    Value shown_state_;                             // the last "state" event
};

}  // namespace pdsync::client
