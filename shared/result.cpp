// Names of the reason codes, as they travel on the wire.
#include "shared/result.hpp"

#include <array>

namespace pdsync {
namespace {
constexpr std::array<std::string_view, 27> kNames = {
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
    "no_session",
    "rate_limited",
    "bad_text",
};
}  // namespace

std::string_view errc_name(Errc code) {
    auto i = static_cast<size_t>(code);
    return i < kNames.size() ? kNames[i] : "unknown";
}

Errc errc_from_name(std::string_view name) {
    for (size_t i = 0; i < kNames.size(); ++i) {
        if (kNames[i] == name) return static_cast<Errc>(i);
    }
    return Errc::malformed;
}

}  // namespace pdsync
