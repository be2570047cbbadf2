// The one place pdsync talks to Paho: an MQTT v5 connection that (re)connects by itself
// across an ordered list of brokers, resubscribes after every reconnect, keeps QoS 1
// publishes within the broker's receive maximum, and hands received messages to a
// handler. The protocol core in shared/ never sees this; only the nodes do.
//
// Ownership and threads: owned by a node. Handlers run on Paho's network thread and must
// not block. publish() and flush() may block, so they must never be called from a handler;
// subscribe()/unsubscribe() never block and are safe anywhere.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "shared/base/result.hpp"

namespace mqtt {
class async_client;
}

namespace pdsync::net {

struct MqttSettings {
    std::vector<std::string> servers;  // tried in order: "mqtt://127.0.0.1:1883", "mqtts://..."
    std::string client_id;
    std::string username;
    std::string password;
    std::string ca_file;    // TLS: the fleet CA
    std::string cert_file;  // TLS client certificate (optional)
    std::string key_file;
    struct Will {
        std::string topic;
        std::string payload;
        bool retained = true;
    };
    std::optional<Will> will;
    // Keep-alive: how soon the broker notices a dead connection and publishes the will.
    std::chrono::seconds keep_alive = std::chrono::seconds(10);
};

struct Received {
    std::string topic;
    std::string payload;
    bool retained = false;
};

// Keeps Paho C's global state up for the life of the process (see mqtt_link.cpp); every
// MqttLink calls it, and so must code that makes a Paho client of its own.
void keep_paho_initialized();

class MqttLink {
  public:
    struct Handlers {
        std::function<void(Received)> on_message;
        std::function<void()> on_connected;               // after resubscribing
        std::function<void(const std::string&)> on_lost;  // reason
    };

    MqttLink(MqttSettings settings, Handlers handlers);
    ~MqttLink();
    MqttLink(const MqttLink&) = delete;
    MqttLink& operator=(const MqttLink&) = delete;

    // Starts connecting in the background; reconnects with back-off until stop().
    void start();
    // Publishes any last messages (up to `drain`), then disconnects.
    void stop(std::chrono::milliseconds drain = std::chrono::milliseconds(2000));

    bool connected() const { return connected_.load(); }
    // Waits until connected or the deadline passes.
    bool wait_connected(std::chrono::milliseconds timeout);

    // QoS 1 publish. Blocks while kMaxInflightPublishes are unacknowledged. Errc::io when
    // not connected or the broker refused it (e.g. reason 0x87, not authorized).
    [[nodiscard]] Status publish(const std::string& topic, const std::string& payload,
                                 bool retained);
    // Waits until every publish so far is acknowledged (or the connection dropped).
    bool flush(std::chrono::milliseconds timeout);

    // Adds filters to the subscription set (kept across reconnects) and subscribes now if
    // connected. With `send_retained` false this SUBSCRIBE asks for MQTT v5 Retain
    // Handling 2: only messages published from now on (a device whose cache holds the
    // current documents); the resubscription after a reconnect always takes the retained
    // messages, since what changed meanwhile is only there.
    void subscribe(const std::vector<std::string>& filters, bool send_retained = true);
    void unsubscribe(const std::vector<std::string>& filters);

    const std::string& client_id() const { return settings_.client_id; }
    // The broker of the current (or last) connection.
    std::string current_server() const;
    std::size_t server_count() const { return settings_.servers.size(); }
    // Leaves the current broker for the next one of the list (the current one goes last)
    // and reconnects there: what a device does when its broker has no live server.
    // Blocks up to 2 s for the disconnect; never call it from a handler.
    void move_to_next_server(const std::string& why);

  private:
    class Listener;
    void connector_loop();
    void disconnect_now();  // if connected: DISCONNECT, waiting up to 2 s
    void on_connected_event();
    void on_lost_event(const std::string& cause);
    void release_inflight();

    MqttSettings settings_;  // servers: the order connect() tries them in
    Handlers handlers_;
    std::string current_server_;  // guarded by mu_
    std::unique_ptr<mqtt::async_client> client_;
    std::unique_ptr<Listener> publish_listener_;
    std::unique_ptr<Listener> connect_listener_;

    // Held while a node's handler runs; closed_ (set by stop()) keeps them from running
    // once the node may be tearing down. Never held together with mu_ in that order:
    // handlers take it first, then may take mu_; stop() takes it alone.
    std::mutex handler_mu_;
    bool closed_ = false;  // guarded by handler_mu_

    mutable std::mutex mu_;
    // Two condition variables, because a PUBACK arrives for every publish: cv_ wakes
    // publishers waiting for room or a flush, state_cv_ the connector thread, which must
    // not be woken thousands of times a second for nothing.
    std::condition_variable cv_;
    std::condition_variable state_cv_;
    std::set<std::string> subscriptions_;
    int inflight_ = 0;
    uint64_t generation_ = 0;  // bumped on each connection loss; stale acks are ignored
    bool connecting_ = false;
    bool stopping_ = false;
    std::chrono::milliseconds backoff_;
    std::atomic<bool> connected_{false};
    std::thread connector_;
};

}  // namespace pdsync::net
