// User-id validation and the percent-encoding that makes any UTF-8 user id a single,
// safe MQTT topic level (docs/protocol.md §4): every byte outside [A-Za-z0-9._-] becomes
// %XX, so '/', '+', '#', spaces and non-ASCII can never break the topic tree.
#pragma once

#include <string>
#include <string_view>

#include "shared/base/result.hpp"

namespace pdsync {

// A user id is non-empty, at most tuning::codec::kMaxUserIdBytes bytes, printable UTF-8 (no
// control character, no bidirectional override: shared/text.hpp).
[[nodiscard]] Status validate_user_id(std::string_view user_id);

// encode_user_id("a/b") == "a%2Fb"; encode_user_id("jörg") == "j%C3%B6rg".
std::string encode_user_id(std::string_view user_id);

// Inverse of encode_user_id; refuses malformed escapes, bytes that should have been
// escaped, and ids that fail validate_user_id (so decode(encode(x)) == x is the only way in).
[[nodiscard]] Result<std::string> decode_user_id(std::string_view encoded);

// A device id is 1..64 bytes of [A-Za-z0-9._-]: it is used verbatim in topics and as the
// MQTT client id and broker user name.
[[nodiscard]] Status validate_device_id(std::string_view device_id);

}  // namespace pdsync
