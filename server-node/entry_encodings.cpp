// EntryEncodings: the document's MessagePack assembled from its head and entries' bytes.
#include "server-node/entry_encodings.hpp"

#include "shared/document_bytes.hpp"

namespace pdsync::server {

std::string EntryEncodings::encode(const Document& doc) {
    // Prune bytes of entries the document no longer holds (tombstones pruned, imports).
    if (bytes_.size() > doc.entries.size() * 2 + 16) bytes_.clear();
    std::vector<std::string_view> entries;
    entries.reserve(doc.entries.size());
    for (const auto& e : doc.entries) {
        auto& slot = bytes_[e.id];
        if (slot.bytes.empty() || slot.rev != e.rev) {
            slot.bytes = encode_entry(e);
            slot.rev = e.rev;
        }
        entries.push_back(slot.bytes);
    }
    return assemble_document(document_head_to_value(doc), entries);
}

}  // namespace pdsync::server
