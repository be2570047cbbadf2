// The web admin page's access rules as pure logic: sessions (idle timeout, maximum age, cap),
// the failed-login delay, password hashes, and the API's refusals (tests/browser/ drives the
// same rules through a real browser).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

#include "server-node/web/web_api.hpp"
#include "server-node/web/web_password.hpp"
#include "server-node/web/web_server.hpp"
#include "server-node/web/web_sessions.hpp"

using namespace pdsync;
using namespace pdsync::server::web;

TEST(WebSessions, ASessionIdleTooLongIsClosed) {
    SessionTable t(1000, 100000, 8);
    Session s = t.open(0);
    EXPECT_EQ(s.token.size(), 64u);
    EXPECT_NE(s.token, s.csrf);
    EXPECT_TRUE(t.use(s.token, 900));
    EXPECT_TRUE(t.use(s.token, 1800));  // each use starts the idle time again
    EXPECT_FALSE(t.use(s.token, 2801));
    EXPECT_FALSE(t.use(s.token, 2802));  // and it stays closed
    EXPECT_EQ(t.size(), 0u);
}

TEST(WebSessions, ThePagesOwnPollingDoesNotKeepASessionAlive) {
    SessionTable t(1000, 100000, 8);
    Session s = t.open(0);
    for (int64_t at = 200; at <= 1000; at += 200) EXPECT_TRUE(t.use(s.token, at, false));
    EXPECT_FALSE(t.use(s.token, 1001, false));
}

TEST(WebSessions, EvenABusySessionEndsAtItsMaximumAge) {
    SessionTable t(1000, 5000, 8);
    Session s = t.open(0);
    for (int64_t at = 500; at <= 5000; at += 500) EXPECT_TRUE(t.use(s.token, at));
    EXPECT_FALSE(t.use(s.token, 5500));
}

TEST(WebSessions, UnknownOrClosedTokensFindNothing) {
    SessionTable t(1000, 5000, 8);
    Session s = t.open(0);
    EXPECT_FALSE(t.use("", 1));
    EXPECT_FALSE(t.use(std::string(64, '0'), 1));
    EXPECT_FALSE(t.use(s.csrf, 1));  // the CSRF token is not a session token
    t.close(s.token);
    EXPECT_FALSE(t.use(s.token, 2));
}

TEST(WebSessions, BeyondTheCapTheLeastRecentlyUsedSessionIsClosed) {
    SessionTable t(100000, 100000, 2);
    Session a = t.open(0), b = t.open(1);
    EXPECT_TRUE(t.use(a.token, 2));  // b is now the least recently used
    Session c = t.open(3);
    EXPECT_EQ(t.size(), 2u);
    EXPECT_TRUE(t.use(a.token, 4));
    EXPECT_FALSE(t.use(b.token, 4));
    EXPECT_TRUE(t.use(c.token, 4));
}

TEST(WebLoginThrottle, EachFailureDoublesTheWaitUpToTheCap) {
    LoginThrottle t(1000, 8000, 16);
    EXPECT_EQ(t.wait_ms("10.0.0.9", 0), 0);
    std::vector<int64_t> waits;
    int64_t now = 0;
    for (int i = 0; i < 6; ++i) {
        t.failed("10.0.0.9", now);
        waits.push_back(t.wait_ms("10.0.0.9", now));
        now += waits.back();
    }
    EXPECT_EQ(waits, (std::vector<int64_t>{1000, 2000, 4000, 8000, 8000, 8000}));
    EXPECT_EQ(t.wait_ms("10.0.0.10", now), 0);  // another address is not held up
    t.succeeded("10.0.0.9");
    EXPECT_EQ(t.wait_ms("10.0.0.9", now), 0);
}

TEST(WebLoginThrottle, ForgetsTheOldestAddressBeyondItsSize) {
    LoginThrottle t(1000, 8000, 2);
    t.failed("a", 0);
    t.failed("b", 1);
    t.failed("c", 2);
    EXPECT_EQ(t.wait_ms("a", 3), 0);
    EXPECT_GT(t.wait_ms("b", 3), 0);
    EXPECT_GT(t.wait_ms("c", 3), 0);
}

TEST(WebPassword, OnlyTheRightPasswordVerifies) {
    auto hash = hash_password("s3cret pass");
    ASSERT_TRUE(hash.ok());
    EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u);
    EXPECT_TRUE(verify_password(*hash, "s3cret pass"));
    EXPECT_FALSE(verify_password(*hash, "s3cret pas"));
    EXPECT_FALSE(verify_password(*hash, ""));
    EXPECT_FALSE(verify_password("", "s3cret pass"));
    EXPECT_FALSE(verify_password("s3cret pass", "s3cret pass"));  // a clear "hash" never matches
    EXPECT_FALSE(hash_password("").ok());
}

TEST(WebPassword, AHashFileOthersCanReadOrThatHoldsNoHashIsRefused) {
    std::string path = testing::TempDir() + "/web-hash-test";
    auto write = [&](const std::string& text, mode_t mode) {
        std::ofstream(path) << text;
        ::chmod(path.c_str(), mode);
    };
    write(*hash_password("pw") + "\n", 0600);
    EXPECT_TRUE(read_password_hash_file(path).ok());
    write(*hash_password("pw") + "\n", 0644);
    EXPECT_EQ(read_password_hash_file(path).code(), Errc::forbidden);
    write("pw\n", 0600);
    EXPECT_EQ(read_password_hash_file(path).code(), Errc::invalid_argument);
    EXPECT_EQ(read_password_hash_file(path + ".missing").code(), Errc::not_found);
    std::remove(path.c_str());
}

TEST(WebListen, LoopbackAddressesAreToldApart) {
    auto a = parse_listen_address("127.0.0.1:8443");
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(a->loopback);
    EXPECT_EQ(a->port, 8443);
    EXPECT_TRUE(parse_listen_address("[::1]:80")->loopback);
    EXPECT_FALSE(parse_listen_address("0.0.0.0:8443")->loopback);
    EXPECT_FALSE(parse_listen_address("10.1.2.3:8443")->loopback);
    for (const char* bad : {"8443", ":8443", "host:", "host:0", "host:70000", "host:84x"})
        EXPECT_FALSE(parse_listen_address(bad).ok()) << bad;
}

namespace {
// The API over a recorded stand-in for ServerNode::admin (pure routing logic).
struct Recorder {
    std::vector<Value> requests;
    Value answer = {{"ok", true}};
    AdminCall call() {
        return [this](const Value& req, const std::function<void(const Value&)>&) {
            requests.push_back(req);
            if (req["cmd"] == "machines-pending" || req["cmd"] == "join-code")
                return Value{{"ok", false},
                             {"error", "invalid_argument"},
                             {"message", "unknown command 'x'"}};
            return answer;
        };
    }
};
}  // namespace

TEST(WebApi, ActionsBecomeTheAdminSocketsCommands) {
    Recorder rec;
    WebApi api(rec.call());
    EXPECT_EQ(api.handle({"POST", "/machines/remove", {}, {{"device_id", "mfp-3f"}}}).status, 200);
    EXPECT_EQ(api.handle({"POST", "/users/delete", {}, {{"user", "bob"}, {"category", "keychain"}}})
                  .status,
              200);
    api.handle({"GET", "/users", {{"prefix", "al"}, {"after", "alice"}, {"limit", "20"}}, {}});
    ASSERT_EQ(rec.requests.size(), 3u);
    EXPECT_EQ(rec.requests[0], (Value{{"cmd", "machines-remove"}, {"device_id", "mfp-3f"}}));
    EXPECT_EQ(rec.requests[1],
              (Value{{"cmd", "users-delete"}, {"user", "bob"}, {"category", "keychain"}}));
    EXPECT_EQ(rec.requests[2],
              (Value{{"cmd", "users-list"}, {"limit", 20}, {"prefix", "al"}, {"after", "alice"}}));
}

TEST(WebApi, AdminErrorsBecomeHttpStatuses) {
    Recorder rec;
    WebApi api(rec.call());
    rec.answer = {{"ok", false}, {"error", "not_found"}, {"message", "no machine"}};
    EXPECT_EQ(api.handle({"POST", "/machines/remove", {}, {{"device_id", "x"}}}).status, 404);
    rec.answer = {{"ok", false}, {"error", "unknown_category"}, {"message", "?"}};
    EXPECT_EQ(api.handle({"POST", "/users/delete", {}, {{"user", "x"}}}).status, 400);
    EXPECT_EQ(api.handle({"GET", "/join-code", {}, {}}).status, 501);  // not on this server
    EXPECT_EQ(api.handle({"GET", "/no-such-route", {}, {}}).status, 404);
    EXPECT_EQ(api.handle({"DELETE", "/users", {}, {}}).status, 404);
    EXPECT_EQ(api.handle({"GET", "/users", {{"limit", "lots"}}, {}}).status, 400);
}

TEST(WebApi, FeaturesSayWhichCommandsThisServerAnswers) {
    Recorder rec;
    WebApi api(rec.call());
    auto f = api.handle({"GET", "/features", {}, {}});
    EXPECT_EQ(f.body["join_code"], false);
    EXPECT_EQ(f.body["pending_machines"], false);
    auto m = api.handle({"GET", "/machines", {}, {}});
    EXPECT_FALSE(m.body.contains("pending"));
}
