// The raft state machine of a cluster member: its SQLite store. A log entry is either an
// SQLite changeset (what one leader transaction changed, captured by change_capture.*) or a
// whole store image (the data a server brings when it starts the cluster). A snapshot is
// the store copied with SQLite's online backup API; restoring one copies it back the same
// way, so a new or lagging member catches up from it.
//
// The store file is derived state: the raft log and snapshot are the truth. Before raft
// starts, the store is emptied (reset_to_empty); raft then restores its last snapshot and
// applies the log after it, so a store can never keep a change the cluster did not commit.
//
// Ownership and threads: owned by ClusterNode. It has its own SQLite connection; apply,
// snapshot and restore run on the raft thread, reset_to_empty and image before raft starts.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/base/result.hpp"

struct sqlite3;

namespace pdsync::server::cluster {

enum class EntryKind : char { changeset = 'C', image = 'I' };

// One log entry: a 16-byte header (kind, body length), the changeset or image bytes, and
// padding to a multiple of 8 bytes (store_fsm.cpp says why).
std::string make_entry(EntryKind kind, std::string_view body);

class StoreFsm {
  public:
    // Opens its own connection to the store at `path` (which must exist). Throws on failure.
    explicit StoreFsm(const std::string& path);
    ~StoreFsm();
    StoreFsm(const StoreFsm&) = delete;
    StoreFsm& operator=(const StoreFsm&) = delete;

    // Applies one committed entry in one transaction.
    Status apply(std::string_view entry);
    // The whole store as an SQLite database image.
    Result<std::string> image();
    // Replaces the whole store with `image` (from image()).
    Status restore(std::string_view image);
    // Replaces the store with an empty one of the current schema.
    Status reset_to_empty();
    // Whether the store holds any documents, users or devices.
    bool has_data();
    uint64_t divergences() const { return divergences_.load(); }
    // Snapshots (or the initial image) copied into the store since the process started.
    uint64_t restores() const { return restores_.load(); }

  private:
    // Conflicts met while applying changesets: each one means two stores had diverged.
  public:
    void note_divergence() { divergences_.fetch_add(1); }

  private:
    Status copy_from(sqlite3* source);

    sqlite3* db_ = nullptr;
    std::atomic<uint64_t> divergences_{0};
    std::atomic<uint64_t> restores_{0};
};

}  // namespace pdsync::server::cluster
