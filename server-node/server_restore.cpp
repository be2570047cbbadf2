// Restoring a backup into the server's store (see server_restore.hpp).
#include "server-node/server_restore.hpp"

#include <chrono>
#include <iostream>
#include <thread>

#include "server-node/backup/backup_manager.hpp"
#include "server-node/backup/store_lock.hpp"
#include "shared/base/tuning.hpp"
#include "shared/net/control_socket.hpp"
#include "shared/reply.hpp"
#include "shared/terminal/progress_bar.hpp"

namespace pdsync::server {
namespace {

int report(const Value& answer, bool json, const std::string& text) {
    const bool ok = answer.value("ok", false);
    if (json) std::cout << answer.dump() << "\n";
    if (ok && !json) std::cout << text << "\n";
    if (!ok) {
        std::cerr << "pdsync-server restore: " << answer.value("message", "failed") << " ["
                  << answer.value("error", "error") << "]\n";
    }
    return ok ? 0 : 1;
}

bool store_held(const std::string& store) {
    return !backup::StoreLock::try_acquire(store).ok();
}

// Asks the server that holds `store` to stop, then waits (with a deadline) until it let go.
Status stop_running_server(const RestoreRequest& r) {
    auto answer = net::control_call(r.admin_socket, {{"cmd", "stop"}}, std::chrono::seconds(15));
    if (!answer || !answer->value("ok", false)) {
        return make_error(Errc::busy, "the server holds " + r.store_path +
                                          " and could not be stopped through " + r.admin_socket);
    }
    const auto deadline = std::chrono::steady_clock::now() + tuning::backup::kRestoreStopWait;
    while (store_held(r.store_path)) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return make_error(Errc::timeout, "the server did not release " + r.store_path);
        }
        // The store lock is a file lock with no notification: poll it, with the deadline above.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return Ok{};
}

}  // namespace

int run_restore(const RestoreRequest& r) {
    if (store_held(r.store_path)) {
        if (!r.stop_first) {
            return report(error_reply(Errc::busy, "the server is running on " + r.store_path +
                                                      "; stop it first (add --stop to have it "
                                                      "stopped through its admin socket)"),
                          r.json, "");
        }
        if (auto st = stop_running_server(r); !st)
            return report(error_reply(st.error()), r.json, "");
    }
    std::string error;
    auto target = make_backup_target(r.target, error);
    if (!target) return report(error_reply(Errc::invalid_argument, error), r.json, "");

    terminal::ProgressBar::Options po;
    po.json = r.json;
    terminal::ProgressBar bar("restore", po);
    backup::BackupManager::Options mo;
    mo.progress = bar.callback();  // bytes downloaded, then verified
    backup::BackupManager manager(mo);
    auto st = manager.restore(*target, r.backup_id, r.store_path);
    bar.finish();
    if (!st) return report(error_reply(st.error()), r.json, "");
    return report(
        {{"ok", true}, {"id", r.backup_id}, {"store", r.store_path}}, r.json,
        "restored " + r.backup_id + " into " + r.store_path + "; start pdsync-server again");
}

}  // namespace pdsync::server
