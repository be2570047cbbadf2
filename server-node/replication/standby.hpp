// The standby's side of replication: it connects to the primary's broker as the server
// account under its own client id, asks for a snapshot, then applies every commit frame
// to its own store, one transaction per commit, in order. A gap in the sequence, a new
// primary stream or a broken snapshot makes it ask for a snapshot again. It reports the
// commit it holds to the primary (whose acks wait for it) and keeps its lag for status.
// It never subscribes to device topics and never publishes anything but its reports.
//
//   Standby standby(store, Topics("pds/v1"), {"pdsync-server", primary_mqtt});
//   standby.start();
//   ... standby.status()["lag"]["records"] ...
//   standby.stop();  // promotion: the store is the node's again
//
// Ownership and threads: owned by ServerNode. It applies frames on its own thread, which
// owns the store from start() until stop() returns; status() may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "server-node/replication/frame.hpp"
#include "server-node/server_store.hpp"
#include "shared/codec.hpp"
#include "shared/net/mqtt_link.hpp"
#include "topics/topics.hpp"

namespace pdsync::server::replication {

struct StandbySettings {
    std::string server_id;      // this server; it reports to the primary under this name
    net::MqttSettings primary;  // the primary's broker(s), the server account, a distinct client id
};

class Standby {
  public:
    using Clock = std::chrono::steady_clock;

    Standby(ServerStore& store, Topics topics, StandbySettings settings);
    ~Standby();
    Standby(const Standby&) = delete;
    Standby& operator=(const Standby&) = delete;

    void start();
    // Stops replicating: a commit or snapshot half received is rolled back, the connection
    // to the primary's broker is closed. Afterwards the store is not touched again.
    void stop();

    // {"role": "standby", "state", "primary", "connected", "stream", "applied_seq",
    //  "primary_seq", "lag": {"records", "ms"}, ...}; any thread.
    Value status() const;

  private:
    struct Event {
        enum class Kind { connected, lost, message } kind;
        std::string payload;
    };
    // What status() shows; written by the apply thread under mu_.
    struct Shown {
        // connecting, waiting_snapshot, snapshot, streaming or disconnected
        std::string state = "connecting";
        bool stopped = false;  // replication ended (promotion)
        bool in_sync = false;  // holds every commit the primary was last heard to have made
        bool connected = false;
        std::string primary_id;
        std::string stream;
        uint64_t applied = 0;
        uint64_t primary_seq = 0;
        int64_t last_applied_at = 0;  // primary clock of the last commit applied
        std::optional<Clock::time_point> heard;
        std::optional<Clock::time_point> behind_since;
        uint64_t snapshots = 0;
        uint64_t commits = 0;
        uint64_t resyncs = 0;
    };

    void run();
    void push(Event e);
    void on_frame(const Frame& f);
    void on_snapshot_frame(const Frame& f);
    void on_commit_frame(const Frame& f);
    void apply_rows(const Rows& rows);
    void abort_partial();
    void resync(const std::string& why);
    void send_report(bool request_snapshot);
    void tick(Clock::time_point now);
    void show();

    ServerStore& store_;
    Topics topics_;
    StandbySettings settings_;
    std::unique_ptr<net::MqttLink> link_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Event> events_;
    bool stopping_ = false;
    Shown shown_;
    std::thread thread_;

    // Apply thread only.
    bool connected_ = false;
    bool need_snapshot_ = true;
    std::string stream_;
    std::string primary_id_;
    uint64_t applied_ = 0;
    uint64_t primary_seq_ = 0;
    int64_t last_applied_at_ = 0;
    std::unique_ptr<StoreTransaction> txn_;  // a commit or snapshot whose parts are arriving
    FrameKind partial_kind_ = FrameKind::commit;
    uint64_t partial_seq_ = 0;
    std::string partial_stream_;
    uint32_t next_part_ = 0;
    Clock::time_point partial_since_;
    std::optional<Clock::time_point> requested_at_;
    Clock::time_point next_report_;
    std::optional<Clock::time_point> heard_;
    uint64_t snapshots_ = 0;
    uint64_t commits_ = 0;
    uint64_t resyncs_ = 0;
};

}  // namespace pdsync::server::replication
