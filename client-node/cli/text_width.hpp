// Column layout for the CLI's tables: how many terminal columns a UTF-8 string takes
// (wcwidth-like: East Asian wide and fullwidth characters take two, combining marks and
// zero-width characters none), and padding to a column by that width, so a table lines
// up for user ids like "山田" or "jürgen" (written with a combining diaeresis) as it does
// for "alice". Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pdsync::cli {

// Columns `text` takes on a terminal. Bytes that are not valid UTF-8 count one each.
std::size_t display_width(std::string_view text);

// `text` followed by spaces up to `width` columns, and always at least one space, so two
// columns never run together when a value is wider than its column.
std::string pad_to(std::string_view text, std::size_t width);

}  // namespace pdsync::cli
