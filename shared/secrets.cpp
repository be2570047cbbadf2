// Sealing and opening secret fields with the fleet key.
#include "shared/secrets.hpp"

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
        return std::tolower(static_cast<unsigned char>(a)) == b;
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

bool is_secret_field(const std::string& name) {
    return ends_with_ci(name, "password") || ends_with_ci(name, "secret");
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
