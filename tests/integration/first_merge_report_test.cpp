// A first merge where the server's copy wins is the expected outcome (issue 12, item 3):
// `pdsync status` keeps LAST ERROR for errors, the device's status shows no error, and the
// device's log says what happened at info level, with no warning.
#include <gtest/gtest.h>

#include <regex>

#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id, Value fields) {
    return Value{{"op", "add"}, {"id", id}, {"fields", std::move(fields)}};
}

}  // namespace

TEST(FirstMerge, ServerCopyWinningIsReportedAsTheExpectedOutcomeNotAsAnError) {
    TempDir dir;
    Broker broker(dir);
    // Two devices with alice's address book from before synchronization was enabled.
    for (std::string id : {"dev-a", "dev-b"}) {
        Device d(dir, {broker.uri()}, id);
        Value r = d.edit("addressbook", {add(id + "-1", {{"from", id}})}, 0, "alice");
        ASSERT_EQ(r.value("state", ""), "local") << r.dump();
        d.stop();
    }
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined()) << a.log();
    ASSERT_TRUE(wait_until([&] { return a.status()["pending"] == 0; })) << a.log();
    // dev-b registers second: the server already holds alice's address book.
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(b.wait_joined()) << b.log();
    ASSERT_TRUE(wait_until([&] { return b.status()["pending"] == 0; })) << b.log();
    ASSERT_TRUE(b.login("alice").value("ok", false));
    ASSERT_EQ(b.show("addressbook").size(), 1u);
    EXPECT_EQ(b.show("addressbook")[0].value("id", ""), "dev-a-1");  // the server's copy won

    EXPECT_EQ(b.status().value("last_error", "?"), "");
    Value status = server.admin({{"cmd", "status"}});
    bool seen = false;
    for (const auto& m : status["machines"]) {
        if (m.value("device_id", "") != "dev-b") continue;
        seen = true;
        EXPECT_EQ(m.value("last_error", "?"), "") << m.dump();
    }
    EXPECT_TRUE(seen) << status.dump();

    auto cli = run_cli({"status", "--server-socket", server.admin_socket()});
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(cli.out.find("exists"), std::string::npos) << cli.out;

    const std::string log = b.log();
    EXPECT_NE(log.find("first merge: the server already holds addressbook"), std::string::npos)
        << log;
    std::smatch m;
    EXPECT_FALSE(std::regex_search(log, m, std::regex("warning[^\n]*(copy wins|refused)")))
        << m.str();
}
