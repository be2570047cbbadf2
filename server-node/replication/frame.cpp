// Encoding and bounded decoding of replication frames and standby reports.
#include "server-node/replication/frame.hpp"

#include <stdexcept>

#include "shared/base/tuning.hpp"
#include "shared/codec.hpp"

namespace pdsync::server::replication {
namespace {

// Thrown inside the decoders only; decode_*() turn it into an Error.
struct BadFrame : std::runtime_error {
    using std::runtime_error::runtime_error;
};

const Value& field(const Value& map, const char* key) {
    auto it = map.find(key);
    if (it == map.end()) throw BadFrame(std::string("missing '") + key + "'");
    return *it;
}

std::string text(const Value& map, const char* key) {
    const Value& v = field(map, key);
    if (!v.is_string()) throw BadFrame(std::string("'") + key + "' is not a string");
    return v.get<std::string>();
}

uint64_t unsigned_int(const Value& map, const char* key) {
    const Value& v = field(map, key);
    if (!v.is_number_unsigned())
        throw BadFrame(std::string("'") + key + "' is not an unsigned integer");
    return v.get<uint64_t>();
}

int64_t signed_int(const Value& map, const char* key) {
    const Value& v = field(map, key);
    if (!v.is_number_integer()) throw BadFrame(std::string("'") + key + "' is not an integer");
    return v.get<int64_t>();
}

bool boolean(const Value& map, const char* key) {
    const Value& v = field(map, key);
    if (!v.is_boolean()) throw BadFrame(std::string("'") + key + "' is not a boolean");
    return v.get<bool>();
}

// An optional array of maps (or strings): absent means empty.
const Value& list(const Value& map, const char* key) {
    static const Value kEmpty = Value::array();
    auto it = map.find(key);
    if (it == map.end()) return kEmpty;
    if (!it->is_array()) throw BadFrame(std::string("'") + key + "' is not an array");
    return *it;
}

const Value& object(const Value& v, const char* what) {
    if (!v.is_object()) throw BadFrame(std::string(what) + " is not a map");
    return v;
}

Category category(const Value& map, const char* key) {
    auto c = category_from_name(text(map, key));
    if (!c) throw BadFrame("unknown category");
    return *c;
}

Value strings(const std::vector<std::string>& items) {
    Value out = Value::array();
    for (const auto& s : items) out.push_back(s);
    return out;
}

std::vector<std::string> strings_from(const Value& v, const char* key) {
    std::vector<std::string> out;
    for (const auto& s : list(v, key)) {
        if (!s.is_string()) throw BadFrame(std::string("'") + key + "' holds a non-string");
        out.push_back(s.get<std::string>());
    }
    return out;
}

Value device_to_value(const DeviceRow& d) {
    return {{"device_id", d.device_id},         {"product", d.product},
            {"firmware", d.firmware},           {"location", d.location},
            {"supported", d.supported.names()}, {"joined_at", d.joined_at},
            {"last_seen_at", d.last_seen_at},   {"last_sync_at", d.last_sync_at},
            {"last_error", d.last_error},       {"epoch", d.epoch},
            {"last_seq", d.last_seq},           {"removed", d.removed}};
}

DeviceRow device_from_value(const Value& v) {
    object(v, "a device row");
    DeviceRow d;
    d.device_id = text(v, "device_id");
    d.product = text(v, "product");
    d.firmware = text(v, "firmware");
    d.location = text(v, "location");
    for (const auto& name : strings_from(v, "supported")) {
        if (auto c = category_from_name(name)) d.supported.insert(*c);
    }
    d.joined_at = signed_int(v, "joined_at");
    d.last_seen_at = signed_int(v, "last_seen_at");
    d.last_sync_at = signed_int(v, "last_sync_at");
    d.last_error = text(v, "last_error");
    d.epoch = text(v, "epoch");
    d.last_seq = unsigned_int(v, "last_seq");
    d.removed = boolean(v, "removed");
    return d;
}

Value applied_to_value(const AppliedEntry& a) {
    return {{"device_id", a.device_id},
            {"epoch", a.epoch},
            {"seq", a.seq},
            {"ok", a.row.ok},
            {"reason", std::string(errc_name(a.row.reason))},
            {"message", a.row.message},
            {"version", a.row.version},
            {"conflicts", strings(a.row.conflicts)}};
}

AppliedEntry applied_from_value(const Value& v) {
    object(v, "an applied row");
    AppliedEntry a;
    a.device_id = text(v, "device_id");
    a.epoch = text(v, "epoch");
    a.seq = unsigned_int(v, "seq");
    a.row.ok = boolean(v, "ok");
    a.row.reason = errc_from_name(text(v, "reason"));
    a.row.message = text(v, "message");
    a.row.version = unsigned_int(v, "version");
    a.row.conflicts = strings_from(v, "conflicts");
    return a;
}

DecodeLimits frame_limits() {
    DecodeLimits l;
    l.max_bytes = tuning::replication::kMaxFrameBytes;
    l.max_string = tuning::codec::kMaxPayloadBytes;  // a document travels as one binary value
    return l;
}

}  // namespace

std::string_view frame_kind_name(FrameKind kind) {
    switch (kind) {
        case FrameKind::commit:
            return "commit";
        case FrameKind::snapshot:
            return "snapshot";
        case FrameKind::heartbeat:
            return "heartbeat";
    }
    return "";
}

std::string encode_frame(const Frame& f) {
    Value v = {{"schema", kFrameSchema}, {"kind", std::string(frame_kind_name(f.kind))},
               {"stream", f.stream},     {"primary", f.primary},
               {"seq", f.seq},           {"part", f.part},
               {"last", f.last},         {"at", f.at}};
    const Rows& r = f.rows;
    if (!r.docs.empty()) {
        Value docs = Value::array();
        for (const auto& d : r.docs)
            docs.push_back(Value::binary(std::vector<std::uint8_t>(d.begin(), d.end())));
        v["docs"] = std::move(docs);
    }
    if (!r.deleted_docs.empty()) {
        Value keys = Value::array();
        for (const auto& k : r.deleted_docs)
            keys.push_back(
                {{"user", k.user}, {"category", std::string(category_name(k.category))}});
        v["deleted_docs"] = std::move(keys);
    }
    if (!r.users.empty()) {
        Value users = Value::array();
        for (const auto& u : r.users)
            users.push_back(
                {{"user", u.user}, {"created_at", u.created_at}, {"last_used_at", u.last_used_at}});
        v["users"] = std::move(users);
    }
    if (!r.deleted_users.empty()) v["deleted_users"] = strings(r.deleted_users);
    if (!r.devices.empty()) {
        Value devices = Value::array();
        for (const auto& d : r.devices) devices.push_back(device_to_value(d));
        v["devices"] = std::move(devices);
    }
    if (!r.applied.empty()) {
        Value applied = Value::array();
        for (const auto& a : r.applied) applied.push_back(applied_to_value(a));
        v["applied"] = std::move(applied);
    }
    return encode_msgpack_unchecked(v);
}

Result<Frame> decode_frame(std::string_view bytes) {
    PDS_TRY(Value v, decode_msgpack(bytes, frame_limits()));
    try {
        object(v, "a frame");
        if (text(v, "schema") != kFrameSchema)
            return make_error(Errc::bad_schema, "not a pds.repl/1 frame");
        Frame f;
        std::string kind = text(v, "kind");
        if (kind == "commit") {
            f.kind = FrameKind::commit;
        } else if (kind == "snapshot") {
            f.kind = FrameKind::snapshot;
        } else if (kind == "heartbeat") {
            f.kind = FrameKind::heartbeat;
        } else {
            return make_error(Errc::bad_schema, "unknown frame kind '" + kind.substr(0, 64) + "'");
        }
        f.stream = text(v, "stream");
        f.primary = text(v, "primary");
        f.seq = unsigned_int(v, "seq");
        uint64_t part = unsigned_int(v, "part");
        if (part > UINT32_MAX) throw BadFrame("'part' out of range");
        f.part = static_cast<uint32_t>(part);
        f.last = boolean(v, "last");
        f.at = signed_int(v, "at");
        for (const auto& d : list(v, "docs")) {
            if (!d.is_binary()) throw BadFrame("a document is not binary");
            const auto& b = d.get_binary();
            f.rows.docs.emplace_back(b.begin(), b.end());
        }
        for (const auto& k : list(v, "deleted_docs")) {
            object(k, "a document key");
            f.rows.deleted_docs.push_back({text(k, "user"), category(k, "category")});
        }
        for (const auto& u : list(v, "users")) {
            object(u, "a user row");
            f.rows.users.push_back(
                {text(u, "user"), signed_int(u, "created_at"), signed_int(u, "last_used_at")});
        }
        f.rows.deleted_users = strings_from(v, "deleted_users");
        for (const auto& d : list(v, "devices")) f.rows.devices.push_back(device_from_value(d));
        for (const auto& a : list(v, "applied")) f.rows.applied.push_back(applied_from_value(a));
        return f;
    } catch (const BadFrame& e) {
        return make_error(Errc::malformed, std::string("replication frame: ") + e.what());
    } catch (const std::exception& e) {  // a type mismatch nlohmann noticed first
        return make_error(Errc::malformed, std::string("replication frame: ") + e.what());
    }
}

std::string encode_report(const StandbyReport& r) {
    return encode_msgpack_unchecked({{"schema", kReportSchema},
                                     {"standby_id", r.standby_id},
                                     {"stream", r.stream},
                                     {"applied", r.applied},
                                     {"at", r.at}});
}

Result<StandbyReport> decode_report(std::string_view bytes) {
    PDS_TRY(Value v, decode_msgpack(bytes));
    try {
        object(v, "a standby report");
        if (text(v, "schema") != kReportSchema)
            return make_error(Errc::bad_schema, "not a pds.repl-standby/1 report");
        return StandbyReport{text(v, "standby_id"), text(v, "stream"), unsigned_int(v, "applied"),
                             signed_int(v, "at")};
    } catch (const std::exception& e) {
        return make_error(Errc::malformed, std::string("standby report: ") + e.what());
    }
}

}  // namespace pdsync::server::replication
