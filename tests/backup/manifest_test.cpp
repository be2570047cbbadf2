// Tests for the backup manifest's JSON form.
#include "server-node/backup/manifest.hpp"

#include <gtest/gtest.h>

namespace pdsync::backup {
namespace {

Manifest sample() {
    Manifest m;
    m.id = "20261125T031500000Z-1a2b3c";
    m.created_at = "2026-11-25T03:15:00Z";
    m.size = 4096;
    m.sha256 = std::string(64, 'a');
    m.source = "/var/lib/pdsync/server.db";
    m.schema_version = 3;
    m.label = "nightly";
    return m;
}

TEST(Manifest, RoundTripsThroughJson) {
    auto parsed = parse_manifest(to_json(sample()));
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->id, "20261125T031500000Z-1a2b3c");
    EXPECT_EQ(parsed->created_at, "2026-11-25T03:15:00Z");
    EXPECT_EQ(parsed->size, 4096u);
    EXPECT_EQ(parsed->sha256, std::string(64, 'a'));
    EXPECT_EQ(parsed->source, "/var/lib/pdsync/server.db");
    EXPECT_EQ(parsed->schema_version, 3);
    EXPECT_EQ(parsed->label, "nightly");
    EXPECT_EQ(parsed->db_name(), "20261125T031500000Z-1a2b3c.db");
}

TEST(Manifest, RejectsNonJsonMissingFieldsAndNewerFormats) {
    EXPECT_EQ(parse_manifest("not json").code(), Errc::bad_manifest);
    EXPECT_EQ(parse_manifest("[]").code(), Errc::bad_manifest);
    EXPECT_EQ(parse_manifest(R"({"format":1,"id":"x"})").code(), Errc::bad_manifest);
    std::string newer = to_json(sample());
    newer.replace(newer.find("\"format\": 1"), 11, "\"format\": 2");
    EXPECT_EQ(parse_manifest(newer).code(), Errc::bad_manifest);
}

}  // namespace
}  // namespace pdsync::backup
