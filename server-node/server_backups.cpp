// Server backups: targets, on-demand and scheduled runs, retention, listing.
#include "server-node/server_backups.hpp"

#include <spdlog/spdlog.h>

#include <fstream>

#include "server-node/backup/backup_manager.hpp"
#include "server-node/backup/local_dir_target.hpp"
#include "server-node/backup/smb_target.hpp"
#include "shared/clock.hpp"
#include "shared/reply.hpp"

namespace pdsync::server {
namespace {}  // namespace

std::unique_ptr<backup::BackupTarget> make_backup_target(const BackupSettings& s,
                                                         std::string& error) {
    if (!s.smb_url.empty()) {
        std::string password = s.smb_password;
        if (!s.smb_password_file.empty()) {
            std::ifstream in(s.smb_password_file);
            if (!in) {
                error = "cannot read " + s.smb_password_file;
                return nullptr;
            }
            std::getline(in, password);
        }
        return std::make_unique<backup::SmbTarget>(s.smb_url, s.smb_user, password,
                                                   s.smb_workgroup);
    }
    if (!s.dir.empty()) return std::make_unique<backup::LocalDirTarget>(s.dir);
    error = "no backup target configured (backup-dir or backup-smb-url)";
    return nullptr;
}

ServerBackups::ServerBackups(std::string store_path, BackupSettings settings,
                             std::function<void(const Value&)> on_result)
    : store_path_(std::move(store_path)),
      settings_(std::move(settings)),
      on_result_(std::move(on_result)) {}

ServerBackups::~ServerBackups() {
    stop();
}

void ServerBackups::start_schedule() {
    if (settings_.interval_s <= 0 || !settings_.configured()) return;
    scheduler_ = std::thread([this] { schedule_loop(); });
}

void ServerBackups::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (scheduler_.joinable()) scheduler_.join();
}

void ServerBackups::schedule_loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(settings_.interval_s),
                         [&] { return stopping_; })) {
        lock.unlock();
        Value r = run_now("scheduled", {});
        if (!r.value("ok", false))
            spdlog::error("scheduled backup failed: {}", r.value("message", ""));
        lock.lock();
    }
}

Value ServerBackups::run_now(const std::string& label, const Progress& progress) {
    std::lock_guard lock(run_mu_);
    std::string error;
    auto target = make_backup_target(settings_, error);
    if (!target) return error_reply(Errc::invalid_argument, error);
    backup::BackupManager::Options options;
    options.progress = progress;
    backup::BackupManager manager(std::move(options));

    int64_t started = now_ms();
    auto id = manager.run(store_path_, *target, label);
    Value summary = {{"at", now_ms()}, {"target", target->describe()}, {"ok", id.ok()}};
    if (!id) {
        summary["error"] = std::string(errc_name(id.code()));
        summary["message"] = id.error().message;
        spdlog::error("backup to {} failed: {} ({})", target->describe(), errc_name(id.code()),
                      id.error().message);
        if (on_result_) on_result_(summary);
        return error_reply(id.error());
    }
    summary["id"] = *id;
    summary["ms"] = now_ms() - started;
    Value removed = Value::array();
    if (settings_.keep > 0) {
        auto gone = manager.apply_retention(*target, static_cast<std::size_t>(settings_.keep));
        if (gone) {
            for (const auto& r : *gone) removed.push_back(r);
        } else {
            spdlog::warn("backup retention on {}: {}", target->describe(), gone.error().message);
        }
    }
    spdlog::info("backup {} written to {} in {} ms ({} old ones removed)", *id, target->describe(),
                 summary["ms"].get<int64_t>(), removed.size());
    if (on_result_) on_result_(summary);
    return {{"ok", true}, {"id", *id}, {"target", target->describe()}, {"removed", removed}};
}

Value ServerBackups::list() {
    std::lock_guard lock(run_mu_);
    std::string error;
    auto target = make_backup_target(settings_, error);
    if (!target) return error_reply(Errc::invalid_argument, error);
    backup::BackupManager manager;
    auto all = manager.list(*target);
    if (!all) return error_reply(all.error());
    Value out = Value::array();
    for (const auto& m : *all) {
        out.push_back({{"id", m.id},
                       {"created_at", m.created_at},
                       {"size", m.size},
                       {"sha256", m.sha256},
                       {"label", m.label}});
    }
    return {{"ok", true}, {"target", target->describe()}, {"backups", out}};
}

}  // namespace pdsync::server
