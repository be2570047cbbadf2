// Join codes (Crockford base32), the claim proof (HMAC-SHA-256) and the sealed grant.
#include "shared/join_code.hpp"

#include <sodium.h>

#include <cctype>
#include <cstring>

#include "shared/user_id.hpp"

namespace pdsync {
namespace {

// Crockford's alphabet: no I, L, O or U, so nothing typed can be read two ways.
constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t kCodeSymbols = kJoinIdSymbols + 16 + 16;  // id, secret, pin

void ensure_sodium() {
    static const bool ready = sodium_init() >= 0;
    (void)ready;
}

// 10 bytes <-> 16 symbols (80 bits, 5 per symbol, exact).
std::string encode80(const unsigned char* bytes) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < 10; ++i) {
        acc = (acc << 8) | bytes[i];
        bits += 8;
        while (bits >= 5) {
            out.push_back(kAlphabet[(acc >> (bits - 5)) & 31]);
            bits -= 5;
        }
    }
    return out;
}

void decode80(std::string_view symbols, unsigned char* bytes) {
    uint32_t acc = 0;
    int bits = 0;
    std::size_t n = 0;
    for (char c : symbols) {
        acc = (acc << 5) | static_cast<uint32_t>(kAlphabet.find(c));
        bits += 5;
        if (bits >= 8) {
            bytes[n++] = static_cast<unsigned char>((acc >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
}

std::string bytes_str(const unsigned char* p, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(p), n);
}

template <std::size_t N>
bool bin_field(const Value& v, const char* key, std::array<unsigned char, N>& out) {
    if (!v.contains(key) || !v[key].is_binary() || v[key].get_binary().size() != N) return false;
    const auto& b = v[key].get_binary();
    std::memcpy(out.data(), b.data(), N);
    return true;
}

Error bad(const std::string& why) {
    return make_error(Errc::malformed, why);
}

}  // namespace

JoinCode JoinCode::generate(const CaPin& pin) {
    ensure_sodium();
    JoinCode c;
    for (std::size_t i = 0; i < kJoinIdSymbols; ++i)
        c.id.push_back(kAlphabet[randombytes_uniform(32)]);
    randombytes_buf(c.secret.data(), c.secret.size());
    c.ca_pin = pin;
    return c;
}

std::string format_join_code(const JoinCode& code) {
    std::string flat = code.id + encode80(code.secret.data()) + encode80(code.ca_pin.data());
    std::string out;
    for (std::size_t i = 0; i < flat.size(); ++i) {
        if (i > 0 && i % 4 == 0) out.push_back('-');
        out.push_back(flat[i]);
    }
    return out;
}

Result<JoinCode> parse_join_code(std::string_view typed) {
    std::string flat;
    for (char c : typed) {
        if (c == '-' || c == ' ') continue;
        char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (u == 'I' || u == 'L') u = '1';
        if (u == 'O') u = '0';
        if (kAlphabet.find(u) == std::string_view::npos) {
            return make_error(
                Errc::bad_join_code,
                "the join code holds a character that is not in it: '" + std::string(1, c) + "'");
        }
        flat.push_back(u);
    }
    if (flat.size() != kCodeSymbols) {
        return make_error(Errc::bad_join_code, "a join code has " + std::to_string(kCodeSymbols) +
                                                   " symbols, this one " +
                                                   std::to_string(flat.size()));
    }
    JoinCode c;
    c.id = flat.substr(0, kJoinIdSymbols);
    decode80(std::string_view(flat).substr(kJoinIdSymbols, 16), c.secret.data());
    decode80(std::string_view(flat).substr(kJoinIdSymbols + 16, 16), c.ca_pin.data());
    return c;
}

CaPin ca_pin_of_der(std::string_view der) {
    ensure_sodium();
    std::array<unsigned char, crypto_hash_sha256_BYTES> h{};
    crypto_hash_sha256(h.data(), reinterpret_cast<const unsigned char*>(der.data()), der.size());
    CaPin pin{};
    std::memcpy(pin.data(), h.data(), pin.size());
    return pin;
}

std::string ca_pin_hex(const CaPin& pin) {
    std::string hex(pin.size() * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), pin.data(), pin.size());
    hex.pop_back();
    return hex;
}

std::array<unsigned char, 32> claim_proof(const JoinSecret& secret, const ClaimRequest& r) {
    ensure_sodium();
    // The key is derived, so the HMAC key is never the code's bytes themselves.
    std::array<unsigned char, crypto_auth_hmacsha256_KEYBYTES> key{};
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    const std::string label = "pds.claim/1 key";
    crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(label.data()),
                              label.size());
    crypto_hash_sha256_update(&st, secret.data(), secret.size());
    crypto_hash_sha256_final(&st, key.data());
    // Length-prefixed fields: no two requests share an input.
    std::string msg;
    auto put = [&](std::string_view s) {
        msg += std::to_string(s.size()) + ":";
        msg += s;
    };
    put("pds.claim/1");
    put(r.device_id);
    put(bytes_str(r.public_key.data(), r.public_key.size()));
    put(r.nonce);
    put(std::to_string(r.at_ms));
    put(r.code_id);
    std::array<unsigned char, 32> mac{};
    crypto_auth_hmacsha256(mac.data(), reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size(), key.data());
    sodium_memzero(key.data(), key.size());
    return mac;
}

bool claim_proof_valid(const JoinSecret& secret, const ClaimRequest& r) {
    auto expect = claim_proof(secret, r);
    return sodium_memcmp(expect.data(), r.proof.data(), expect.size()) == 0;
}

Value claim_request_to_value(const ClaimRequest& r) {
    return {{"schema", "pds.claim/1"},
            {"device_id", r.device_id},
            {"public_key", Value::binary({r.public_key.begin(), r.public_key.end()})},
            {"nonce", r.nonce},
            {"at", r.at_ms},
            {"code_id", r.code_id},
            {"proof", Value::binary({r.proof.begin(), r.proof.end()})}};
}

Result<ClaimRequest> claim_request_from_value(const Value& v) {
    if (!v.is_object() || v.value("schema", "") != "pds.claim/1")
        return make_error(Errc::bad_schema, "not a pds.claim/1 request");
    ClaimRequest r;
    if (!v.contains("device_id") || !v["device_id"].is_string()) return bad("no device_id");
    r.device_id = v["device_id"].get<std::string>();
    if (auto st = validate_device_id(r.device_id); !st) return st.error();
    if (!bin_field(v, "public_key", r.public_key)) return bad("public_key is not 32 bytes");
    if (!bin_field(v, "proof", r.proof)) return bad("proof is not 32 bytes");
    if (!v.contains("nonce") || !v["nonce"].is_string()) return bad("no nonce");
    r.nonce = v["nonce"].get<std::string>();
    if (r.nonce.size() != 32 || r.nonce.find_first_not_of("0123456789abcdef") != std::string::npos)
        return bad("the nonce is not 32 lower-case hex digits");
    if (!v.contains("at") || !v["at"].is_number_integer()) return bad("no timestamp");
    r.at_ms = v["at"].get<int64_t>();
    if (!v.contains("code_id") || !v["code_id"].is_string() ||
        v["code_id"].get<std::string>().size() != kJoinIdSymbols)
        return bad("no code id");
    r.code_id = v["code_id"].get<std::string>();
    return r;
}

Value claim_reply_to_value(const ClaimReply& r) {
    Value v = {{"schema", "pds.claim-reply/1"},
               {"accepted", r.accepted},
               {"reason", std::string(errc_name(r.reason))},
               {"message", r.message}};
    if (!r.sealed.empty())
        v["sealed"] = Value::binary(std::vector<std::uint8_t>(r.sealed.begin(), r.sealed.end()));
    return v;
}

Result<ClaimReply> claim_reply_from_value(const Value& v) {
    if (!v.is_object() || v.value("schema", "") != "pds.claim-reply/1")
        return make_error(Errc::bad_schema, "not a pds.claim-reply/1 message");
    ClaimReply r;
    if (!v.contains("accepted") || !v["accepted"].is_boolean()) return bad("no 'accepted'");
    r.accepted = v["accepted"].get<bool>();
    if (v.contains("reason") && v["reason"].is_string())
        r.reason = errc_from_name(v["reason"].get<std::string>());
    if (v.contains("message") && v["message"].is_string())
        r.message = v["message"].get<std::string>();
    if (v.contains("sealed") && v["sealed"].is_binary()) {
        const auto& b = v["sealed"].get_binary();
        r.sealed.assign(b.begin(), b.end());
    }
    if (r.accepted && r.sealed.empty()) return bad("an accepted claim carries no sealed grant");
    return r;
}

std::string seal_grant(const ClaimGrant& grant, const BoxPublicKey& to) {
    ensure_sodium();
    Value g = {{"username", grant.username}, {"password", grant.password}};
    if (grant.has_fleet_key)
        g["fleet_key"] = Value::binary({grant.fleet_key.begin(), grant.fleet_key.end()});
    std::string clear = encode_msgpack_unchecked(g);
    std::string out(crypto_box_SEALBYTES + clear.size(), '\0');
    crypto_box_seal(reinterpret_cast<unsigned char*>(out.data()),
                    reinterpret_cast<const unsigned char*>(clear.data()), clear.size(), to.data());
    sodium_memzero(clear.data(), clear.size());
    return out;
}

Result<ClaimGrant> open_grant(const std::string& sealed, const BoxPublicKey& pk,
                              const BoxSecretKey& sk) {
    ensure_sodium();
    if (sealed.size() <= crypto_box_SEALBYTES) return bad("the sealed grant is too short");
    std::string clear(sealed.size() - crypto_box_SEALBYTES, '\0');
    if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(clear.data()),
                             reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(),
                             pk.data(), sk.data()) != 0) {
        return make_error(Errc::malformed, "the grant is not sealed to this device's key");
    }
    auto v = decode_msgpack(clear);
    sodium_memzero(clear.data(), clear.size());
    if (!v) return v.error();
    ClaimGrant g;
    if (!v->is_object() || !(*v)["username"].is_string() || !(*v)["password"].is_string())
        return bad("the grant has no credentials");
    g.username = (*v)["username"].get<std::string>();
    g.password = (*v)["password"].get<std::string>();
    if (bin_field(*v, "fleet_key", g.fleet_key)) g.has_fleet_key = true;
    return g;
}

}  // namespace pdsync
