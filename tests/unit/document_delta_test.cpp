// Document bytes and deltas: split and assemble give back encode_document()'s bytes; a
// delta made on the server's bytes, carried through its wire form and applied to the
// device's older copy gives the server's bytes exactly; every misfit is refused.
#include <gtest/gtest.h>

#include <cstdint>

#include "shared/document_bytes.hpp"
#include "shared/document_delta.hpp"
#include "shared/merge.hpp"

using namespace pdsync;

namespace {
Document book(std::size_t entries, uint64_t version = 7) {
    Document d;
    d.user = "alice";
    d.category = Category::addressbook;
    d.version = version;
    d.updated_at = 1700000000000;
    d.extra = {{"a_newer_key", 1}, {"zz_newer_key", "x"}};  // sorts around "entries"
    for (std::size_t i = 0; i < entries; ++i) {
        Entry e;
        e.id = "e" + std::to_string(i);
        e.rev = 1 + i % 5;
        e.fields = {{"name", "Person " + std::to_string(i)},
                    {"mail", "p@example.com"},
                    {"fax", {{"ecm", true}, {"speed", 14400}, {"ratio", 0.5}}}};
        d.entries.push_back(std::move(e));
    }
    if (entries > 2) d.entries[2].extra = {{"color", "red"}};
    return d;
}

ChangeOp op(OpKind kind, const std::string& id, std::optional<std::string> after = {}) {
    ChangeOp o;
    o.kind = kind;
    o.id = id;
    if (kind == OpKind::put) o.fields = {{"name", "Changed " + id}};
    o.after = std::move(after);
    return o;
}

// The server's document after one more change set: an edit, an insert, a delete, a move.
Document edited(Document d) {
    std::vector<ChangeOp> ops = {op(OpKind::put, "e5"), op(OpKind::put, "new", "e1"),
                                 op(OpKind::remove, "e9"), op(OpKind::move, "e3", "")};
    MergeOutcome m = apply_ops(d, ops, d.version + 1);
    EXPECT_TRUE(m.changed);
    d.version += 1;
    return d;
}

DocumentDelta over_the_wire(const DocumentDelta& d) {
    auto back = decode_msgpack(encode_msgpack_unchecked(delta_to_value(d)));
    EXPECT_TRUE(back) << back.error().message;
    auto delta = delta_from_value(*back);
    EXPECT_TRUE(delta) << delta.error().message;
    return *delta;
}
}  // namespace

TEST(DocumentBytes, SplitFindsEveryEntryAndAssembleGivesTheSameBytes) {
    for (std::size_t n : {0u, 3u, 15u, 16u, 300u}) {
        Document d = book(n);
        if (n == 0) d.extra = Value::object();
        std::string bytes = encode_document(d);
        auto split = split_document(bytes);
        ASSERT_TRUE(split) << split.error().message;
        ASSERT_EQ(split->entries.size(), n);
        Value head = Value::object();
        for (const auto& [key, value] : split->head)
            head[std::string(key)] = *decode_msgpack(value);
        EXPECT_EQ(head, document_head_to_value(d));
        std::vector<std::string_view> entries;
        for (std::size_t i = 0; i < n; ++i) {
            EXPECT_EQ(split->entries[i].id, d.entries[i].id);
            EXPECT_EQ(split->entries[i].rev, d.entries[i].rev);
            EXPECT_EQ(split->entries[i].bytes, encode_entry(d.entries[i]));
            entries.push_back(split->entries[i].bytes);
        }
        EXPECT_EQ(assemble_document(head, entries), bytes) << n << " entries";
    }
}

TEST(DocumentBytes, EveryCutOrCorruptedDocumentIsRefusedWithoutReadingPastItsEnd) {
    std::string bytes = encode_document(book(4));
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        auto split = split_document(std::string_view(bytes).substr(0, cut));
        ASSERT_FALSE(split) << "cut at " << cut;
        EXPECT_EQ(split.error().code, Errc::malformed);
    }
    EXPECT_FALSE(split_document(bytes + "x"));  // bytes after the document
    EXPECT_FALSE(split_document(encode_msgpack_unchecked(Value::array({1, 2}))));
    EXPECT_FALSE(split_document(encode_msgpack_unchecked({{"entries", {{{"rev", 1}}}}})));  // no id
    EXPECT_FALSE(split_document(encode_msgpack_unchecked({{"entries", {1}}})));  // not a map
    // A map that claims 2^32-1 items in five bytes.
    EXPECT_FALSE(split_document(std::string("\xdf\xff\xff\xff\xff", 5)));
    // Every single-byte corruption either splits into something or is refused: no crash.
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        std::string bad = bytes;
        bad[at] = static_cast<char>(bad[at] ^ 0x5A);
        (void)split_document(bad);
    }
}

TEST(DocumentDelta, AStaleCopyPlusTheDeltaIsTheServersDocumentByteForByte) {
    Document old_doc = book(200);
    Document new_doc = edited(old_doc);
    std::string old_bytes = encode_document(old_doc);
    std::string new_bytes = encode_document(new_doc);
    auto made = make_delta(new_bytes, old_doc.version, new_bytes.size() / 2);
    ASSERT_TRUE(made) << made.error().message;
    ASSERT_TRUE(*made);
    DocumentDelta delta = over_the_wire(**made);
    // Only what changed travels: the edit, the insert, the tombstone and the moved entry.
    EXPECT_EQ(delta.entries.size(), 4u);
    EXPECT_EQ(delta.order.size(), new_doc.entries.size());
    EXPECT_LT(delta.wire_bytes(), new_bytes.size() / 10);
    auto applied = apply_delta(old_bytes, delta, old_doc.key());
    ASSERT_TRUE(applied) << applied.error().message;
    EXPECT_EQ(*applied, new_bytes);
}

TEST(DocumentDelta, NoDeltaWhenItWouldNotBeSmallerOrTheDeviceIsCurrent) {
    Document d = book(10);
    std::string bytes = encode_document(d);
    auto current = make_delta(bytes, d.version, bytes.size());
    ASSERT_TRUE(current);
    EXPECT_FALSE(*current);  // the device holds this version
    auto everything = make_delta(bytes, 0, bytes.size() / 2);
    ASSERT_TRUE(everything);
    EXPECT_FALSE(*everything);  // every entry changed since 0: the retained copy is cheaper
}

TEST(DocumentDelta, NoDeltaFromADocumentWithAnEntryPastItsVersion) {
    Document d = book(10);
    d.entries[3].rev = d.version + 1;
    auto made = make_delta(encode_document(d), 1, SIZE_MAX);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.code(), Errc::malformed);
    EXPECT_NE(made.error().message.find("past version"), std::string::npos) << made.error().message;
}

TEST(DocumentDelta, AMisfitIsRefusedSoTheDeviceTakesTheRetainedCopy) {
    Document old_doc = book(50);
    Document new_doc = edited(old_doc);
    std::string old_bytes = encode_document(old_doc);
    std::string new_bytes = encode_document(new_doc);
    DocumentDelta good = over_the_wire(**make_delta(new_bytes, old_doc.version, new_bytes.size()));

    auto refused = [&](const DocumentDelta& d, std::string_view cached, const DocKey& key) {
        auto r = apply_delta(cached, d, key);
        EXPECT_FALSE(r);
        return r ? std::string() : r.error().message;
    };
    // The device's copy is of another version.
    EXPECT_NE(refused(good, encode_document(book(50, 6)), old_doc.key()).find("version 6"),
              std::string::npos);
    // Another user's document.
    EXPECT_NE(refused(good, old_bytes, DocKey{"bob", Category::addressbook}).find("another"),
              std::string::npos);
    // An order naming an entry that is neither changed nor cached.
    DocumentDelta unknown = good;
    unknown.order.push_back("ghost");
    EXPECT_NE(refused(unknown, old_bytes, old_doc.key()).find("ghost"), std::string::npos);
    // A changed entry left out of the order.
    DocumentDelta dropped = good;
    std::erase(dropped.order, std::string("new"));
    EXPECT_NE(refused(dropped, old_bytes, old_doc.key()).find("not in the order"),
              std::string::npos);
    // A changed entry whose bytes differ from the server's: the digest tells.
    DocumentDelta tampered = good;
    Entry e = *decode_entry(tampered.entries[0]);
    e.fields["name"] = "Mallory";
    tampered.entries[0] = encode_entry(e);
    EXPECT_NE(refused(tampered, old_bytes, old_doc.key()).find("differs"), std::string::npos);
    // An entry whose rev is not in (from, version].
    DocumentDelta old_rev = good;
    e.rev = 1;
    old_rev.entries[0] = encode_entry(e);
    EXPECT_NE(refused(old_rev, old_bytes, old_doc.key()).find("rev outside"), std::string::npos);
}

TEST(DocumentDelta, TheWireFormRefusesWhatIsNotADelta) {
    Document d = edited(book(5));
    std::string bytes = encode_document(d);
    Value good = delta_to_value(**make_delta(bytes, 7, bytes.size()));
    ASSERT_TRUE(delta_from_value(good));
    for (const char* key : {"from", "version", "head", "entries", "order", "digest"}) {
        Value v = good;
        v.erase(key);
        EXPECT_FALSE(delta_from_value(v)) << "without " << key;
    }
    Value twice = good;
    twice["order"].push_back(twice["order"][0]);
    EXPECT_FALSE(delta_from_value(twice));
    Value control = good;
    control["order"][0] = "bad\nid";
    EXPECT_FALSE(delta_from_value(control));
    Value short_digest = good;
    short_digest["digest"] = Value::binary({1, 2, 3});
    EXPECT_FALSE(delta_from_value(short_digest));
}

TEST(DocumentBytes, CheckingAgainstACheckedCopyDecodesOnlyWhatDiffersAndRefusesWhatDecodeRefuses) {
    Document old_doc = book(40);
    std::string old_bytes = encode_document(old_doc);
    Document new_doc = edited(old_doc);
    std::string new_bytes = encode_document(new_doc);
    for (std::string_view checked : {std::string_view(), std::string_view(old_bytes)}) {
        auto head = check_document_bytes(new_bytes, checked);
        ASSERT_TRUE(head) << head.error().message;
        EXPECT_EQ(head->user, "alice");
        EXPECT_EQ(head->category, Category::addressbook);
        EXPECT_EQ(head->version, new_doc.version);
    }
    // What decode_document refuses, this refuses too, whatever copy it is compared with.
    auto refuses = [&](const Document& bad, Errc code) {
        std::string bytes = encode_document(bad);
        ASSERT_FALSE(decode_document(bytes));
        for (std::string_view checked : {std::string_view(), std::string_view(old_bytes)}) {
            auto r = check_document_bytes(bytes, checked);
            ASSERT_FALSE(r);
            EXPECT_EQ(r.error().code, code) << r.error().message;
        }
    };
    Document dup = new_doc;
    dup.entries.push_back(dup.entries[0]);
    refuses(dup, Errc::bad_entry);
    Document bad_id = new_doc;
    bad_id.entries[4].id = "tab\there";
    refuses(bad_id, Errc::bad_entry);
    Document no_user = new_doc;
    no_user.user.clear();
    refuses(no_user, Errc::malformed);
    // An entry whose bytes differ from the checked copy's is decoded: a corrupt one fails.
    Value v = document_to_value(new_doc);
    v["entries"][3]["fields"] = "not a map";
    auto r = check_document_bytes(encode_msgpack_unchecked(v), old_bytes);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::malformed);
}
