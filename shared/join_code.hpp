// Join codes and the claim protocol (docs/deploying.md, decisions "join codes"): the pure
// half, shared by the server that issues and checks codes and the device that uses one.
//
// A join code carries a public id (the claim account's password), a secret, and a pin of
// the fleet CA (the first 80 bits of the SHA-256 of its DER form), written in Crockford
// base32 in groups of four so it can be typed on a panel:
//
//   JoinCode c = JoinCode::generate(ca_pin_of_der(der));
//   std::string typed = format_join_code(c);   // "7KQ2-9C4V-…-M3XD" (9 groups, 36 symbols)
//   auto back = parse_join_code(typed);          // case, dashes, spaces, I/L/O forgiven
//
// A device proves it knows the secret with an HMAC over its request (the secret itself is
// never sent) and receives its broker credentials and the fleet key sealed to its own
// libsodium box key pair (crypto_box_seal), so a probe reading the claim topics learns
// nothing it can use.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/base/result.hpp"
#include "shared/codec.hpp"
#include "shared/secrets.hpp"

namespace pdsync {

inline constexpr std::size_t kJoinIdSymbols = 4;     // 20 bits, public
inline constexpr std::size_t kJoinSecretBytes = 10;  // 80 bits
inline constexpr std::size_t kCaPinBytes = 10;       // 80 bits of SHA-256
using JoinSecret = std::array<unsigned char, kJoinSecretBytes>;
using CaPin = std::array<unsigned char, kCaPinBytes>;
using BoxPublicKey = std::array<unsigned char, 32>;
using BoxSecretKey = std::array<unsigned char, 32>;

struct JoinCode {
    std::string id;  // kJoinIdSymbols Crockford symbols, upper case
    JoinSecret secret{};
    CaPin ca_pin{};

    // A fresh code for the CA pinned by `pin` (libsodium's CSPRNG).
    static JoinCode generate(const CaPin& pin);
};

std::string format_join_code(const JoinCode& code);
// Errc::invalid_argument with a reason a person can act on.
[[nodiscard]] Result<JoinCode> parse_join_code(std::string_view typed);

// The pin of a CA certificate, from its DER bytes.
CaPin ca_pin_of_der(std::string_view der);
std::string ca_pin_hex(const CaPin& pin);

// ---- Claim request (device -> server, on {root}/claim/{nonce}/request) ------------------
struct ClaimRequest {
    std::string device_id;
    BoxPublicKey public_key{};
    std::string nonce;  // 32 hex digits, also the topic level
    int64_t at_ms = 0;  // device clock; the server allows kClaimClockSkew either way
    std::string code_id;
    std::array<unsigned char, 32> proof{};
};

// HMAC-SHA-256 over every field but the proof, keyed by the code's secret.
std::array<unsigned char, 32> claim_proof(const JoinSecret& secret, const ClaimRequest& r);
bool claim_proof_valid(const JoinSecret& secret, const ClaimRequest& r);

Value claim_request_to_value(const ClaimRequest& r);
[[nodiscard]] Result<ClaimRequest> claim_request_from_value(const Value& v);

// ---- Claim reply (server -> device, on {root}/claim/{nonce}/response) ---------------------
struct ClaimGrant {
    std::string username;
    std::string password;
    FleetKey fleet_key{};
    bool has_fleet_key = false;
};

struct ClaimReply {
    bool accepted = false;
    Errc reason = Errc::ok;
    std::string message;
    std::string sealed;  // crypto_box_seal(msgpack(grant), device public key)
};

Value claim_reply_to_value(const ClaimReply& r);
[[nodiscard]] Result<ClaimReply> claim_reply_from_value(const Value& v);

std::string seal_grant(const ClaimGrant& grant, const BoxPublicKey& to);
[[nodiscard]] Result<ClaimGrant> open_grant(const std::string& sealed, const BoxPublicKey& pk,
                                            const BoxSecretKey& sk);

}  // namespace pdsync
