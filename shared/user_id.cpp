// Percent-encoding of user ids and validation of user and device ids.
#include "shared/user_id.hpp"

#include "shared/base/tuning.hpp"
#include "shared/text.hpp"

namespace pdsync {
namespace {

bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

// Upper-case hex only: encode_user_id writes %C3, so %c3 would be a second spelling of
// the same user id, and with it a second topic tree.
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

Status validate_user_id(std::string_view user_id) {
    if (user_id.empty()) return make_error(Errc::bad_user_id, "user id is empty");
    if (user_id.size() > tuning::codec::kMaxUserIdBytes) {
        return make_error(
            Errc::bad_user_id,
            "user id is longer than " + std::to_string(tuning::codec::kMaxUserIdBytes) + " bytes");
    }
    if (user_id.find('\0') != std::string_view::npos) {
        return make_error(Errc::bad_user_id, "user id contains a NUL byte");
    }
    if (!is_valid_utf8(user_id)) return make_error(Errc::bad_user_id, "user id is not valid UTF-8");
    // A user id is printed by `pdsync users list` and written into log lines: an escape
    // sequence or a newline in it would reach the administrator's terminal or forge a line.
    if (!is_printable_text(user_id)) {
        return make_error(Errc::bad_user_id,
                          "user id holds a control character or a bidirectional override");
    }
    return Ok{};
}

std::string encode_user_id(std::string_view user_id) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(user_id.size());
    for (unsigned char c : user_id) {
        if (is_unreserved(c)) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    return out;
}

Result<std::string> decode_user_id(std::string_view encoded) {
    std::string out;
    out.reserve(encoded.size());
    for (size_t i = 0; i < encoded.size(); ++i) {
        auto c = static_cast<unsigned char>(encoded[i]);
        if (c == '%') {
            if (i + 2 >= encoded.size()) {
                return make_error(Errc::bad_user_id, "truncated percent-escape in user id");
            }
            int hi = hex_value(encoded[i + 1]);
            int lo = hex_value(encoded[i + 2]);
            if (hi < 0 || lo < 0)
                return make_error(Errc::bad_user_id, "bad percent-escape in user id");
            auto decoded = static_cast<unsigned char>(hi * 16 + lo);
            if (is_unreserved(decoded)) {
                // Only one spelling per id, so one user can never have two topic trees.
                return make_error(Errc::bad_user_id, "needlessly escaped byte in user id");
            }
            out.push_back(static_cast<char>(decoded));
            i += 2;
        } else if (is_unreserved(c)) {
            out.push_back(static_cast<char>(c));
        } else {
            return make_error(Errc::bad_user_id, "unescaped reserved byte in encoded user id");
        }
    }
    if (auto st = validate_user_id(out); !st) return st.error();
    return out;
}

Status validate_device_id(std::string_view device_id) {
    if (device_id.empty() || device_id.size() > tuning::codec::kMaxDeviceIdBytes) {
        return make_error(Errc::bad_device_id, "device id must be 1 to 64 bytes");
    }
    for (unsigned char c : device_id) {
        if (!is_unreserved(c)) {
            return make_error(Errc::bad_device_id, "device id may hold only [A-Za-z0-9._-]");
        }
    }
    return Ok{};
}

}  // namespace pdsync
