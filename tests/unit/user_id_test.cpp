// User-id percent-encoding: hostile ids stay one topic level and round-trip exactly.
#include <gtest/gtest.h>

#include "shared/user_id.hpp"

using namespace pdsync;

TEST(UserId, EncodesReservedBytes) {
    EXPECT_EQ(encode_user_id("alice"), "alice");
    EXPECT_EQ(encode_user_id("a/b"), "a%2Fb");
    EXPECT_EQ(encode_user_id("+"), "%2B");
    EXPECT_EQ(encode_user_id("#"), "%23");
    EXPECT_EQ(encode_user_id("j\xC3\xB6rg"), "j%C3%B6rg");
    EXPECT_EQ(encode_user_id("a b%"), "a%20b%25");
}

TEST(UserId, HostileIdsRoundTrip) {
    for (std::string id : {"a/b", "+", "#", "/", "j\xC3\xB6rg", "%41", "DOMAIN\\user", "x@y.z",
                           "\xE6\x97\xA5\xE6\x9C\xAC"}) {
        auto enc = encode_user_id(id);
        EXPECT_EQ(enc.find_first_of("/+#"), std::string::npos) << id;
        auto dec = decode_user_id(enc);
        ASSERT_TRUE(dec.ok()) << id;
        EXPECT_EQ(*dec, id);
    }
}

TEST(UserId, RefusesEmptyLongAndInvalidUtf8) {
    EXPECT_EQ(validate_user_id("").code(), Errc::bad_user_id);
    EXPECT_EQ(validate_user_id(std::string(300, 'a')).code(), Errc::bad_user_id);
    EXPECT_EQ(validate_user_id("\xC3").code(), Errc::bad_user_id);      // truncated sequence
    EXPECT_EQ(validate_user_id("\xC0\xAF").code(), Errc::bad_user_id);  // overlong '/'
    EXPECT_EQ(validate_user_id(std::string("a\0b", 3)).code(), Errc::bad_user_id);
    EXPECT_EQ(decode_user_id("").code(), Errc::bad_user_id);
}

TEST(UserId, DecodeRefusesNonCanonicalSpellings) {
    EXPECT_EQ(decode_user_id("%41").code(), Errc::bad_user_id);  // 'A' needs no escape
    EXPECT_EQ(decode_user_id("%2").code(), Errc::bad_user_id);   // truncated
    EXPECT_EQ(decode_user_id("%zz").code(), Errc::bad_user_id);
    EXPECT_EQ(decode_user_id("a b").code(), Errc::bad_user_id);        // unescaped space
    EXPECT_EQ(decode_user_id("%C3").code(), Errc::bad_user_id);        // decodes to invalid UTF-8
    EXPECT_EQ(decode_user_id("j%c3%b6rg").code(), Errc::bad_user_id);  // only %C3 spells it
}

TEST(DeviceId, AllowsOnlyTopicSafeCharacters) {
    EXPECT_TRUE(validate_device_id("mfp-3.floor_2").ok());
    EXPECT_FALSE(validate_device_id("").ok());
    EXPECT_FALSE(validate_device_id("a/b").ok());
    EXPECT_FALSE(validate_device_id("+").ok());
    EXPECT_FALSE(validate_device_id(std::string(65, 'a')).ok());
}
