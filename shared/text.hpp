// Text a device sends that people will read (user ids, product, firmware, location, entry
// ids): what the server accepts, and how anything read off the network is shown on a
// terminal or in a log line. A device under an attacker's control must not be able to
// forge a log line (a newline), drive the administrator's terminal (ESC sequences) or
// make one name look like another (bidirectional overrides).
//
//   validate_text("Floor 3", 256, "location")    -> Ok
//   validate_text("a\nb", 256, "location")       -> Errc::bad_text
//   escape_for_display("a\x1b[2Jb")              -> "a\\x1b[2Jb"
//   quoted_text("bob\n")                              -> "\"bob\\n\""   (for log lines)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "shared/base/result.hpp"

namespace pdsync {

// Valid UTF-8 (no overlong forms, no surrogates).
bool is_valid_utf8(std::string_view s);

// Printable: valid UTF-8 with no C0 or C1 control character, no DEL, and none of the
// bidirectional embedding, override and isolate marks (U+202A..U+202E, U+2066..U+2069).
bool is_printable_text(std::string_view s);

// At most `max_bytes` bytes (Errc::too_large) and printable (Errc::bad_text); `what`
// names the field in the message.
[[nodiscard]] Status validate_text(std::string_view s, std::size_t max_bytes,
                                   std::string_view what);

// The string with every control character, bidirectional mark, backslash and byte that
// is not UTF-8 written as an escape (\n, \t, \x1b, \u202e, \\), so it prints as one inert
// line. Plain text comes back unchanged.
std::string escape_for_display(std::string_view s);

// escape_for_display in double quotes (a quote inside escaped too): the form log lines
// use for any value that came from the network.
std::string quoted_text(std::string_view s);

}  // namespace pdsync
