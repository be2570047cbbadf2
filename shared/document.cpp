// Document and entry (de)serialization; unknown keys are carried in `extra`.
#include "shared/document.hpp"

#include <algorithm>
#include <unordered_set>

#include "shared/value_access.hpp"

namespace pdsync {
namespace {

const char* const kEntryKeys[] = {"id", "rev", "deleted", "fields"};
const char* const kDocKeys[] = {"schema", "user", "category", "version", "updated_at", "entries"};

template <size_t N>
bool is_known(const std::string& key, const char* const (&known)[N]) {
    return std::any_of(std::begin(known), std::end(known), [&](const char* k) { return key == k; });
}

Value entry_to_value(const Entry& e) {
    Value v = e.extra.is_object() ? e.extra : Value::object();
    v["id"] = e.id;
    v["rev"] = e.rev;
    if (e.deleted) v["deleted"] = true;
    v["fields"] = e.fields;
    return v;
}

Result<Entry> entry_from_value(const Value& v) {
    if (!v.is_object()) return make_error(Errc::malformed, "entry is not a map");
    Entry e;
    PDS_TRY(e.id, field::str(v, "id"));
    PDS_CHECK(validate_entry_id(e.id));
    PDS_TRY(e.rev, field::u64_or(v, "rev", 0));
    PDS_TRY(e.deleted, field::boolean_or(v, "deleted", false));
    auto f = v.find("fields");
    if (f != v.end() && !f->is_null()) {
        if (!f->is_object()) return make_error(Errc::malformed, "entry fields are not a map");
        e.fields = *f;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (!is_known(it.key(), kEntryKeys)) e.extra[it.key()] = it.value();
    }
    return e;
}

}  // namespace

Entry* Document::find(std::string_view id) {
    for (auto& e : entries) {
        if (e.id == id) return &e;
    }
    return nullptr;
}

const Entry* Document::find(std::string_view id) const {
    return const_cast<Document*>(this)->find(id);
}

std::size_t Document::live_count() const {
    return static_cast<std::size_t>(
        std::count_if(entries.begin(), entries.end(), [](const Entry& e) { return !e.deleted; }));
}

std::vector<const Entry*> Document::live_entries() const {
    std::vector<const Entry*> out;
    out.reserve(entries.size());
    for (const auto& e : entries) {
        if (!e.deleted) out.push_back(&e);
    }
    return out;
}

Status validate_entry_id(std::string_view id) {
    if (id.empty() || id.size() > tuning::codec::kMaxEntryIdBytes) {
        return make_error(Errc::bad_entry, "entry id must be 1 to 128 bytes");
    }
    for (unsigned char c : id) {
        if (c < 0x20 || c == 0x7F)
            return make_error(Errc::bad_entry, "entry id contains a control character");
    }
    return Ok{};
}

Value document_head_to_value(const Document& doc) {
    Value v = doc.extra.is_object() ? doc.extra : Value::object();
    v["schema"] = kDocumentSchema;
    if (!doc.user.empty()) v["user"] = doc.user;
    v["category"] = std::string(category_name(doc.category));
    v["version"] = doc.version;
    v["updated_at"] = doc.updated_at;
    return v;
}

std::string encode_entry(const Entry& e) {
    return encode_msgpack_unchecked(entry_to_value(e));
}

Result<Entry> decode_entry(std::string_view bytes, const DecodeLimits& limits) {
    PDS_TRY(Value v, decode_msgpack(bytes, limits));
    return entry_from_value(v);
}

Value document_to_value(const Document& doc) {
    Value v = document_head_to_value(doc);
    Value entries = Value::array();
    for (const auto& e : doc.entries) entries.push_back(entry_to_value(e));
    v["entries"] = std::move(entries);
    return v;
}

Result<Document> document_from_value(const Value& v) {
    PDS_CHECK(field::schema(v, kDocumentSchema));
    Document doc;
    PDS_TRY(doc.user, field::str_or(v, "user", ""));
    PDS_TRY(std::string cat, field::str(v, "category"));
    auto c = category_from_name(cat);
    if (!c) return make_error(Errc::unknown_category, "unknown category '" + cat + "'");
    doc.category = *c;
    if (is_personal(doc.category) == doc.user.empty()) {
        return make_error(Errc::malformed,
                          "a personal document needs a user, a shared one has none");
    }
    PDS_TRY(doc.version, field::u64_or(v, "version", 0));
    PDS_TRY(doc.updated_at, field::i64_or(v, "updated_at", 0));
    auto ent = v.find("entries");
    if (ent != v.end() && !ent->is_null()) {
        if (!ent->is_array()) return make_error(Errc::malformed, "entries is not an array");
        doc.entries.reserve(ent->size());
        std::unordered_set<std::string> seen;
        for (const auto& ev : *ent) {
            PDS_TRY(Entry e, entry_from_value(ev));
            if (!seen.insert(e.id).second)
                return make_error(Errc::bad_entry, "duplicate entry id '" + e.id + "'");
            doc.entries.push_back(std::move(e));
        }
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (!is_known(it.key(), kDocKeys)) doc.extra[it.key()] = it.value();
    }
    return doc;
}

std::string encode_document(const Document& doc) {
    return encode_msgpack_unchecked(document_to_value(doc));
}

Result<Document> decode_document(std::string_view bytes) {
    PDS_TRY(Value v, decode_msgpack(bytes));
    return document_from_value(v);
}

}  // namespace pdsync
