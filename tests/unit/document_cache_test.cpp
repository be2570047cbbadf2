// DocumentCache: take/put round trip, LRU eviction by encoded bytes, erase.
#include <gtest/gtest.h>

#include "server-node/document_cache.hpp"

using namespace pdsync;
using namespace pdsync::server;

namespace {
Document doc(const std::string& user, uint64_t version) {
    Document d;
    d.user = user;
    d.category = Category::addressbook;
    d.version = version;
    return d;
}
DocKey key(const std::string& user) {
    return DocKey{user, Category::addressbook};
}
}  // namespace

TEST(DocumentCache, TakeRemovesAndPutReturns) {
    DocumentCache cache(100);
    cache.put(doc("a", 3), 10);
    auto taken = cache.take(key("a"));
    ASSERT_TRUE(taken.has_value());
    EXPECT_EQ(taken->doc.version, 3u);
    EXPECT_EQ(taken->bytes, 10u);
    EXPECT_FALSE(cache.take(key("a")).has_value());  // taken out, not copied
    EXPECT_EQ(cache.bytes(), 0u);
}

TEST(DocumentCache, EvictsLeastRecentlyUsedToStayWithinCapacity) {
    DocumentCache cache(30);
    cache.put(doc("a", 1), 10);
    cache.put(doc("b", 1), 10);
    cache.put(doc("c", 1), 10);
    auto a = cache.take(key("a"));  // a is used again: b is now the oldest
    ASSERT_TRUE(a.has_value());
    cache.put(std::move(a->doc), a->bytes);
    cache.put(doc("d", 1), 10);
    EXPECT_FALSE(cache.take(key("b")).has_value());  // evicted
    EXPECT_EQ(cache.size(), 3u);                     // a, c, d
    EXPECT_EQ(cache.bytes(), 30u);
}

TEST(DocumentCache, ReplacesAndErasesAndSkipsOversizedDocuments) {
    DocumentCache cache(30);
    cache.put(doc("a", 1), 10);
    cache.put(doc("a", 2), 12);
    EXPECT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.bytes(), 12u);
    cache.put(doc("huge", 1), 31);
    EXPECT_FALSE(cache.take(key("huge")).has_value());
    cache.erase(key("a"));
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.bytes(), 0u);
}
