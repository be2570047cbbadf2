// The web page's "back up now" job: the backup-now admin command on a thread of its own.
#include "server-node/web/backup_job.hpp"

#include "shared/clock.hpp"

namespace pdsync::server::web {

BackupJob::BackupJob(Run run) : run_(std::move(run)), state_({{"state", "idle"}}) {}

BackupJob::~BackupJob() {
    if (thread_.joinable()) thread_.join();
}

bool BackupJob::start(const std::string& label, int64_t at_ms) {
    std::lock_guard lock(mu_);
    if (state_.value("state", "") == "running") return false;
    if (thread_.joinable()) thread_.join();  // finished: its state is already recorded
    state_ = {
        {"state", "running"}, {"label", label}, {"done", 0}, {"total", 0}, {"started_at", at_ms}};
    thread_ = std::thread([this, label] {
        Value result = run_(label, [this](uint64_t done, uint64_t total) {
            std::lock_guard l(mu_);
            state_["done"] = done;
            state_["total"] = total;
        });
        std::lock_guard l(mu_);
        state_["state"] = result.value("ok", false) ? "done" : "failed";
        state_["finished_at"] = pdsync::now_ms();
        state_["result"] = std::move(result);
    });
    return true;
}

Value BackupJob::state() const {
    std::lock_guard lock(mu_);
    return state_;
}

}  // namespace pdsync::server::web
