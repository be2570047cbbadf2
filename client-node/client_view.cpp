// Rebasing pending edits and rendering the device's view.
#include "client-node/client_view.hpp"

namespace pdsync::client {

Document rebase(Document base, const std::vector<OutboxRow>& rows) {
    const uint64_t included = base.version;
    for (const auto& row : rows) {
        if (row.acked && row.acked_version <= included) continue;
        // Pending entries get a rev above anything the server sent, so a later pending
        // edit of the same entry is not mistaken for a stale one.
        apply_ops(base, row.ops, included + 1);
    }
    return base;
}

namespace {
// Each key opens what it sealed and leaves the rest sealed for the next.
Value open_with(Value fields, const std::vector<const FleetKey*>& keys) {
    for (const FleetKey* k : keys) fields = open_secrets(fields, k);
    return fields;
}
}  // namespace

Value view_to_json(const Document& doc, const std::vector<DeviceItem>& device_items,
                   std::size_t pending, const std::vector<const FleetKey*>& keys) {
    Value entries = Value::array();
    for (const auto* e : doc.live_entries()) {
        entries.push_back({{"id", e->id},
                           {"rev", e->rev},
                           {"range", "shared"},
                           {"fields", open_with(e->fields, keys)}});
    }
    for (const auto& item : device_items) {
        entries.push_back({{"id", item.id}, {"range", "device"}, {"fields", item.fields}});
    }
    Value v = {{"category", std::string(category_name(doc.category))},
               {"version", doc.version},
               {"pending", pending},
               {"entries", std::move(entries)}};
    if (!doc.user.empty()) v["user"] = doc.user;
    return v;
}

}  // namespace pdsync::client
