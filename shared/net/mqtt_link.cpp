// Paho MQTT v5 binding: connection management, resubscription, the publish window.
#include "shared/net/mqtt_link.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "shared/base/tuning.hpp"

namespace pdsync::net {

// Routes Paho's action callbacks back to the link. One instance per purpose.
class MqttLink::Listener final : public mqtt::iaction_listener {
  public:
    enum class Kind { publish, connect };
    Listener(MqttLink& link, Kind kind) : link_(link), kind_(kind) {}

    void on_success(const mqtt::token& tok) override {
        if (kind_ == Kind::publish) {
            link_.release_inflight();
        } else {
            // Which broker of the list took the connection; connected_handler does the rest.
            std::string uri = tok.get_connect_response().get_server_uri();
            std::lock_guard lock(link_.mu_);
            if (!uri.empty()) link_.current_server_ = uri;
        }
    }

    void on_failure(const mqtt::token& tok) override {
        if (kind_ == Kind::publish) {
            spdlog::warn("mqtt client={} publish failed (reason code {})",
                         link_.settings_.client_id, static_cast<int>(tok.get_reason_code()));
            link_.release_inflight();
            return;
        }
        {
            std::lock_guard lock(link_.mu_);
            link_.connecting_ = false;
        }
        spdlog::warn("mqtt client={} connect failed (return code {}, reason code {})",
                     link_.settings_.client_id, tok.get_return_code(),
                     static_cast<int>(tok.get_reason_code()));
        link_.cv_.notify_all();
        link_.state_cv_.notify_all();
    }

  private:
    MqttLink& link_;
    Kind kind_;
};

namespace {

// Paho C 1.3.12 (Debian 12) never sets TCP_NODELAY and has no option for it (upstream
// eclipse-paho/paho.mqtt.c#530). With Nagle on, each small MQTT packet written while an
// earlier one is unacknowledged waits for the peer's delayed ACK: ~40 ms per login or
// edit round trip instead of ~0.3 ms. Paho does not expose its socket, so after every
// connect we set TCP_NODELAY on every TCP socket of the process; in pdsync's processes
// those are all MQTT connections, and the option is harmless on any other TCP socket.
void disable_nagle_on_tcp_sockets() {
    rlimit lim{};
    int max_fd = getrlimit(RLIMIT_NOFILE, &lim) == 0
                     ? static_cast<int>(std::min<rlim_t>(lim.rlim_cur, 65536))
                     : 1024;
    for (int fd = 0; fd < max_fd; ++fd) {
        int domain = 0;
        int type = 0;
        socklen_t len = sizeof domain;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) continue;
        if (domain != AF_INET && domain != AF_INET6) continue;
        len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

}  // namespace

// Paho C 1.3.12 (Debian 12) tears its global state down when its last client is destroyed
// (MQTTAsync_terminate frees the trace buffer), while its own threads may still log on
// their way out; a log line then allocates the buffer again (Log_pretrace), and the next
// client's creation overwrites the pointer (Log_initialize): 124,800 bytes lost each
// time a process destroys its last client and makes another. LeakSanitizer found it in
// the tests, which do that all the time; a daemon that swaps its node (device enable,
// disable) does it too. One client made here and never destroyed keeps the state up. It
// is never connected, so it starts no thread and opens no socket.
void keep_paho_initialized() {
    static const MQTTAsync keeper = [] {
        MQTTAsync handle = nullptr;
        MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer5;
        if (MQTTAsync_createWithOptions(&handle, "tcp://127.0.0.1:1", "pdsync-paho-keeper",
                                        MQTTCLIENT_PERSISTENCE_NONE, nullptr,
                                        &opts) != MQTTASYNC_SUCCESS)
            spdlog::warn("mqtt: Paho's keeper client was not created");
        return handle;
    }();
    (void)keeper;
}

MqttLink::MqttLink(MqttSettings settings, Handlers handlers)
    : settings_(std::move(settings)),
      handlers_(std::move(handlers)),
      backoff_(tuning::mqtt::kReconnectMin) {
    keep_paho_initialized();
    auto opts = mqtt::create_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .max_buffered_messages(tuning::mqtt::kMaxBufferedMessages)
                    .send_while_disconnected(false)
                    .finalize();
    client_ =
        std::make_unique<mqtt::async_client>(settings_.servers.at(0), settings_.client_id, opts);
    publish_listener_ = std::make_unique<Listener>(*this, Listener::Kind::publish);
    connect_listener_ = std::make_unique<Listener>(*this, Listener::Kind::connect);
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
        std::lock_guard gate(handler_mu_);
        if (closed_ || !handlers_.on_message) return;
        handlers_.on_message(Received{m->get_topic(), m->get_payload_str(), m->is_retained()});
    });
    client_->set_connected_handler([this](const std::string&) { on_connected_event(); });
    client_->set_connection_lost_handler(
        [this](const std::string& cause) { on_lost_event(cause); });
    client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode rc) {
        on_lost_event("disconnected by the broker, reason code " +
                      std::to_string(static_cast<int>(rc)));
    });
}

MqttLink::~MqttLink() {
    stop(std::chrono::milliseconds(0));
    // Paho fails the tokens still pending when its client is destroyed, calling their
    // listeners on its own thread (and a connection-lost handler may still be running):
    // destroy it first, while the listeners and the state they touch are alive. Members
    // would otherwise go in reverse order: the listeners and mu_ before the client.
    client_.reset();
}

void MqttLink::start() {
    {
        std::lock_guard gate(handler_mu_);
        closed_ = false;
    }
    std::lock_guard lock(mu_);
    if (connector_.joinable()) return;
    stopping_ = false;
    connector_ = std::thread([this] { connector_loop(); });
}

void MqttLink::stop(std::chrono::milliseconds drain) {
    {
        std::lock_guard lock(mu_);
        if (!connector_.joinable()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    state_cv_.notify_all();
    connector_.join();
    {
        // From here on the node's handlers are not called: the node may be going away.
        // Waits for a handler running on Paho's thread to return.
        std::lock_guard gate(handler_mu_);
        closed_ = true;
    }
    if (drain.count() > 0) flush(drain);
    disconnect_now();
    // The connector may have left a connect attempt in flight (the broker just went away
    // and a reconnect is under way). A refused one ends within milliseconds; one to a
    // broker that hangs is not waited out: if it fails later, its listener touches only
    // this link (alive until the destructor has destroyed the Paho client), and if it
    // succeeds later, on_connected_event() disconnects it at once.
    {
        std::unique_lock lock(mu_);
        if (!state_cv_.wait_for(lock, tuning::mqtt::kStopConnectWait, [&] { return !connecting_; }))
            spdlog::debug("mqtt client={} stop: leaving a connect attempt in flight",
                          settings_.client_id);
    }
    disconnect_now();  // in case that attempt connected meanwhile
    connected_ = false;
}

void MqttLink::disconnect_now() {
    try {
        if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const std::exception& e) {
        spdlog::debug("mqtt client={} disconnect: {}", settings_.client_id, e.what());
    }
}

void MqttLink::connector_loop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        if (!connected_ && !connecting_) {
            auto builder = mqtt::connect_options_builder()
                               .mqtt_version(MQTTVERSION_5)
                               .clean_start(true)
                               .keep_alive_interval(settings_.keep_alive)
                               .connect_timeout(tuning::mqtt::kConnectTimeout)
                               .automatic_reconnect(false)
                               .max_inflight(tuning::mqtt::kMaxInflightPublishes);
            builder.servers(std::make_shared<mqtt::string_collection>(settings_.servers));
            if (!settings_.username.empty()) builder.user_name(settings_.username);
            if (!settings_.password.empty()) builder.password(settings_.password);
            if (!settings_.ca_file.empty()) {
                auto ssl = mqtt::ssl_options_builder().trust_store(settings_.ca_file).verify(true);
                if (!settings_.cert_file.empty()) ssl.key_store(settings_.cert_file);
                if (!settings_.key_file.empty()) ssl.private_key(settings_.key_file);
                builder.ssl(ssl.finalize());
            }
            if (settings_.will) {
                mqtt::message will(settings_.will->topic, settings_.will->payload, 1,
                                   settings_.will->retained);
                builder.will(std::move(will));
            }
            connecting_ = true;
            auto opts = builder.finalize();
            lock.unlock();
            try {
                client_->connect(opts, nullptr, *connect_listener_);
            } catch (const std::exception& e) {
                spdlog::warn("mqtt client={} connect: {}", settings_.client_id, e.what());
                lock.lock();
                connecting_ = false;
                lock.unlock();
            }
            lock.lock();
        }
        const bool was_connected = connected_;
        auto wait = was_connected ? std::chrono::milliseconds(1000) : backoff_;
        // A lost connection ends the wait at once: reconnecting (to the next broker of the
        // list, if this one is gone) then waits only the shortest back-off, not the rest
        // of the poll interval.
        state_cv_.wait_for(lock, wait, [&] { return stopping_ || (was_connected && !connected_); });
        if (was_connected && !connected_)
            state_cv_.wait_for(lock, tuning::mqtt::kReconnectMin, [&] { return stopping_; });
        if (!connected_ && !connecting_)
            backoff_ =
                std::min(backoff_ * 2, std::chrono::milliseconds(tuning::mqtt::kReconnectMax));
    }
}

void MqttLink::on_connected_event() {
    disable_nagle_on_tcp_sockets();
    std::vector<std::string> filters;
    {
        std::lock_guard lock(mu_);
        connected_ = true;
        connecting_ = false;
        backoff_ = tuning::mqtt::kReconnectMin;
        inflight_ = 0;
        filters.assign(subscriptions_.begin(), subscriptions_.end());
    }
    spdlog::info("mqtt client={} connected to {}", settings_.client_id, current_server());
    std::lock_guard gate(handler_mu_);
    if (closed_) {
        // Connected after stop() began: the node hears nothing, and the session goes at
        // once (a disconnect we ask for raises no connection-lost callback).
        {
            std::lock_guard lock(mu_);
            connected_ = false;
        }
        try {
            client_->disconnect();
        } catch (const std::exception& e) {
            spdlog::debug("mqtt client={} disconnect: {}", settings_.client_id, e.what());
        }
        state_cv_.notify_all();
        return;
    }
    // A clean start forgets subscriptions: subscribe again before telling the node.
    if (!filters.empty()) {
        try {
            client_->subscribe(std::make_shared<mqtt::string_collection>(filters),
                               std::vector<int>(filters.size(), 1));
        } catch (const std::exception& e) {
            spdlog::warn("mqtt client={} resubscribe: {}", settings_.client_id, e.what());
        }
    }
    cv_.notify_all();
    state_cv_.notify_all();
    if (handlers_.on_connected) handlers_.on_connected();
}

void MqttLink::on_lost_event(const std::string& cause) {
    {
        std::lock_guard lock(mu_);
        if (!connected_) return;
        connected_ = false;
        connecting_ = false;
        ++generation_;
        inflight_ = 0;  // Paho drops in-flight QoS 1 messages of a clean session
    }
    spdlog::warn("mqtt client={} connection lost: {}", settings_.client_id,
                 cause.empty() ? "(no reason)" : cause);
    cv_.notify_all();
    state_cv_.notify_all();
    std::lock_guard gate(handler_mu_);
    if (!closed_ && handlers_.on_lost) handlers_.on_lost(cause);
}

void MqttLink::release_inflight() {
    {
        std::lock_guard lock(mu_);
        if (inflight_ > 0) --inflight_;
    }
    cv_.notify_all();
}

bool MqttLink::wait_connected(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return connected_.load() || stopping_; }) &&
           connected_;
}

Status MqttLink::publish(const std::string& topic, const std::string& payload, bool retained) {
    {
        std::unique_lock lock(mu_);
        bool room = cv_.wait_for(lock, std::chrono::seconds(30), [&] {
            return !connected_ || stopping_ || inflight_ < tuning::mqtt::kMaxInflightPublishes;
        });
        if (!connected_) return make_error(Errc::io, "not connected to the broker");
        if (!room)
            return make_error(Errc::timeout, "the broker did not acknowledge publishes for 30 s");
        ++inflight_;
    }
    try {
        auto msg = mqtt::make_message(topic, payload, 1, retained);
        if (!payload.empty()) {
            mqtt::properties props;
            props.add(
                mqtt::property(mqtt::property::CONTENT_TYPE, std::string("application/msgpack")));
            msg->set_properties(props);
        }
        client_->publish(msg, nullptr, *publish_listener_);
    } catch (const mqtt::exception& e) {
        release_inflight();
        return make_error(Errc::io, std::string("publish to '") + topic + "': " + e.what());
    }
    return Ok{};
}

bool MqttLink::flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return inflight_ == 0 || !connected_; }) &&
           inflight_ == 0;
}

void MqttLink::subscribe(const std::vector<std::string>& filters, bool send_retained) {
    {
        std::lock_guard lock(mu_);
        subscriptions_.insert(filters.begin(), filters.end());
    }
    if (!connected_ || filters.empty()) return;
    try {
        if (send_retained) {
            client_->subscribe(std::make_shared<mqtt::string_collection>(filters),
                               std::vector<int>(filters.size(), 1));
            return;
        }
        // One SUBSCRIBE per filter: Paho C++ 1.2 loses the options list of a many-topic
        // subscribe when it copies its response options, and Paho C then reads a null list
        // (eclipse-paho/paho.mqtt.cpp#524); a single topic carries its options by value.
        mqtt::subscribe_options opts(false, false, mqtt::subscribe_options::DONT_SEND_RETAINED);
        for (const auto& f : filters) client_->subscribe(f, 1, opts);
    } catch (const std::exception& e) {
        spdlog::warn("mqtt client={} subscribe: {}", settings_.client_id, e.what());
    }
}

void MqttLink::unsubscribe(const std::vector<std::string>& filters) {
    {
        std::lock_guard lock(mu_);
        for (const auto& f : filters) subscriptions_.erase(f);
    }
    if (!connected_ || filters.empty()) return;
    try {
        client_->unsubscribe(std::make_shared<mqtt::string_collection>(filters));
    } catch (const std::exception& e) {
        spdlog::warn("mqtt client={} unsubscribe: {}", settings_.client_id, e.what());
    }
}

std::string MqttLink::current_server() const {
    {
        std::lock_guard lock(mu_);
        if (!current_server_.empty()) return current_server_;
    }
    try {
        return client_->get_server_uri();
    } catch (...) {
        return settings_.servers.empty() ? "" : settings_.servers.front();
    }
}

void MqttLink::move_to_next_server(const std::string& why) {
    std::string from;
    {
        std::lock_guard lock(mu_);
        if (!connected_ || settings_.servers.size() < 2) return;
        from = current_server_.empty() ? settings_.servers.front() : current_server_;
        auto it = std::find(settings_.servers.begin(), settings_.servers.end(), from);
        if (it == settings_.servers.end()) it = settings_.servers.begin();
        // The broker after the current one is tried first; the current one last.
        std::rotate(settings_.servers.begin(), it + 1, settings_.servers.end());
    }
    spdlog::warn("mqtt client={} leaving {}: {}; trying {} next", settings_.client_id, from, why,
                 settings_.servers.front());
    try {
        client_->disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const std::exception& e) {
        spdlog::debug("mqtt client={} disconnect: {}", settings_.client_id, e.what());
    }
    // A disconnect we asked for raises no connection-lost callback: report it ourselves.
    on_lost_event("left " + from + ": " + why);
}

}  // namespace pdsync::net
