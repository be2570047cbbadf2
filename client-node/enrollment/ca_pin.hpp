// Trust on a join code: before a fresh device sends anything to a broker, it opens a TLS
// handshake, looks in the certificate chain the broker presents for the CA whose pin the
// join code carries (shared/join_code.hpp), checks that the broker's own certificate is
// signed by it, and keeps that CA for every later connection (Paho then verifies the
// broker, host name included, against it alone). The handshake sends no MQTT byte, so a
// broker whose CA does not match learns nothing but a TLS ClientHello.
//
//   auto pem = fetch_pinned_ca("10.0.0.5", 8883, code.ca_pin);   // Errc::ca_mismatch
#pragma once

#include <string>

#include "shared/join_code.hpp"

namespace pdsync::client {

// The pinned CA as PEM. Errc::ca_mismatch when no certificate of the chain has the pin or
// the broker's certificate is not signed by it; Errc::io when the broker is unreachable.
[[nodiscard]] Result<std::string> fetch_pinned_ca(const std::string& host, int port,
                                                  const CaPin& pin);

}  // namespace pdsync::client
