// Durable local file helpers for the backup library (see file_util.hpp).
#include "server-node/backup/file_util.hpp"

#include "shared/base/hex.hpp"

#include "shared/base/tuning.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace pdsync::backup::detail {

namespace fs = std::filesystem;

TempPath::~TempPath() {
    if (keep_ || path_.empty()) return;
    std::error_code ec;
    fs::remove(path_, ec);
    if (ec)
        spdlog::warn("backup: could not remove staging file {}: {}", path_.string(), ec.message());
}

fs::path temp_sibling(const fs::path& final_path, std::string_view tag) {
    std::string name = "." + final_path.filename().string() + "." + std::string(tag) + "-" +
                       random_hex(4) + ".tmp";
    return final_path.parent_path() / name;
}

Status copy_file_durably(const fs::path& from, const fs::path& to, const ProgressFn& progress) {
    UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return errno_error(errno, "opening " + from.string());

    TempPath tmp(temp_sibling(to, "part"));
    UniqueFd out(::open(tmp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return errno_error(errno, "creating " + tmp.path().string());

    std::vector<char> buf(tuning::backup::kCopyChunkBytes);
    std::uint64_t copied = 0;
    for (;;) {
        ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "reading " + from.string());
        }
        if (n == 0) break;
        auto st =
            write_all(out.get(), buf.data(), static_cast<std::size_t>(n), tmp.path().string());
        if (!st) return st;
        copied += static_cast<std::uint64_t>(n);
        if (progress) progress(copied, 0);
    }
    if (::fsync(out.get()) != 0) return errno_error(errno, "fsync " + tmp.path().string());
    if (auto st = out.close(tmp.path().string()); !st) return st;
    if (auto st = rename_durably(tmp.path(), to); !st) return st;
    tmp.keep();
    return Ok{};
}

Result<std::uint64_t> file_size(const fs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return errno_error(errno, "stat " + file.string());
    return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace pdsync::backup::detail
