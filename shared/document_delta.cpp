// Document deltas: made from the server's bytes, applied to the device's cached bytes,
// both through split_document() and assemble_document() (shared/document_bytes.hpp), so
// neither side decodes the entries that did not change.
#include "shared/document_delta.hpp"

#include <sodium.h>

#include <unordered_map>
#include <unordered_set>

#include "shared/document_bytes.hpp"
#include "shared/value_access.hpp"

namespace pdsync {
namespace {

constexpr std::size_t kDigestBytes = 16;

Error misfit(std::string what) {
    return make_error(Errc::malformed, "delta does not apply: " + std::move(what));
}

uint64_t version_in(const Value& head) {
    auto it = head.find("version");
    return it != head.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

}  // namespace

std::size_t DocumentDelta::wire_bytes() const {
    std::size_t n = 64 + digest.size() + encode_msgpack_unchecked(head).size();
    for (const auto& e : entries) n += e.size() + 5;
    for (const auto& id : order) n += id.size() + 2;
    return n;
}

std::string document_digest(std::string_view bytes) {
    std::string out(kDigestBytes, '\0');
    crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nullptr,
                       0);
    return out;
}

Result<std::optional<DocumentDelta>> make_delta(std::string_view bytes, uint64_t from,
                                                std::size_t max_bytes) {
    PDS_TRY(SplitDocument split, split_document(bytes));
    DocumentDelta d;
    d.from = from;
    PDS_TRY(d.head, head_value(split));
    d.version = version_in(d.head);
    if (d.version <= from) return std::optional<DocumentDelta>{};
    d.order.reserve(split.entries.size());
    for (const auto& e : split.entries) {
        // The device would refuse such a delta (apply_delta): better to send the whole copy.
        if (e.rev > d.version)
            return make_error(Errc::malformed, "entry '" + std::string(e.id) + "' has rev " +
                                                   std::to_string(e.rev) + ", past version " +
                                                   std::to_string(d.version));
        d.order.emplace_back(e.id);
        if (e.rev > from) d.entries.emplace_back(e.bytes);
    }
    // Sized before the digest, the one pass over the whole document it would still need.
    if (d.wire_bytes() >= max_bytes) return std::optional<DocumentDelta>{};
    d.digest = document_digest(bytes);
    return std::optional<DocumentDelta>{std::move(d)};
}

Result<std::string> apply_delta(std::string_view cached, const DocumentDelta& delta,
                                const DocKey& key) {
    if (delta.head.contains("entries")) return misfit("its head holds entries");
    if (version_in(delta.head) != delta.version) return misfit("its head has another version");
    if (delta.head.value("user", std::string()) != key.user ||
        delta.head.value("category", std::string()) != category_name(key.category))
        return misfit("it is for another document");
    PDS_TRY(SplitDocument have, split_document(cached));
    PDS_TRY(Value have_head, head_value(have));
    if (version_in(have_head) != delta.from)
        return misfit("the cached copy is version " + std::to_string(version_in(have_head)) +
                      ", the delta starts at " + std::to_string(delta.from));

    std::unordered_map<std::string, std::string_view> changed;
    for (const auto& bytes : delta.entries) {
        PDS_TRY(Entry e, decode_entry(bytes));
        if (e.rev <= delta.from || e.rev > delta.version)
            return misfit("entry '" + e.id + "' has a rev outside the delta");
        if (!changed.emplace(e.id, bytes).second) return misfit("entry '" + e.id + "' comes twice");
    }
    std::unordered_map<std::string_view, std::string_view> kept;
    kept.reserve(have.entries.size());
    for (const auto& e : have.entries) kept.emplace(e.id, e.bytes);

    std::vector<std::string_view> entries;
    entries.reserve(delta.order.size());
    std::size_t used = 0;
    for (const auto& id : delta.order) {
        if (auto c = changed.find(id); c != changed.end()) {
            entries.push_back(c->second);
            ++used;
        } else if (auto k = kept.find(id); k != kept.end()) {
            entries.push_back(k->second);
        } else {
            return misfit("entry '" + id + "' is neither changed nor cached");
        }
    }
    if (used != changed.size()) return misfit("a changed entry is not in the order");
    std::string out = assemble_document(delta.head, entries);
    if (document_digest(out) != delta.digest)
        return misfit("the assembled document differs from the server's");
    return out;
}

Value delta_to_value(const DocumentDelta& d) {
    Value entries = Value::array();
    for (const auto& e : d.entries)
        entries.push_back(Value::binary(std::vector<std::uint8_t>(e.begin(), e.end())));
    return {{"from", d.from},
            {"version", d.version},
            {"head", d.head},
            {"entries", std::move(entries)},
            {"order", d.order},
            {"digest", Value::binary(std::vector<std::uint8_t>(d.digest.begin(), d.digest.end()))}};
}

Result<DocumentDelta> delta_from_value(const Value& v) {
    if (!v.is_object()) return make_error(Errc::malformed, "a delta is not a map");
    DocumentDelta d;
    PDS_TRY(d.from, field::u64(v, "from"));
    PDS_TRY(d.version, field::u64(v, "version"));
    auto head = v.find("head");
    if (head == v.end() || !head->is_object())
        return make_error(Errc::malformed, "a delta's 'head' is not a map");
    d.head = *head;
    auto entries = v.find("entries");
    if (entries == v.end() || !entries->is_array())
        return make_error(Errc::malformed, "a delta's 'entries' is not an array");
    for (const auto& e : *entries) {
        if (!e.is_binary()) return make_error(Errc::malformed, "a delta entry is not binary");
        d.entries.emplace_back(e.get_binary().begin(), e.get_binary().end());
    }
    auto order = v.find("order");
    if (order == v.end() || !order->is_array())
        return make_error(Errc::malformed, "a delta's 'order' is not an array");
    std::unordered_set<std::string> seen;
    for (const auto& id : *order) {
        if (!id.is_string()) return make_error(Errc::malformed, "a delta's order holds a non-id");
        PDS_CHECK(validate_entry_id(id.get_ref<const std::string&>()));
        if (!seen.insert(id.get<std::string>()).second)
            return make_error(Errc::malformed, "a delta's order holds an id twice");
        d.order.push_back(id.get<std::string>());
    }
    if (d.entries.size() > d.order.size())
        return make_error(Errc::malformed, "a delta holds more entries than its order");
    auto digest = v.find("digest");
    if (digest == v.end() || !digest->is_binary() || digest->get_binary().size() != kDigestBytes)
        return make_error(Errc::malformed, "a delta's 'digest' is not 16 bytes");
    d.digest.assign(digest->get_binary().begin(), digest->get_binary().end());
    return d;
}

}  // namespace pdsync
