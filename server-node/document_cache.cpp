// DocumentCache: an LRU list with a map index.
#include "server-node/document_cache.hpp"

namespace pdsync::server {

std::optional<DocumentCache::Taken> DocumentCache::take(const DocKey& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    Taken out{std::move(it->second->doc), it->second->bytes, std::move(it->second->encodings)};
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
    return out;
}

std::optional<std::string> DocumentCache::encoded(const DocKey& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->encodings.encode(it->second->doc);
}

void DocumentCache::put(Document doc, std::size_t bytes, EntryEncodings encodings) {
    DocKey key = doc.key();
    erase(key);
    if (bytes > capacity_) return;  // would push out everything else
    while (bytes_ + bytes > capacity_ && !lru_.empty()) erase(lru_.back().key);
    lru_.push_front(Slot{key, std::move(doc), bytes, std::move(encodings)});
    index_[key] = lru_.begin();
    bytes_ += bytes;
}

void DocumentCache::erase(const DocKey& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
}

}  // namespace pdsync::server
