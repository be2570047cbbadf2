// The primary's side of replication. After every commit (ServerCore's commit observer) it
// reads the rows the commit touched and publishes them as one commit frame (frame.hpp); on
// a standby's request it publishes a snapshot of the whole store; while a standby is heard
// from it sends heartbeats. It also gates the primary's acks: while a standby is attached,
// an inbox reply waits until the standby reports that it holds the reply's commit, so an
// acknowledged change survives the loss of the primary (docs/protocol.md §7). A standby that does
// not confirm within `ack_wait` is detached and replies go out without it; the status
// (status()) shows its lag.
//
//   ReplicationPublisher pub(store, topics, {"pdsync-server"}, publish, wake);
//   core.set_commit_observer([&](const CommitRecord& r) { pub.on_commit(r); });
//   publish_all(pub.gate(core.handle_batch(batch)));   // on the worker
//   publish_all(pub.poll());                           // whenever the worker wakes
//
// Ownership and threads: owned by ServerNode. handles() and on_message() may be called from
// any thread (Paho's); everything else only from the server's worker thread, which also
// owns the store.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server-node/replication/frame.hpp"
#include "server-node/server_core.hpp"
#include "shared/base/tuning.hpp"
#include "topics/topics.hpp"

namespace pdsync::server::replication {

struct PublisherSettings {
    std::string server_id;
    // How long an inbox reply waits for an attached standby's confirmation; zero: replies
    // never wait (asynchronous replication: a failover may lose the last acked changes).
    std::chrono::milliseconds ack_wait = tuning::replication::kDefaultAckWait;
};

class ReplicationPublisher {
  public:
    using Clock = std::chrono::steady_clock;
    // Publishes one message through the node's link (worker thread).
    using Publish = std::function<void(const Outbound&)>;
    // Wakes the worker so it calls poll() (any thread, must not block).
    using Wake = std::function<void()>;

    ReplicationPublisher(ServerStore& store, Topics topics, PublisherSettings settings,
                         Publish publish, Wake wake);

    // The topics the node subscribes to for its standbys' requests and reports.
    static std::vector<std::string> filters(const Topics& topics);
    // Whether a received message is for replication (any thread).
    bool handles(const std::string& topic) const;
    // A standby's request or report (Paho's thread): noted, and the worker woken.
    void on_message(const std::string& topic, const std::string& payload);

    // ---- Worker thread -------------------------------------------------------------------
    // ServerCore's commit observer: publishes the commit's frame(s) if a standby listens.
    void on_commit(const CommitRecord& record);
    // What of `out` (a commit's publications) may go now; inbox replies wait for an
    // attached standby's confirmation, in order.
    [[nodiscard]] std::vector<Outbound> gate(std::vector<Outbound> out);
    // Takes in standby reports, serves snapshot requests, sends heartbeats, and returns the
    // held replies that may go now.
    [[nodiscard]] std::vector<Outbound> poll();
    // When poll() has something to do next, without any message arriving.
    Clock::time_point next_poll() const;
    // True once after the replica summary in status() changed in a way worth publishing.
    bool take_status_changed();
    // {"connected", "attached", "standby_id", "seq", "applied", "lag": {"records", "ms"}, ...}
    Value status() const;

  private:
    struct Standby {
        std::string stream;  // the stream it reported following
        uint64_t applied = 0;
        Clock::time_point heard;
        bool connected = false;  // heard from within tuning::replication::kStandbyAlive
        bool attached = false;   // caught up once since it connected: acks wait for it
    };
    struct Held {
        Outbound message;
        uint64_t seq;  // the commit it acknowledges (or a later one)
        Clock::time_point since;
    };
    bool any_listening(Clock::time_point now) const;
    uint64_t confirmed() const;  // highest commit an attached standby holds
    bool any_attached() const;
    void take_reports(Clock::time_point now);
    void release(Clock::time_point now, std::vector<Outbound>& out);
    void publish_frame(const Frame& frame);
    void send_snapshot();
    Frame header(FrameKind kind) const;

    ServerStore& store_;
    Topics topics_;
    PublisherSettings settings_;
    Publish publish_;
    Wake wake_;
    const std::string stream_;

    const std::string request_topic_;
    const std::string ack_topic_;

    mutable std::mutex mu_;  // guards the two fields below (filled on Paho's thread)
    std::vector<StandbyReport> reports_;
    bool snapshot_requested_ = false;

    uint64_t seq_ = 0;  // last commit of this stream
    int64_t at_ = 0;    // its primary-clock time
    std::map<std::string, Standby> standbys_;
    std::deque<Held> held_;
    std::deque<std::pair<uint64_t, Clock::time_point>> commit_times_;
    // Device id -> (epoch, last_seq) as last replicated, to send only new applied results.
    std::map<std::string, std::pair<std::string, uint64_t>> devices_;
    Clock::time_point next_heartbeat_;
    bool status_changed_ = false;
};

}  // namespace pdsync::server::replication
