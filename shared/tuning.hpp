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

// ---- Decoding bounds (docs/protocol.md §6: every decoded payload is bounded) -----------
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
// so one fsync covers many changes (docs/protocol.md §9: ~50,000 rows/s batched vs 6,000 single).
inline constexpr std::size_t kMaxBatchMessages = 512;
// QoS 1 publishes in flight; mosquitto's default receive maximum is 20 and one above it
// drops throughput ~60x (docs/protocol.md §8).
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
// after this long (docs/protocol.md §5.11: devices follow the primary).
inline constexpr std::chrono::milliseconds kFailoverAfter{10000};
inline constexpr std::chrono::seconds kKeepAlive{10};  // presence goes offline within ~15 s
inline constexpr std::chrono::milliseconds kReconnectMin{100};
inline constexpr std::chrono::milliseconds kReconnectMax{5000};
inline constexpr std::chrono::seconds kConnectTimeout{5};

// ---- A compromised device (docs/security.md) -------------------------------------------
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
// A session (a login seen, no logout since) ends after this long without a login event
// or change set from it: a working day and then some, so a user who stays logged in all
// day is not cut off, and a forgotten session does not outlive the night.
inline constexpr std::chrono::hours kSessionIdleTimeout{12};
// Sessions one device holds at once; a panel has one user at a time, a few more cover
// users who left without logging out. The oldest goes first.
inline constexpr std::size_t kMaxSessionsPerDevice = 8;
// New users (first login of a user the server does not hold) per device: a burst, then a
// steady rate. A device on its first day in a 1,000-user office sees a few dozen new
// users in a morning; a flood of made-up users is held to 60 an hour, so the user limit
// of 1,000 is not reached in less than a day of flooding, and the flood shows in status.
inline constexpr int kNewUsersBurstPerDevice = 30;
inline constexpr std::chrono::seconds kNewUserRefillEvery{60};
// The server's inbound queue, in bytes of payload: per device, room for four full-size
// change sets (a device sends at most 16 in flight, most far smaller); in all, room for
// every device of a large fleet to have a few in the queue. A message past either bound
// is dropped before it is decoded: the device has no ack, re-sends after kResendAfter,
// and the others go on.
inline constexpr std::size_t kMaxQueuedBytesPerDevice = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxQueuedBytesTotal = 128 * 1024 * 1024;
// The broker's max_packet_size (broker-config/mosquitto.conf.template): a publish whose
// topic and payload would not fit is not sent (the broker would drop the connection).
inline constexpr std::size_t kBrokerMaxPacketBytes = 4259840;
// Room for the fixed header, topic length field, packet id and v5 properties.
inline constexpr std::size_t kPublishOverheadBytes = 1024;

}  // namespace pdsync::tuning
