// Every tuning knob of replication (primary -> standby), each with the reason for its value.
// Kept beside the library, like server-node/backup/tuning.hpp, so it stays self-contained.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "shared/tuning.hpp"

namespace pdsync::server::replication::tuning {

// A frame is flushed once its rows pass this size. A frame always holds at least one row,
// so the largest frame is this plus one document (at most pdsync::tuning::kMaxPayloadBytes).
// 1 MiB keeps a 1,000-user snapshot to a few dozen QoS 1 messages.
inline constexpr std::size_t kFrameBytes = 1024 * 1024;
// Rows per frame: below the codec's array bound (pdsync::tuning::kMaxArrayItems).
inline constexpr std::size_t kFrameRows = 2000;
// What a standby accepts in one frame: a full frame, one maximal document and the map around.
inline constexpr std::size_t kMaxFrameBytes =
    kFrameBytes + pdsync::tuning::kMaxPayloadBytes + 64 * 1024;

// The primary's heartbeat to its standbys and the standbys' position reports: the
// resolution of the lag shown in status and of noticing that a frame was lost.
inline constexpr std::chrono::milliseconds kHeartbeat{500};
// A standby not heard from for this long is detached: acks stop waiting for it.
inline constexpr std::chrono::milliseconds kStandbyAlive{3000};
// With no standby heard from for this long the primary stops publishing frames (a standby
// that comes back finds the gap in the sequence and asks for a snapshot).
inline constexpr std::chrono::milliseconds kStandbyForget{30000};
// Default for how long an ack waits for an attached standby to confirm its commit. On
// loopback the confirmation takes ~1 ms; a standby slower than this is detached and acks
// go out without it (the status shows the lag) rather than stalling every device.
inline constexpr std::chrono::milliseconds kDefaultAckWait{1000};
// A standby that asked for a snapshot and saw none start asks again after this long.
inline constexpr std::chrono::milliseconds kSnapshotRetry{3000};
// Applied change-set results per device copied by a snapshot: several times a device's
// outbox window (pdsync::tuning::kClientOutboxWindow), which is all a re-send can reach.
inline constexpr uint64_t kSnapshotAppliedPerDevice = 64;
// Primary commit times kept to compute the lag in milliseconds.
inline constexpr std::size_t kMaxTrackedCommits = 100000;

}  // namespace pdsync::server::replication::tuning
