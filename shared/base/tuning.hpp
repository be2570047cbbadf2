// Every tuning knob of pdsync in one place, each with the reason for its value, one
// sub-namespace per part (codec, limits, server, sessions, client, mqtt, backup,
// cluster, terminal). Limits an administrator may change (machine and user limits) have their
// defaults here and are overridden from the node's config file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace pdsync::tuning {

// ---- Protocol --------------------------------------------------------------------------
namespace protocol {
// The protocol version a node speaks; a hello with another major version is refused.
inline constexpr int kProtocolVersion = 1;
}  // namespace protocol

// ---- Decoding bounds (docs/protocol.md §6: every decoded payload is bounded) -----------
namespace codec {
// A realistic user document (200 address-book entries of ~1 KiB) is ~200 KiB; 4 MiB leaves
// room for large home screens while capping what one message can make a node allocate.
inline constexpr std::size_t kMaxPayloadBytes = 4 * 1024 * 1024;
// Document -> entries -> entry -> fields -> a few levels of device-defined structure.
inline constexpr std::size_t kMaxDepth = 16;
// Longest string or binary value: an icon or a certificate fits, a video does not.
inline constexpr std::size_t kMaxStringBytes = 256 * 1024;
// Entries in one document or ops in one change set; the reference address book holds
// at most a few thousand entries.
inline constexpr std::size_t kMaxArrayItems = 20000;
inline constexpr std::size_t kMaxMapItems = 4096;
// User ids are login names; 256 bytes before encoding covers every directory we know.
inline constexpr std::size_t kMaxUserIdBytes = 256;
inline constexpr std::size_t kMaxDeviceIdBytes = 64;
inline constexpr std::size_t kMaxEntryIdBytes = 128;
// Values one payload may decode to, all levels together: the per-array and per-map bounds
// alone let 4 MiB of nested nil arrays become millions of values. A large address book
// (5,000 entries of ~20 fields) is ~100,000; a quarter million leaves room.
inline constexpr std::size_t kMaxDecodedItems = 256 * 1024;
// Texts a device reports about itself, stored and shown in `pdsync status`: a product
// name, a firmware version, a location label. Panels show a line or two.
inline constexpr std::size_t kMaxProductBytes = 128;
inline constexpr std::size_t kMaxFirmwareBytes = 128;
inline constexpr std::size_t kMaxLocationBytes = 256;
// Outbox epochs and auth-profile digests are ids and hex digests.
inline constexpr std::size_t kMaxTokenBytes = 128;
// Names of an entry's fields ("host", "password", ...): short identifiers.
inline constexpr std::size_t kMaxFieldNameBytes = 128;
}  // namespace codec

// ---- Limits (defaults from the reference product; config may change them) -------------
namespace limits {
inline constexpr int kDefaultMachineLimit = 10;  // server machine included
inline constexpr int kDefaultUserLimit = 1000;
// Tombstones kept per document: enough to stop any late edit an outbox window can hold
// from resurrecting an entry, few enough that a churned document stays small.
inline constexpr std::size_t kMaxTombstones = 1000;
}  // namespace limits

// ---- Server ------------------------------------------------------------------------------
namespace server {
// Encoded bytes of recently changed documents the server keeps decoded (about ten times
// as much memory): the working set of a busy office, 80 realistic address books.
inline constexpr std::size_t kDocumentCacheBytes = 16 * 1024 * 1024;
// Group commit: the server drains up to this many queued messages into one transaction,
// so one fsync covers many changes (docs/protocol.md §9: ~50,000 rows/s batched vs 6,000
// single).
inline constexpr std::size_t kMaxBatchMessages = 512;
// Applied change-set results remembered per device, to answer a re-sent change set with
// its original result. Outboxes re-send at most their unacked window, far below this.
inline constexpr int kAppliedOpsKeptPerDevice = 1000;
// The inbound queue, in bytes of payload: per device, room for four full-size change sets
// (a device sends at most 16 in flight, most far smaller); in all, room for every device
// of a large fleet to have a few in the queue. A message past either bound is dropped
// before it is decoded: the device has no ack, re-sends after client::kResendAfter, and
// the others go on.
inline constexpr std::size_t kMaxQueuedBytesPerDevice = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxQueuedBytesTotal = 128 * 1024 * 1024;
}  // namespace server

// ---- Device-user sessions: which device may write and read which user (docs/security.md) --
namespace sessions {
// A session (a login seen, no logout since) ends after this long without a login event
// or change set from it: a working day and then some, so a user who stays logged in all
// day is not cut off, and a forgotten session does not outlive the night.
inline constexpr std::chrono::hours kIdleTimeout{12};
// Sessions one device holds at once; a panel has one user at a time, a few more cover
// users who left without logging out. The oldest goes first.
inline constexpr std::size_t kMaxPerDevice = 8;
// New users (first login of a user the server does not hold) per device: a burst, then a
// steady rate. A device on its first day in a 1,000-user office sees a few dozen new
// users in a morning; a flood of made-up users is held to 60 an hour, so the user limit
// of 1,000 is not reached in less than a day of flooding, and the flood shows in status.
inline constexpr int kNewUsersBurstPerDevice = 30;
inline constexpr std::chrono::seconds kNewUserRefillEvery{60};
}  // namespace sessions

// ---- Client ------------------------------------------------------------------------------
namespace client {
// Change sets a client keeps in flight before waiting for acks: enough to keep the
// server's group commit fed, and within the broker's receive maximum.
inline constexpr int kOutboxWindow = 16;
// Local documents a device moves into its outbox per transaction at first merge: large
// enough to amortize the commit, small enough that the worker answers in between.
inline constexpr std::size_t kFirstMergeChunk = 100;
// Ops folded into one change set when draining a backlog.
inline constexpr std::size_t kMaxOpsPerChangeSet = 256;
// Unacked change sets are re-sent after this long (the server may have restarted between
// commit and ack; re-sending is safe, it is idempotent by sequence number).
inline constexpr std::chrono::milliseconds kResendAfter{3000};
// A refused or unanswered join is retried with exponential back-off between these bounds.
inline constexpr std::chrono::milliseconds kJoinRetryMin{500};
inline constexpr std::chrono::milliseconds kJoinRetryMax{30000};
// Login waits this long for the server's manifest before it falls back to the cached
// documents (offline login).
inline constexpr std::chrono::milliseconds kLoginServerWait{5000};
// A user's login is announced again before an edit once this long has passed since the
// last announcement, well inside the server's idle end of a session
// (sessions::kIdleTimeout), so a user who stays logged in all day keeps their session.
inline constexpr std::chrono::minutes kReannounceAfter{60};
// The device store's SQLite page cache (KiB). SQLite's default is 2 MiB, half of the
// daemon's private-memory target after 1,000 logins (issue 14 g); reads that miss it come
// from the OS page cache, and a login writes its documents without reading them back.
inline constexpr int kSqliteCacheKiB = 256;
}  // namespace client

// ---- MQTT ----------------------------------------------------------------------------------
namespace mqtt {
// QoS 1 publishes in flight; mosquitto's default receive maximum is 20 and one above it
// drops throughput ~60x (docs/protocol.md §8).
inline constexpr int kMaxInflightPublishes = 20;
// Paho's outgoing buffer; its default of 100 stalls bulk republishing at start-up.
inline constexpr int kMaxBufferedMessages = 200000;
// A device on a broker without an online server moves to the next broker of its list
// after this long (docs/protocol.md §5.11: devices follow the primary).
inline constexpr std::chrono::milliseconds kFailoverAfter{10000};
inline constexpr std::chrono::seconds kKeepAlive{10};  // presence goes offline within ~15 s
inline constexpr std::chrono::milliseconds kReconnectMin{100};
inline constexpr std::chrono::milliseconds kReconnectMax{5000};
inline constexpr std::chrono::seconds kConnectTimeout{5};
// How long a stopping link waits for a connect attempt in flight to end: a refused one
// ends in about a millisecond; one to a broker that hangs is left behind rather than
// waited out (kConnectTimeout), so a stop stays prompt.
inline constexpr std::chrono::milliseconds kStopConnectWait{250};
// The broker's max_packet_size (broker-config/mosquitto.conf.template): a publish whose
// topic and payload would not fit is not sent (the broker would drop the connection).
inline constexpr std::size_t kBrokerMaxPacketBytes = 4259840;
// Room for the fixed header, topic length field, packet id and v5 properties.
inline constexpr std::size_t kPublishOverheadBytes = 1024;
}  // namespace mqtt

// ---- Local control sockets (shared/net/control_socket) ---------------------------------
namespace control {
// Longest request line a daemon reads: an import chunk of 200 documents at a realistic
// ~40 KiB each fits with room; a runaway client cannot make the daemon buffer more.
inline constexpr std::size_t kMaxRequestBytes = 8 * 1024 * 1024;
// Events held for one panel watching the device's control socket that has not read them
// yet: a burst (a first merge's documents, a fleet-wide change) fits; a panel that
// stopped reading costs at most this many small JSON objects, then is told how many it
// missed.
inline constexpr std::size_t kWatchQueueEvents = 1000;
}  // namespace control

// ---- Backup (server-node/backup) -------------------------------------------------------
namespace backup {
// Pages copied per sqlite3_backup_step. The snapshot holds one read transaction for the
// whole copy, so the step size does not affect consistency; it only sets how often
// progress is reported. 1024 pages (4 MiB at the default page size) is a few updates a
// second on a slow disk and negligible per-step overhead on a fast one.
inline constexpr int kSnapshotPagesPerStep = 1024;
// How long opening the live store and starting the read transaction may wait on the
// server's locks (WAL recovery or a checkpoint in progress take the lock briefly).
inline constexpr std::chrono::milliseconds kSourceBusyTimeout{5000};
// sqlite3_backup_step can still answer BUSY/LOCKED on the destination or during WAL
// recovery; it is retried with this pause until the deadline, then the snapshot fails.
inline constexpr std::chrono::milliseconds kStepBusyPause{10};
inline constexpr std::chrono::milliseconds kStepBusyDeadline{10000};
// Buffer for copying, hashing and SMB transfers: large enough that per-call overhead
// (one SMB2 READ/WRITE round trip each) is small, small enough to stay off the heap's
// radar on a small server machine.
inline constexpr std::size_t kCopyChunkBytes = 1024 * 1024;
// libsmbclient connect/response timeout. A share on the LAN answers in milliseconds; a
// NAS waking from standby can take several seconds, so 15 s before calling it unreachable.
inline constexpr int kSmbTimeoutMs = 15000;
// How long `pdsync-server restore --stop` waits for the running server to let go of its
// store after it was asked to stop: a clean stop finishes its batch and closes in well
// under a second; 30 s covers a checkpoint of a large WAL on a slow disk.
inline constexpr std::chrono::seconds kRestoreStopWait{30};
}  // namespace backup

// ---- Raft cluster (server-node/cluster) -------------------------------------------------
namespace cluster {
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
// How long a new raft connection may take to prove it holds the cluster secret (the
// handshake in server-node/cluster/auth_transport.cpp) before it is dropped. Members on a
// LAN answer in a round trip or two (well under 10 ms); 2 s also covers a loaded machine,
// and bounds what a peer that connects and says nothing holds.
inline constexpr std::chrono::milliseconds kHandshakeTimeout{2000};
// Connections at once that have not finished the handshake: a member has a handful of
// peers, so 64 leaves room for restarts while bounding what a flood of half-open
// connections can hold (each further one is closed at once).
inline constexpr std::size_t kMaxPendingHandshakes = 64;
}  // namespace cluster

// ---- Terminal (shared/terminal) ----------------------------------------------------------
namespace terminal {
// Progress bar: redraw at most this often, so drawing never costs more than the work.
inline constexpr std::chrono::milliseconds kProgressMinInterval{100};
inline constexpr int kProgressBarWidth = 30;
}  // namespace terminal

// ---- Web admin page (server-node/web/) -------------------------------------------------------
namespace web {
// A session left alone this long is closed: an office PC left unlocked should not stay an
// administrator's console for the rest of the day.
inline constexpr std::chrono::minutes kSessionIdle{15};
// Even a busy session is closed after this long, so a stolen cookie does not live forever.
inline constexpr std::chrono::hours kSessionMax{12};
// Sessions held at once: a fleet has one or two administrators; the cap bounds the memory an
// attacker with the password could make the server spend.
inline constexpr std::size_t kMaxSessions = 32;
// After the Nth failed login from one address the next attempt waits 2^(N-1) seconds,
// capped here: guessing slows to a crawl, the real administrator waits at most a minute.
inline constexpr std::chrono::seconds kLoginDelayMax{60};
inline constexpr std::chrono::seconds kLoginDelayFirst{1};
// Addresses whose failures are remembered; the oldest are forgotten beyond this.
inline constexpr std::size_t kLoginThrottleEntries = 1024;
// Users per page of the users table: a screenful; the API caps what a caller may ask for.
inline constexpr std::size_t kUsersPageDefault = 50;
inline constexpr std::size_t kUsersPageMax = 500;
// Largest request body the web API reads (JSON actions are a few hundred bytes).
inline constexpr std::size_t kMaxRequestBody = 64 * 1024;
// How often the page asks for the status: a machine going online shows within this.
inline constexpr std::chrono::milliseconds kPagePoll{2000};
// HTTP worker threads. cpp-httplib holds a thread per kept-alive connection, and a browser
// opens up to six per site: eight serve one administrator's tabs without queueing, with room
// for a second one.
inline constexpr std::size_t kHttpThreads = 8;
// How long an idle kept-alive connection holds its thread.
inline constexpr std::chrono::seconds kHttpKeepAlive{2};
}  // namespace web

// ---- Joining by code (shared/join_code.hpp, server-node/join/, client-node/enrollment/) -----
namespace join {
// A claim's timestamp may differ from the server's clock by this much either way: devices
// without NTP drift, and a replayed request is useless anyway (its reply is sealed to the
// requester's key), so this only bounds how long a captured request stays meaningful.
inline constexpr std::chrono::minutes kClaimClockSkew{15};
// How long a device waits for the claim account's connection and for the claim reply: the
// server answers in milliseconds; claims share one broker session (the account is bound to
// one client id), so a second claimant can cut one off, and the device tries again.
inline constexpr std::chrono::milliseconds kClaimReplyWait{5000};
inline constexpr int kClaimAttempts = 5;
// How long the server waits for the dynamic security plugin's answer to one command
// message. The plugin answers on the broker's thread in well under a millisecond on
// loopback; waiting longer means the broker is gone.
inline constexpr std::chrono::milliseconds kDynsecReplyWait{3000};
}  // namespace join

}  // namespace pdsync::tuning
