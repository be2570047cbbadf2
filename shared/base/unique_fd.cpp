// File-descriptor ownership and errno mapping (see unique_fd.hpp).
#include "shared/base/unique_fd.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pdsync {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
}

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Status UniqueFd::close(const std::string& what) {
    int fd = release();
    if (fd >= 0 && ::close(fd) != 0) return errno_error(errno, "closing " + what);
    return Ok{};
}

Errc errno_code(int err) {
    switch (err) {
        case ENOSPC:
        case EDQUOT:
            return Errc::no_space;
        case ENOENT:
        case ENOTDIR:
            return Errc::not_found;
        default:
            return Errc::io;
    }
}

Error errno_error(int err, const std::string& what) {
    return make_error(errno_code(err), what + ": " + std::strerror(err));
}

}  // namespace pdsync
