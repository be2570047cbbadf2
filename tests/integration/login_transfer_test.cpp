// What a login costs on the wire (docs/protocol.md §5.4): a device whose cache holds the
// current documents subscribes without their retained copies and receives no document
// bytes; one whose copy is stale gets the changed entries as a delta; one that knows nothing gets
// the complete current document from the retained topic. Bytes are counted by a TCP proxy between
// the device and the broker.
#include <gtest/gtest.h>

#include "tests/support/documents.hpp"
#include "tests/support/fleet.hpp"
#include "tests/support/tcp_proxy.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

constexpr int kEntries = 30;
constexpr std::size_t kNoteBytes = 600;  // each entry ~0.6 KiB: the book is ~18 KiB

Value add(int i, const std::string& note) {
    return Value{{"op", "add"},
                 {"id", "e" + std::to_string(i)},
                 {"fields", {{"name", "Person " + std::to_string(i)}, {"note", note}}}};
}

// Logs in and returns the bytes the broker sent the device meanwhile.
uint64_t login_bytes(Device& d, TcpProxy& link, const std::string& user) {
    uint64_t before = link.bytes_to_clients();
    Value r = d.login(user);
    EXPECT_TRUE(r.value("ok", false)) << r.dump();
    EXPECT_EQ(r.value("source", ""), "server") << r.dump();
    return link.bytes_to_clients() - before;
}

}  // namespace

TEST(LoginTransfer, WarmLoginSendsNoDocumentStaleGetsADeltaColdGetsItWhole) {
    TempDir dir;
    Broker broker(dir);
    TcpProxy link(broker.port());
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {link.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined()) << a.log();
    ASSERT_TRUE(b.wait_joined()) << b.log();
    ASSERT_TRUE(a.login("alice").value("ok", false));
    Value ops = Value::array();
    for (int i = 0; i < kEntries; ++i) ops.push_back(add(i, std::string(kNoteBytes, 'n')));
    ASSERT_EQ(a.edit("addressbook", ops).value("state", ""), "acked") << server.log();
    const uint64_t book = kEntries * kNoteBytes;

    // Cold: nothing cached, so the whole current document comes from the retained topic.
    uint64_t cold = login_bytes(b, link, "alice");
    EXPECT_GE(cold, book);
    EXPECT_EQ(b.show("addressbook").size(), static_cast<std::size_t>(kEntries));
    b.logout();

    // Warm: the cache holds the current version; only the manifest travels.
    uint64_t warm = login_bytes(b, link, "alice");
    EXPECT_LT(warm, book / 10) << "a warm login received document bytes: " << warm;
    EXPECT_EQ(b.show("addressbook").size(), static_cast<std::size_t>(kEntries));
    b.logout();

    // Stale: A changed an entry while B was away; B's login brings the current version as
    // a delta in the login reply (the changed entry and the order), not the whole book.
    Value edit = {{"op", "update"}, {"id", "e3"}, {"fields", {{"name", "Changed"}}}};
    ASSERT_EQ(a.edit("addressbook", {edit}).value("state", ""), "acked");
    uint64_t stale = login_bytes(b, link, "alice");
    EXPECT_LT(stale, book / 4) << "a stale login received the whole document: " << stale;
    Value on_b = b.show("addressbook");
    ASSERT_EQ(on_b.size(), static_cast<std::size_t>(kEntries));
    EXPECT_EQ(on_b[3]["fields"]["name"], "Changed") << on_b.dump();

    // Logged in without the retained copy, B still follows live changes.
    Value live = {{"op", "update"}, {"id", "e4"}, {"fields", {{"name", "Live"}}}};
    ASSERT_EQ(a.edit("addressbook", {live}).value("state", ""), "acked");
    EXPECT_TRUE(wait_until([&] { return b.show("addressbook")[4]["fields"]["name"] == "Live"; }))
        << b.show("addressbook").dump();
}
