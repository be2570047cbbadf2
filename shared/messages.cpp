// (De)serialization of change sets, hello, events, presence and inbox replies.
#include "shared/messages.hpp"

#include <sodium.h>

#include <algorithm>

#include "shared/base/tuning.hpp"
#include "shared/text.hpp"
#include "shared/user_id.hpp"
#include "shared/value_access.hpp"

namespace pdsync {
namespace {

const char* op_name(OpKind k) {
    switch (k) {
        case OpKind::put:
            return "put";
        case OpKind::remove:
            return "delete";
        case OpKind::move:
            return "move";
    }
    return "put";
}

Result<Category> category_field(const Value& v, const char* key) {
    PDS_TRY(std::string name, field::str(v, key));
    auto c = category_from_name(name);
    if (!c) return make_error(Errc::unknown_category, "unknown category '" + name + "'");
    return *c;
}

// Unknown category names in a list are skipped, not fatal: a newer device may support
// categories this server does not know.
Result<CategorySet> category_list(const Value& v, const char* key) {
    CategorySet set;
    auto it = v.find(key);
    if (it == v.end() || it->is_null()) return set;
    if (!it->is_array())
        return make_error(Errc::malformed, std::string("field '") + key + "' is not an array");
    for (const auto& item : *it) {
        if (!item.is_string())
            return make_error(Errc::malformed,
                              std::string("field '") + key + "' holds a non-string");
        if (auto c = category_from_name(item.get<std::string>())) set.insert(*c);
    }
    return set;
}

Result<std::vector<std::string>> string_list(const Value& v, const char* key) {
    std::vector<std::string> out;
    auto it = v.find(key);
    if (it == v.end() || it->is_null()) return out;
    if (!it->is_array())
        return make_error(Errc::malformed, std::string("field '") + key + "' is not an array");
    for (const auto& item : *it) {
        if (!item.is_string())
            return make_error(Errc::malformed,
                              std::string("field '") + key + "' holds a non-string");
        out.push_back(item.get<std::string>());
    }
    return out;
}

Status check_user_for(Category c, const std::string& user) {
    if (is_personal(c)) return validate_user_id(user);
    if (!user.empty()) return make_error(Errc::malformed, "a shared category has no user");
    return Ok{};
}

// Every string inside an entry's fields is UTF-8 (binary values travel as MessagePack bin),
// and every field name is short printable text: the server stores and republishes them,
// and the CLI and the JSON views show them.
Status check_fields(const Value& v, std::size_t depth) {
    if (v.is_string()) {
        if (!is_valid_utf8(v.get_ref<const std::string&>()))
            return make_error(Errc::bad_text, "a field value is not UTF-8 (send bytes as binary)");
        return Ok{};
    }
    if (v.is_array()) {
        for (const auto& item : v) PDS_CHECK(check_fields(item, depth + 1));
        return Ok{};
    }
    if (v.is_object()) {
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (depth == 0)
                PDS_CHECK(validate_text(it.key(), tuning::codec::kMaxFieldNameBytes, "field name"));
            else if (!is_valid_utf8(it.key()))
                return make_error(Errc::bad_text, "a field key is not UTF-8");
            PDS_CHECK(check_fields(it.value(), depth + 1));
        }
    }
    return Ok{};
}

Result<ChangeOp> op_from_value(const Value& v) {
    if (!v.is_object()) return make_error(Errc::malformed, "op is not a map");
    ChangeOp op;
    PDS_TRY(std::string kind, field::str(v, "op"));
    if (kind == "put") {
        op.kind = OpKind::put;
    } else if (kind == "delete") {
        op.kind = OpKind::remove;
    } else if (kind == "move") {
        op.kind = OpKind::move;
    } else {
        return make_error(Errc::bad_entry, "unknown op '" + kind + "'");
    }
    PDS_TRY(op.id, field::str(v, "id"));
    PDS_CHECK(validate_entry_id(op.id));
    PDS_TRY(op.base_rev, field::u64_or(v, "base_rev", 0));
    auto f = v.find("fields");
    if (f != v.end() && !f->is_null()) {
        if (!f->is_object()) return make_error(Errc::malformed, "op fields are not a map");
        PDS_CHECK(check_fields(*f, 0));
        op.fields = *f;
    }
    auto a = v.find("after");
    if (a != v.end() && !a->is_null()) {
        if (!a->is_string()) return make_error(Errc::malformed, "op 'after' is not a string");
        op.after = a->get<std::string>();
    }
    if (op.kind == OpKind::move && !op.after)
        return make_error(Errc::bad_entry, "move needs 'after'");
    return op;
}

// {category name: version}; unknown category names are skipped (a newer peer's).
Value versions_to_value(const std::map<Category, uint64_t>& versions) {
    Value out = Value::object();
    for (const auto& [c, ver] : versions) out[std::string(category_name(c))] = ver;
    return out;
}

Result<std::map<Category, uint64_t>> versions_from_value(const Value& v, const char* key) {
    std::map<Category, uint64_t> out;
    auto vers = v.find(key);
    if (vers == v.end() || vers->is_null()) return out;
    if (!vers->is_object())
        return make_error(Errc::malformed, std::string("field '") + key + "' is not a map");
    for (auto it = vers->begin(); it != vers->end(); ++it) {
        auto c = category_from_name(it.key());
        if (!c) continue;
        PDS_TRY(uint64_t ver, field::u64(*vers, it.key().c_str()));
        out[*c] = ver;
    }
    return out;
}

}  // namespace

Value change_set_to_value(const ChangeSet& cs) {
    Value ops = Value::array();
    for (const auto& op : cs.ops) {
        Value o = {{"op", op_name(op.kind)}, {"id", op.id}};
        if (op.kind == OpKind::put) o["fields"] = op.fields;
        if (op.base_rev) o["base_rev"] = op.base_rev;
        if (op.after) o["after"] = *op.after;
        ops.push_back(std::move(o));
    }
    Value v = {{"schema", kChangeSetSchema},
               {"device_id", cs.device_id},
               {"epoch", cs.epoch},
               {"seq", cs.seq},
               {"category", std::string(category_name(cs.category))},
               {"created_at", cs.created_at},
               {"ops", std::move(ops)}};
    if (!cs.user.empty()) v["user"] = cs.user;
    if (cs.registers) v["register"] = true;
    return v;
}

Result<ChangeSet> change_set_from_value(const Value& v) {
    PDS_CHECK(field::schema(v, kChangeSetSchema));
    ChangeSet cs;
    PDS_TRY(cs.device_id, field::str(v, "device_id"));
    PDS_CHECK(validate_device_id(cs.device_id));
    PDS_TRY(cs.epoch, field::str(v, "epoch"));
    if (cs.epoch.empty() || cs.epoch.size() > 64) return make_error(Errc::malformed, "bad epoch");
    PDS_CHECK(validate_text(cs.epoch, 64, "epoch"));
    PDS_TRY(cs.seq, field::u64(v, "seq"));
    if (cs.seq == 0) return make_error(Errc::malformed, "seq starts at 1");
    PDS_TRY(cs.user, field::str_or(v, "user", ""));
    PDS_TRY(cs.category, category_field(v, "category"));
    PDS_CHECK(check_user_for(cs.category, cs.user));
    PDS_TRY(cs.registers, field::boolean_or(v, "register", false));
    PDS_TRY(cs.created_at, field::i64_or(v, "created_at", 0));
    auto ops = v.find("ops");
    if (ops == v.end() || !ops->is_array())
        return make_error(Errc::malformed, "ops is missing or not an array");
    cs.ops.reserve(ops->size());
    for (const auto& ov : *ops) {
        PDS_TRY(ChangeOp op, op_from_value(ov));
        cs.ops.push_back(std::move(op));
    }
    return cs;
}

std::string AuthProfile::digest() const {
    auto ids = department_ids;
    std::sort(ids.begin(), ids.end());
    Value canon = {{"method", method},
                   {"realm", realm},
                   {"dept", department_id_management},
                   {"ids", department_id_management ? Value(ids) : Value::array()}};
    std::string bytes = encode_msgpack_unchecked(canon);
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    return hex;
}

Value hello_to_value(const Hello& h) {
    return {{"schema", kHelloSchema},
            {"device_id", h.device_id},
            {"product", h.product},
            {"firmware", h.firmware},
            {"location", h.location},
            {"protocol", h.protocol},
            {"categories", h.categories.names()},
            {"auth_digest", h.auth_digest},
            {"epoch", h.epoch},
            {"next_seq", h.next_seq},
            {"cached_users", h.cached_users},
            {"box_pk", Value::binary(std::vector<std::uint8_t>(h.box_pk.begin(), h.box_pk.end()))}};
}

Result<Hello> hello_from_value(const Value& v) {
    PDS_CHECK(field::schema(v, kHelloSchema));
    Hello h;
    PDS_TRY(h.device_id, field::str(v, "device_id"));
    PDS_CHECK(validate_device_id(h.device_id));
    // Stored, shown by `pdsync status` and republished in the status: bounded and printable.
    PDS_TRY(h.product, field::str_or(v, "product", ""));
    PDS_CHECK(validate_text(h.product, tuning::codec::kMaxProductBytes, "product"));
    PDS_TRY(h.firmware, field::str_or(v, "firmware", ""));
    PDS_CHECK(validate_text(h.firmware, tuning::codec::kMaxFirmwareBytes, "firmware"));
    PDS_TRY(h.location, field::str_or(v, "location", ""));
    PDS_CHECK(validate_text(h.location, tuning::codec::kMaxLocationBytes, "location"));
    PDS_TRY(uint64_t protocol, field::u64(v, "protocol"));
    h.protocol = static_cast<int>(std::min<uint64_t>(protocol, 1u << 20));
    PDS_TRY(h.categories, category_list(v, "categories"));
    PDS_TRY(h.auth_digest, field::str_or(v, "auth_digest", ""));
    PDS_CHECK(validate_text(h.auth_digest, tuning::codec::kMaxTokenBytes, "auth_digest"));
    PDS_TRY(h.epoch, field::str_or(v, "epoch", ""));
    PDS_CHECK(validate_text(h.epoch, tuning::codec::kMaxTokenBytes, "epoch"));
    PDS_TRY(h.next_seq, field::u64_or(v, "next_seq", 1));
    if (h.next_seq == 0) h.next_seq = 1;
    PDS_TRY(h.cached_users, string_list(v, "cached_users"));
    // Only looked up (to tell the device which users are gone), never stored: an id that
    // is not a valid user id cannot be on the server, so it is dropped, not fatal.
    std::erase_if(h.cached_users, [](const std::string& u) { return !validate_user_id(u); });
    if (auto pk = v.find("box_pk"); pk != v.end() && pk->is_binary()) {
        const auto& b = pk->get_binary();
        if (!b.empty() && b.size() != 32)
            return make_error(Errc::malformed, "'box_pk' is not 32 bytes");
        h.box_pk.assign(b.begin(), b.end());
    }
    return h;
}

Value event_to_value(const DeviceEvent& e) {
    Value v = {{"schema", kEventSchema},
               {"device_id", e.device_id},
               {"kind", e.kind == EventKind::login ? "login" : "logout"},
               {"user", e.user},
               {"at", e.at}};
    if (!e.have.empty()) v["have"] = versions_to_value(e.have);
    return v;
}

Result<DeviceEvent> event_from_value(const Value& v) {
    PDS_CHECK(field::schema(v, kEventSchema));
    DeviceEvent e;
    PDS_TRY(e.device_id, field::str(v, "device_id"));
    PDS_CHECK(validate_device_id(e.device_id));
    PDS_TRY(std::string kind, field::str(v, "kind"));
    if (kind == "login") {
        e.kind = EventKind::login;
    } else if (kind == "logout") {
        e.kind = EventKind::logout;
    } else {
        return make_error(Errc::malformed, "unknown event kind '" + kind + "'");
    }
    PDS_TRY(e.user, field::str(v, "user"));
    PDS_CHECK(validate_user_id(e.user));
    PDS_TRY(e.at, field::i64_or(v, "at", 0));
    PDS_TRY(e.have, versions_from_value(v, "have"));
    return e;
}

Value presence_to_value(const Presence& p) {
    return {{"schema", kPresenceSchema},
            {"device_id", p.device_id},
            {"online", p.online},
            {"at", p.at},
            {"pending", p.pending}};
}

Result<Presence> presence_from_value(const Value& v) {
    PDS_CHECK(field::schema(v, kPresenceSchema));
    Presence p;
    PDS_TRY(p.device_id, field::str(v, "device_id"));
    PDS_CHECK(validate_device_id(p.device_id));
    PDS_TRY(p.online, field::boolean(v, "online"));
    PDS_TRY(p.at, field::i64_or(v, "at", 0));
    PDS_TRY(p.pending, field::u64_or(v, "pending", 0));
    return p;
}

namespace {

void add_ack_fields(Value& v, const AckReply& a) {
    v["seq"] = a.seq;
    v["ok"] = a.ok;
    v["reason"] = std::string(errc_name(a.reason));
    v["message"] = a.message;
    if (!a.user.empty()) v["user"] = a.user;
    v["category"] = std::string(category_name(a.category));
    v["version"] = a.version;
    if (!a.conflicts.empty()) v["conflicts"] = a.conflicts;
    if (a.expected_seq) v["expected_seq"] = a.expected_seq;
}

Result<AckReply> ack_from_value(const Value& v) {
    AckReply a;
    PDS_TRY(a.seq, field::u64(v, "seq"));
    PDS_TRY(a.ok, field::boolean(v, "ok"));
    PDS_TRY(std::string reason, field::str_or(v, "reason", "ok"));
    a.reason = errc_from_name(reason);
    PDS_TRY(a.message, field::str_or(v, "message", ""));
    PDS_TRY(a.user, field::str_or(v, "user", ""));
    PDS_TRY(a.category, category_field(v, "category"));
    PDS_TRY(a.version, field::u64_or(v, "version", 0));
    PDS_TRY(a.conflicts, string_list(v, "conflicts"));
    PDS_TRY(a.expected_seq, field::u64_or(v, "expected_seq", 0));
    return a;
}

}  // namespace

Value reply_to_value(const Reply& r) {
    Value v = {{"schema", kReplySchema}};
    if (const auto* j = std::get_if<JoinReply>(&r)) {
        v["kind"] = "join";
        v["accepted"] = j->accepted;
        v["reason"] = std::string(errc_name(j->reason));
        v["message"] = j->message;
        v["categories"] = j->categories.names();
        v["gone_users"] = j->gone_users;
        v["last_seq"] = j->last_seq;
    } else if (const auto* a = std::get_if<AckReply>(&r)) {
        v["kind"] = "ack";
        add_ack_fields(v, *a);
    } else if (const auto* batch = std::get_if<AckBatch>(&r)) {
        v["kind"] = "acks";
        Value acks = Value::array();
        for (const auto& one : batch->acks) {
            Value item = Value::object();
            add_ack_fields(item, one);
            acks.push_back(std::move(item));
        }
        v["acks"] = std::move(acks);
    } else if (const auto* l = std::get_if<LoginReply>(&r)) {
        v["kind"] = "login";
        v["user"] = l->user;
        v["known"] = l->known;
        v["versions"] = versions_to_value(l->versions);
        if (l->reason != Errc::ok) {
            v["reason"] = std::string(errc_name(l->reason));
            v["message"] = l->message;
        }
        if (!l->sealed_key.empty())
            v["user_key"] = Value::binary(
                std::vector<std::uint8_t>(l->sealed_key.begin(), l->sealed_key.end()));
        if (!l->deltas.empty()) {
            Value deltas = Value::object();
            for (const auto& [c, d] : l->deltas)
                deltas[std::string(category_name(c))] = delta_to_value(d);
            v["deltas"] = std::move(deltas);
        }
    } else if (const auto* e = std::get_if<EvictNotice>(&r)) {
        v["kind"] = "evict";
        v["users"] = e->users;
    }
    return v;
}

Result<Reply> reply_from_value(const Value& v) {
    PDS_CHECK(field::schema(v, kReplySchema));
    PDS_TRY(std::string kind, field::str(v, "kind"));
    if (kind == "join") {
        JoinReply j;
        PDS_TRY(j.accepted, field::boolean(v, "accepted"));
        PDS_TRY(std::string reason, field::str_or(v, "reason", "ok"));
        j.reason = errc_from_name(reason);
        PDS_TRY(j.message, field::str_or(v, "message", ""));
        PDS_TRY(j.categories, category_list(v, "categories"));
        PDS_TRY(j.gone_users, string_list(v, "gone_users"));
        PDS_TRY(j.last_seq, field::u64_or(v, "last_seq", 0));
        return Reply{std::move(j)};
    }
    if (kind == "ack") {
        PDS_TRY(AckReply a, ack_from_value(v));
        return Reply{std::move(a)};
    }
    if (kind == "acks") {
        auto list = v.find("acks");
        if (list == v.end() || !list->is_array())
            return make_error(Errc::malformed, "'acks' is not an array");
        AckBatch batch;
        batch.acks.reserve(list->size());
        for (const auto& item : *list) {
            if (!item.is_object()) return make_error(Errc::malformed, "an ack is not a map");
            PDS_TRY(AckReply a, ack_from_value(item));
            batch.acks.push_back(std::move(a));
        }
        return Reply{std::move(batch)};
    }
    if (kind == "login") {
        LoginReply l;
        PDS_TRY(l.user, field::str(v, "user"));
        PDS_TRY(l.known, field::boolean(v, "known"));
        PDS_TRY(l.versions, versions_from_value(v, "versions"));
        PDS_TRY(std::string reason, field::str_or(v, "reason", ""));
        if (!reason.empty()) l.reason = errc_from_name(reason);
        PDS_TRY(l.message, field::str_or(v, "message", ""));
        if (auto k = v.find("user_key"); k != v.end() && k->is_binary())
            l.sealed_key.assign(k->get_binary().begin(), k->get_binary().end());
        if (auto ds = v.find("deltas"); ds != v.end() && ds->is_object()) {
            for (auto it = ds->begin(); it != ds->end(); ++it) {
                auto c = category_from_name(it.key());
                if (!c) continue;
                PDS_TRY(DocumentDelta d, delta_from_value(it.value()));
                l.deltas[*c] = std::move(d);
            }
        }
        return Reply{std::move(l)};
    }
    if (kind == "evict") {
        EvictNotice e;
        PDS_TRY(e.users, string_list(v, "users"));
        return Reply{std::move(e)};
    }
    return make_error(Errc::bad_schema, "unknown reply kind '" + kind + "'");
}

std::vector<Reply> flatten_reply(Reply r) {
    std::vector<Reply> out;
    if (auto* batch = std::get_if<AckBatch>(&r)) {
        out.reserve(batch->acks.size());
        for (auto& a : batch->acks) out.emplace_back(std::move(a));
    } else {
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace pdsync
