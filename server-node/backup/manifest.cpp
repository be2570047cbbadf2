// JSON form of a backup manifest (see manifest.hpp).
#include "server-node/backup/manifest.hpp"

#include <nlohmann/json.hpp>

namespace pdsync::backup {

std::string to_json(const Manifest& m) {
    nlohmann::json j = {
        {"format", Manifest::kFormat},
        {"id", m.id},
        {"created_at", m.created_at},
        {"size", m.size},
        {"sha256", m.sha256},
        {"source", m.source},
        {"schema_version", m.schema_version},
        {"label", m.label},
    };
    return j.dump(2) + "\n";
}

Result<Manifest> parse_manifest(std::string_view json) {
    // allow_exceptions=false: malformed input yields a discarded value, not a throw.
    auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
        return make_error(Errc::bad_manifest, "manifest is not a JSON object");
    }
    auto field = [&](const char* key) -> const nlohmann::json* {
        auto it = j.find(key);
        return it == j.end() ? nullptr : &*it;
    };
    const auto* format = field("format");
    if (!format || !format->is_number_integer() || format->get<int>() > Manifest::kFormat) {
        return make_error(Errc::bad_manifest,
                          "manifest format missing or newer than this pdsync understands");
    }
    Manifest m;
    struct StringField {
        const char* key;
        std::string* out;
        bool required;
    };
    for (const auto& [key, out, required] :
         {StringField{"id", &m.id, true}, StringField{"created_at", &m.created_at, true},
          StringField{"sha256", &m.sha256, true}, StringField{"source", &m.source, false},
          StringField{"label", &m.label, false}}) {
        const auto* v = field(key);
        if (!v) {
            if (required)
                return make_error(Errc::bad_manifest, std::string("manifest has no ") + key);
            continue;
        }
        if (!v->is_string()) {
            return make_error(Errc::bad_manifest,
                              std::string("manifest field ") + key + " is not a string");
        }
        *out = v->get<std::string>();
    }
    const auto* size = field("size");
    if (!size || !size->is_number_unsigned()) {
        return make_error(Errc::bad_manifest, "manifest size missing or not an unsigned number");
    }
    m.size = size->get<std::uint64_t>();
    if (const auto* v = field("schema_version")) {
        if (!v->is_number_integer()) {
            return make_error(Errc::bad_manifest, "manifest schema_version is not an integer");
        }
        m.schema_version = v->get<int>();
    }
    if (m.sha256.size() != 64) {
        return make_error(Errc::bad_manifest, "manifest sha256 is not 64 hex digits");
    }
    return m;
}

}  // namespace pdsync::backup
