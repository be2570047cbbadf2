// Codec: round trips, and every decoding bound turns into an error value, not a crash.
#include <gtest/gtest.h>

#include "shared/codec.hpp"
#include "shared/document.hpp"

using namespace pdsync;

namespace {
std::string pack(const Value& v) {
    return encode_msgpack_unchecked(v);
}
}  // namespace

TEST(Codec, RoundTripsEveryValueKind) {
    Value v = {{"s", "héllo"},   {"i", -5},           {"u", 18446744073709551615ULL},
               {"f", 1.5},       {"b", true},         {"n", nullptr},
               {"a", {1, 2, 3}}, {"m", {{"k", "v"}}}, {"bin", Value::binary({1, 2, 255})}};
    auto back = decode_msgpack(pack(v));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, v);
}

TEST(Codec, RefusesEmptyAndTruncatedInput) {
    EXPECT_EQ(decode_msgpack("").code(), Errc::malformed);
    std::string full = pack(Value{{"key", "a long enough string value"}});
    EXPECT_EQ(decode_msgpack(full.substr(0, full.size() - 3)).code(), Errc::malformed);
}

TEST(Codec, RefusesTrailingBytes) {
    std::string two = pack(Value(1)) + pack(Value(2));
    EXPECT_EQ(decode_msgpack(two).code(), Errc::malformed);
}

TEST(Codec, RefusesPayloadOverSizeBound) {
    DecodeLimits limits;
    limits.max_bytes = 100;
    EXPECT_EQ(decode_msgpack(pack(Value(std::string(200, 'x'))), limits).code(), Errc::too_large);
}

TEST(Codec, RefusesDeepNesting) {
    Value v = 1;
    for (int i = 0; i < 40; ++i) v = Value::array({v});
    EXPECT_EQ(decode_msgpack(pack(v)).code(), Errc::too_large);
}

TEST(Codec, RefusesLongStringArrayAndMap) {
    DecodeLimits limits;
    limits.max_string = 10;
    limits.max_array = 5;
    limits.max_map = 5;
    EXPECT_EQ(decode_msgpack(pack(Value(std::string(11, 'x'))), limits).code(), Errc::too_large);
    EXPECT_EQ(decode_msgpack(pack(Value::array({1, 2, 3, 4, 5, 6})), limits).code(),
              Errc::too_large);
    Value m = Value::object();
    for (int i = 0; i < 6; ++i) m[std::to_string(i)] = i;
    EXPECT_EQ(decode_msgpack(pack(m), limits).code(), Errc::too_large);
}

TEST(Codec, RefusesHugeDeclaredLengthWithoutAllocating) {
    // array32 header claiming 4 billion items, followed by nothing.
    std::string evil = "\xdd\xff\xff\xff\xff";
    EXPECT_NE(decode_msgpack(evil).code(), Errc::ok);
    // str32 header claiming 4 GiB.
    std::string evil_str = "\xdb\xff\xff\xff\xff";
    EXPECT_NE(decode_msgpack(evil_str).code(), Errc::ok);
}

TEST(Codec, RefusesNonStringMapKeysAndExtensions) {
    std::string int_key = "\x81\x01\x02";  // {1: 2}
    EXPECT_EQ(decode_msgpack(int_key).code(), Errc::malformed);
    std::string ext = "\xd4\x01\x00";  // fixext1
    EXPECT_EQ(decode_msgpack(ext).code(), Errc::malformed);
}

TEST(Codec, EncodeRefusesOversizedDocument) {
    DecodeLimits limits;
    limits.max_bytes = 64;
    EXPECT_EQ(encode_msgpack(Value(std::string(100, 'y')), limits).code(), Errc::too_large);
}

TEST(Document, RoundTripKeepsUnknownFieldsAndOrder) {
    Document d;
    d.user = "alice";
    d.category = Category::keychain;
    d.version = 7;
    d.updated_at = 1234;
    d.extra = {{"future_doc_field", "x"}};
    for (int i = 0; i < 5; ++i) {
        Entry e;
        e.id = "k" + std::to_string(4 - i);
        e.rev = static_cast<uint64_t>(i + 1);
        e.fields = {{"host", "srv" + std::to_string(i)}, {"new_firmware_field", {1, 2}}};
        e.extra = {{"future_entry_field", true}};
        d.entries.push_back(e);
    }
    d.entries[2].deleted = true;
    d.entries[2].fields = Value::object();
    auto back = decode_document(encode_document(d));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, d);
    EXPECT_EQ(back->entries.front().id, "k4");
}

TEST(Document, RefusesDuplicateEntryIdsAndWrongShapes) {
    Value v = {{"schema", kDocumentSchema},
               {"user", "u"},
               {"category", "addressbook"},
               {"entries", {{{"id", "a"}}, {{"id", "a"}}}}};
    EXPECT_EQ(document_from_value(v).code(), Errc::bad_entry);
    v["entries"] = "not an array";
    EXPECT_EQ(document_from_value(v).code(), Errc::malformed);
    v.erase("entries");
    v["category"] = "nonsense";
    EXPECT_EQ(document_from_value(v).code(), Errc::unknown_category);
    v["category"] = "guest-home";  // shared, but has a user
    EXPECT_EQ(document_from_value(v).code(), Errc::malformed);
    v["schema"] = "pds.doc/99";
    EXPECT_EQ(document_from_value(v).code(), Errc::bad_schema);
}
