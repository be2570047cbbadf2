// EntryEncodings: the incrementally assembled wire form equals encode_document() at every
// size class of MessagePack's headers and after edits, inserts, deletes and unknown keys.
#include <gtest/gtest.h>

#include "server-node/entry_encodings.hpp"
#include "shared/merge.hpp"

using namespace pdsync;
using namespace pdsync::server;

namespace {
Document book(std::size_t entries, bool with_fields = true) {
    Document d;
    d.user = "alice";
    d.category = Category::addressbook;
    d.version = 7;
    d.updated_at = 1700000000000;
    for (std::size_t i = 0; i < entries; ++i) {
        Entry e;
        e.id = "e" + std::to_string(i);
        e.rev = 1 + i % 5;
        if (with_fields)
            e.fields = {{"name", "Person " + std::to_string(i)}, {"mail", "p@example.com"}};
        d.entries.push_back(std::move(e));
    }
    return d;
}
ChangeOp put(const std::string& id, const std::string& name) {
    ChangeOp op;
    op.kind = OpKind::put;
    op.id = id;
    op.fields = {{"name", name}};
    return op;
}
}  // namespace

TEST(EntryEncodings, AssemblesTheSameBytesAsEncodeDocumentAtEveryHeaderSize) {
    // 15/16: fixarray to array16; 65536: array16 to array32 (bare entries keep it fast).
    for (std::size_t n : {0u, 1u, 15u, 16u, 200u, 65536u}) {
        Document d = book(n, n < 1000);
        EntryEncodings enc;
        EXPECT_EQ(enc.encode(d), encode_document(d)) << n << " entries";
        EXPECT_EQ(enc.encode(d), encode_document(d)) << n << " entries, from kept bytes";
    }
}

TEST(EntryEncodings, ReencodesOnlyWhatChangedAndStaysEqualAfterEdits) {
    Document d = book(40);
    d.extra = {{"a_newer_key", 1}, {"zz_newer_key", "x"}};  // sorts around "entries"
    d.entries[3].extra = {{"color", "red"}};
    EntryEncodings enc;
    ASSERT_EQ(enc.encode(d), encode_document(d));
    std::vector<ChangeOp> ops = {put("e5", "Changed"), put("new", "Inserted")};
    ChangeOp del;
    del.kind = OpKind::remove;
    del.id = "e9";
    ops.push_back(del);
    MergeOutcome m = apply_ops(d, ops, d.version + 1);
    ASSERT_TRUE(m.changed);
    d.version += 1;
    for (const auto& op : ops) enc.invalidate(op.id);
    EXPECT_EQ(enc.encode(d), encode_document(d));
    // An entry changed without invalidation is still caught by its rev.
    d.entries[0].fields = {{"name", "Quietly changed"}};
    d.entries[0].rev = 99;
    EXPECT_EQ(enc.encode(d), encode_document(d));
    // Entries dropped (pruned tombstones) leave no trace in the output.
    d.entries.resize(10);
    EXPECT_EQ(enc.encode(d), encode_document(d));
}
