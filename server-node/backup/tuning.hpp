// Every tuning constant of the backup library, each with the reason for its value.
// (They live here rather than in shared/tuning.hpp so the library stays self-contained;
// move them there if the server wants one file for all knobs.)
#pragma once

#include <chrono>
#include <cstddef>

namespace pdsync::backup::tuning {

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

// Progress bar: redraw at most this often, so drawing never costs more than the work.
inline constexpr std::chrono::milliseconds kProgressMinInterval{100};
inline constexpr int kProgressBarWidth = 30;

}  // namespace pdsync::backup::tuning
