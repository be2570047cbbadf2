// The client node: a device's synchronization engine as a process part. It is the thread,
// the local store and the MQTT link around ClientCore, which holds every rule: one worker
// thread owns the core and the store; Paho's thread and the control-socket threads only
// post events to it. The worker hands each event to the core with the time, then carries
// out what the core returns (publish, subscribe, answer, events for watchers).
//
// Ownership and threads: owned by main() (or a test); request() and watch() may be called
// from any thread except Paho's; start()/stop() from the owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include "client-node/client_core.hpp"
#include "client-node/client_store.hpp"
#include "shared/net/mqtt_link.hpp"
#include "topics/topics.hpp"

namespace pdsync::client {

// The events one watcher of the control socket receives, in order. Bounded: a panel that
// stops reading loses events (it is told so by an "overflow" event), never the daemon's
// memory. Thread-safe.
class EventQueue {
  public:
    explicit EventQueue(std::size_t capacity) : capacity_(capacity) {}
    void push(const Value& event);
    // The next event, or nullopt after `timeout` or once closed.
    std::optional<Value> pop(std::chrono::milliseconds timeout);
    void close();

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Value> events_;
    std::size_t capacity_;
    std::size_t dropped_ = 0;
    bool closed_ = false;
};

class ClientNode {
  public:
    ClientNode(std::unique_ptr<ClientStore> store, Topics topics, ClientSettings settings,
               net::MqttSettings mqtt, CoreEnv env = {});
    ~ClientNode();

    void start();
    void stop();

    // A control request (docs/control-protocol.md): {"cmd": "status"|"login"|"logout"|
    // "show"|"edit"|"sync"|"export"|"import", ...}. Blocks until answered; answers
    // {"ok": true, ...} or {"ok": false, "error": reason, "message": text}.
    Value request(const Value& req);

    // Registers a watcher: it receives a "state" event now, then every event the core
    // emits until unwatch() (docs/control-protocol.md, "watch").
    std::shared_ptr<EventQueue> watch();
    void unwatch(const std::shared_ptr<EventQueue>& queue);

  private:
    using Clock = ClientCore::Clock;
    struct Connected {};
    struct Lost {};
    struct Request {
        Value body;
        std::shared_ptr<std::promise<Value>> reply;
    };
    using Event = std::variant<net::Received, Connected, Lost, Request>;

    void post(Event e);
    void worker_loop();
    void handle(Event& e);
    void carry_out(Output out);

    std::unique_ptr<ClientStore> store_;
    std::unique_ptr<ClientCore> core_;
    std::unique_ptr<net::MqttLink> link_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Event> events_;
    bool stopping_ = false;
    std::thread worker_;

    // Worker-thread state.
    RequestId next_request_ = 1;
    std::map<RequestId, std::shared_ptr<std::promise<Value>>> waiting_;

    std::mutex watchers_mu_;
    std::vector<std::shared_ptr<EventQueue>> watchers_;
    Value last_state_;  // the last "state" event, which a new watcher gets first
};

}  // namespace pdsync::client
