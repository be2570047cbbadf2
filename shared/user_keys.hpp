// Per-user keys for sealed fields (docs/security.md "Sealed fields").
//
// A personal document's secret fields are sealed with its user's key, not the fleet key, so
// a device where that user never logged in cannot open them, even holding a copy of the
// documents or a backup. The server derives each user's key from a secret only it holds
// (the user-key file) and hands it to a device only in the reply to a login it accepted
// (a session), sealed to the box public key the device sent in its hello; the device keeps
// it beside the user's cached documents.
//
//   auto secret = load_or_create_user_key_secret("/var/lib/pdsync-server/store.db.userkey");
//   UserKey k = derive_user_key(*secret, "alice");
//   std::string wire = seal_user_key(k, device_pk);          // in the login reply
//   auto again = open_user_key(wire, device_pk, device_sk);  // on the device
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "shared/base/result.hpp"
#include "shared/secrets.hpp"

namespace pdsync {

using UserKey = FleetKey;  // the same secretbox key size; only its scope differs
using BoxPublicKey = std::array<unsigned char, 32>;
using BoxSecretKey = std::array<unsigned char, 32>;

struct BoxKeyPair {
    BoxPublicKey pk{};
    BoxSecretKey sk{};
};

// A fresh libsodium box key pair (crypto_box_keypair).
BoxKeyPair make_box_key_pair();

// The user's key: keyed BLAKE2b of a label and the user id under the server's secret. The
// same secret gives the same keys on every server of a cluster and after a restore.
UserKey derive_user_key(const FleetKey& secret, std::string_view user);

// crypto_box_seal of the key to `to` (80 bytes); only the holder of the secret key opens it.
std::string seal_user_key(const UserKey& key, const BoxPublicKey& to);
[[nodiscard]] Result<UserKey> open_user_key(std::string_view sealed, const BoxPublicKey& pk,
                                            const BoxSecretKey& sk);

// Reads the server's user-key secret (64 hex digits, as a fleet key file), making one with
// a random secret, mode 0600, when the file does not exist yet.
[[nodiscard]] Result<FleetKey> load_or_create_user_key_secret(const std::string& path);

}  // namespace pdsync
