// A pdsync-server's membership of a raft cluster, as the server node sees it: it empties
// the store and lets raft rebuild it (snapshot, then log), makes the store's transactions
// commit through the log (change_capture.*), tells the node when this server starts or
// stops leading, and answers the `pdsync cluster ...` administration requests.
//
// Ownership and threads: owned by ServerNode. start()/stop() from the node's owning thread;
// submit() from the worker; admin() and status() from any thread; the events run on the
// raft thread and must not block.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "server-node/cluster/cluster_settings.hpp"
#include "server-node/cluster/raft_node.hpp"
#include "server-node/cluster/store_fsm.hpp"
#include "server-node/server_store.hpp"

namespace pdsync::server::cluster {

class ClusterNode {
  public:
    using Events = RaftNode::Events;
    ClusterNode(ClusterSettings settings, Events events);
    ~ClusterNode();

    // Prepares `store` (emptied, or kept for `cluster init`) and starts raft.
    Status start(ServerStore& store);
    void stop();

    // Whether a commit failed since the last call: the leader's core may be out of step
    // with its store, so the node drops it and serves again only after a new barrier.
    bool take_commit_failed() { return commit_failed_.exchange(false); }
    void serve_again();

    // cluster-init, cluster-add, cluster-remove, cluster-transfer, cluster-status, promote.
    Value admin(const Value& request);
    bool handles(const std::string& cmd) const;
    Value status() const;
    bool serving() const { return raft_ && raft_->serving(); }
    const ClusterSettings& settings() const { return settings_; }
    // Term and index of the last entry this server committed as leader.
    Committed last_commit() const;

  private:
    void submit(std::string changeset);

    ClusterSettings settings_;
    Events events_;
    ServerStore* store_ = nullptr;
    std::unique_ptr<StoreFsm> fsm_;
    std::unique_ptr<RaftNode> raft_;
    std::atomic<bool> commit_failed_{false};
    std::atomic<uint64_t> last_term_{0};
    std::atomic<uint64_t> last_index_{0};
};

}  // namespace pdsync::server::cluster
