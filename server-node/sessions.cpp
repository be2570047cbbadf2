// Device–user sessions and the per-device bound on new users.
#include "server-node/sessions.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "shared/base/tuning.hpp"
#include "shared/text.hpp"
#include "shared/user_id.hpp"

namespace pdsync::server {
namespace {

void line(std::string& lines, const char* verb, const std::string& device,
          const std::string& user) {
    lines += verb;
    lines += ' ';
    lines += device;
    lines += ' ';
    // The plugin compares this with the user level of a users/{uid}/... topic as it is.
    lines += encode_user_id(user);
    lines += '\n';
}

}  // namespace

void Sessions::open(const std::string& device, const std::string& user, int64_t now_ms,
                    std::string& lines) {
    auto& users = open_[device];
    auto [it, fresh] = users.insert_or_assign(user, now_ms);
    (void)it;
    if (!fresh) return;
    line(lines, "grant", device, user);
    spdlog::info("device={} user={} session opened", device, quoted_text(user));
    while (users.size() > tuning::sessions::kMaxPerDevice) {
        auto oldest =
            std::min_element(users.begin(), users.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; });
        spdlog::info("device={} user={} session closed: over {} sessions on one device", device,
                     quoted_text(oldest->first), tuning::sessions::kMaxPerDevice);
        line(lines, "revoke", device, oldest->first);
        users.erase(oldest);
    }
}

void Sessions::close(const std::string& device, const std::string& user, std::string& lines) {
    auto d = open_.find(device);
    if (d == open_.end() || d->second.erase(user) == 0) return;
    line(lines, "revoke", device, user);
    spdlog::info("device={} user={} session closed (logout)", device, quoted_text(user));
    if (d->second.empty()) open_.erase(d);
}

void Sessions::close_device(const std::string& device, std::string& lines) {
    auto d = open_.find(device);
    if (d == open_.end()) return;
    for (const auto& [user, at] : d->second) {
        (void)at;
        line(lines, "revoke", device, user);
    }
    spdlog::info("device={} its {} sessions closed", device, d->second.size());
    open_.erase(d);
}

void Sessions::expire(int64_t now_ms, std::string& lines) {
    const int64_t idle =
        std::chrono::duration_cast<std::chrono::milliseconds>(tuning::sessions::kIdleTimeout)
            .count();
    for (auto d = open_.begin(); d != open_.end();) {
        for (auto u = d->second.begin(); u != d->second.end();) {
            if (now_ms - u->second > idle) {
                spdlog::info("device={} user={} session closed: idle", d->first,
                             quoted_text(u->first));
                line(lines, "revoke", d->first, u->first);
                u = d->second.erase(u);
            } else {
                ++u;
            }
        }
        d = d->second.empty() ? open_.erase(d) : std::next(d);
    }
}

void Sessions::close_user(const std::string& user, std::string& lines) {
    for (auto d = open_.begin(); d != open_.end();) {
        if (d->second.erase(user)) line(lines, "revoke", d->first, user);
        d = d->second.empty() ? open_.erase(d) : std::next(d);
    }
}

bool Sessions::has(const std::string& device, const std::string& user) const {
    auto d = open_.find(device);
    return d != open_.end() && d->second.count(user) > 0;
}

void Sessions::touch(const std::string& device, const std::string& user, int64_t now_ms) {
    auto d = open_.find(device);
    if (d == open_.end()) return;
    if (auto u = d->second.find(user); u != d->second.end()) u->second = now_ms;
}

Status Sessions::take_new_user(const std::string& device, int64_t now_ms) {
    auto& b = buckets_[device];
    const double refill_ms = static_cast<double>(
        std::chrono::duration_cast<std::chrono::milliseconds>(tuning::sessions::kNewUserRefillEvery)
            .count());
    const double burst = tuning::sessions::kNewUsersBurstPerDevice;
    if (b.tokens < 0) {
        b.tokens = burst;
    } else {
        b.tokens = std::min(burst, b.tokens + static_cast<double>(now_ms - b.at_ms) / refill_ms);
    }
    b.at_ms = now_ms;
    if (b.tokens < 1) {
        ++b.refused;
        b.refused_at_ms = now_ms;
        return make_error(Errc::rate_limited,
                          "this device brought more new users than " +
                              std::to_string(tuning::sessions::kNewUsersBurstPerDevice) +
                              " at once and one per " +
                              std::to_string(tuning::sessions::kNewUserRefillEvery.count()) +
                              " s; log in again later");
    }
    b.tokens -= 1;
    return Ok{};
}

std::string Sessions::table() const {
    std::string lines = "reset\n";
    for (const auto& [device, users] : open_) {
        for (const auto& [user, at] : users) {
            (void)at;
            line(lines, "grant", device, user);
        }
    }
    return lines;
}

Value Sessions::status_of(const std::string& device) const {
    auto d = open_.find(device);
    auto b = buckets_.find(device);
    return {{"sessions", static_cast<uint64_t>(d == open_.end() ? 0 : d->second.size())},
            {"new_users_refused", b == buckets_.end() ? uint64_t{0} : b->second.refused},
            {"rate_limited_at", b == buckets_.end() ? int64_t{0} : b->second.refused_at_ms}};
}

}  // namespace pdsync::server
