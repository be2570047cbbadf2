// Internal to the server core: the state of one transaction (a batch of device messages,
// or one administration command) between its first read and its commit.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server-node/server_core.hpp"

namespace pdsync::server {

struct ServerCore::Batch {
    std::map<DocKey, std::optional<Document>> docs;  // documents read or written; nullopt = absent
    std::set<DocKey> dirty;                          // to save and republish
    std::set<DocKey> deleted;                        // to delete and clear on the broker
    std::map<std::string, DeviceRow> devices;        // device rows changed in this batch
    std::vector<Outbound> replies;
    // Acks gather per device and go as one inbox message each (flush_acks): where its
    // placeholder sits in `replies`, and the acks in sequence order.
    std::map<std::string, std::pair<std::size_t, std::vector<AckReply>>> acks;
    std::vector<Outbound> early;                                // replies from committed state only
    std::vector<std::pair<std::string, uint64_t>> change_sets;  // (device, seq) seen
    std::set<std::string> users;
    // Upper bound of each touched document's encoded size, kept as change sets apply, so
    // the size bound is checked without encoding the document for every change set.
    std::map<DocKey, std::size_t> size_bound;
    // Encodings made in this batch that still match the document (a registration's).
    std::map<DocKey, std::string> encoded;
    // Documents taken from the cache, with their encoded size: put back after the commit.
    std::map<DocKey, std::size_t> from_cache;
    // Entries' bytes of the documents read (from the cache, or filled at the first encode).
    std::map<DocKey, EntryEncodings> encodings;
    // users saved or deleted
    bool status_changed = false;
    // Session table lines for the broker's session plugin (server-node/sessions.hpp),
    // published before any reply of the batch, so a login's grant precedes its manifest.
    std::string session_lines;
    std::string failed;  // set when the transaction rolled back
};

}  // namespace pdsync::server
