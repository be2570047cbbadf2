// Display width of UTF-8 text for the CLI's tables (see text_width.hpp).
#include "client-node/cli/text_width.hpp"

#include <cstdint>
#include <iterator>

namespace pdsync::cli {
namespace {

struct Range {
    char32_t first;
    char32_t last;
};

// Combining marks (general categories Mn, Me) of the scripts an office fleet's user
// directory is likely to hold, plus zero-width format characters and variation selectors.
constexpr Range kZeroWidth[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x05BF, 0x05BF}, {0x05C1, 0x05C2},
    {0x05C4, 0x05C5}, {0x05C7, 0x05C7}, {0x0610, 0x061A}, {0x064B, 0x065F}, {0x0670, 0x0670},
    {0x06D6, 0x06DC}, {0x06DF, 0x06E4}, {0x06E7, 0x06E8}, {0x06EA, 0x06ED}, {0x0900, 0x0902},
    {0x093A, 0x093A}, {0x093C, 0x093C}, {0x0941, 0x0948}, {0x094D, 0x094D}, {0x0951, 0x0957},
    {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},
    {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064}, {0x20D0, 0x20FF}, {0x302A, 0x302D},
    {0x3099, 0x309A}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0xE0100, 0xE01EF},
};

// East Asian Wide (W) and Fullwidth (F) blocks: Hangul Jamo, CJK, kana, Hangul syllables,
// fullwidth forms, and the emoji blocks terminals draw two columns wide.
constexpr Range kWide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
    {0xA000, 0xA4CF},   {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
    {0xFE10, 0xFE19},   {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},
    {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

template <std::size_t N>
bool in(const Range (&ranges)[N], char32_t c) {
    for (const auto& r : ranges) {
        if (c < r.first) return false;  // sorted
        if (c <= r.last) return true;
    }
    return false;
}

// Decodes one UTF-8 sequence at `i`; answers false (and consumes one byte) if invalid.
bool next_code_point(std::string_view s, std::size_t& i, char32_t& c) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = b < 0x80           ? 1
                      : (b >> 5) == 0x6  ? 2
                      : (b >> 4) == 0xE  ? 3
                      : (b >> 3) == 0x1E ? 4
                                         : 0;
    if (len == 0 || i + len > s.size()) {
        ++i;
        return false;
    }
    c = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (std::size_t k = 1; k < len; ++k) {
        const auto cb = static_cast<unsigned char>(s[i + k]);
        if ((cb >> 6) != 0x2) {
            ++i;
            return false;
        }
        c = (c << 6) | (cb & 0x3F);
    }
    i += len;
    return true;
}

}  // namespace

std::size_t display_width(std::string_view text) {
    std::size_t width = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t c = 0;
        if (!next_code_point(text, i, c)) {
            ++width;
        } else if (c < 0x20 || (c >= 0x7F && c < 0xA0) || in(kZeroWidth, c)) {
            // control characters and combining marks take no column of their own
        } else {
            width += in(kWide, c) ? 2 : 1;
        }
    }
    return width;
}

std::string pad_to(std::string_view text, std::size_t width) {
    std::string out(text);
    const std::size_t used = display_width(text);
    out.append(used < width ? width - used : 1, ' ');
    return out;
}

}  // namespace pdsync::cli
