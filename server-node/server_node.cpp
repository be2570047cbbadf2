// Server worker loop: queue, group commit, publish after commit, reconcile on connect.
#include "server-node/server_node.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "shared/tuning.hpp"

namespace pdsync::server {

ServerNode::ServerNode(std::unique_ptr<ServerStore> store, Topics topics, ServerSettings settings,
                       net::MqttSettings mqtt, ServerNodeOptions options)
    : store_(std::move(store)),
      topics_(topics),
      core_(*store_, topics, std::move(settings)),
      options_(std::move(options)) {
    // A retained "offline" status if the server dies, so devices and the CLI can tell.
    Value offline = {{"schema", "pds.status/1"},
                     {"server_id", core_.settings().server_id},
                     {"server_online", false}};
    mqtt.will =
        net::MqttSettings::Will{topics_.server_status(), encode_msgpack_unchecked(offline), true};
    net::MqttLink::Handlers h;
    h.on_message = [this](net::Received m) {
        {
            std::lock_guard lock(mu_);
            queue_.push_back(Inbound{std::move(m.topic), std::move(m.payload), m.retained});
        }
        cv_.notify_one();
    };
    h.on_connected = [this] {
        {
            std::lock_guard lock(mu_);
            reconcile_ = true;
        }
        cv_.notify_one();
    };
    link_ = std::make_unique<net::MqttLink>(std::move(mqtt), std::move(h));
    if (const char* fault = std::getenv("PDSYNC_FAULT_EXIT_AFTER_COMMITS"))
        fault_exit_after_commits_ = std::atoi(fault);
    link_->subscribe({topics_.all_devices_filter(TopicKind::device_hello),
                      topics_.all_devices_filter(TopicKind::device_changes),
                      topics_.all_devices_filter(TopicKind::device_events),
                      topics_.all_devices_filter(TopicKind::device_presence)});
}

ServerNode::~ServerNode() {
    stop();
}

Status ServerNode::start() {
    backups_ = std::make_unique<ServerBackups>(options_.store_path, options_.backup, [this](const Value& summary) {
        run_on_worker({{"cmd", "_status-extra"}, {"key", "last_backup"}, {"value", summary}});
    });
    if (!options_.admin_socket.empty()) {
        admin_socket_ = std::make_unique<net::ControlServer>(
            options_.admin_socket,
            [this](const Value& req, const net::ControlServer::Progress& progress) { return admin(req, progress); });
                // Synchronizing matters more than administration: without the socket the server
        // still runs, and says why `pdsync` cannot reach it.
        if (auto st = admin_socket_->start(); !st) {
            spdlog::error("admin socket unavailable: {}", st.error().message);
            admin_socket_.reset();
        }

    }
    worker_ = std::thread([this] { worker_loop(); });
    link_->start();
    backups_->start_schedule();
    return Ok{};
}

Value ServerNode::admin(const Value& request, const net::ControlServer::Progress& progress) {
    std::string cmd = request.is_object() ? request.value("cmd", "") : "";
    if (cmd == "backup-now") {
        // Beside the worker, on the backup's own connection: changes keep streaming in.
        return backups_->run_now(request.value("label", "on demand"), [&](uint64_t done, uint64_t total) {
            if (progress) progress({{"done", done}, {"total", total}, {"unit", "pages"}});
        });
    }
    if (cmd == "backup-list") return backups_->list();
    if (cmd == "stop") {
        spdlog::info("stop requested through the admin socket");
        ::kill(::getpid(), SIGTERM);  // main() waits for it and stops cleanly
        return {{"ok", true}, {"message", "the server is stopping"}};
    }
    return run_on_worker(request);
}

Value ServerNode::run_on_worker(const Value& request) {
    auto job = std::make_shared<AdminJob>();
    job->request = request;
    auto answer = job->reply.get_future();
    {
        std::lock_guard lock(mu_);
        if (stopping_) return {{"ok", false}, {"error", "busy"}, {"message", "the server is stopping"}};
        admin_jobs_.push_back(job);
    }
    cv_.notify_one();
    if (answer.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
        return {{"ok", false}, {"error", "timeout"}, {"message", "the server did not answer in time"}};
    }
    return answer.get();
}

void ServerNode::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (admin_socket_) admin_socket_->stop();
    if (backups_) backups_->stop();
    if (worker_.joinable()) worker_.join();
    link_->stop();
    for (auto& job : admin_jobs_) {
        job->reply.set_value({{"ok", false}, {"error", "busy"}, {"message", "the server is stopping"}});
    }
}

void ServerNode::publish_all(const std::vector<Outbound>& out) {
    for (const auto& o : out) {
        if (auto st = link_->publish(o.topic, o.payload, o.retained); !st) {
            // Documents come back with the reconcile after reconnect; acks with the
            // device's re-send, answered from the applied table.
            spdlog::warn("mqtt: could not publish {}: {}", o.topic, st.error().message);
        }
    }
}

void ServerNode::worker_loop() {
    std::vector<Inbound> batch;
    batch.reserve(tuning::kMaxBatchMessages);
    while (true) {
        bool reconcile = false;
        std::deque<std::shared_ptr<AdminJob>> jobs;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || reconcile_ || !queue_.empty() || !admin_jobs_.empty(); });
            if (stopping_) break;
            jobs.swap(admin_jobs_);
            reconcile = reconcile_;
            reconcile_ = false;
            while (!queue_.empty() && batch.size() < tuning::kMaxBatchMessages) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        if (reconcile) {
            core_.reset_presence();

            auto docs = core_.all_documents();
            spdlog::info("reconcile: republishing {} documents from the store", docs.size());
            publish_all(docs);
            publish_all({core_.status_message()});
        }
        for (auto& job : jobs) {
            if (job->request.value("cmd", "") == "_status-extra") {
                core_.set_status_extra(job->request["key"].get<std::string>(), job->request["value"]);
                publish_all({core_.status_message()});
                job->reply.set_value({{"ok", true}});
                continue;
            }
            try {
                auto result = core_.admin(job->request);
                publish_all(result.publish);
                job->reply.set_value(std::move(result.answer));
            } catch (const std::exception& e) {
                spdlog::error("admin {} failed: {}", job->request.value("cmd", "?"), e.what());
                job->reply.set_value({{"ok", false}, {"error", "storage"}, {"message", e.what()}});
            }
        }
        if (!batch.empty()) {
            auto out = core_.handle_batch(
                batch, [this](std::vector<Outbound>&& early) { publish_all(early); });
            if (fault_exit_after_commits_ > 0 && core_.last_batch_had_changes() &&
                --fault_exit_after_commits_ == 0) {
                spdlog::critical("fault injection: exiting after a commit, before its acks");
                spdlog::default_logger()->flush();
                ::_exit(9);
            }
            publish_all(out);

            batch.clear();
        }
    }
}

}  // namespace pdsync::server
