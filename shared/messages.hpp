// The messages devices and the server exchange besides documents (docs/protocol.md §4):
// change sets, hello (join request), login/logout events, presence, and the server's
// inbox replies. Each has a `schema` and round-trips through Value; decoders validate
// every field they read and keep nothing they do not understand.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "shared/base/result.hpp"
#include "shared/category.hpp"
#include "shared/codec.hpp"
#include "shared/document.hpp"
#include "shared/document_delta.hpp"

namespace pdsync {

// ---- Change sets -----------------------------------------------------------------------

enum class OpKind : uint8_t { put, remove, move };

// One edit of one entry.
//  put:    create or replace the entry's fields; `after` (if set) also positions it.
//  remove: delete the entry (it becomes a tombstone).
//  move:   position the entry after `after` ("" = first).
// `base_rev` is the entry rev the editor last saw (0 for a new entry): a put on an entry
// deleted after base_rev is a conflict, not a resurrection.
struct ChangeOp {
    OpKind kind = OpKind::put;
    std::string id;
    Value fields = Value::object();
    uint64_t base_rev = 0;
    std::optional<std::string> after;
    bool operator==(const ChangeOp&) const = default;
};

inline constexpr const char* kChangeSetSchema = "pds.changes/1";

// A batch of ops on one document from one device. (epoch, seq) orders a device's change
// sets and makes re-sending idempotent; `registers` marks a first-merge registration of a
// document that only this device holds.
struct ChangeSet {
    std::string device_id;
    std::string epoch;  // identifies the device's outbox; a new store starts a new epoch
    uint64_t seq = 0;   // 1, 2, 3... within the epoch
    std::string user;   // empty for a shared category
    Category category = Category::addressbook;
    bool registers = false;
    int64_t created_at = 0;
    std::vector<ChangeOp> ops;
    DocKey key() const { return DocKey{user, category}; }
};

Value change_set_to_value(const ChangeSet& cs);
[[nodiscard]] Result<ChangeSet> change_set_from_value(const Value& v);

// ---- Join ------------------------------------------------------------------------------

// The machine's user-authentication and group-management configuration. Machines sync
// only when their profiles match; the hello carries a digest, not the department ids.
struct AuthProfile {
    std::string method = "local";  // e.g. "local", "ldap", "ad"
    std::string realm;
    bool department_id_management = false;
    std::vector<std::string> department_ids;
    // Hex SHA-256 of a canonical encoding; department ids are sorted first, so their
    // order in a config file does not matter.
    std::string digest() const;
};

inline constexpr const char* kHelloSchema = "pds.hello/1";

struct Hello {
    std::string device_id;
    std::string product;
    std::string firmware;
    std::string location;
    int protocol = 0;
    CategorySet categories;  // categories this firmware supports
    std::string auth_digest;
    std::string epoch;      // the device's outbox epoch
    uint64_t next_seq = 1;  // the lowest change set it still holds (or will send next)
    std::vector<std::string> cached_users;  // users whose documents this device caches
    // The device's box public key (32 bytes), to which the server seals the keys of users
    // who log in on it (shared/user_keys.hpp); empty from a device that has none.
    std::string box_pk;
};

Value hello_to_value(const Hello& h);
[[nodiscard]] Result<Hello> hello_from_value(const Value& v);

// ---- Events and presence ---------------------------------------------------------------

inline constexpr const char* kEventSchema = "pds.event/1";
enum class EventKind : uint8_t { login, logout };

struct DeviceEvent {
    std::string device_id;
    EventKind kind = EventKind::login;
    std::string user;
    int64_t at = 0;
    // Login only: the versions of this user's documents the device holds as the server's
    // copies, so a stale one is answered with a delta (LoginReply::deltas).
    std::map<Category, uint64_t> have;
};

Value event_to_value(const DeviceEvent& e);
[[nodiscard]] Result<DeviceEvent> event_from_value(const Value& v);

inline constexpr const char* kPresenceSchema = "pds.presence/1";
struct Presence {
    std::string device_id;
    bool online = false;
    int64_t at = 0;
    uint64_t pending = 0;  // change sets in the device's outbox, shown in the server's status
};
Value presence_to_value(const Presence& p);
[[nodiscard]] Result<Presence> presence_from_value(const Value& v);

// ---- Inbox replies (server -> one device) ----------------------------------------------

inline constexpr const char* kReplySchema = "pds.reply/1";

struct JoinReply {
    bool accepted = false;
    Errc reason = Errc::ok;
    std::string message;
    CategorySet categories;               // what this device syncs: server's ∩ device's
    std::vector<std::string> gone_users;  // cached users the server no longer holds
    uint64_t last_seq = 0;                // last change set applied from this epoch
};

struct AckReply {
    uint64_t seq = 0;
    bool ok = false;
    Errc reason = Errc::ok;
    std::string message;
    std::string user;
    Category category = Category::addressbook;
    uint64_t version = 0;                // the document version that holds the change
    std::vector<std::string> conflicts;  // ids of ops skipped (e.g. conflict_deleted)
    uint64_t expected_seq = 0;           // with out_of_order: resend from here
};

// The acks of several change sets from one device, in sequence order: the server sends a
// device one inbox message per batch rather than one per change set.
struct AckBatch {
    std::vector<AckReply> acks;
};

// Answer to a login event: the versions the server holds, so the device knows when the
// retained documents it receives are complete.
struct LoginReply {
    std::string user;
    bool known = false;
    std::map<Category, uint64_t> versions;
    // Set when the server opened no session for this login (Errc::rate_limited: too many
    // new users from this device); the device then holds no session for the user.
    Errc reason = Errc::ok;
    std::string message;
    // The user's key sealed to the device's box public key (crypto_box_seal), sent with
    // every accepted login to a device that gave a key in its hello.
    std::string sealed_key;
    // For a category the device holds at an older version (DeviceEvent::have): what changed
    // since, when that is smaller than the document. Without one the device takes the
    // retained document.
    std::map<Category, DocumentDelta> deltas;
};

// The server dropped these users (least recently used, or an administrator's delete).
struct EvictNotice {
    std::vector<std::string> users;
};

using Reply = std::variant<JoinReply, AckReply, LoginReply, EvictNotice, AckBatch>;

Value reply_to_value(const Reply& r);
[[nodiscard]] Result<Reply> reply_from_value(const Value& v);
// An AckBatch as its acks, one reply each; any other reply as it is.
std::vector<Reply> flatten_reply(Reply r);

}  // namespace pdsync
