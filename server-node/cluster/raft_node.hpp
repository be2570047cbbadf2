// One member of a raft cluster: Canonical's libraft with its libuv backend (log, snapshots,
// TCP transport), run on a thread of its own. Other threads never touch raft: they post
// work to the raft thread through a queue and a uv_async_t, and get the outcome back
// through a future, so nothing ever blocks raft's loop but its own I/O and the state
// machine's SQLite writes.
//
// Leadership: the raft thread looks at raft's state every tuning::kStatePoll. On becoming
// leader it appends a barrier (every entry of earlier terms is then applied) and only then
// calls on_leader(term), when the server may build its core from the store and serve; on
// losing leadership it calls on_follower() at once. Both callbacks run on the raft thread
// and must not block.
//
// Transport: libraft's TCP transport behind AuthTransport (auth_transport.hpp), so only
// peers that prove they hold the cluster secret reach raft.
//
// Ownership and threads: owned by ClusterNode; every public function may be called from any
// thread but the raft thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server-node/cluster/cluster_settings.hpp"
#include "server-node/cluster/store_fsm.hpp"
#include "shared/base/result.hpp"
#include "shared/codec.hpp"

namespace pdsync::server::cluster {

struct Committed {
    uint64_t term = 0;
    uint64_t index = 0;
};

class RaftNode {
  public:
    struct Events {
        std::function<void(uint64_t term)> on_leader;
        std::function<void()> on_follower;
        std::function<void()> on_status;  // who leads, or the term, changed
    };
    RaftNode(ClusterSettings settings, StoreFsm& fsm, Events events);
    ~RaftNode();
    RaftNode(const RaftNode&) = delete;
    RaftNode& operator=(const RaftNode&) = delete;

    // Starts the raft thread. A pristine directory is bootstrapped with the peers if any;
    // with none (and no --cluster-join) raft waits for init().
    Status start();
    void stop();

    // Appends `entry` if this member leads and serves; the future is set once the entry is
    // committed and applied here, or with the reason it will not be.
    std::future<Result<Committed>> propose(std::string entry);

    // The leader stops serving and serves again after a new barrier (on_leader again).
    void serve_again();

    // Administration, each answered as an admin reply ({"ok": ...}).
    std::future<Value> init(std::string seed_image);  // a one-voter cluster of this server
    std::future<Value> add(Member member);
    std::future<Value> remove(uint64_t id);
    std::future<Value> transfer(uint64_t id);  // 0: any voter
    // This member alone becomes the cluster's only voter (raft_recover), keeping its log:
    // for a standby whose voters are gone. Acked changes it never received are lost.
    std::future<Value> force_sole_voter();

    // {"id", "address", "state", "term", "leader_id", "leader_address", "serving",
    //  "commit_index", "last_applied", "members": [...]}, refreshed by the raft thread.
    Value status() const;
    bool serving() const { return serving_.load(); }

    struct Impl;  // the raft thread's state (raft_node.cpp)

  private:
    std::unique_ptr<Impl> impl_;
    std::atomic<bool> serving_{false};
};

}  // namespace pdsync::server::cluster
