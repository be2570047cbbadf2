// SHA-256 of a file, used to prove that a backup read back from a target is byte for
// byte the snapshot that was taken (the manifest records it; restore checks it).
#pragma once

#include "shared/base/progress.hpp"
#include "shared/base/result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>

namespace pdsync::backup {

struct FileDigest {
    std::uint64_t size = 0;
    std::string sha256;  // 64 lowercase hex digits
};

// Reads the whole file once. Thread-safe (no shared state).
//   auto d = digest_file("/backups/20261125T031500000Z-1a2b3c.db");  // d->sha256 == "9f86..."
// `progress` (optional) hears the bytes hashed so far (total 0).
Result<FileDigest> digest_file(const std::filesystem::path& file, const ProgressFn& progress = {});

}  // namespace pdsync::backup
