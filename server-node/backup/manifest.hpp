// The manifest that describes one backup: "<id>.json" stored next to "<id>.db" on a
// target. It is written after the database file, so a manifest on a target means its
// backup is complete; restore checks the database file against it.
#pragma once

#include "shared/base/progress.hpp"
#include "shared/base/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace pdsync::backup {

// Plain value; copy freely, use from any thread.
//
//   {"format":1,"id":"20261125T031500000Z-1a2b3c","created_at":"2026-11-25T03:15:00Z",
//    "size":1048576,"sha256":"9f86...","source":"/var/lib/pdsync/server.db",
//    "schema_version":3,"label":"nightly"}
struct Manifest {
    // Bumped if the layout changes incompatibly; parse_manifest refuses newer formats.
    static constexpr int kFormat = 1;

    std::string id;          // backup id, also the file stem
    std::string created_at;  // UTC, ISO 8601 ("2026-11-25T03:15:00Z")
    std::uint64_t size = 0;  // bytes of "<id>.db"
    std::string sha256;      // of "<id>.db", lowercase hex
    std::string source;      // path of the database that was backed up
    int schema_version = 0;  // store schema version (PRAGMA user_version)
    std::string label;       // free text from the caller ("nightly", "before upgrade")

    std::string db_name() const { return id + ".db"; }
    std::string manifest_name() const { return id + ".json"; }
};

std::string to_json(const Manifest& m);
// Errors: bad_manifest (not JSON, missing or mistyped field, unknown format).
Result<Manifest> parse_manifest(std::string_view json);

}  // namespace pdsync::backup
