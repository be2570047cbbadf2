// A BackupTarget on an SMB/CIFS share (a NAS or a Windows file server), reached with
// libsmbclient: no mount, no root, credentials given per target.
#pragma once

#include "server-node/backup/backup_target.hpp"

#include <memory>
#include <string>

namespace pdsync::backup {

// Backups in a folder of an SMB share, e.g. "smb://nas.local/backups/pdsync" or
// "smb://127.0.0.1:4455/backups/pdsync" (port optional, default 445). The folder is
// created on the first put(). The connection is opened on first use and kept until the
// object is destroyed; every call reports failures as codes:
//   auth          the server refused the login (wrong user/password/workgroup, or the
//                 user is not allowed on the share)
//   unreachable   nothing answers at host:port
//   not_found     no such share, or no such file
//   access_denied logged in, but the share refuses this operation
//   invalid_argument, no_space, smb (anything else)
// Uploads go to a hidden name and are renamed once complete and their size checked, so
// list() never shows a partial file. (SMB has no fsync: durability on the share is the
// file server's business once it has acknowledged the writes and the close.)
// Owned by its creator; one thread at a time (a libsmbclient context is not thread-safe).
//
//   SmbTarget nas("smb://nas.local/backups/pdsync", "pdsbackup", password, "WORKGROUP");
//   if (auto st = nas.probe(); !st) spdlog::error("{}: {}", st.error().code, st.error().message);
class SmbTarget final : public BackupTarget {
  public:
    SmbTarget(std::string url, std::string user, std::string password,
              std::string workgroup = "WORKGROUP");
    ~SmbTarget() override;
    SmbTarget(const SmbTarget&) = delete;
    SmbTarget& operator=(const SmbTarget&) = delete;

    // Connects and logs in to the share now, to report a bad address or credentials at
    // configuration time rather than at the first scheduled backup.
    Status probe();

    Status put(const std::filesystem::path& local_file, const std::string& name) override;
    Result<std::vector<std::string>> list() override;
    Status get(const std::string& name, const std::filesystem::path& local_file,
               const ProgressFn& progress) override;
    Status remove(const std::string& name) override;
    std::string describe() const override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace pdsync::backup
