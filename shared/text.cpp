// Printable-text checks and the escaping that makes network text inert on a terminal.
#include "shared/text.hpp"

#include <cstdint>
#include <cstdio>

namespace pdsync {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if it is not UTF-8.
std::size_t decode_one(std::string_view s, std::size_t i, uint32_t& cp) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    if (c < 0x80) {
        cp = c;
        return 1;
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
        return 0;
    }
    if (i + extra >= s.size()) return 0;
    for (std::size_t k = 1; k <= extra; ++k) {
        auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        return 0;
    }
    return extra + 1;
}

bool is_control(uint32_t cp) {
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

bool is_bidi_mark(uint32_t cp) {
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
    uint32_t cp = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = decode_one(s, i, cp);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

bool is_printable_text(std::string_view s) {
    uint32_t cp = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = decode_one(s, i, cp);
        if (n == 0 || is_control(cp) || is_bidi_mark(cp)) return false;
        i += n;
    }
    return true;
}

Status validate_text(std::string_view s, std::size_t max_bytes, std::string_view what) {
    if (s.size() > max_bytes) {
        return make_error(Errc::too_large, std::string(what) + " is " + std::to_string(s.size()) +
                                               " bytes, over the bound of " +
                                               std::to_string(max_bytes));
    }
    if (!is_valid_utf8(s)) return make_error(Errc::bad_text, std::string(what) + " is not UTF-8");
    if (!is_printable_text(s)) {
        return make_error(Errc::bad_text, std::string(what) +
                                              " holds a control character or a bidirectional "
                                              "override: " +
                                              quoted_text(s.substr(0, 64)));
    }
    return Ok{};
}

std::string escape_for_display(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    char buf[16];
    uint32_t cp = 0;
    for (std::size_t i = 0; i < s.size();) {
        std::size_t n = decode_one(s, i, cp);
        if (n == 0) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i]));
            out += buf;
            ++i;
            continue;
        }
        if (cp == '\\') {
            out += "\\\\";
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (is_control(cp) && cp < 0x80) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
            out += buf;
        } else if (is_control(cp) || is_bidi_mark(cp)) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            out.append(s.substr(i, n));
        }
        i += n;
    }
    return out;
}

std::string quoted_text(std::string_view s) {
    std::string out = "\"";
    for (char c : escape_for_display(s)) {
        if (c == '"') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

}  // namespace pdsync
