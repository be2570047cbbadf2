// The server's decoded copies of recently changed documents, least recently used first
// out, bounded by their encoded size. A change set to a document in the cache skips the
// store read and the decode, which for a 200-entry address book cost more than the merge.
//
// The cache holds committed state only: the core takes a document out for a batch and
// puts it back after the commit; a batch that rolls back loses what it took, and the next
// read goes to the store.
//
// Ownership and threads: owned by ServerCore, used from its worker thread only.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "server-node/entry_encodings.hpp"
#include "shared/document.hpp"

namespace pdsync::server {

class DocumentCache {
  public:
    explicit DocumentCache(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}

    struct Taken {
        Document doc;
        std::size_t bytes = 0;     // its encoded size
        EntryEncodings encodings;  // its entries' bytes, to re-encode only what changes
    };
    // Removes and returns the document, if cached.
    std::optional<Taken> take(const DocKey& key);
    // The cached document's encoding, or nullopt; it stays cached, now most recently used.
    std::optional<std::string> encoded(const DocKey& key);
    // Adds or replaces a committed document; evicts the least recently used to fit.
    void put(Document doc, std::size_t bytes, EntryEncodings encodings = {});
    void erase(const DocKey& key);

    std::size_t size() const { return index_.size(); }
    std::size_t bytes() const { return bytes_; }

  private:
    struct Slot {
        DocKey key;
        Document doc;
        std::size_t bytes;
        EntryEncodings encodings;
    };
    std::size_t capacity_;
    std::size_t bytes_ = 0;
    std::list<Slot> lru_;  // most recently used first
    std::map<DocKey, std::list<Slot>::iterator> index_;
};

}  // namespace pdsync::server
