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

// ---- Joining by code (shared/join_code.hpp) ----------------------------------------------
// A claim's timestamp may differ from the server's clock by this much either way: devices
// without NTP drift, and a replayed request is useless anyway (its reply is sealed to the
// requester's key), so this only bounds how long a captured request stays meaningful.
inline constexpr std::chrono::minutes kClaimClockSkew{15};
// How long a device waits for the claim reply before it tries again: the server answers
// in milliseconds; claims share one broker session, so a second claimant can cut one off.
inline constexpr std::chrono::milliseconds kClaimReplyWait{5000};
inline constexpr int kClaimAttempts = 5;
// How long the server waits for the dynamic security plugin's answer to one command
// message. The plugin answers on the broker's thread in well under a millisecond on
// loopback; waiting longer means the broker is gone.
inline constexpr std::chrono::milliseconds kDynsecReplyWait{3000};

}  // namespace pdsync::tuning
