// Typed field readers over decoded maps.
#include "shared/value_access.hpp"

namespace pdsync::field {
namespace {
Error wrong(const char* key, const char* what) {
    return make_error(Errc::malformed, std::string("field '") + key + "' " + what);
}
const Value* lookup(const Value& map, const char* key) {
    if (!map.is_object()) return nullptr;
    auto it = map.find(key);
    if (it == map.end() || it->is_null()) return nullptr;
    return &*it;
}
}  // namespace

Result<std::string> str_or(const Value& map, const char* key, std::string dflt) {
    const Value* v = lookup(map, key);
    if (!v) return dflt;
    if (!v->is_string()) return wrong(key, "is not a string");
    return v->get<std::string>();
}

Result<uint64_t> u64_or(const Value& map, const char* key, uint64_t dflt) {
    const Value* v = lookup(map, key);
    if (!v) return dflt;
    if (v->is_number_unsigned()) return v->get<uint64_t>();
    if (v->is_number_integer() && v->get<int64_t>() >= 0)
        return static_cast<uint64_t>(v->get<int64_t>());
    return wrong(key, "is not a non-negative integer");
}

Result<int64_t> i64_or(const Value& map, const char* key, int64_t dflt) {
    const Value* v = lookup(map, key);
    if (!v) return dflt;
    if (v->is_number_unsigned()) {
        auto u = v->get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX)) return wrong(key, "is out of range");
        return static_cast<int64_t>(u);
    }
    if (v->is_number_integer()) return v->get<int64_t>();
    return wrong(key, "is not an integer");
}

Result<bool> boolean_or(const Value& map, const char* key, bool dflt) {
    const Value* v = lookup(map, key);
    if (!v) return dflt;
    if (!v->is_boolean()) return wrong(key, "is not a boolean");
    return v->get<bool>();
}

Result<std::string> str(const Value& map, const char* key) {
    if (!lookup(map, key)) return wrong(key, "is missing");
    return str_or(map, key, {});
}
Result<uint64_t> u64(const Value& map, const char* key) {
    if (!lookup(map, key)) return wrong(key, "is missing");
    return u64_or(map, key, 0);
}
Result<int64_t> i64(const Value& map, const char* key) {
    if (!lookup(map, key)) return wrong(key, "is missing");
    return i64_or(map, key, 0);
}
Result<bool> boolean(const Value& map, const char* key) {
    if (!lookup(map, key)) return wrong(key, "is missing");
    return boolean_or(map, key, false);
}

Status schema(const Value& map, std::string_view expected) {
    if (!map.is_object()) return make_error(Errc::malformed, "payload is not a map");
    auto it = map.find("schema");
    if (it == map.end() || !it->is_string())
        return make_error(Errc::bad_schema, "missing 'schema'");
    if (it->get_ref<const std::string&>() != expected) {
        return make_error(Errc::bad_schema, "schema '" + it->get<std::string>() + "', expected '" +
                                                std::string(expected) + "'");
    }
    return Ok{};
}

}  // namespace pdsync::field
