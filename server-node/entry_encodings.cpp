// EntryEncodings: the document's MessagePack assembled from its head and entries' bytes.
#include "server-node/entry_encodings.hpp"

#include <cstdint>

namespace pdsync::server {
namespace {

// MessagePack container headers exactly as nlohmann::json writes them: the fix form up to
// 15 items, then the 16- and 32-bit forms, big-endian.
void put_header(std::string& out, std::size_t n, uint8_t fix, uint8_t code16, uint8_t code32) {
    if (n <= 15) {
        out.push_back(static_cast<char>(fix | n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(code16));
        out.push_back(static_cast<char>((n >> 8) & 0xFF));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(code32));
        for (int shift = 24; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((n >> shift) & 0xFF));
    }
}

}  // namespace

std::string EntryEncodings::encode(const Document& doc) {
    // Prune bytes of entries the document no longer holds (tombstones pruned, imports).
    if (bytes_.size() > doc.entries.size() * 2 + 16) bytes_.clear();
    std::size_t total = 64;
    for (const auto& e : doc.entries) {
        auto& slot = bytes_[e.id];
        if (slot.bytes.empty() || slot.rev != e.rev) {
            slot.bytes = encode_entry(e);
            slot.rev = e.rev;
        }
        total += slot.bytes.size();
    }
    Value head = document_head_to_value(doc);
    head["entries"] = nullptr;  // its place in the key order; the value is written below
    std::string out;
    out.reserve(total + 256);
    put_header(out, head.size(), 0x80, 0xDE, 0xDF);
    for (auto it = head.begin(); it != head.end(); ++it) {
        out += encode_msgpack_unchecked(Value(it.key()));
        if (it.key() != "entries") {
            out += encode_msgpack_unchecked(it.value());
            continue;
        }
        put_header(out, doc.entries.size(), 0x90, 0xDC, 0xDD);
        for (const auto& e : doc.entries) out += bytes_.find(e.id)->second.bytes;
    }
    return out;
}

}  // namespace pdsync::server
