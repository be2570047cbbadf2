// A BackupTarget that keeps backups in a directory of the local file system (a second
// disk, a mounted NAS): each file is written beside its final name, fsynced, renamed.
#pragma once

#include "server-node/backup/backup_target.hpp"

#include <filesystem>

namespace pdsync::backup {

// Owned by its creator; one thread at a time (see BackupTarget).
//
//   LocalDirTarget target("/mnt/backup/pdsync");   // created on the first put()
//   auto id = manager.run(db_path, target, "nightly");
class LocalDirTarget final : public BackupTarget {
  public:
    explicit LocalDirTarget(std::filesystem::path dir) : dir_(std::move(dir)) {}

    Status put(const std::filesystem::path& local_file, const std::string& name) override;
    Result<std::vector<std::string>> list() override;
    Status get(const std::string& name, const std::filesystem::path& local_file,
               const ProgressFn& progress) override;
    Status remove(const std::string& name) override;
    std::string describe() const override { return dir_.string(); }

    const std::filesystem::path& dir() const { return dir_; }

  private:
    std::filesystem::path dir_;
};

}  // namespace pdsync::backup
