// Messages round-trip and their decoders refuse wrong shapes.
#include <gtest/gtest.h>

#include "shared/messages.hpp"

using namespace pdsync;

TEST(Messages, ChangeSetRoundTrip) {
    ChangeSet cs;
    cs.device_id = "dev-1";
    cs.epoch = "e1";
    cs.seq = 3;
    cs.user = "a/b";
    cs.category = Category::buttons;
    cs.ops.push_back({OpKind::put, "x", {{"label", "Scan"}}, 2, std::string("")});
    cs.ops.push_back({OpKind::remove, "y", Value::object(), 0, std::nullopt});
    cs.ops.push_back({OpKind::move, "z", Value::object(), 0, std::string("x")});
    auto back = change_set_from_value(
        decode_msgpack(encode_msgpack_unchecked(change_set_to_value(cs))).value());
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->ops, cs.ops);
    EXPECT_EQ(back->user, "a/b");
    EXPECT_EQ(back->seq, 3u);
}

TEST(Messages, ChangeSetRefusesBadFields) {
    Value v = change_set_to_value(ChangeSet{"dev", "e", 1, "u", Category::home, false, 0, {}});
    auto bad = [&](auto mutate, Errc want) {
        Value w = v;
        mutate(w);
        EXPECT_EQ(change_set_from_value(w).code(), want) << w.dump();
    };
    bad([](Value& w) { w["seq"] = 0; }, Errc::malformed);
    bad([](Value& w) { w["seq"] = "one"; }, Errc::malformed);
    bad([](Value& w) { w["device_id"] = "a/b"; }, Errc::bad_device_id);
    bad([](Value& w) { w["category"] = "telepathy"; }, Errc::unknown_category);
    bad([](Value& w) { w.erase("user"); }, Errc::bad_user_id);
    bad([](Value& w) { w["ops"] = {{{"op", "explode"}, {"id", "x"}}}; }, Errc::bad_entry);
    bad([](Value& w) { w["ops"] = {{{"op", "put"}, {"id", ""}}}; }, Errc::bad_entry);
    bad([](Value& w) { w["ops"] = {{{"op", "move"}, {"id", "x"}}}; }, Errc::bad_entry);
    bad([](Value& w) { w["schema"] = "pds.doc/1"; }, Errc::bad_schema);
}

TEST(Messages, AuthProfileDigestIgnoresDepartmentOrder) {
    AuthProfile a{"ldap", "corp", true, {"100", "200"}};
    AuthProfile b{"ldap", "corp", true, {"200", "100"}};
    AuthProfile c{"ldap", "corp", true, {"100"}};
    AuthProfile d{"local", "corp", true, {"100", "200"}};
    EXPECT_EQ(a.digest(), b.digest());
    EXPECT_NE(a.digest(), c.digest());
    EXPECT_NE(a.digest(), d.digest());
}

TEST(Messages, RepliesRoundTrip) {
    JoinReply j;
    j.accepted = false;
    j.reason = Errc::machine_limit;
    j.message = "full";
    j.gone_users = {"old"};
    auto jb = reply_from_value(reply_to_value(j));
    ASSERT_TRUE(jb.ok());
    EXPECT_EQ(std::get<JoinReply>(*jb).reason, Errc::machine_limit);
    EXPECT_EQ(std::get<JoinReply>(*jb).gone_users, std::vector<std::string>{"old"});

    LoginReply l;
    l.user = "alice";
    l.known = true;
    l.versions[Category::keychain] = 4;
    auto lb = reply_from_value(reply_to_value(l));
    ASSERT_TRUE(lb.ok());
    EXPECT_EQ(std::get<LoginReply>(*lb).versions.at(Category::keychain), 4u);

    AckReply a;
    a.seq = 9;
    a.ok = false;
    a.reason = Errc::out_of_order;
    a.expected_seq = 7;
    auto ab = reply_from_value(reply_to_value(a));
    ASSERT_TRUE(ab.ok());
    EXPECT_EQ(std::get<AckReply>(*ab).expected_seq, 7u);
}

TEST(Messages, AckBatchRoundTripsAndFlattensInOrder) {
    AckBatch batch;
    for (uint64_t seq = 3; seq <= 5; ++seq) {
        AckReply a;
        a.seq = seq;
        a.ok = seq != 4;
        a.reason = seq == 4 ? Errc::too_large : Errc::ok;
        a.user = "alice";
        a.category = Category::home;
        a.version = seq * 10;
        batch.acks.push_back(a);
    }
    auto back = reply_from_value(reply_to_value(batch));
    ASSERT_TRUE(back.ok()) << back.error().message;
    auto acks = flatten_reply(std::move(back).value());
    ASSERT_EQ(acks.size(), 3u);
    for (uint64_t i = 0; i < 3; ++i) {
        const auto& a = std::get<AckReply>(acks[i]);
        EXPECT_EQ(a.seq, 3 + i);
        EXPECT_EQ(a.version, (3 + i) * 10);
        EXPECT_EQ(a.category, Category::home);
    }
    EXPECT_EQ(std::get<AckReply>(acks[1]).reason, Errc::too_large);
    // Not a list of maps: refused.
    Value bad = reply_to_value(batch);
    bad["acks"] = Value::array({1});
    EXPECT_FALSE(reply_from_value(bad).ok());
    bad["acks"] = "x";
    EXPECT_FALSE(reply_from_value(bad).ok());
}

TEST(CategoryNames, ParseToASetAndUnknownNamesAreReported) {
    std::string unknown;
    auto some = categories_from_names({"keychain", "guest-home"}, unknown);
    ASSERT_TRUE(some.has_value());
    EXPECT_TRUE(some->contains(Category::keychain));
    EXPECT_FALSE(some->contains(Category::home));
    EXPECT_EQ(categories_from_names({}, unknown), CategorySet::all());
    EXPECT_FALSE(categories_from_names({"home", "telepathy"}, unknown).has_value());
    EXPECT_EQ(unknown, "telepathy");
}
