// Percent-encoding of user ids and validation of user and device ids.
#include "shared/user_id.hpp"

#include "shared/base/tuning.hpp"

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

bool is_valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t extra = 0;
        uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + extra >= s.size()) return false;
        for (size_t k = 1; k <= extra; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            return false;
        }
        i += extra + 1;
    }
    return true;
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
