// The device's box key pair and the user keys it was given, kept in its store.
#include "client-node/user_key_ring.hpp"

#include <sodium.h>

#include <algorithm>

#include "shared/base/hex.hpp"

namespace pdsync::client {
namespace {

constexpr const char* kBoxKeySetting = "box_secret_key";
constexpr std::string_view kUserKeysPrefix = "user_keys/";
// Keys kept per user: a failover to a server with another user-key file adds one; more than
// a few means a misconfigured cluster, and the oldest then goes.
constexpr std::size_t kMaxKeysPerUser = 4;

template <typename Array>
bool from_hex(std::string_view hex, Array& out) {
    std::size_t len = 0;
    return hex.size() == out.size() * 2 &&
           sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) ==
               0 &&
           len == out.size();
}

template <typename Array>
std::string hex_of(const Array& a) {
    return to_hex(std::string_view(reinterpret_cast<const char*>(a.data()), a.size()));
}

}  // namespace

UserKeyRing::UserKeyRing(ClientStore& store) : store_(store) {
    if (sodium_init() < 0) std::abort();
    auto stored = store_.setting(kBoxKeySetting);
    if (!stored || !from_hex(*stored, box_.sk)) {
        box_ = make_box_key_pair();
        store_.set_setting(kBoxKeySetting, hex_of(box_.sk));
    } else {
        crypto_scalarmult_base(box_.pk.data(), box_.sk.data());
    }
}

std::string UserKeyRing::public_key() const {
    return std::string(reinterpret_cast<const char*>(box_.pk.data()), box_.pk.size());
}

Status UserKeyRing::accept(const std::string& user, std::string_view sealed) {
    auto key = open_user_key(sealed, box_.pk, box_.sk);
    if (!key) return key.error();
    auto& keys = load(user);
    if (!keys.empty() && sodium_memcmp(keys.front().data(), key->data(), key->size()) == 0)
        return Ok{};
    std::erase_if(keys, [&](const UserKey& k) {
        return sodium_memcmp(k.data(), key->data(), key->size()) == 0;
    });
    keys.insert(keys.begin(), *key);
    if (keys.size() > kMaxKeysPerUser) keys.resize(kMaxKeysPerUser);
    save(user);
    return Ok{};
}

const UserKey* UserKeyRing::sealing_key(const std::string& user) const {
    auto& keys = load(user);
    return keys.empty() ? nullptr : &keys.front();
}

std::vector<const FleetKey*> UserKeyRing::opening_keys(const std::string& user) const {
    std::vector<const FleetKey*> out;
    for (const auto& k : load(user)) out.push_back(&k);
    return out;
}

void UserKeyRing::forget(const std::string& user) {
    auto& keys = load(user);
    if (keys.empty()) return;
    sodium_memzero(keys.data(), keys.size() * sizeof(UserKey));
    keys.clear();
    save(user);
}

std::vector<UserKey>& UserKeyRing::load(const std::string& user) const {
    auto it = users_.find(user);
    if (it != users_.end()) return it->second;
    std::vector<UserKey> keys;
    std::string hex = store_.setting(std::string(kUserKeysPrefix) + user).value_or("");
    for (std::size_t at = 0; at + 64 <= hex.size(); at += 64) {
        UserKey k{};
        if (from_hex(std::string_view(hex).substr(at, 64), k)) keys.push_back(k);
    }
    return users_[user] = std::move(keys);
}

void UserKeyRing::save(const std::string& user) {
    std::string hex;
    for (const auto& k : users_[user]) hex += hex_of(k);
    store_.set_setting(std::string(kUserKeysPrefix) + user, hex);
}

}  // namespace pdsync::client
