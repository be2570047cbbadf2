// Filling stores before the daemons start, through the real store implementations
// (server::open_sqlite_server_store, client::open_sqlite_client_store), so the bench never
// spells their schema: 100,000 users take seconds this way instead of a million messages.
//
//   auto filled = populate_server_store(dir.file("server.db"), 100000, 1000);
//
// Ownership and threads: free functions; call them while no daemon has the file open.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pdsync::bench {

struct Populated {
    std::size_t users = 0;
    std::size_t documents = 0;
    uint64_t document_bytes = 0;  // encoded documents (what the broker will retain)
    double seconds = 0;
};

// Users 0..users-1; the first `realistic` have realistic documents, the rest light ones.
// Each user's last use grows with its index.
Populated populate_server_store(const std::string& path, std::size_t users, std::size_t realistic);

// Users first..first+users-1 with realistic documents stored as this device's own data from
// before it ever joined (origin local): what a fresh device brings to its first merge.
Populated populate_client_store(const std::string& path, std::size_t first, std::size_t users);

// Every `stride`-th encoded document of a server store, in key order, with its topic under
// `root` (a sample that keeps the store's mix of large and small documents).
struct StoredPayload {
    std::string topic;
    std::string body;
};
std::vector<StoredPayload> read_server_documents(const std::string& path, const std::string& root,
                                                 std::size_t stride);

}  // namespace pdsync::bench
