// Every tuning knob of pdsync in one place, each with the reason for its value.
// Limits that an administrator may change (machine and user limits) have their defaults
// here and are overridden from the node's config file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace pdsync::tuning {

// ---- Protocol --------------------------------------------------------------------------
// The protocol version a node speaks; a hello with another major version is refused.
inline constexpr int kProtocolVersion = 1;

// ---- Decoding bounds (DESIGN.md section 6: every decoded payload is bounded) -----------
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

// ---- Limits (defaults from the reference product; config may change them) -------------
// Encoded bytes of recently changed documents the server keeps decoded (about ten times
// as much memory): the working set of a busy office, 80 realistic address books.
inline constexpr std::size_t kServerDocumentCacheBytes = 16 * 1024 * 1024;

inline constexpr int kDefaultMachineLimit = 10;  // server machine included
inline constexpr int kDefaultUserLimit = 1000;

// ---- Server ------------------------------------------------------------------------------
// Group commit: the server drains up to this many queued messages into one transaction,
// so one fsync covers many changes (DESIGN.md 9: ~50,000 rows/s batched vs 6,000 single).
inline constexpr std::size_t kMaxBatchMessages = 512;
// QoS 1 publishes in flight; mosquitto's default receive maximum is 20 and one above it
// drops throughput ~60x (DESIGN.md 8).
inline constexpr int kMaxInflightPublishes = 20;
// Paho's outgoing buffer; its default of 100 stalls bulk republishing at start-up.
inline constexpr int kMaxBufferedMessages = 200000;
// Applied change-set results remembered per device, to answer a re-sent change set with
// its original result. Outboxes re-send at most their unacked window, far below this.
inline constexpr int kAppliedOpsKeptPerDevice = 1000;

// ---- Client ------------------------------------------------------------------------------
// Change sets a client keeps in flight before waiting for acks: enough to keep the
// server's group commit fed, and within the broker's receive maximum.
inline constexpr int kClientOutboxWindow = 16;
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

// ---- MQTT ----------------------------------------------------------------------------------
// A device on a broker without an online server moves to the next broker of its list
// after this long (DESIGN.md 5.11: devices follow the primary).
inline constexpr std::chrono::milliseconds kFailoverAfter{10000};
inline constexpr std::chrono::seconds kKeepAlive{10};  // presence goes offline within ~15 s
inline constexpr std::chrono::milliseconds kReconnectMin{100};
inline constexpr std::chrono::milliseconds kReconnectMax{5000};
inline constexpr std::chrono::seconds kConnectTimeout{5};

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

}  // namespace pdsync::tuning
