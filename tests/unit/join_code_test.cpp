// Join codes, the claim proof and the sealed grant (shared/join_code.hpp): pure logic.
#include <gtest/gtest.h>
#include <sodium.h>

#include "shared/join_code.hpp"

namespace pdsync {
namespace {

CaPin some_pin() {
    return ca_pin_of_der("not really a certificate, but bytes to hash");
}

TEST(JoinCode, FormatsAsNineGroupsOfFourAndParsesBack) {
    JoinCode c = JoinCode::generate(some_pin());
    std::string typed = format_join_code(c);
    ASSERT_EQ(typed.size(), 36u + 8u) << typed;
    for (std::size_t i = 4; i < typed.size(); i += 5) EXPECT_EQ(typed[i], '-') << typed;
    auto back = parse_join_code(typed);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->id, c.id);
    EXPECT_EQ(back->secret, c.secret);
    EXPECT_EQ(back->ca_pin, c.ca_pin);
}

TEST(JoinCode, ForgivesCaseSpacesAndLookalikes) {
    JoinCode c = JoinCode::generate(some_pin());
    std::string typed = format_join_code(c);
    std::string sloppy;
    for (char ch : typed) {
        if (ch == '-') {
            sloppy += ' ';
        } else if (ch == '1') {
            sloppy += 'l';
        } else if (ch == '0') {
            sloppy += 'O';
        } else {
            sloppy += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
    }
    auto back = parse_join_code(sloppy);
    ASSERT_TRUE(back) << sloppy;
    EXPECT_EQ(back->secret, c.secret);
}

TEST(JoinCode, RefusesWrongLengthAndForeignCharacters) {
    EXPECT_EQ(parse_join_code("ABCD-EFGH").code(), Errc::bad_join_code);
    std::string typed = format_join_code(JoinCode::generate(some_pin()));
    typed[0] = 'U';  // not in Crockford's alphabet
    EXPECT_EQ(parse_join_code(typed).code(), Errc::bad_join_code);
}

TEST(ClaimProof, HoldsOnlyForTheSameSecretAndFields) {
    JoinCode c = JoinCode::generate(some_pin());
    ClaimRequest r;
    r.device_id = "mfp-1";
    r.nonce = std::string(32, 'a');
    r.at_ms = 1234;
    r.code_id = c.id;
    r.proof = claim_proof(c.secret, r);
    EXPECT_TRUE(claim_proof_valid(c.secret, r));
    JoinSecret other = c.secret;
    other[3] ^= 1;
    EXPECT_FALSE(claim_proof_valid(other, r));
    ClaimRequest renamed = r;
    renamed.device_id = "mfp-2";  // a captured proof does not claim another id
    EXPECT_FALSE(claim_proof_valid(c.secret, renamed));
}

TEST(ClaimRequest, RoundTripsAndRefusesBadFields) {
    ClaimRequest r;
    r.device_id = "mfp-1";
    r.nonce = std::string(32, 'b');
    r.at_ms = 99;
    r.code_id = "ABCD";
    auto back = claim_request_from_value(claim_request_to_value(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->device_id, "mfp-1");
    Value bad = claim_request_to_value(r);
    bad["device_id"] = "a/b";
    EXPECT_FALSE(claim_request_from_value(bad));
    bad = claim_request_to_value(r);
    bad["nonce"] = "short";
    EXPECT_FALSE(claim_request_from_value(bad));
}

TEST(ClaimGrant, OpensOnlyWithTheDevicesKey) {
    ASSERT_GE(sodium_init(), 0);
    BoxPublicKey pk{}, other_pk{};
    BoxSecretKey sk{}, other_sk{};
    crypto_box_keypair(pk.data(), sk.data());
    crypto_box_keypair(other_pk.data(), other_sk.data());
    ClaimGrant g;
    g.username = "mfp-1";
    g.password = "hunter2-but-longer";
    g.fleet_key.fill(7);
    g.has_fleet_key = true;
    std::string sealed = seal_grant(g, pk);
    EXPECT_EQ(sealed.find("hunter2"), std::string::npos);
    auto opened = open_grant(sealed, pk, sk);
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->password, g.password);
    EXPECT_TRUE(opened->has_fleet_key);
    EXPECT_EQ(opened->fleet_key, g.fleet_key);
    EXPECT_FALSE(open_grant(sealed, other_pk, other_sk));
}

}  // namespace
}  // namespace pdsync
