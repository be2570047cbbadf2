// The v1 topic contract (docs/protocol.md §4; asyncapi.yaml beside this file). Every topic
// pdsync publishes or subscribes is built and parsed here, so no other code spells one.
//
//   Topics t("pds/v1");
//   t.user_doc("a/b", Category::home)   -> "pds/v1/users/a%2Fb/home"
//   t.parse("pds/v1/devices/mfp-3/changes") -> ParsedTopic{kind=device_changes, device_id="mfp-3"}
#pragma once

#include <string>
#include <string_view>

#include "shared/base/result.hpp"
#include "shared/category.hpp"

namespace pdsync {

enum class TopicKind : uint8_t {
    user_doc,         // {root}/users/{uid}/{category}         server -> all, retained
    shared_doc,       // {root}/shared/{category}              server -> all, retained
    device_hello,     // {root}/devices/{id}/hello             device -> server
    device_changes,   // {root}/devices/{id}/changes           device -> server
    device_events,    // {root}/devices/{id}/events            device -> server
    device_presence,  // {root}/devices/{id}/presence          device (will), retained
    device_inbox,     // {root}/devices/{id}/inbox             server -> device
    server_status,    // {root}/server/status                  server -> all, retained
};

struct ParsedTopic {
    TopicKind kind = TopicKind::server_status;
    std::string user;                           // decoded user id, for user_doc
    Category category = Category::addressbook;  // for user_doc and shared_doc
    std::string device_id;                      // for device_* kinds
};

class Topics {
  public:
    // `root` is the configurable prefix (default "pds/v1"); several fleets can share one
    // broker under different roots. It must be non-empty and hold no wildcard.
    explicit Topics(std::string root = "pds/v1");
    const std::string& root() const { return root_; }

    std::string user_doc(std::string_view user_id, Category c) const;
    std::string shared_doc(Category c) const;
    std::string device(std::string_view device_id, TopicKind kind) const;
    std::string server_status() const;
    // Joining by code (shared/join_code.hpp): the claim account publishes a request and
    // reads its reply under a random nonce; not part of parse() either.
    std::string claim_request(std::string_view nonce) const;   // {root}/claim/{nonce}/request
    std::string claim_response(std::string_view nonce) const;  // {root}/claim/{nonce}/response
    std::string claim_requests_filter() const;                 // {root}/claim/+/request
    // The nonce of a claim request topic, or empty if `topic` is not one.
    std::string claim_nonce_of_request(std::string_view topic) const;
    // The session table for the broker's session plugin (broker-config/sessions-plugin/):
    // grants and revocations of users/ reads, written by the server only, read by no client.
    std::string server_sessions() const;  // {root}/server/sessions

    // Subscription filters the nodes use.
    std::string all_user_docs_filter() const;                      // {root}/users/+/+
    std::string user_docs_filter(std::string_view user_id) const;  // {root}/users/{uid}/+
    std::string all_devices_filter(TopicKind kind) const;          // {root}/devices/+/{kind}

    // Parses a concrete topic under this root. Errc::unknown_topic for anything outside
    // the contract; Errc::bad_user_id / bad_device_id / unknown_category for bad levels.
    [[nodiscard]] Result<ParsedTopic> parse(std::string_view topic) const;

  private:
    std::string root_;
};

std::string_view device_topic_suffix(TopicKind kind);

}  // namespace pdsync
