// The replication wire format (schema "pds.repl/1"), pure functions over bytes and values.
//
// The primary publishes frames on {root}/server/replication:
//   commit    the rows one committed transaction touched, in their committed state (a
//             document, user or device that no longer exists is listed as deleted);
//   snapshot  every row of the store, after which the standby holds what the primary held
//             at commit `seq`;
//   heartbeat the primary's latest commit `seq`, so a standby measures its lag and notices
//             a lost frame.
// A commit or a snapshot too large for one frame is split into parts 0..n (`last` on the
// final one); the standby applies all parts of one commit or snapshot in one transaction.
// `stream` names the primary process: a new stream restarts `seq`, and a standby that sees
// one it does not follow asks for a snapshot.
//
// A standby reports its position (schema "pds.repl-standby/1") on
// {root}/server/replication/ack, and asks for a snapshot on {root}/server/replication/request.
//
//   Frame f{FrameKind::commit, "a1b2", "pdsync-server", 42};
//   f.rows.users.push_back({"alice", 1, 2});
//   auto back = decode_frame(encode_frame(f));  // back->seq == 42
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server-node/server_store.hpp"
#include "shared/base/result.hpp"
#include "shared/document.hpp"

namespace pdsync::server::replication {

inline constexpr const char* kFrameSchema = "pds.repl/1";
inline constexpr const char* kReportSchema = "pds.repl-standby/1";

enum class FrameKind : uint8_t { commit, snapshot, heartbeat };

struct AppliedEntry {
    std::string device_id;
    std::string epoch;
    uint64_t seq = 0;
    AppliedRow row;
};

// Rows in their committed state. Documents travel in their stored wire form (pds.doc/1).
struct Rows {
    std::vector<std::string> docs;  // encoded documents to save
    std::vector<DocKey> deleted_docs;
    std::vector<UserRow> users;
    std::vector<std::string> deleted_users;  // with all their documents
    std::vector<DeviceRow> devices;
    std::vector<AppliedEntry> applied;

    std::size_t count() const {
        return docs.size() + deleted_docs.size() + users.size() + deleted_users.size() +
               devices.size() + applied.size();
    }
};

struct Frame {
    FrameKind kind = FrameKind::commit;
    std::string stream;   // the primary process's stream id
    std::string primary;  // the primary's server id
    uint64_t seq =
        0;  // commit: its number; snapshot: the commit it reflects; heartbeat: the latest
    uint32_t part = 0;
    bool last = true;
    int64_t at = 0;  // primary clock, ms: when the commit or snapshot was made
    Rows rows;
};

// What a standby tells the primary: the stream it follows and the last commit it applied.
struct StandbyReport {
    std::string standby_id;
    std::string stream;  // empty before its first snapshot
    uint64_t applied = 0;
    int64_t at = 0;
};

std::string encode_frame(const Frame& frame);
// Bounded like every payload (tuning::replication::kMaxFrameBytes); Errc::malformed or bad_schema
// on a frame that does not hold to the format. Documents are checked by the standby that decodes
// them.
[[nodiscard]] Result<Frame> decode_frame(std::string_view bytes);

std::string encode_report(const StandbyReport& report);
[[nodiscard]] Result<StandbyReport> decode_report(std::string_view bytes);

std::string_view frame_kind_name(FrameKind kind);

}  // namespace pdsync::server::replication
