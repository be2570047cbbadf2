// What a device shows for one document: the server's last version, with this device's
// not-yet-acknowledged edits replayed on top by the same merge rules the server runs,
// followed by the device-specific items. Pure functions, unit-tested without a broker.
#pragma once

#include <vector>

#include "client-node/client_store.hpp"
#include "shared/merge.hpp"
#include "shared/secrets.hpp"

namespace pdsync::client {

// Replays the outbox rows `base` does not contain yet (rows not acked, or acked at a
// version newer than base.version).
Document rebase(Document base, const std::vector<OutboxRow>& rows);

// The JSON the CLI prints: entries in order with their sharing range; sealed secrets are
// opened with the first of `keys` that fits (the user's keys, then the fleet key).
Value view_to_json(const Document& doc, const std::vector<DeviceItem>& device_items,
                   std::size_t pending, const std::vector<const FleetKey*>& keys = {});

}  // namespace pdsync::client
