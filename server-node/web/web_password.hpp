// The web admin account's password: only its libsodium crypto_pwhash_str hash (Argon2id)
// is ever stored or read by the server; `pdsync-server --web-hash-password` makes one from
// a password on stdin (deploy/fleet-init.sh uses it), so the clear password stays in the
// administrator's secrets/ file and never in the server's configuration.
//
// Thread safety: free functions; verify_password() may be called from any thread.
#pragma once

#include <string>
#include <string_view>

#include "shared/base/result.hpp"

namespace pdsync::server::web {

// A crypto_pwhash_str string ("$argon2id$v=19$m=...") for `password`, with the interactive
// limits (64 MiB, a fraction of a second): a login stays quick, a stolen hash expensive.
[[nodiscard]] Result<std::string> hash_password(std::string_view password);

// Whether `password` matches `hash`, in time independent of where they differ.
bool verify_password(const std::string& hash, std::string_view password);

// Reads a hash file: one crypto_pwhash_str line. Refuses a file others may write or read,
// an empty file, and anything that is not an Argon2 hash (a clear password put there by
// mistake must not become the password's only check).
[[nodiscard]] Result<std::string> read_password_hash_file(const std::string& path);

}  // namespace pdsync::server::web
