// Name rules shared by every BackupTarget (see backup_target.hpp).
#include "server-node/backup/backup_target.hpp"

namespace pdsync::backup {

Status validate_name(std::string_view name) {
    // A small alphabet keeps names safe in URLs, on SMB (case-insensitive, no ':' '\\'),
    // and in shell commands an administrator may type.
    bool ok = !name.empty() && name.size() <= 200 && name.front() != '.';
    for (char c : name) {
        ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-');
    }
    if (!ok)
        return make_error(Errc::invalid_argument,
                          "invalid backup file name '" + std::string(name) + "'");
    return Ok{};
}

}  // namespace pdsync::backup
