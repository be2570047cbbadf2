// End-to-end protection of secrets in entry fields (keychain passwords of shared folders
// and LDAP servers). A device seals a secret with the fleet key (libsodium secretbox,
// XSalsa20-Poly1305) before it leaves the device; the server, the broker, backups, logs
// and the inspection view only ever see {"$sealed": <nonce||ciphertext>}. A device with
// the fleet key opens it for display; one without shows it as sealed.
//
//   auto key = load_fleet_key("/etc/pdsync/fleet.key");
//   Value wire = seal_secrets({{"host", "nas"}, {"password", "hunter2"}}, *key);
//   Value shown = open_secrets(wire, &*key);   // password is "hunter2" again
#pragma once

#include <array>
#include <string>

#include "shared/base/result.hpp"
#include "shared/codec.hpp"

namespace pdsync {

using FleetKey = std::array<unsigned char, 32>;

// Reads a key file: 64 hex digits (whitespace ignored). deploy/fleet-init.sh writes one.
[[nodiscard]] Result<FleetKey> load_fleet_key(const std::string& path);

// A field holds a secret when its name says so: it ends in password, passphrase, secret,
// token, api_key, credential(s), passcode (any case), or is pin, otp or pwd on its own or
// as the last word ("card_pin", "userPin"). The one list is in secrets.cpp.
bool is_secret_field(const std::string& name);

// Seals every secret field of an entry's `fields` map (already sealed ones are kept).
Value seal_secrets(const Value& fields, const FleetKey& key);

// Opens sealed fields with `key`; with no key, or one that does not fit, they stay sealed.
Value open_secrets(const Value& fields, const FleetKey* key);

// Replaces sealed values with the string "[sealed]", for views meant for people.
Value redact_secrets(const Value& v);

bool is_sealed(const Value& v);

}  // namespace pdsync
