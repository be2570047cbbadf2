// Durable local file helpers for the backup library (see file_util.hpp).
#include "server-node/backup/file_util.hpp"

#include "server-node/backup/tuning.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

namespace pdsync::backup::detail {

namespace fs = std::filesystem;

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
}

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

BackupStatus UniqueFd::close(const fs::path& what) {
    int fd = release();
    if (fd >= 0 && ::close(fd) != 0) return errno_error(errno, "closing " + what.string());
    return Done{};
}

TempPath::~TempPath() {
    if (keep_ || path_.empty()) return;
    std::error_code ec;
    fs::remove(path_, ec);
    if (ec)
        spdlog::warn("backup: could not remove staging file {}: {}", path_.string(), ec.message());
}

const char* errno_code(int err) {
    switch (err) {
        case ENOSPC:
        case EDQUOT:
            return errc::kNoSpace;
        case ENOENT:
        case ENOTDIR:
            return errc::kNotFound;
        default:
            return errc::kIo;
    }
}

BackupError errno_error(int err, const std::string& what) {
    return make_error(errno_code(err), what + ": " + std::strerror(err));
}

std::string random_hex(std::size_t n) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(n, '0');
    for (auto& c : out) c = kDigits[rng() & 0xf];
    return out;
}

fs::path temp_sibling(const fs::path& final_path, std::string_view tag) {
    std::string name = "." + final_path.filename().string() + "." + std::string(tag) + "-" +
                       random_hex(8) + ".tmp";
    return final_path.parent_path() / name;
}

BackupStatus fsync_path(const fs::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error(errno, "opening " + file.string() + " to fsync it");
    if (::fsync(fd.get()) != 0) return errno_error(errno, "fsync " + file.string());
    return fd.close(file);
}

BackupStatus fsync_dir(const fs::path& dir) {
    const fs::path d = dir.empty() ? fs::path(".") : dir;
    UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error(errno, "opening directory " + d.string() + " to fsync it");
    if (::fsync(fd.get()) != 0) return errno_error(errno, "fsync directory " + d.string());
    return Done{};
}

BackupStatus rename_durably(const fs::path& from, const fs::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
        return errno_error(errno, "renaming " + from.string() + " to " + to.string());
    }
    return fsync_dir(to.parent_path());
}

BackupStatus write_all(int fd, const void* data, std::size_t size, const fs::path& what) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "writing " + what.string());
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return Done{};
}

BackupStatus copy_file_durably(const fs::path& from, const fs::path& to,
                               const ProgressFn& progress) {
    UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return errno_error(errno, "opening " + from.string());

    TempPath tmp(temp_sibling(to, "part"));
    UniqueFd out(::open(tmp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return errno_error(errno, "creating " + tmp.path().string());

    std::vector<char> buf(tuning::kCopyChunkBytes);
    std::uint64_t copied = 0;
    for (;;) {
        ssize_t n = ::read(in.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "reading " + from.string());
        }
        if (n == 0) break;
        auto st = write_all(out.get(), buf.data(), static_cast<std::size_t>(n), tmp.path());
        if (!st) return st;
        copied += static_cast<std::uint64_t>(n);
        if (progress) progress(copied, 0);
    }
    if (::fsync(out.get()) != 0) return errno_error(errno, "fsync " + tmp.path().string());
    if (auto st = out.close(tmp.path()); !st) return st;
    if (auto st = rename_durably(tmp.path(), to); !st) return st;
    tmp.keep();
    return Done{};
}

BackupResult<std::uint64_t> file_size(const fs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return errno_error(errno, "stat " + file.string());
    return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace pdsync::backup::detail
