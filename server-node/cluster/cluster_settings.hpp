// What a pdsync-server needs to take part in a raft cluster: its raft id and address, its
// raft directory, and the initial members (used once, to bootstrap a pristine directory).
// Parsed from the server's --cluster-* options (server_main.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "shared/base/result.hpp"

namespace pdsync::server::cluster {

enum class Role { voter, standby, spare };
const char* role_name(Role r);
Result<Role> role_from_name(const std::string& name);

struct Member {
    uint64_t id = 0;
    std::string address;  // host:port the other members dial
    Role role = Role::voter;
};

// The secret every member holds; a raft connection is only served after both ends have
// proved they hold it (auth_transport.hpp).
using ClusterSecret = std::array<unsigned char, 32>;

// Reads --cluster-secret-file: 64 hex digits (`pdsync cluster secret` writes one). Refused
// when others than its owner may read or write it, or when it is not this user's: a local
// user who could read it could speak raft to the cluster.
[[nodiscard]] Result<ClusterSecret> load_cluster_secret(const std::string& path);

struct ClusterSettings {
    uint64_t id = 0;
    std::string listen;     // ADDR:PORT this server's raft transport binds
    std::string advertise;  // what the others dial (empty: `listen`)
    std::string dir;        // raft log, metadata and snapshots
    std::string store_path;
    // Initial voters, this server among them ("1=10.0.0.1:7001,2=..."): bootstraps a
    // pristine directory; ignored once the directory holds a log.
    std::vector<Member> peers;
    // Pristine directory and no peers: wait to be added by the leader (`pdsync cluster add`)
    // rather than for `pdsync cluster init`.
    bool join = false;
    ClusterSecret secret{};
    // Log entries between snapshots (0: tuning::kSnapshotThreshold).
    unsigned snapshot_threshold = 0;

    const std::string& address() const { return advertise.empty() ? listen : advertise; }
};

// "1=host:port,2=host:port" -> members (all voters).
Result<std::vector<Member>> parse_peers(const std::string& text);

}  // namespace pdsync::server::cluster
