// A pds.doc/1 document's MessagePack, read and written entry by entry without decoding
// the entries: the bytes of each entry with its id and rev, and a document assembled
// from a head and entries' bytes, byte for byte what encode_document() produces
// (MessagePack of a map is its header, then each key and value in the map's order, and
// a Value's map is in key order).
//
//   auto split = split_document(bytes);                 // entries[i] = {id, rev, bytes}
//   std::string again = assemble_document(head, views);  // == bytes for the same parts
//
// The server answers a stale login with the entries changed since the device's version
// (document_delta.hpp), and re-encodes only the entries a change touched
// (server-node/entry_encodings.hpp); both stand on these two functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/base/result.hpp"
#include "shared/category.hpp"
#include "shared/codec.hpp"

namespace pdsync {

struct EntryBytes {
    std::string_view id;
    uint64_t rev = 0;
    std::string_view bytes;  // the whole entry map
};

struct SplitDocument {
    // Every top-level key but "entries", in the order they came, with its value's bytes.
    std::vector<std::pair<std::string_view, std::string_view>> head;
    std::vector<EntryBytes> entries;  // in document order
};

// Splits an encoded document. Views point into `bytes`. Errc::malformed when the bytes are
// not one MessagePack map whose "entries" is an array of maps each with a string "id";
// it checks the structure only (the document was validated when it was received).
[[nodiscard]] Result<SplitDocument> split_document(std::string_view bytes);

// The document's keys but "entries", decoded (its head is small; entries stay bytes).
[[nodiscard]] Result<Value> head_value(const SplitDocument& split);

// What a received document says about itself, once checked.
struct DocumentHead {
    std::string user;
    Category category = Category::addressbook;
    uint64_t version = 0;
};

// Checks `bytes` as decode_document() would (the codec's bounds, the head's rules, every
// entry valid, ids unique) but decodes only the entries whose bytes differ from the same
// entry's in `checked`, an encoding that passed these checks before (the copy a device
// holds). A new version of a 190 KiB address book with one entry changed then costs one
// entry's decode and a comparison of the rest, not the whole document's decode.
[[nodiscard]] Result<DocumentHead> check_document_bytes(std::string_view bytes,
                                                        std::string_view checked);

// The document whose keys are `head`'s (an object without "entries") plus "entries",
// holding `entries` (each one entry's encoding) in order.
std::string assemble_document(const Value& head, const std::vector<std::string_view>& entries);

}  // namespace pdsync
