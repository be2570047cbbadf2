// Per-user keys: derivation on the server, sealing to a device's box key, the secret file.
#include "shared/user_keys.hpp"

#include <sodium.h>

#include <filesystem>

#include "shared/base/durable_file.hpp"
#include "shared/base/hex.hpp"

namespace pdsync {
namespace {

// Changing this label changes every user's key: sealed fields would no longer open.
constexpr std::string_view kLabel = "pds.user-key/1\n";

void ensure_sodium() {
    if (sodium_init() < 0) std::abort();  // no randomness: nothing may be sealed
}

}  // namespace

BoxKeyPair make_box_key_pair() {
    ensure_sodium();
    BoxKeyPair kp;
    crypto_box_keypair(kp.pk.data(), kp.sk.data());
    return kp;
}

UserKey derive_user_key(const FleetKey& secret, std::string_view user) {
    ensure_sodium();
    UserKey key{};
    crypto_generichash_state st;
    crypto_generichash_init(&st, secret.data(), secret.size(), key.size());
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kLabel.data()),
                              kLabel.size());
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(user.data()),
                              user.size());
    crypto_generichash_final(&st, key.data(), key.size());
    return key;
}

std::string seal_user_key(const UserKey& key, const BoxPublicKey& to) {
    ensure_sodium();
    std::string out(crypto_box_SEALBYTES + key.size(), '\0');
    crypto_box_seal(reinterpret_cast<unsigned char*>(out.data()), key.data(), key.size(),
                    to.data());
    return out;
}

Result<UserKey> open_user_key(std::string_view sealed, const BoxPublicKey& pk,
                              const BoxSecretKey& sk) {
    ensure_sodium();
    UserKey key{};
    if (sealed.size() != crypto_box_SEALBYTES + key.size())
        return make_error(Errc::malformed, "a sealed user key is " +
                                               std::to_string(crypto_box_SEALBYTES + key.size()) +
                                               " bytes, not " + std::to_string(sealed.size()));
    if (crypto_box_seal_open(key.data(), reinterpret_cast<const unsigned char*>(sealed.data()),
                             sealed.size(), pk.data(), sk.data()) != 0)
        return make_error(Errc::malformed, "the user key is not sealed to this device's key");
    return key;
}

Result<FleetKey> load_or_create_user_key_secret(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        ensure_sodium();
        FleetKey secret{};
        randombytes_buf(secret.data(), secret.size());
        std::string hex =
            to_hex(std::string_view(reinterpret_cast<const char*>(secret.data()), secret.size())) +
            "\n";
        sodium_memzero(secret.data(), secret.size());
        if (auto st = write_file_durably(path, hex, 0600); !st) return st.error();
        sodium_memzero(hex.data(), hex.size());
    }
    return load_fleet_key(path);
}

}  // namespace pdsync
