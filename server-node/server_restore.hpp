// `pdsync-server restore ID`: replaces the server's store with a verified backup. It needs
// the backup library (SQLite, SMB), which is why it lives in the server binary and not in
// the `pdsync` command every device carries. It reads the same options as the daemon
// (--config, --store, --backup-*), so a backup target is declared in one place.
//
// Runs on the main thread of a pdsync-server process that is not serving.
#pragma once

#include <string>

#include "server-node/server_backups.hpp"

namespace pdsync::server {

struct RestoreRequest {
    std::string backup_id;
    std::string store_path;
    BackupSettings target;
    bool stop_first = false;   // ask the running server to stop through its admin socket
    std::string admin_socket;  // where that server listens
    bool json = false;         // one JSON answer on stdout instead of text and a bar
};

// The process exit status: 0 restored, 1 refused or failed (the reason on stderr and, with
// json, as {"ok": false, ...} on stdout).
int run_restore(const RestoreRequest& request);

}  // namespace pdsync::server
