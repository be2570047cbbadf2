// Names of the reason codes, as they travel on the wire.
#include "shared/base/result.hpp"

#include <array>
#include <ostream>

namespace pdsync {
namespace {
constexpr std::array<std::string_view, 45> kNames = {
    "ok",
    "malformed",
    "too_large",
    "bad_schema",
    "bad_user_id",
    "bad_device_id",
    "unknown_category",
    "category_disabled",
    "unknown_topic",
    "bad_entry",
    "conflict_deleted",
    "not_found",
    "exists",
    "auth_profile_mismatch",
    "protocol_unsupported",
    "machine_limit",
    "not_joined",
    "out_of_order",
    "storage",
    "busy",
    "timeout",
    "io",
    "invalid_argument",
    "user_limit",
    "no_space",
    "sqlite",
    "integrity",
    "checksum",
    "bad_manifest",
    "auth",
    "access_denied",
    "unreachable",
    "smb",
    "unauthenticated",
    "forbidden",
    "rate_limited",
    "bad_join_code",
    "join_code_expired",
    "pending_approval",
    "denied",
    "device_id_taken",
    "ca_mismatch",
    "not_enabled",
    "no_session",
    "bad_text",
};
// One name per code, in the enum's order: a code appended without its name fails here.
static_assert(kNames.size() == static_cast<size_t>(Errc::bad_text) + 1);
}  // namespace

std::string_view errc_name(Errc code) {
    auto i = static_cast<size_t>(code);
    return i < kNames.size() ? kNames[i] : "unknown";
}

std::ostream& operator<<(std::ostream& os, Errc code) {
    return os << errc_name(code);
}

Errc errc_from_name(std::string_view name) {
    for (size_t i = 0; i < kNames.size(); ++i) {
        if (kNames[i] == name) return static_cast<Errc>(i);
    }
    return Errc::malformed;
}

}  // namespace pdsync
