// Builders and the parser for the v1 topic contract.
#include "topics/topics.hpp"

#include <vector>

#include "shared/user_id.hpp"

namespace pdsync {
namespace {

std::vector<std::string_view> split_levels(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (true) {
        std::size_t slash = s.find('/', start);
        if (slash == std::string_view::npos) {
            out.push_back(s.substr(start));
            return out;
        }
        out.push_back(s.substr(start, slash - start));
        start = slash + 1;
    }
}

Error unknown(std::string_view topic) {
    return make_error(Errc::unknown_topic,
                      "topic outside the v1 contract: '" + std::string(topic.substr(0, 200)) + "'");
}

}  // namespace

std::string_view device_topic_suffix(TopicKind kind) {
    switch (kind) {
        case TopicKind::device_hello:
            return "hello";
        case TopicKind::device_changes:
            return "changes";
        case TopicKind::device_events:
            return "events";
        case TopicKind::device_presence:
            return "presence";
        case TopicKind::device_inbox:
            return "inbox";
        default:
            return "";
    }
}

Topics::Topics(std::string root) : root_(std::move(root)) {
    while (!root_.empty() && root_.back() == '/') root_.pop_back();
    if (root_.empty() || root_.find_first_of("+#") != std::string::npos) root_ = "pds/v1";
}

std::string Topics::user_doc(std::string_view user_id, Category c) const {
    return root_ + "/users/" + encode_user_id(user_id) + "/" + std::string(category_name(c));
}

std::string Topics::shared_doc(Category c) const {
    return root_ + "/shared/" + std::string(category_name(c));
}

std::string Topics::device(std::string_view device_id, TopicKind kind) const {
    return root_ + "/devices/" + std::string(device_id) + "/" +
           std::string(device_topic_suffix(kind));
}

std::string Topics::server_status() const {
    return root_ + "/server/status";
}

std::string Topics::server_sessions() const {
    return root_ + "/server/sessions";
}

std::string Topics::claim_request(std::string_view nonce) const {
    return root_ + "/claim/" + std::string(nonce) + "/request";
}

std::string Topics::claim_response(std::string_view nonce) const {
    return root_ + "/claim/" + std::string(nonce) + "/response";
}

std::string Topics::claim_requests_filter() const {
    return root_ + "/claim/+/request";
}

std::string Topics::claim_nonce_of_request(std::string_view topic) const {
    const std::string prefix = root_ + "/claim/";
    constexpr std::string_view suffix = "/request";
    if (topic.size() <= prefix.size() + suffix.size() || topic.substr(0, prefix.size()) != prefix ||
        topic.substr(topic.size() - suffix.size()) != suffix)
        return "";
    std::string nonce(topic.substr(prefix.size(), topic.size() - prefix.size() - suffix.size()));
    if (nonce.find('/') != std::string::npos) return "";
    return nonce;
}

std::string Topics::all_user_docs_filter() const {
    return root_ + "/users/+/+";
}

std::string Topics::user_docs_filter(std::string_view user_id) const {
    return root_ + "/users/" + encode_user_id(user_id) + "/+";
}

std::string Topics::all_devices_filter(TopicKind kind) const {
    return root_ + "/devices/+/" + std::string(device_topic_suffix(kind));
}

Result<ParsedTopic> Topics::parse(std::string_view topic) const {
    if (topic.size() <= root_.size() + 1 || topic.substr(0, root_.size()) != root_ ||
        topic[root_.size()] != '/') {
        return unknown(topic);
    }
    auto levels = split_levels(topic.substr(root_.size() + 1));
    ParsedTopic p;
    if (levels.size() == 3 && levels[0] == "users") {
        auto user = decode_user_id(levels[1]);
        if (!user) return user.error();
        auto c = category_from_name(levels[2]);
        if (!c || !is_personal(*c))
            return make_error(Errc::unknown_category,
                              "no personal category '" + std::string(levels[2]) + "'");
        p.kind = TopicKind::user_doc;
        p.user = std::move(user).value();
        p.category = *c;
        return p;
    }
    if (levels.size() == 2 && levels[0] == "shared") {
        auto c = category_from_name(levels[1]);
        if (!c || is_personal(*c))
            return make_error(Errc::unknown_category,
                              "no shared category '" + std::string(levels[1]) + "'");
        p.kind = TopicKind::shared_doc;
        p.category = *c;
        return p;
    }
    if (levels.size() == 3 && levels[0] == "devices") {
        if (auto st = validate_device_id(levels[1]); !st) return st.error();
        p.device_id = std::string(levels[1]);
        for (auto kind :
             {TopicKind::device_hello, TopicKind::device_changes, TopicKind::device_events,
              TopicKind::device_presence, TopicKind::device_inbox}) {
            if (levels[2] == device_topic_suffix(kind)) {
                p.kind = kind;
                return p;
            }
        }
        return unknown(topic);
    }
    if (levels.size() == 2 && levels[0] == "server" && levels[1] == "status") {
        p.kind = TopicKind::server_status;
        return p;
    }
    return unknown(topic);
}

}  // namespace pdsync
