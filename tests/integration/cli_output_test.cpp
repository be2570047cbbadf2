// What `pdsync` prints for people (issue 12, item 6): the status's cluster line in words,
// tables aligned by display width for user ids in any script, a login time with at most
// one decimal. Real broker, server and device; the CLI as a user runs it.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "client-node/cli/text_width.hpp"
#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

// The display column where `needle` starts in `line`.
std::size_t column_of(const std::string& line, const std::string& needle) {
    auto at = line.find(needle);
    return at == std::string::npos ? std::string::npos
                                   : cli::display_width(std::string_view(line).substr(0, at));
}

}  // namespace

TEST(CliOutput, StatusShowsTheClusterInWordsNotJson) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    auto r = run_cli({"status", "--server-socket", server.admin_socket()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    bool seen = false;
    for (const auto& l : lines_of(r.out)) {
        if (l.rfind("cluster", 0) != 0) continue;
        seen = true;
        EXPECT_EQ(l.find('{'), std::string::npos) << l;
        EXPECT_NE(l.find("a single server"), std::string::npos) << l;
    }
    EXPECT_TRUE(seen) << r.out;
}

TEST(CliOutput, TablesAlignByDisplayWidthForMultiByteUserIds) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device d(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(d.wait_joined()) << d.log();
    // ASCII, CJK (two columns a character), a combining mark (none), Hangul.
    const std::vector<std::string> users = {"alice", "山田太郎", "ju\xCC\x88rgen", "김민준"};
    for (const auto& u : users) {
        ASSERT_TRUE(d.login(u).value("ok", false)) << u;
        ASSERT_EQ(d.edit("addressbook", {{{"op", "add"}, {"fields", {{"name", "x"}}}}})
                      .value("state", ""),
                  "acked")
            << u;
    }
    auto r = run_cli({"users", "list", "--server-socket", server.admin_socket()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto lines = lines_of(r.out);
    ASSERT_FALSE(lines.empty());
    const std::size_t docs_column = column_of(lines[0], "DOCUMENTS");
    int rows = 0;
    for (const auto& l : lines) {
        if (l.find("addressbook@") == std::string::npos) continue;
        ++rows;
        EXPECT_EQ(column_of(l, "addressbook@"), docs_column) << "\n" << r.out;
    }
    EXPECT_EQ(rows, static_cast<int>(users.size())) << r.out;
}

TEST(CliOutput, LoginTimeHasAtMostOneDecimal) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device d(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(d.wait_joined()) << d.log();
    auto r = run_cli({"device", "--socket", d.socket(), "login", "alice"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(alice is ready \([a-z]+, \d+(\.\d)? ms\))")))
        << r.out;
}
