// Test support: child processes the test starts and stops by PID (never by name), free
// loopback ports chosen at run time, temporary directories, and waiting on a condition
// with a deadline instead of sleeping.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace pdsync::test {

// A port on 127.0.0.1 that was free a moment ago (the kernel picked it).
int free_port();

// Polls `condition` every few milliseconds until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(15));

// True once something accepts TCP connections on 127.0.0.1:port.
bool port_open(int port);

// The whole of a file ("" when it cannot be read): logs, captures, written configs.
std::string read_file(const std::string& path);

// A fresh directory under /tmp, removed when the object goes away (unless the test
// failed and PDSYNC_KEEP_TMP is set, to read the logs).
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

// A child process with stdout and stderr going to `log_file`. The destructor stops it.
class Process {
  public:
    Process() = default;
    // `env` holds extra "NAME=value" entries for the child only.
    Process(const std::vector<std::string>& argv, const std::string& log_file,
            const std::vector<std::string>& env = {});

    ~Process();
    Process(Process&& o) noexcept;
    Process& operator=(Process&& o) noexcept;

    pid_t pid() const { return pid_; }
    bool running();
    // SIGTERM, then SIGKILL if it has not exited within `grace`. Returns the exit status.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
    // SIGKILL: the crash the durability rules are about.
    void kill9();
    void signal(int sig);
    const std::string& log_file() const { return log_; }
    std::string log() const;

  private:
    pid_t pid_ = -1;
    int status_ = 0;
    std::string log_;
};

}  // namespace pdsync::test
