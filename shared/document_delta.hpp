// What a device holding version `from` of a document needs to reach the server's current
// version without the whole document: the entries changed since `from` (tombstones
// included), every entry id in order, the document's other keys, and a digest of the
// whole result, so the device knows its assembly is byte for byte the retained document
// (docs/protocol.md §5.4, "stale login"). A stale login's reply carries one per stale
// category; a device that cannot apply one takes the retained document instead.
//
//   auto d = make_delta(server_bytes, device_version, limit);   // server
//   auto bytes = apply_delta(cached_bytes, *d, key);            // device: == server_bytes
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/base/result.hpp"
#include "shared/codec.hpp"
#include "shared/document.hpp"

namespace pdsync {

struct DocumentDelta {
    uint64_t from = 0;
    uint64_t version = 0;
    Value head = Value::object();      // every key of the document but "entries"
    std::vector<std::string> entries;  // each changed entry's encoding, in document order
    std::vector<std::string> order;    // every entry id, tombstones included, in order
    std::string digest;                // document_digest() of the whole document
    std::size_t wire_bytes() const;    // about what it adds to a message
};

// BLAKE2b-128 of a document's bytes.
std::string document_digest(std::string_view bytes);

// The delta from version `from` to the document encoded as `bytes`; nullopt when it would
// not be smaller than `max_bytes` or when `from` is not older than the document;
// Errc::malformed when an entry's rev is past the document's version (no device could apply it).
[[nodiscard]] Result<std::optional<DocumentDelta>> make_delta(std::string_view bytes, uint64_t from,
                                                              std::size_t max_bytes);

// The document `delta` leads to from `cached`, the device's copy of `key` at delta.from.
// Errc::malformed when the two do not fit together (an entry neither changed nor cached,
// another version, a digest that differs): the device then fetches the retained copy.
[[nodiscard]] Result<std::string> apply_delta(std::string_view cached, const DocumentDelta& delta,
                                              const DocKey& key);

Value delta_to_value(const DocumentDelta& d);
[[nodiscard]] Result<DocumentDelta> delta_from_value(const Value& v);

}  // namespace pdsync
