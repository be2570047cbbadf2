// The document model: one document per (user, category), or per category for the shared
// categories. A document is an ordered list of entries with stable ids; the server assigns
// `version` (per document, monotonic) and each entry's `rev` (the version that last
// changed it). Deleted entries stay as tombstones so a late edit cannot resurrect them.
// Fields this firmware does not know are kept, so newer firmware can add fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/base/result.hpp"
#include "shared/category.hpp"
#include "shared/codec.hpp"

namespace pdsync {

inline constexpr const char* kDocumentSchema = "pds.doc/1";

// Identifies a document. `user` is empty for shared categories (an empty user id is never
// valid, so this is unambiguous).
struct DocKey {
    std::string user;
    Category category = Category::addressbook;
    bool operator==(const DocKey&) const = default;
    bool operator<(const DocKey& o) const {
        return user != o.user ? user < o.user : category < o.category;
    }
};

struct Entry {
    std::string id;
    uint64_t rev = 0;
    bool deleted = false;            // a tombstone: fields are empty
    Value fields = Value::object();  // the entry's data as the device defines it
    Value extra = Value::object();   // entry-level keys this version does not know
    bool operator==(const Entry&) const = default;
};

struct Document {
    std::string user;  // empty for a shared category
    Category category = Category::addressbook;
    uint64_t version = 0;
    int64_t updated_at = 0;         // ms since the epoch, server clock
    std::vector<Entry> entries;     // in display order; tombstones included
    Value extra = Value::object();  // document-level keys this version does not know

    DocKey key() const { return DocKey{user, category}; }
    Entry* find(std::string_view id);
    const Entry* find(std::string_view id) const;
    std::size_t live_count() const;
    // Entries without tombstones, in order: what a device shows.
    std::vector<const Entry*> live_entries() const;
    bool operator==(const Document&) const = default;
};

// An entry id is 1..128 bytes, printable, no control characters.
[[nodiscard]] Status validate_entry_id(std::string_view id);

Value document_to_value(const Document& doc);
// The parts of the wire form, for encoders that reuse entries' bytes
// (server-node/entry_encodings.hpp): every key but "entries", and one entry's encoding.
Value document_head_to_value(const Document& doc);
std::string encode_entry(const Entry& e);
// One entry's encoding, checked as a document's entries are.
[[nodiscard]] Result<Entry> decode_entry(std::string_view bytes, const DecodeLimits& limits = {});
[[nodiscard]] Result<Document> document_from_value(const Value& v);

// Convenience: the wire form, and back with the codec's bounds.
std::string encode_document(const Document& doc);
[[nodiscard]] Result<Document> decode_document(std::string_view bytes);

}  // namespace pdsync
