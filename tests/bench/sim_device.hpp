// A simulated device: one real MQTT v5 connection (pdsync::net::MqttLink) that speaks the
// v1 protocol through the shared codec (hello, presence, login events, change sets) and
// timestamps what it receives. It keeps no store and shows no UI, so a thousand of them fit
// in one process: it is the wire behaviour of a device, not the daemon.
//
//   SimDevice d(broker.uri(), Topics("pds/v1"), "sim-0001");
//   d.start();
//   d.join(deadline);
//   auto ms = d.login("u000001@corp.example", std::chrono::seconds(5));
//
// Ownership and threads: owned by a benchmark phase. Its methods may be called from one
// thread at a time, never from Paho's; the MQTT handler (Paho's thread) only records what
// arrived and wakes the waiter.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shared/messages.hpp"
#include "shared/net/mqtt_link.hpp"
#include "tests/bench/bench_stats.hpp"
#include "topics/topics.hpp"

namespace pdsync::bench {

// The `version` of an encoded pds.doc/1 without building a Value (0 if absent).
uint64_t peek_version(const std::string& payload);

class SimDevice {
  public:
    SimDevice(const std::string& broker_uri, Topics topics, std::string device_id);
    ~SimDevice();
    SimDevice(const SimDevice&) = delete;
    SimDevice& operator=(const SimDevice&) = delete;

    const std::string& id() const { return id_; }
    void start();
    bool wait_connected(Clock::time_point deadline);

    // Publishes retained presence and a hello; join() also waits for the acceptance.
    void send_hello();
    bool wait_joined(Clock::time_point deadline);
    bool join(Clock::time_point deadline);
    std::string refusal();

    // Subscribes to the user's documents (one users/{uid}/+ filter; the daemon subscribes per
    // category, in the same single SUBSCRIBE) and sends the login event; returns the time until
    // the manifest and every listed document at its version had arrived (ms), or nullopt
    // at the deadline.
    std::optional<double> login(const std::string& user, std::chrono::milliseconds timeout);
    void logout();

    // Follows a user's documents without logging in (device B of an edit).
    void watch(const std::string& user);
    // When the document on `topic` reached `version` or more; nullopt at the deadline.
    std::optional<Clock::time_point> wait_document(const std::string& topic, uint64_t version,
                                                   Clock::time_point deadline);
    uint64_t document_version(const std::string& topic);

    // Publishes the next change set (seq 1, 2, ...); returns its seq.
    uint64_t send_changes(const std::string& user, Category category, std::vector<ChangeOp> ops);
    // The ack of `seq` and when it arrived; nullopt at the deadline.
    std::optional<std::pair<AckReply, Clock::time_point>> wait_ack(uint64_t seq,
                                                                   Clock::time_point deadline);
    // Waits until fewer than `window` change sets are unacknowledged.
    bool wait_window(std::size_t window, Clock::time_point deadline);
    uint64_t acked_ok();
    uint64_t acked_failed();
    std::string last_ack_error();
    // Payload bytes received so far: documents (users/ topics) and everything else.
    uint64_t document_bytes_received() const { return document_bytes_.load(); }
    uint64_t bytes_received() const { return bytes_.load(); }

  private:
    struct Login {
        std::string user;
        bool manifest = false;
        std::map<Category, uint64_t> wanted;
        std::map<Category, uint64_t> have;
        std::optional<Clock::time_point> ready_at;
    };
    struct Seen {
        uint64_t version = 0;
        Clock::time_point at;
    };

    void on_message(const net::Received& m);
    void on_reply(const Reply& r, Clock::time_point at);
    void on_document(const ParsedTopic& t, const net::Received& m, Clock::time_point at);
    void check_ready(Clock::time_point at);
    void publish_event(EventKind kind, const std::string& user);

    std::string id_;
    Topics topics_;
    std::string epoch_;
    std::unique_ptr<net::MqttLink> link_;

    std::mutex mu_;
    std::condition_variable cv_;
    bool joined_ = false;
    std::string refusal_;
    std::optional<Login> login_;
    std::map<std::string, Seen> seen_;  // documents on watched topics
    std::map<uint64_t, std::pair<AckReply, Clock::time_point>> acks_;
    uint64_t next_seq_ = 1;
    std::set<std::string> announced_;  // users whose session this device opened (under mu_)
    uint64_t answered_ = 0;
    uint64_t acked_ok_ = 0;
    uint64_t acked_failed_ = 0;
    std::string last_ack_error_;
    std::atomic<uint64_t> document_bytes_{0};
    std::atomic<uint64_t> bytes_{0};
};

}  // namespace pdsync::bench
