// Durable local writes (see durable_file.hpp).
#include "shared/base/durable_file.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "shared/base/hex.hpp"
#include "shared/base/unique_fd.hpp"

namespace pdsync {

namespace fs = std::filesystem;

Status write_all(int fd, const void* data, std::size_t size, const std::string& what) {
    const auto* p = static_cast<const char*>(data);
    bool socket = true;  // send() first: MSG_NOSIGNAL turns a closed peer into EPIPE, not SIGPIPE
    while (size > 0) {
        ssize_t n = socket ? ::send(fd, p, size, MSG_NOSIGNAL) : ::write(fd, p, size);
        if (n < 0 && socket && errno == ENOTSOCK) {
            socket = false;
            continue;
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "writing " + what);
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return Ok{};
}

Status fsync_path(const fs::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error(errno, "opening " + file.string() + " to fsync it");
    if (::fsync(fd.get()) != 0) return errno_error(errno, "fsync " + file.string());
    return fd.close(file.string());
}

Status fsync_dir(const fs::path& dir) {
    const fs::path d = dir.empty() ? fs::path(".") : dir;
    UniqueFd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error(errno, "opening directory " + d.string() + " to fsync it");
    if (::fsync(fd.get()) != 0) return errno_error(errno, "fsync directory " + d.string());
    return Ok{};
}

Status rename_durably(const fs::path& from, const fs::path& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) {
        return errno_error(errno, "renaming " + from.string() + " to " + to.string());
    }
    return fsync_dir(to.parent_path());
}

Status write_file_durably(const fs::path& path, std::string_view content, unsigned mode) {
    const fs::path tmp =
        path.parent_path() / ("." + path.filename().string() + "." + random_hex(4) + ".tmp");
    UniqueFd fd(
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, static_cast<mode_t>(mode)));
    if (!fd) return errno_error(errno, "creating " + tmp.string());
    auto fail = [&](Error e) -> Status {
        ::unlink(tmp.c_str());
        return e;
    };
    // The umask may have narrowed `mode`; it never widens it, so 0600 stays 0600.
    if (auto st = write_all(fd.get(), content, tmp.string()); !st) return fail(st.error());
    if (::fsync(fd.get()) != 0) return fail(errno_error(errno, "fsync " + tmp.string()));
    if (auto st = fd.close(tmp.string()); !st) return fail(st.error());
    if (auto st = rename_durably(tmp, path); !st) return fail(st.error());
    return Ok{};
}

}  // namespace pdsync
