// Internal helpers of the backup library for durable local files: an owning file
// descriptor, fsync of files and directories, "write beside, fsync, rename" copies, and a
// staging path that removes itself unless kept. Not part of the public API.
#pragma once

#include "server-node/backup/result.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace pdsync::backup::detail {

// Owns one POSIX file descriptor; closes it on destruction. Move-only; one owner, used
// by one thread at a time.
class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);
    // Closes now and reports the error close() returned (NFS and some FUSE file systems
    // report write-back failures only there).
    BackupStatus close(const std::filesystem::path& what);

  private:
    int fd_ = -1;
};

// A staging file path that is removed when the guard goes out of scope, unless keep() was
// called: a failed run never leaves a half-written file under a name anyone reads.
// Owned by the function that stages the file; not shared between threads.
class TempPath {
  public:
    explicit TempPath(std::filesystem::path path) : path_(std::move(path)) {}
    TempPath(const TempPath&) = delete;
    TempPath& operator=(const TempPath&) = delete;
    ~TempPath();
    const std::filesystem::path& path() const { return path_; }
    void keep() { keep_ = true; }

  private:
    std::filesystem::path path_;
    bool keep_ = false;
};

// Maps an errno value to an errc code (ENOSPC -> no_space, ENOENT -> not_found, ...).
const char* errno_code(int err);
// "what: strerror(err)" with the mapped code.
BackupError errno_error(int err, const std::string& what);

// `n` random lowercase hex digits (not for secrets; only to keep names unique).
std::string random_hex(std::size_t n);

// A hidden name beside `final_path`, e.g. "dir/.server.db.restore-1a2b3c4d.tmp". Hidden
// (leading dot) so target listings skip it.
std::filesystem::path temp_sibling(const std::filesystem::path& final_path, std::string_view tag);

BackupStatus fsync_path(const std::filesystem::path& file);
BackupStatus fsync_dir(const std::filesystem::path& dir);

// Atomically publishes `from` (already complete and fsynced) under `to`, then fsyncs the
// directory so the rename itself survives a power cut.
BackupStatus rename_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// Copies `from` to `to` by writing a temp file beside `to`, fsyncing it and renaming it:
// after a crash `to` holds either its old content or the complete new one.
BackupStatus copy_file_durably(const std::filesystem::path& from, const std::filesystem::path& to,
                               const ProgressFn& progress = {});

// Writes all of `data` to `fd`, retrying short writes and EINTR.
BackupStatus write_all(int fd, const void* data, std::size_t size,
                       const std::filesystem::path& what);

BackupResult<std::uint64_t> file_size(const std::filesystem::path& file);

}  // namespace pdsync::backup::detail
