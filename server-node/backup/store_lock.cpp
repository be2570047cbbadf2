// flock-based store lock shared by the server and restore (see store_lock.hpp).
#include "server-node/backup/store_lock.hpp"

#include "server-node/backup/file_util.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace pdsync::backup {

namespace fs = std::filesystem;

fs::path StoreLock::lock_path_for(const fs::path& db_path) {
    return fs::path(db_path.string() + ".lock");
}

Result<StoreLock> StoreLock::try_acquire(const fs::path& db_path) {
    fs::path path = lock_path_for(db_path);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    bool writable = true;
    if (!fd && errno == EACCES) {
        // A lock file left by another user (say, a restore run as root): flock works on a
        // read-only descriptor too; only the PID note is skipped.
        fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        writable = false;
    }
    if (!fd) return errno_error(errno, "opening lock file " + path.string());
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) {
            return make_error(Errc::busy, path.string() + " is locked by another process");
        }
        return errno_error(errno, "locking " + path.string());
    }
    // Record the holder's PID for an administrator who wonders who holds it; the lock
    // itself is the flock, not this content, so a failure here does not matter.
    std::string pid = std::to_string(::getpid()) + "\n";
    if (writable && ::ftruncate(fd.get(), 0) == 0) {
        (void)write_all(fd.get(), pid.data(), pid.size(), path);
    }
    return StoreLock(fd.release(), std::move(path));
}

StoreLock::StoreLock(StoreLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
    other.fd_ = -1;
}

StoreLock& StoreLock::operator=(StoreLock&& other) noexcept {
    if (this != &other) {
        release();
        fd_ = other.fd_;
        path_ = std::move(other.path_);
        other.fd_ = -1;
    }
    return *this;
}

StoreLock::~StoreLock() {
    release();
}

void StoreLock::release() {
    // Closing the only descriptor of the open file drops the flock.
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

}  // namespace pdsync::backup
