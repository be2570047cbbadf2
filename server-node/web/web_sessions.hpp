// Who may use the web admin page: the table of logged-in sessions (a random token in an
// HttpOnly cookie, a CSRF token per session, an idle timeout and a maximum age) and the
// throttle that makes each failed login from an address wait twice as long as the last.
// Pure logic: the clock is passed in (milliseconds of a monotonic clock), so every rule has
// a unit test (tests/unit/web_sessions_test.cpp).
//
// Thread safety: both classes lock internally; any HTTP worker thread may call them.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace pdsync::server::web {

struct Session {
    std::string token;  // the cookie's value: 32 random bytes, hex
    std::string csrf;   // must come back in X-CSRF-Token on every action
    int64_t created_ms = 0;
    int64_t last_used_ms = 0;
};

class SessionTable {
  public:
    SessionTable(int64_t idle_ms, int64_t max_age_ms, std::size_t max_sessions);

    // A new session; beyond max_sessions the least recently used one is closed.
    Session open(int64_t now_ms);
    // The session holding `token`; none if unknown, idle too long or too old (then it is
    // closed). With `touch` its idle time starts again: the page's own polling does not
    // touch, so a tab left open on an unattended PC still times out.
    std::optional<Session> use(const std::string& token, int64_t now_ms, bool touch = true);
    void close(const std::string& token);
    std::size_t size() const;

  private:
    bool expired(const Session& s, int64_t now_ms) const;

    int64_t idle_ms_;
    int64_t max_age_ms_;
    std::size_t max_sessions_;
    mutable std::mutex mu_;
    std::map<std::string, Session> sessions_;
};

class LoginThrottle {
  public:
    LoginThrottle(int64_t first_delay_ms, int64_t max_delay_ms, std::size_t max_entries);

    // Milliseconds `address` must still wait before its next attempt (0: it may try now).
    int64_t wait_ms(const std::string& address, int64_t now_ms) const;
    // A failed attempt: the next one from `address` waits first_delay * 2^(failures-1),
    // capped at max_delay.
    void failed(const std::string& address, int64_t now_ms);
    void succeeded(const std::string& address);

  private:
    struct Entry {
        int failures = 0;
        int64_t next_allowed_ms = 0;
        int64_t last_failure_ms = 0;
    };
    int64_t first_delay_ms_;
    int64_t max_delay_ms_;
    std::size_t max_entries_;
    mutable std::mutex mu_;
    std::map<std::string, Entry> entries_;
};

// Compares two tokens in time independent of where they differ.
bool tokens_equal(const std::string& a, const std::string& b);

// 32 random bytes from libsodium, as 64 hex characters.
std::string random_token();

}  // namespace pdsync::server::web
