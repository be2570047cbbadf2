// Hex text and random ids: the one place that makes them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pdsync {

// Lowercase hex of `bytes`: to_hex("\x01\xab") == "01ab".
std::string to_hex(std::string_view bytes);

// `bytes` random bytes from libsodium's CSPRNG as 2 * bytes lowercase hex digits, for ids
// that must not collide across machines (outbox epochs, boot ids, temp names):
//   random_hex(8) == "9f1c2e7a40b3d855"
std::string random_hex(std::size_t bytes);

}  // namespace pdsync
