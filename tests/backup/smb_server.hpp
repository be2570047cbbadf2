// RAII test fixture: a real Samba server (smbd in the foreground, not a daemon) on a free
// 127.0.0.1 port chosen at run time, with one writable share "backups" for one user, all
// its state inside a temporary directory. Stopped by PID when the object is destroyed.
#pragma once

#include "tests/backup/test_support.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace pdsync::backup::test {

// Owned by one test; start() and the destructor run on the test's thread.
//
//   SmbServer smb;
//   ASSERT_TRUE(smb.start()) << smb.error();
//   SmbTarget target(smb.url("pdsync"), SmbServer::kUser, smb.password());
class SmbServer {
  public:
    static constexpr const char* kUser = "pdsbackup";
    static constexpr const char* kShare = "backups";

    SmbServer() = default;
    SmbServer(const SmbServer&) = delete;
    SmbServer& operator=(const SmbServer&) = delete;
    ~SmbServer() { stop(); }

    // Creates the user if needed, writes the config, sets the SMB password, starts smbd
    // and waits (with a deadline) until it accepts connections. false + error() if not.
    bool start();
    // SIGTERM, wait up to a deadline, then SIGKILL; idempotent.
    void stop();

    // True when this process cannot manage users and Samba (not root): callers skip.
    static bool can_run(std::string* why);

    const std::string& error() const { return error_; }
    std::uint16_t port() const { return port_; }
    const std::string& password() const { return password_; }
    // "smb://127.0.0.1:PORT/backups[/subdir]"
    std::string url(const std::string& subdir = {}) const;
    std::filesystem::path share_dir() const { return dir_->path() / "share"; }
    // smbd's own output, for failure messages.
    std::string log() const;

  private:
    bool fail(std::string message);
    bool ensure_user();
    bool write_config();
    bool launch();

    std::unique_ptr<TempDir> dir_;
    std::filesystem::path conf_;
    std::uint16_t port_ = 0;
    std::string password_;
    pid_t pid_ = -1;
    std::string error_;
};

}  // namespace pdsync::backup::test
