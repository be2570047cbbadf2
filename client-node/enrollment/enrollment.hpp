// A device's side of joining by code (`pdsync device enable --server HOST[:PORT]
// --join-code CODE`): pin the fleet CA by the code, make a key pair, claim an account
// with an HMAC proof through the shared claim account, open the sealed grant, and keep
// the result (broker, account, CA, fleet key) in a 0600 file beside the store, so later
// starts connect under the device's own account. docs/deploying.md shows it in use.
//
//   auto creds = enroll({"10.0.0.5", "7KQ2-…", "mfp-2f"}, Topics("pds/v1"));
//   save_credentials("/var/lib/pdsync/client.db.credentials", *creds);
#pragma once

#include <optional>
#include <string>

#include "shared/join_code.hpp"
#include "shared/net/mqtt_link.hpp"
#include "topics/topics.hpp"

namespace pdsync::client {

inline constexpr int kDefaultTlsPort = 8883;

struct Credentials {
    std::string broker;  // mqtts://host:port
    std::string username;
    std::string password;
    std::string ca_pem;  // the pinned fleet CA
    std::optional<FleetKey> fleet_key;
};

struct EnableRequest {
    std::string server;  // HOST or HOST:PORT ([v6]:PORT)
    std::string join_code;
    std::string device_id;
};

// Blocks for the whole claim (a few milliseconds on a LAN; retried when another device
// claims at the same moment). Errors say what to do: bad_join_code, join_code_expired,
// ca_mismatch, device_id_taken, denied, io, timeout.
[[nodiscard]] Result<Credentials> enroll(const EnableRequest& request, const Topics& topics);

// The credentials file (JSON, 0600) and the CA file next to it (`path` + ".ca.pem"),
// which Paho reads.
[[nodiscard]] Result<std::optional<Credentials>> load_credentials(const std::string& path);
[[nodiscard]] Status save_credentials(const std::string& path, const Credentials& c);
void forget_credentials(const std::string& path);
std::string ca_path_of(const std::string& credentials_path);

// MQTT settings for the device's own account.
net::MqttSettings mqtt_settings_of(const Credentials& c, const std::string& credentials_path,
                                   const std::string& client_id);

}  // namespace pdsync::client
