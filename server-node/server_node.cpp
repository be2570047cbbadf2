// Server worker loop: queue, group commit, publish after commit, reconcile on connect.
#include "server-node/server_node.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdlib>

#include "shared/tuning.hpp"

namespace pdsync::server {

ServerNode::ServerNode(std::unique_ptr<ServerStore> store, Topics topics, ServerSettings settings,
                       net::MqttSettings mqtt)
    : store_(std::move(store)), topics_(topics), core_(*store_, topics, std::move(settings)) {
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

void ServerNode::start() {
    worker_ = std::thread([this] { worker_loop(); });
    link_->start();
}

void ServerNode::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    link_->stop();
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
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return stopping_ || reconcile_ || !queue_.empty(); });
            if (stopping_) break;
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
