// Raw MQTT baselines on the same broker (see raw_baselines.hpp).
#include "tests/bench/raw_baselines.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"
#include "shared/net/mqtt_link.hpp"

namespace pdsync::bench {
namespace {

constexpr auto kWait = std::chrono::seconds(30);  // any single baseline step

// A plain MQTT connection that counts what it receives and wakes whoever waits. An
// optional tap sees every message on Paho's thread (it must not block).
class RawEndpoint {
  public:
    using Tap = std::function<void(const net::Received&)>;

    explicit RawEndpoint(const std::string& uri, Tap tap = {}) : tap_(std::move(tap)) {
        net::MqttSettings s;
        s.servers = {uri};
        s.client_id = "bench-raw-" + random_hex(6);
        net::MqttLink::Handlers h;
        h.on_message = [this](net::Received m) { on_message(m); };
        link_ = std::make_unique<net::MqttLink>(std::move(s), std::move(h));
        link_->start();
        if (!link_->wait_connected(std::chrono::seconds(10)))
            throw std::runtime_error("baseline client could not connect");
    }
    ~RawEndpoint() { link_->stop(std::chrono::milliseconds(0)); }

    net::MqttLink& link() { return *link_; }

    std::size_t count() {
        std::lock_guard lock(mu_);
        return count_;
    }
    // Waits until `n` messages arrived in all; returns the arrival of the n-th.
    Clock::time_point wait_count(std::size_t n) {
        std::unique_lock lock(mu_);
        if (!cv_.wait_for(lock, kWait, [&] { return count_ >= n; }))
            throw std::runtime_error("baseline: messages did not arrive within 30 s");
        return last_;
    }
    void publish(const std::string& topic, const std::string& payload, bool retained) {
        if (auto st = link_->publish(topic, payload, retained); !st)
            throw std::runtime_error("baseline publish: " + st.error().message);
    }
    // A subscription is in place once the broker delivers a retained marker through it
    // (the marker stays retained: nothing else reads these topics).
    void subscribe_confirmed(const std::string& topic) {
        std::string marker = topic + "/ready-" + random_hex(4);
        publish(marker, "x", true);
        link_->flush(kWait);
        std::size_t before = count();
        link_->subscribe({topic, marker});
        wait_count(before + 1);
    }

  private:
    void on_message(const net::Received& m) {
        auto at = Clock::now();
        if (tap_) tap_(m);
        {
            std::lock_guard lock(mu_);
            ++count_;
            last_ = at;
        }
        cv_.notify_all();
    }

    Tap tap_;
    std::unique_ptr<net::MqttLink> link_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::size_t count_ = 0;
    Clock::time_point last_;
};

std::string fresh_topic(const char* what) {
    return std::string("bench/raw/") + what + "/" + random_hex(4);
}

// Receives on one topic and republishes a fixed payload from its own thread, the way the
// server hands messages from Paho's thread to its worker.
class Relay {
  public:
    Relay(const std::string& uri, std::string in, std::string out, std::string payload)
        : in_(std::move(in)),
          out_(std::move(out)),
          payload_(std::move(payload)),
          endpoint_(uri, [this](const net::Received& m) {
              if (m.topic == in_) wake();
          }) {
        endpoint_.subscribe_confirmed(in_);
        worker_ = std::thread([this] { run(); });
    }
    ~Relay() {
        {
            std::lock_guard lock(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        worker_.join();
    }

  private:
    void wake() {
        {
            std::lock_guard lock(mu_);
            ++pending_;
        }
        cv_.notify_one();
    }
    void run() {
        std::unique_lock lock(mu_);
        while (true) {
            cv_.wait(lock, [&] { return stopping_ || pending_ > 0; });
            if (stopping_) return;
            --pending_;
            lock.unlock();
            endpoint_.publish(out_, payload_, true);
            lock.lock();
        }
    }

    std::string in_;
    std::string out_;
    std::string payload_;
    RawEndpoint endpoint_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::size_t pending_ = 0;
    bool stopping_ = false;
    std::thread worker_;
};

}  // namespace

Samples publish_deliver(const std::string& uri, const std::string& payload, std::size_t n) {
    std::string topic = fresh_topic("deliver");
    RawEndpoint sub(uri);
    RawEndpoint pub(uri);
    sub.subscribe_confirmed(topic);
    Samples samples;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t before = sub.count();
        auto t0 = Clock::now();
        pub.publish(topic, payload, false);
        samples.add(ms_between(t0, sub.wait_count(before + 1)));
    }
    return samples;
}

Samples subscribe_retained(const std::string& uri, const std::vector<std::string>& filters,
                           std::size_t expected) {
    RawEndpoint probe(uri);
    Samples samples;
    for (const auto& filter : filters) {
        std::size_t before = probe.count();
        auto t0 = Clock::now();
        probe.link().subscribe({filter});
        samples.add(ms_between(t0, probe.wait_count(before + expected)));
        probe.link().unsubscribe({filter});
    }
    return samples;
}

double qos1_throughput(const std::string& uri, const std::string& payload,
                       std::chrono::milliseconds duration) {
    std::string topic = fresh_topic("throughput");
    RawEndpoint sub(uri);
    RawEndpoint pub(uri);
    sub.subscribe_confirmed(topic);
    std::size_t before = sub.count();
    std::size_t sent = 0;
    auto t0 = Clock::now();
    while (Clock::now() - t0 < duration) {
        pub.publish(topic, payload, false);  // blocks at the receive maximum
        ++sent;
    }
    auto last = sub.wait_count(before + sent);
    return static_cast<double>(sent) / (ms_between(t0, last) / 1000.0);
}

Samples relay_two_hops(const std::string& uri, const std::string& first, const std::string& second,
                       std::size_t n) {
    std::string in = fresh_topic("hop1");
    std::string out = fresh_topic("hop2");
    RawEndpoint b(uri);
    b.subscribe_confirmed(out);
    Relay relay(uri, in, out, second);
    RawEndpoint a(uri);
    Samples samples;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t before = b.count();
        auto t0 = Clock::now();
        a.publish(in, first, false);
        samples.add(ms_between(t0, b.wait_count(before + 1)));
    }
    return samples;
}

double bulk_transfer_ms(const std::string& uri, const std::vector<std::string>& payloads) {
    std::string topic = fresh_topic("bulk");
    RawEndpoint sub(uri);
    RawEndpoint pub(uri);
    sub.subscribe_confirmed(topic);
    std::size_t before = sub.count();
    auto t0 = Clock::now();
    for (const auto& p : payloads) pub.publish(topic, p, false);
    return ms_between(t0, sub.wait_count(before + payloads.size()));
}

double retained_publish_ms(const std::string& uri,
                           const std::vector<std::pair<std::string, std::string>>& messages) {
    RawEndpoint pub(uri);
    auto t0 = Clock::now();
    for (const auto& [topic, payload] : messages) pub.publish(topic, payload, true);
    if (!pub.link().flush(std::chrono::minutes(5)))
        throw std::runtime_error("baseline: retained publishes not acknowledged");
    return ms_between(t0, Clock::now());
}

}  // namespace pdsync::bench
