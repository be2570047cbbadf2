// Sessions and the failed-login throttle of the web admin page.
#include "server-node/web/web_sessions.hpp"

#include <sodium.h>

#include <algorithm>

#include "shared/base/hex.hpp"

namespace pdsync::server::web {

std::string random_token() {
    return random_hex(32);
}

bool tokens_equal(const std::string& a, const std::string& b) {
    if (a.size() != b.size() || a.empty()) return false;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

SessionTable::SessionTable(int64_t idle_ms, int64_t max_age_ms, std::size_t max_sessions)
    : idle_ms_(idle_ms), max_age_ms_(max_age_ms), max_sessions_(max_sessions) {}

bool SessionTable::expired(const Session& s, int64_t now_ms) const {
    return now_ms - s.last_used_ms > idle_ms_ || now_ms - s.created_ms > max_age_ms_;
}

Session SessionTable::open(int64_t now_ms) {
    std::lock_guard lock(mu_);
    std::erase_if(sessions_, [&](const auto& kv) { return expired(kv.second, now_ms); });
    while (!sessions_.empty() && sessions_.size() >= max_sessions_) {
        auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
            return a.second.last_used_ms < b.second.last_used_ms;
        });
        sessions_.erase(oldest);
    }
    Session s{random_token(), random_token(), now_ms, now_ms};
    sessions_[s.token] = s;
    return s;
}

std::optional<Session> SessionTable::use(const std::string& token, int64_t now_ms, bool touch) {
    std::lock_guard lock(mu_);
    if (token.empty()) return std::nullopt;
    // Looked up by the map's ordering, not compared byte by byte in constant time: a timing
    // difference here tells an attacker about a prefix of a 256-bit random value, which does
    // not bring a guess any closer than chance.
    auto it = sessions_.find(token);
    if (it == sessions_.end()) return std::nullopt;
    if (expired(it->second, now_ms)) {
        sessions_.erase(it);
        return std::nullopt;
    }
    if (touch) it->second.last_used_ms = now_ms;
    return it->second;
}

void SessionTable::close(const std::string& token) {
    std::lock_guard lock(mu_);
    sessions_.erase(token);
}

std::size_t SessionTable::size() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
}

LoginThrottle::LoginThrottle(int64_t first_delay_ms, int64_t max_delay_ms, std::size_t max_entries)
    : first_delay_ms_(first_delay_ms), max_delay_ms_(max_delay_ms), max_entries_(max_entries) {}

int64_t LoginThrottle::wait_ms(const std::string& address, int64_t now_ms) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(address);
    if (it == entries_.end()) return 0;
    return std::max<int64_t>(0, it->second.next_allowed_ms - now_ms);
}

void LoginThrottle::failed(const std::string& address, int64_t now_ms) {
    std::lock_guard lock(mu_);
    if (!entries_.count(address) && entries_.size() >= max_entries_) {
        // Forget the address that failed longest ago; an attacker cycling through addresses
        // still meets the delay of each one it reuses.
        auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
            return a.second.last_failure_ms < b.second.last_failure_ms;
        });
        entries_.erase(oldest);
    }
    Entry& e = entries_[address];
    e.failures = std::min(e.failures + 1, 30);
    int64_t delay = first_delay_ms_;
    for (int i = 1; i < e.failures && delay < max_delay_ms_; ++i) delay *= 2;
    e.next_allowed_ms = now_ms + std::min(delay, max_delay_ms_);
    e.last_failure_ms = now_ms;
}

void LoginThrottle::succeeded(const std::string& address) {
    std::lock_guard lock(mu_);
    entries_.erase(address);
}

}  // namespace pdsync::server::web
