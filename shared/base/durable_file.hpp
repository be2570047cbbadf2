// Durable local writes: the one write loop of the codebase, fsync of files and
// directories, "write beside, fsync, rename" publication, and private files (0600) for
// stores, keys and secrets. After a crash a file written here holds either its old
// content or the complete new one.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "shared/base/result.hpp"

namespace pdsync {

// Writes all of `data` to `fd` (a file, pipe, terminal or socket), retrying short writes
// and EINTR; a socket whose peer has gone fails with EPIPE instead of raising SIGPIPE.
// `what` names the target in the error.
Status write_all(int fd, const void* data, std::size_t size, const std::string& what);
inline Status write_all(int fd, std::string_view data, const std::string& what) {
    return write_all(fd, data.data(), data.size(), what);
}

Status fsync_path(const std::filesystem::path& file);
Status fsync_dir(const std::filesystem::path& dir);

// Atomically publishes `from` (already complete and fsynced) under `to`, then fsyncs the
// directory so the rename itself survives a power cut.
Status rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// Replaces `path` with `content`: a temp file beside it (created with `mode`), fsync,
// rename, fsync of the directory.
//
//   PDS_CHECK(write_file_durably(dir / "device.key", key_bytes, 0600));
Status write_file_durably(const std::filesystem::path& path, std::string_view content,
                          unsigned mode = 0600);

}  // namespace pdsync
