// Every tuning knob of the raft cluster (server-node/cluster/), each with the reason for
// its value. Kept beside the library, like replication_tuning.hpp, so it stays
// self-contained.
#pragma once

#include <chrono>

namespace pdsync::server::cluster::tuning {

// Raft's election timeout. A follower that hears nothing from a leader for this long (plus
// raft's random extra, up to the same again) stands for election, and a leader that has not
// heard from a majority for this long steps down and stops acking. 1 s is libraft's default:
// 10-20 times a LAN's one-way latency, well under the 5 s failover the cluster promises.
inline constexpr unsigned kElectionTimeoutMs = 1000;
// Leader heartbeat: a tenth of the election timeout, so a lost packet or two is no election.
inline constexpr unsigned kHeartbeatTimeoutMs = 100;
// Log entries between snapshots (a snapshot is the whole SQLite file) and entries kept
// behind one, so a follower a little behind catches up from the log, not a snapshot.
inline constexpr unsigned kSnapshotThreshold = 1024;
inline constexpr unsigned kSnapshotTrailing = 128;
// How often the raft thread looks at its own state (leader? term? who leads?) to tell the
// server and refresh the status: the delay between raft's change and the server's reaction.
inline constexpr std::chrono::milliseconds kStatePoll{50};
// Longest a batch waits for its entry to commit. A leader without its majority steps down
// within the election timeout and raft fails the entry then; this bound is only a backstop.
inline constexpr std::chrono::milliseconds kCommitWait{10000};
// Retry delay of raft's TCP connections to a peer that is down (libraft's default is 1 s):
// a restarted peer is reached again quickly.
inline constexpr unsigned kConnectRetryMs = 200;

}  // namespace pdsync::server::cluster::tuning
