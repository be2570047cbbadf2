// Merge rules: per-entry merge, order, tombstones, registration.
#include <gtest/gtest.h>

#include "shared/merge.hpp"

using namespace pdsync;

namespace {
ChangeOp put(std::string id, Value fields, uint64_t base = 0,
             std::optional<std::string> after = std::nullopt) {
    ChangeOp op;
    op.kind = OpKind::put;
    op.id = std::move(id);
    op.fields = std::move(fields);
    op.base_rev = base;
    op.after = std::move(after);
    return op;
}
ChangeOp del(std::string id) {
    ChangeOp op;
    op.kind = OpKind::remove;
    op.id = std::move(id);
    return op;
}
ChangeOp move(std::string id, std::string after) {
    ChangeOp op;
    op.kind = OpKind::move;
    op.id = std::move(id);
    op.after = std::move(after);
    return op;
}
std::vector<std::string> order(const Document& d) {
    std::vector<std::string> ids;
    for (const auto* e : d.live_entries()) ids.push_back(e->id);
    return ids;
}
}  // namespace

TEST(Merge, EditsOfDifferentEntriesBothSurvive) {
    Document d;
    apply_ops(d, {put("a", {{"n", 1}}), put("b", {{"n", 1}})}, 1);
    apply_ops(d, {put("a", {{"n", 2}}, 1)}, 2);  // device A
    apply_ops(d, {put("b", {{"n", 3}}, 1)}, 3);  // device B, same base
    EXPECT_EQ(d.find("a")->fields["n"], 2);
    EXPECT_EQ(d.find("b")->fields["n"], 3);
    EXPECT_EQ(d.find("a")->rev, 2u);
}

TEST(Merge, SameEntryLaterInServerOrderWins) {
    Document d;
    apply_ops(d, {put("a", {{"n", 1}})}, 1);
    apply_ops(d, {put("a", {{"n", 2}}, 1)}, 2);
    apply_ops(d, {put("a", {{"n", 3}}, 1)}, 3);
    EXPECT_EQ(d.find("a")->fields["n"], 3);
}

TEST(Merge, LateEditDoesNotResurrectDeletedEntry) {
    Document d;
    apply_ops(d, {put("a", {{"n", 1}})}, 1);
    apply_ops(d, {del("a")}, 2);
    auto m = apply_ops(d, {put("a", {{"n", 9}}, 1)}, 3);  // edited before seeing the delete
    EXPECT_FALSE(m.changed);
    ASSERT_EQ(m.conflicts.size(), 1u);
    EXPECT_TRUE(d.find("a")->deleted);
    // A device that saw the delete (base_rev 2) may re-create it on purpose.
    auto m2 = apply_ops(d, {put("a", {{"n", 10}}, 2)}, 4);
    EXPECT_TRUE(m2.changed);
    EXPECT_FALSE(d.find("a")->deleted);
}

TEST(Merge, OrderIsExplicitAndMovesAreReproduced) {
    Document d;
    apply_ops(d, {put("a", {}), put("b", {}), put("c", {})}, 1);
    EXPECT_EQ(order(d), (std::vector<std::string>{"a", "b", "c"}));
    apply_ops(d, {move("c", "")}, 2);
    EXPECT_EQ(order(d), (std::vector<std::string>{"c", "a", "b"}));
    apply_ops(d, {move("c", "a")}, 3);
    EXPECT_EQ(order(d), (std::vector<std::string>{"a", "c", "b"}));
    apply_ops(d, {put("d", {}, 0, std::string("a"))}, 4);
    EXPECT_EQ(order(d), (std::vector<std::string>{"a", "d", "c", "b"}));
    apply_ops(d, {move("a", "missing")}, 5);  // missing anchor: last
    EXPECT_EQ(order(d), (std::vector<std::string>{"d", "c", "b", "a"}));
}

TEST(Merge, UpdateKeepsPositionUnlessToldOtherwise) {
    Document d;
    apply_ops(d, {put("a", {}), put("b", {}), put("c", {})}, 1);
    apply_ops(d, {put("a", {{"x", 1}}, 1)}, 2);
    EXPECT_EQ(order(d), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Merge, MoveOfDeletedEntryIsAConflict) {
    Document d;
    apply_ops(d, {put("a", {}), put("b", {})}, 1);
    apply_ops(d, {del("a")}, 2);
    auto m = apply_ops(d, {move("a", "b")}, 3);
    EXPECT_FALSE(m.changed);
    EXPECT_EQ(m.conflicts, (std::vector<std::string>{"a"}));
}

TEST(Merge, PruneTombstonesDropsOldestFirst) {
    Document d;
    for (int i = 0; i < 5; ++i) apply_ops(d, {put("e" + std::to_string(i), {})}, 1);
    for (int i = 0; i < 5; ++i)
        apply_ops(d, {del("e" + std::to_string(i))}, static_cast<uint64_t>(10 + i));
    EXPECT_EQ(prune_tombstones(d, 2), 3u);
    EXPECT_EQ(d.entries.size(), 2u);
    EXPECT_NE(d.find("e4"), nullptr);
    EXPECT_NE(d.find("e3"), nullptr);
}

TEST(Merge, RegistrationBuildsVersionOne) {
    ChangeSet cs;
    cs.user = "bob";
    cs.category = Category::keychain;
    cs.registers = true;
    cs.ops = {put("k1", {{"host", "a"}}), put("k2", {{"host", "b"}})};
    Document d = document_from_registration(cs, 1, 42);
    EXPECT_EQ(d.version, 1u);
    EXPECT_EQ(d.user, "bob");
    EXPECT_EQ(order(d), (std::vector<std::string>{"k1", "k2"}));
}
