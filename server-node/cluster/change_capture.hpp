// How a cluster leader's transaction reaches the raft log. ServerCore runs a batch inside a
// store transaction as it always does; in cluster mode that transaction's commit() takes
// what the transaction changed as an SQLite changeset (the session extension), rolls the
// transaction back, and hands the changeset to `submit`, which returns once the entry is
// committed by a majority and applied to this store by the state machine (store_fsm.*), or
// throws. So the store only ever changes through the log, on the leader as on followers,
// and ServerCore's "acks after commit" becomes "acks after a majority holds it".
//
// Ownership and threads: the factory is installed on the ServerStore by ClusterNode; the
// transactions it makes run on the server's worker thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server-node/server_store.hpp"

struct sqlite3;

namespace pdsync::server::cluster {

// Blocks until `changeset` is committed and applied; throws std::runtime_error if not.
using SubmitChangeset = std::function<void(std::string changeset)>;

// A transaction on `db` whose commit goes through `submit`.
std::unique_ptr<StoreTransaction> begin_captured(sqlite3* db, const SubmitChangeset& submit);

}  // namespace pdsync::server::cluster
