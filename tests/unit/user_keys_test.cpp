// Per-user keys (shared/user_keys.hpp): derived per user and per server secret, sealed to
// one device's box key only, and the server's secret file made private once and kept.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "shared/user_keys.hpp"

using namespace pdsync;

namespace {
FleetKey filled(unsigned char b) {
    FleetKey k{};
    k.fill(b);
    return k;
}
}  // namespace

TEST(UserKeys, EachUserAndEachServerSecretGivesAnotherKeyAndTheSameInputsTheSameKey) {
    EXPECT_EQ(derive_user_key(filled(1), "alice"), derive_user_key(filled(1), "alice"));
    EXPECT_NE(derive_user_key(filled(1), "alice"), derive_user_key(filled(1), "bob"));
    EXPECT_NE(derive_user_key(filled(1), "alice"), derive_user_key(filled(2), "alice"));
    EXPECT_NE(derive_user_key(filled(1), "alice"), filled(1)) << "not the secret itself";
}

TEST(UserKeys, ASealedKeyOpensOnlyWithTheDeviceKeyPairItWasSealedTo) {
    BoxKeyPair device = make_box_key_pair();
    BoxKeyPair other = make_box_key_pair();
    UserKey k = derive_user_key(filled(3), "alice");
    std::string sealed = seal_user_key(k, device.pk);
    EXPECT_EQ(sealed.find(std::string(reinterpret_cast<const char*>(k.data()), k.size())),
              std::string::npos);
    auto opened = open_user_key(sealed, device.pk, device.sk);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, k);
    auto wrong = open_user_key(sealed, other.pk, other.sk);
    ASSERT_FALSE(wrong);
    EXPECT_EQ(wrong.code(), Errc::malformed);
    EXPECT_FALSE(open_user_key(sealed.substr(1), device.pk, device.sk));
}

TEST(UserKeys, TheServerSecretFileIsMade0600OnceAndThenKept) {
    auto dir =
        std::filesystem::temp_directory_path() / ("pdsync-user-keys-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string path = (dir / "store.db.userkey").string();
    auto first = load_or_create_user_key_secret(path);
    ASSERT_TRUE(first) << first.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto again = load_or_create_user_key_secret(path);
    ASSERT_TRUE(again);
    EXPECT_EQ(*first, *again);
    std::ofstream(path) << "not hex\n";
    auto bad = load_or_create_user_key_secret(path);
    EXPECT_FALSE(bad) << "a damaged file is an error, not silently replaced";
    std::filesystem::remove_all(dir);
}
