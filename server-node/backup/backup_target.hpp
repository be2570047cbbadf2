// Where backups are kept: a flat set of named files behind a small interface, so the
// manager does not care whether they sit in a local directory or on an SMB share.
#pragma once

#include "shared/base/progress.hpp"
#include "shared/base/result.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace pdsync::backup {

// A flat store of files addressed by name. Names are [A-Za-z0-9._-]{1,200} and do not
// start with '.'; names starting with '.' are reserved for in-progress uploads, which
// list() never shows.
// Implementations are not internally synchronized: an object is owned by one caller and
// used by one thread at a time; distinct objects are independent.
class BackupTarget {
  public:
    virtual ~BackupTarget() = default;

    // Stores a copy of `local_file` under `name`, replacing a file of that name. The file
    // appears under `name` only once complete (upload to a hidden name, then rename).
    virtual Status put(const std::filesystem::path& local_file, const std::string& name) = 0;
    // Names of the stored files, in no particular order. A target that was never written
    // (its directory does not exist yet) lists as empty.
    virtual Result<std::vector<std::string>> list() = 0;
    // Downloads `name` to `local_file`, replacing it atomically (write beside, fsync,
    // rename), reporting bytes received to `progress` (total 0) if set. Errors: not_found
    // when there is no such file.
    virtual Status get(const std::string& name, const std::filesystem::path& local_file,
                       const ProgressFn& progress) = 0;
    // Deletes `name`. Errors: not_found when there is no such file.
    virtual Status remove(const std::string& name) = 0;
    // For logs and messages, e.g. "smb://nas/backups/pdsync"; never includes a password.
    virtual std::string describe() const = 0;
};

// invalid_argument unless `name` is a valid target file name (see BackupTarget).
Status validate_name(std::string_view name);

}  // namespace pdsync::backup
