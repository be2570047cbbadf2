// topics/asyncapi.yaml holds a channel for every topic the code builds, and no channel the
// code never uses (issue 12, item 8: the contract a third-party tool reads is the one the
// code speaks). deploy/check-asyncapi.sh checks the same file with the reference parser.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "topics/topics.hpp"

using namespace pdsync;

namespace {

// The channel addresses under `channels:` ("pds/v1/users/{uid}/{category}", ...).
std::vector<std::string> channel_addresses() {
    std::ifstream in(std::string(PDSYNC_SOURCE_DIR) + "/topics/asyncapi.yaml");
    std::vector<std::string> out;
    bool in_channels = false;
    static const std::regex key("^  ([^ #][^ ]*):\\s*$");
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line[0] != ' ' && line[0] != '#') in_channels = line == "channels:";
        std::smatch m;
        if (in_channels && std::regex_match(line, m, key)) out.push_back(m[1]);
    }
    return out;
}

// `{view}` spans levels (a mirrored topic's path); any other parameter is one level.
std::regex pattern_of(const std::string& address) {
    std::string re;
    for (std::size_t i = 0; i < address.size(); ++i) {
        if (address[i] == '{') {
            auto end = address.find('}', i);
            re += address.substr(i, end - i + 1) == "{view}" ? "(.+)" : "([^/]+)";
            i = end;
        } else if (std::string(".+*?()[]^$|\\").find(address[i]) != std::string::npos) {
            re += std::string("\\") + address[i];
        } else {
            re += address[i];
        }
    }
    return std::regex(re);
}

// One concrete topic of every kind pdsync publishes or subscribes.
std::vector<std::string> topics_the_code_uses() {
    Topics t("pds/v1");
    std::vector<std::string> out = {
        t.user_doc("j\xC3\xBCrgen", Category::keychain),
        t.shared_doc(Category::guest_home),
        t.server_status(),
        t.server_sessions(),
        // The inspect view mirrors every document and the status below {root}/inspect.
        "pds/v1/inspect/users/alice/home",
        "pds/v1/inspect/server/status",
    };
    for (auto kind : {TopicKind::device_hello, TopicKind::device_changes, TopicKind::device_events,
                      TopicKind::device_presence, TopicKind::device_inbox})
        out.push_back(t.device("mfp-2f-east", kind));
    return out;
}

}  // namespace

TEST(AsyncApiContract, EveryTopicTheCodeUsesHasAChannel) {
    const auto channels = channel_addresses();
    ASSERT_GT(channels.size(), 5u) << "no channels read from topics/asyncapi.yaml";
    for (const auto& topic : topics_the_code_uses()) {
        bool found = false;
        for (const auto& c : channels) found = found || std::regex_match(topic, pattern_of(c));
        EXPECT_TRUE(found) << topic << " has no channel in topics/asyncapi.yaml";
    }
}

TEST(AsyncApiContract, EveryChannelIsATopicTheCodeUses) {
    const auto topics = topics_the_code_uses();
    for (const auto& c : channel_addresses()) {
        bool used = false;
        for (const auto& t : topics) used = used || std::regex_match(t, pattern_of(c));
        EXPECT_TRUE(used) << "channel " << c << " is not a topic pdsync builds";
    }
}
