// libFuzzer target: Topics::parse, the parser both nodes run on every topic the broker
// hands them. The input is the topic string. Besides "never crash, never throw", it
// checks the contract of topics/topics.hpp:
//  - a topic that parses is exactly the one the builders spell for what it parsed to (one
//    spelling per user id and device id, so nobody gets two topic trees);
//  - the parsed ids are valid, and errors carry the documented codes.
// The same input is also parsed under a second root, to cover the prefix check.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/user_id.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "topics/topics.hpp"

using namespace pdsync;

namespace {

std::string printable(std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s.substr(0, 200)) {
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xF]);
        }
    }
    return out;
}

std::string rebuild(const Topics& t, const ParsedTopic& p) {
    switch (p.kind) {
        case TopicKind::user_doc:
            return t.user_doc(p.user, p.category);
        case TopicKind::shared_doc:
            return t.shared_doc(p.category);
        case TopicKind::server_status:
            return t.server_status();
        default:
            return t.device(p.device_id, p.kind);
    }
}

void check(const Topics& topics, std::string_view topic) {
    auto p = topics.parse(topic);
    if (!p) {
        Errc c = p.code();
        PDS_FUZZ_CHECK(
            c == Errc::unknown_topic || c == Errc::bad_user_id || c == Errc::bad_device_id ||
                c == Errc::unknown_category,
            "parse failed with " + std::string(errc_name(c)) + " for '" + printable(topic) + "'");
        return;
    }
    PDS_FUZZ_CHECK(rebuild(topics, *p) == topic, "'" + printable(topic) +
                                                     "' parses, but the builders spell it '" +
                                                     printable(rebuild(topics, *p)) + "'");
    switch (p->kind) {
        case TopicKind::user_doc:
            PDS_FUZZ_CHECK(validate_user_id(p->user).ok(), "invalid user id parsed");
            PDS_FUZZ_CHECK(is_personal(p->category), "a shared category under users/");
            PDS_FUZZ_CHECK(decode_user_id(encode_user_id(p->user)).ok(),
                           "user id does not round-trip");
            break;
        case TopicKind::shared_doc:
            PDS_FUZZ_CHECK(!is_personal(p->category), "a personal category under shared/");
            break;
        case TopicKind::server_status:
            break;
        default:
            PDS_FUZZ_CHECK(validate_device_id(p->device_id).ok(), "invalid device id parsed");
            break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Topics kDefault("pds/v1");
    static const Topics kOther("fleet-b/pds/v1");
    std::string_view topic(reinterpret_cast<const char*>(data), size);
    check(kDefault, topic);
    check(kOther, topic);
    // A user id from arbitrary bytes: decode never accepts what encode would not produce.
    auto user = decode_user_id(topic);
    if (user) {
        PDS_FUZZ_CHECK(encode_user_id(*user) == topic, "decode_user_id accepts '" +
                                                           printable(topic) +
                                                           "', which encode_user_id spells '" +
                                                           printable(encode_user_id(*user)) + "'");
    }
    if (validate_user_id(topic)) {
        auto back = decode_user_id(encode_user_id(topic));
        PDS_FUZZ_CHECK(back && *back == topic, "a valid user id does not round-trip");
    }
    return 0;
}
