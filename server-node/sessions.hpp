// Device–user sessions: which users are logged in on which device, as the server learns it
// from login and logout events (docs/security.md). A device may send change sets for a
// user, and read that user's documents, only while the user has a session on it. A session
// opens at a login event and ends at logout, when the device goes offline (its presence
// turns offline once the broker's keep-alive lapses), after tuning::sessions::kIdleTimeout
// without activity, or when the device opens more than tuning::sessions::kMaxPerDevice.
// The first login of a user the server does not hold spends one of the device's new-user
// tokens (a burst, then one per tuning::sessions::kNewUserRefillEvery), so no device can flood the
// user limit with made-up users.
//
// Every opened and closed session is written as a line of the session table the broker's
// session plugin keeps (broker-config/sessions-plugin/pdsync_sessions.c):
//   "grant <device_id> <encoded user id>", "revoke <device_id> <encoded user id>", and
//   "reset" (forget every grant) before a full table.
//
//   Sessions s;
//   s.open("mfp-1", "alice", now, lines);  // lines: "grant mfp-1 alice\n"
//   s.has("mfp-1", "alice");               // true
//   s.close_device("mfp-1", lines);        // "revoke mfp-1 alice\n"
//
// Ownership and threads: a member of ServerCore, on its worker thread; not thread-safe.
// Held in memory only: after a server restart devices join again and send their logins.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "shared/base/result.hpp"
#include "shared/codec.hpp"

namespace pdsync::server {

class Sessions {
  public:
    // Opens a session, or refreshes one that is open. Appends the table lines to `lines`.
    // A session beyond the per-device bound closes that device's least recently active one.
    void open(const std::string& device, const std::string& user, int64_t now_ms,
              std::string& lines);
    // Ends one session (a logout); nothing if there was none.
    void close(const std::string& device, const std::string& user, std::string& lines);
    // Ends every session of a device (it went offline, or was removed).
    void close_device(const std::string& device, std::string& lines);
    // Ends every session idle for longer than the timeout.
    void expire(int64_t now_ms, std::string& lines);
    // Ends every session of a user (the user was deleted or evicted).
    void close_user(const std::string& user, std::string& lines);

    bool has(const std::string& device, const std::string& user) const;
    // Records activity (a change set) on an open session.
    void touch(const std::string& device, const std::string& user, int64_t now_ms);

    // Spends one of the device's new-user tokens; Errc::rate_limited when it has none.
    [[nodiscard]] Status take_new_user(const std::string& device, int64_t now_ms);

    // The whole table, after a "reset": for a broker that restarted or was reconnected.
    std::string table() const;
    // {"sessions": open sessions, "new_users_refused": logins refused by the rate bound,
    //  "rate_limited_at": when the last one was refused (ms, 0 if never)}, for the status.
    Value status_of(const std::string& device) const;

  private:
    struct Bucket {
        double tokens = -1;  // -1: not yet filled (a device starts with a full burst)
        int64_t at_ms = 0;
        uint64_t refused = 0;
        int64_t refused_at_ms = 0;
    };
    // device -> user -> last activity (ms)
    std::map<std::string, std::map<std::string, int64_t>> open_;
    std::map<std::string, Bucket> buckets_;
};

}  // namespace pdsync::server
