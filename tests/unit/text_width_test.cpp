// The CLI's table layout by display width (issue 12, item 6): CJK wide characters take two
// columns, combining marks none, so `pdsync users list` and `pdsync status` line up.
#include <gtest/gtest.h>

#include "client-node/cli/text_width.hpp"

using pdsync::cli::display_width;
using pdsync::cli::pad_to;

TEST(TextWidth, AsciiTakesOneColumnPerCharacter) {
    EXPECT_EQ(display_width("alice"), 5u);
    EXPECT_EQ(display_width(""), 0u);
}

TEST(TextWidth, CjkAndFullwidthCharactersTakeTwoColumns) {
    EXPECT_EQ(display_width("山田"), 4u);      // 6 bytes
    EXPECT_EQ(display_width("김민준"), 6u);    // Hangul syllables
    EXPECT_EQ(display_width("ｔａｒｏ"), 8u);  // fullwidth Latin
    EXPECT_EQ(display_width("たなか.k"), 8u);
}

TEST(TextWidth, CombiningMarksTakeNoColumn) {
    EXPECT_EQ(display_width("ju\xCC\x88rgen"), 6u);  // u + U+0308: "jürgen", decomposed
    EXPECT_EQ(display_width("j\xC3\xBCrgen"), 6u);   // precomposed ü
    EXPECT_EQ(display_width("e\xCC\x81\xCC\xA3"), 1u);
}

TEST(TextWidth, InvalidUtf8CountsOneColumnPerByte) {
    EXPECT_EQ(display_width("a\xFF"
                            "b"),
              3u);
    EXPECT_EQ(display_width("\xE5\xB1"), 2u);  // a truncated three-byte sequence
}

TEST(TextWidth, PaddingReachesTheColumnByDisplayWidth) {
    EXPECT_EQ(pad_to("山田", 8), "山田    ");
    EXPECT_EQ(pad_to("alice", 8), "alice   ");
    EXPECT_EQ(display_width(pad_to("ju\xCC\x88rgen", 10)), 10u);
}

TEST(TextWidth, AValueWiderThanItsColumnStillGetsOneSpace) {
    EXPECT_EQ(pad_to("a-very-long-machine-name", 10), "a-very-long-machine-name ");
}
