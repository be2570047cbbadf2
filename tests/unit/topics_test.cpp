// Topic builders and the parser agree, and the parser refuses everything outside v1.
#include <gtest/gtest.h>

#include "topics/topics.hpp"

using namespace pdsync;

TEST(Topics, BuildsTheContract) {
    Topics t("pds/v1");
    EXPECT_EQ(t.user_doc("alice", Category::addressbook), "pds/v1/users/alice/addressbook");
    EXPECT_EQ(t.user_doc("a/b", Category::home), "pds/v1/users/a%2Fb/home");
    EXPECT_EQ(t.shared_doc(Category::guest_home), "pds/v1/shared/guest-home");
    EXPECT_EQ(t.device("mfp-1", TopicKind::device_changes), "pds/v1/devices/mfp-1/changes");
    EXPECT_EQ(t.server_status(), "pds/v1/server/status");
    EXPECT_EQ(t.user_docs_filter("+"), "pds/v1/users/%2B/+");
    EXPECT_EQ(Topics("fleet2/").root(), "fleet2");
}

TEST(Topics, ParsesWhatItBuilds) {
    Topics t("office/pds");
    for (std::string user : {"alice", "a/b", "+", "#", "j\xC3\xB6rg"}) {
        for (auto c : kAllCategories) {
            if (!is_personal(c)) continue;
            auto p = t.parse(t.user_doc(user, c));
            ASSERT_TRUE(p.ok()) << user;
            EXPECT_EQ(p->kind, TopicKind::user_doc);
            EXPECT_EQ(p->user, user);
            EXPECT_EQ(p->category, c);
        }
    }
    auto s = t.parse(t.shared_doc(Category::group_addressbook_view));
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->kind, TopicKind::shared_doc);
    for (auto k : {TopicKind::device_hello, TopicKind::device_changes, TopicKind::device_events,
                   TopicKind::device_presence, TopicKind::device_inbox}) {
        auto d = t.parse(t.device("dev-9", k));
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(d->kind, k);
        EXPECT_EQ(d->device_id, "dev-9");
    }
}

TEST(Topics, RefusesTopicsOutsideTheContract) {
    Topics t("pds/v1");
    EXPECT_EQ(t.parse("pds/v2/users/a/home").code(), Errc::unknown_topic);
    EXPECT_EQ(t.parse("pds/v1").code(), Errc::unknown_topic);
    EXPECT_EQ(t.parse("pds/v1/").code(), Errc::unknown_topic);
    EXPECT_EQ(t.parse("pds/v1/users/a/home/extra").code(), Errc::unknown_topic);
    EXPECT_EQ(t.parse("pds/v1/devices/d/unknown").code(), Errc::unknown_topic);
    EXPECT_EQ(t.parse("pds/v1/users//home").code(), Errc::bad_user_id);  // empty user id
    EXPECT_EQ(t.parse("pds/v1/users/a/nope").code(), Errc::unknown_category);
    EXPECT_EQ(t.parse("pds/v1/users/a/guest-home").code(),
              Errc::unknown_category);  // shared, not personal
    EXPECT_EQ(t.parse("pds/v1/devices/a+b/hello").code(), Errc::bad_device_id);
    EXPECT_EQ(t.parse("pds/v1/users/%41/home").code(), Errc::bad_user_id);
}
