// The encoded bytes of a document's entries, kept beside the server's decoded copy so a
// change set re-encodes only the entries it touched: the document's wire form is then a
// few header bytes plus the stored entries' bytes copied in order, byte for byte what
// encode_document() produces (MessagePack of a map is its header, then each key and value
// in the map's order).
//
//   EntryEncodings enc;
//   std::string body = enc.encode(doc);  // fills enc
//   ... apply_ops(doc, ops, v) ...; for (op : ops) enc.invalidate(op.id);
//   body = enc.encode(doc);              // re-encodes the touched entries only
//
// The caller must invalidate every entry it changes; an entry whose rev differs from the
// one its bytes were made at is re-encoded regardless.
//
// Ownership and threads: a value type, owned with its document (DocumentCache, a batch).
#pragma once

#include <string>
#include <unordered_map>

#include "shared/document.hpp"

namespace pdsync::server {

class EntryEncodings {
  public:
    // The document's wire form (== encode_document(doc)).
    std::string encode(const Document& doc);
    void invalidate(const std::string& id) { bytes_.erase(id); }
    void clear() { bytes_.clear(); }
    std::size_t size() const { return bytes_.size(); }

  private:
    struct Encoded {
        uint64_t rev = 0;
        std::string bytes;
    };
    std::unordered_map<std::string, Encoded> bytes_;
};

}  // namespace pdsync::server
