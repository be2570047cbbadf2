// A real smbd per test (see smb_server.hpp).
#include "tests/backup/smb_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

namespace pdsync::backup::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto kStartDeadline = 10s;
constexpr auto kStopDeadline = 5s;
constexpr int kStartAttempts = 3;  // a port picked as free may be taken before smbd binds it

std::uint16_t free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    std::uint16_t port = 0;
    if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    ::close(s);
    return port;
}

bool port_accepts(std::uint16_t port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(s);
    return ok;
}

std::string random_password() {
    std::random_device rd;
    return "Pw-" + std::to_string(rd()) + "-" + std::to_string(rd());
}

}  // namespace

bool SmbServer::can_run(std::string* why) {
    if (::geteuid() != 0) {
        if (why) *why = "needs root (useradd, smbpasswd and smbd's user switching)";
        return false;
    }
    if (::access("/usr/sbin/smbd", X_OK) != 0) {
        if (why) *why = "smbd is not installed";
        return false;
    }
    return true;
}

bool SmbServer::fail(std::string message) {
    error_ = std::move(message);
    return false;
}

std::string SmbServer::url(const std::string& subdir) const {
    std::string u = "smb://127.0.0.1:" + std::to_string(port_) + "/" + kShare;
    if (!subdir.empty()) u += "/" + subdir;
    return u;
}

std::string SmbServer::log() const {
    return dir_ ? read_file(dir_->path() / "smbd.out") : std::string();
}

bool SmbServer::ensure_user() {
    // Tests run in parallel processes, and concurrent useradds here all "succeed" while
    // overwriting each other's /etc/passwd (the user ends up with the last one's uid, and
    // a share chowned to an earlier uid is unwritable). So creation is serialized on a
    // lock file shared by every test process, and the user is looked up inside it.
    const char* kLockPath = "/tmp/pdsync-test-useradd.lock";
    const int lock_fd = ::open(kLockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock_fd < 0)
        return fail(std::string("cannot open ") + kLockPath + ": " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }  // also releases the flock
    } closer{lock_fd};
    const auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
    while (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (std::chrono::steady_clock::now() > deadline)
            return fail(std::string("timed out locking ") + kLockPath);
        std::this_thread::sleep_for(5ms);
    }
    if (::getpwnam(kUser) != nullptr) return true;
    std::string out;
    const int rc = run_command({"useradd", "-M", "-s", "/usr/sbin/nologin", kUser}, "", &out);
    if (::getpwnam(kUser) == nullptr) {
        return fail("useradd " + std::string(kUser) + " failed (" + std::to_string(rc) +
                    "): " + out);
    }
    return true;
}

bool SmbServer::write_config() {
    const fs::path root = dir_->path();
    // smbd switches to the share's user for file access, which must be able to reach
    // the share through the (0700 by default) temp dir and write into it.
    fs::permissions(root, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    for (const char* sub : {"private", "lock", "state", "cache", "pid", "ncalrpc", "share"}) {
        fs::create_directories(root / sub);
    }
    const passwd* pw = ::getpwnam(kUser);
    if (!pw || ::chown((root / "share").c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        return fail("cannot give the share directory to " + std::string(kUser));
    }
    conf_ = root / "smb.conf";
    std::ofstream conf(conf_);
    conf << "[global]\n"
         << "smb ports = " << port_ << "\n"
         << "interfaces = 127.0.0.1\n"
         << "bind interfaces only = yes\n"
         << "server role = standalone server\n"
         << "load printers = no\n"
         << "disable spoolss = yes\n"
         << "printcap name = /dev/null\n"
         << "private dir = " << (root / "private").string() << "\n"
         << "lock directory = " << (root / "lock").string() << "\n"
         << "state directory = " << (root / "state").string() << "\n"
         << "cache directory = " << (root / "cache").string() << "\n"
         << "pid directory = " << (root / "pid").string() << "\n"
         << "ncalrpc dir = " << (root / "ncalrpc").string() << "\n"
         << "log file = " << (root / "log.smbd").string() << "\n"
         << "passdb backend = tdbsam:" << (root / "passdb.tdb").string() << "\n"
         << "\n[" << kShare << "]\n"
         << "path = " << (root / "share").string() << "\n"
         << "read only = no\n"
         << "valid users = " << kUser << "\n";
    conf.close();
    if (!conf) return fail("cannot write " + conf_.string());

    std::string out;
    const int rc = run_command({"smbpasswd", "-c", conf_.string(), "-s", "-a", kUser},
                               password_ + "\n" + password_ + "\n", &out);
    if (rc != 0) return fail("smbpasswd failed (" + std::to_string(rc) + "): " + out);
    return true;
}

bool SmbServer::launch() {
    const std::string conf = conf_.string();
    const std::string out_path = (dir_->path() / "smbd.out").string();
    const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) return fail("cannot create " + out_path);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const char* args[] = {"/usr/sbin/smbd", "-F", "-s", conf.c_str(), "--debug-stdout", nullptr};

    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(out_fd, STDOUT_FILENO);
        ::dup2(out_fd, STDERR_FILENO);
        ::execv(args[0], const_cast<char* const*>(args));
        ::_exit(127);
    }
    ::close(out_fd);
    ::close(null_fd);
    if (pid_ < 0) return fail(std::string("fork: ") + std::strerror(errno));

    const auto deadline = std::chrono::steady_clock::now() + kStartDeadline;
    while (!port_accepts(port_)) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return fail("smbd exited before listening on port " + std::to_string(port_) + ":\n" +
                        log());
        }
        if (std::chrono::steady_clock::now() > deadline) {
            stop();
            return fail("smbd did not listen on port " + std::to_string(port_) + " within " +
                        std::to_string(kStartDeadline.count()) + " s:\n" + log());
        }
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

bool SmbServer::start() {
    if (!can_run(&error_)) return false;
    dir_ = std::make_unique<TempDir>();
    password_ = random_password();
    if (!ensure_user()) return false;
    for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
        port_ = free_port();
        if (port_ == 0) return fail("no free port");
        if (!write_config()) return false;
        if (launch()) return true;
    }
    return false;
}

void SmbServer::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopDeadline;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
}

}  // namespace pdsync::backup::test
