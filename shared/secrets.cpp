// Sealing and opening secret fields with the fleet key.
#include "shared/secrets.hpp"

#include <array>
#include <cctype>
#include <string_view>

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace pdsync {
namespace {

constexpr const char* kSealed = "$sealed";

bool ends_with_ci(const std::string& s, const std::string& suffix) {
    if (s.size() < suffix.size()) return false;
    return std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
    });
}

Value seal_one(const Value& v, const FleetKey& key) {
    std::string clear = encode_msgpack_unchecked(v);
    std::vector<std::uint8_t> box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
                                  clear.size());
    randombytes_buf(box.data(), crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box.data() + crypto_secretbox_NONCEBYTES,
                          reinterpret_cast<const unsigned char*>(clear.data()), clear.size(),
                          box.data(), key.data());
    sodium_memzero(clear.data(), clear.size());
    return Value{{kSealed, Value::binary(std::move(box))}};
}

}  // namespace

bool is_sealed(const Value& v) {
    return v.is_object() && v.size() == 1 && v.contains(kSealed) && v[kSealed].is_binary();
}

Result<FleetKey> load_fleet_key(const std::string& path) {
    std::ifstream in(path);
    if (!in) return make_error(Errc::io, "cannot read the fleet key " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string hex;
    for (char c : ss.str()) {
        if (!std::isspace(static_cast<unsigned char>(c))) hex.push_back(c);
    }
    FleetKey key{};
    size_t len = 0;
    if (sodium_init() < 0 || hex.size() != 64 ||
        sodium_hex2bin(key.data(), key.size(), hex.c_str(), hex.size(), nullptr, &len, nullptr) !=
            0 ||
        len != 32) {
        return make_error(Errc::invalid_argument,
                          "the fleet key in " + path + " is not 64 hex digits");
    }
    return key;
}

// The names of sealed fields, in one place (docs/security.md). A field is sealed when its
// name, in any case, ends in one of the first words ("smbPassword", "ldap_secret",
// "apiToken"), or is one of the short words, alone or after a separator or a lower-case
// letter in camel case ("pin", "card_pin", "userPin"), so "spin" or "shipping" are not.
constexpr std::array<std::string_view, 12> kSecretSuffixes = {
    "password", "passwd",     "passphrase",  "secret",     "token",       "apikey",
    "api_key",  "privatekey", "private_key", "credential", "credentials", "passcode"};
constexpr std::array<std::string_view, 3> kSecretWords = {"pin", "otp", "pwd"};

bool is_secret_field(const std::string& name) {
    for (auto suffix : kSecretSuffixes) {
        if (ends_with_ci(name, std::string(suffix))) return true;
    }
    for (auto word : kSecretWords) {
        if (!ends_with_ci(name, std::string(word))) continue;
        if (name.size() == word.size()) return true;
        char before = name[name.size() - word.size() - 1];
        char first = name[name.size() - word.size()];
        if (before == '_' || before == '-' || before == '.' || before == ' ') return true;
        if (std::islower(static_cast<unsigned char>(before)) &&
            std::isupper(static_cast<unsigned char>(first)))
            return true;
    }
    return false;
}

Value seal_secrets(const Value& fields, const FleetKey& key) {
    if (!fields.is_object()) return fields;
    Value out = fields;
    for (auto it = out.begin(); it != out.end(); ++it) {
        if (is_secret_field(it.key()) && !is_sealed(it.value()))
            it.value() = seal_one(it.value(), key);
    }
    return out;
}

Value open_secrets(const Value& fields, const FleetKey* key) {
    if (!fields.is_object() || !key) return fields;
    Value out = fields;
    for (auto it = out.begin(); it != out.end(); ++it) {
        if (!is_sealed(it.value())) continue;
        const auto& box = it.value()[kSealed].get_binary();
        if (box.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) continue;
        std::string clear(box.size() - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES,
                          '\0');
        if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(clear.data()),
                                       box.data() + crypto_secretbox_NONCEBYTES,
                                       box.size() - crypto_secretbox_NONCEBYTES, box.data(),
                                       key->data()) != 0) {
            continue;  // another fleet's key: stays sealed
        }
        if (auto v = decode_msgpack(clear)) it.value() = *v;
        sodium_memzero(clear.data(), clear.size());
    }
    return out;
}

Value redact_secrets(const Value& v) {
    if (is_sealed(v)) return "[sealed]";
    if (v.is_object()) {
        Value out = Value::object();
        for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = redact_secrets(it.value());
        return out;
    }
    if (v.is_array()) {
        Value out = Value::array();
        for (const auto& x : v) out.push_back(redact_secrets(x));
        return out;
    }
    if (v.is_binary()) return "[binary " + std::to_string(v.get_binary().size()) + " bytes]";
    return v;
}

}  // namespace pdsync
