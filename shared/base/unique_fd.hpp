// Ownership of one POSIX file descriptor: closed exactly once, by its owner.
#pragma once

#include <string>

#include "shared/base/result.hpp"

namespace pdsync {

// Owns one file descriptor and closes it on destruction. Move-only; one owner, used by one
// thread at a time.
//
//   UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
//   if (!fd) return errno_error(errno, "opening " + path.string());
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
    // report write-back failures only there). `what` names the file in the message.
    Status close(const std::string& what);

  private:
    int fd_ = -1;
};

// Maps an errno value to a reason code (ENOSPC -> no_space, ENOENT -> not_found, else io).
Errc errno_code(int err);
// An Error "what: strerror(err)" with the mapped code.
Error errno_error(int err, const std::string& what);

}  // namespace pdsync
