// Internal helpers of the backup library: a staging path that removes itself unless kept,
// durable copies of whole files with progress, and file sizes. The general durable-write
// helpers they build on are in shared/base/durable_file.hpp. Not part of the public API.
#pragma once

#include "shared/base/durable_file.hpp"
#include "shared/base/progress.hpp"
#include "shared/base/result.hpp"
#include "shared/base/unique_fd.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace pdsync::backup::detail {

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

// A hidden name beside `final_path`, e.g. "dir/.server.db.restore-1a2b3c4d.tmp". Hidden
// (leading dot) so target listings skip it.
std::filesystem::path temp_sibling(const std::filesystem::path& final_path, std::string_view tag);

// Copies `from` to `to` by writing a temp file beside `to`, fsyncing it and renaming it:
// after a crash `to` holds either its old content or the complete new one.
Status copy_file_durably(const std::filesystem::path& from, const std::filesystem::path& to,
                         const ProgressFn& progress = {});

Result<std::uint64_t> file_size(const std::filesystem::path& file);

}  // namespace pdsync::backup::detail
