// Server worker loop: queue, group commit, publish after commit, reconcile on connect.
#include "server-node/server_node.hpp"

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"
#include "shared/reply.hpp"
#include "shared/text.hpp"

namespace pdsync::server {

ServerNode::ServerNode(std::unique_ptr<ServerStore> store, Topics topics, ServerSettings settings,
                       net::MqttSettings mqtt, ServerNodeOptions options)
    : store_(std::move(store)),
      topics_(topics),
      settings_(std::move(settings)),
      options_(std::move(options)) {
    // A retained "offline" status if the server dies, so devices and the CLI can tell.
    Value offline = {
        {"schema", "pds.status/1"}, {"server_id", settings_.server_id}, {"server_online", false}};
    mqtt.will =
        net::MqttSettings::Will{topics_.server_status(), encode_msgpack_unchecked(offline), true};
    if (options_.join) {
        // Joining by code: claims, broker roles and their plugin (server-node/join/).
        options_.join->server_client_id = mqtt.client_id;
        if (options_.join->server_user.empty()) options_.join->server_user = mqtt.username;
        join_ = std::make_unique<JoinService>(
            topics_, *options_.join, [this](const std::string& topic, const std::string& payload) {
                return link_->publish(topic, payload, false);
            });
        settings_.admission = [this](const std::string& id, const Hello& h) {
            return join_->admission(id, h);
        };
    }
    net::MqttLink::Handlers h;
    h.on_message = [this](net::Received m) {
        if (join_ && join_->is_dynsec_response(m.topic))
            return join_->on_dynsec_response(m.payload);
        enqueue(Inbound{std::move(m.topic), std::move(m.payload), m.retained});
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
    if (join_) link_->subscribe({topics_.claim_requests_filter(), kDynsecResponseTopic});
    if (options_.cluster) {
        cluster::ClusterNode::Events events;
        events.on_leader = [this](uint64_t term) {
            cluster_wake([&] { cluster_lead_term_ = term; });
        };
        events.on_follower = [this] { cluster_wake([&] { cluster_step_down_ = true; }); };
        events.on_status = [this] { cluster_wake([] {}); };
        cluster_ = std::make_unique<cluster::ClusterNode>(*options_.cluster, std::move(events));
    } else {
        core_ = std::make_unique<ServerCore>(*store_, topics_, settings_);
        core_->set_status_extra("role", "primary");
    }
}

void ServerNode::cluster_wake(const std::function<void()>& set) {
    {
        std::lock_guard lock(mu_);
        set();
        cluster_event_ = true;
    }
    cv_.notify_one();
}

Outbound ServerNode::follower_status() const {
    Value v = {{"schema", "pds.status/1"},
               {"server_id", settings_.server_id},
               {"at", now_ms()},
               {"server_online", false},
               {"role", "cluster-follower"},
               {"cluster", cluster_->status()}};
    return {topics_.server_status(), encode_msgpack_unchecked(v), true};
}

// Worker thread: this server starts or stops leading, or who leads changed.
void ServerNode::on_cluster_event(bool step_down, uint64_t lead_term, bool& reconcile) {
    if (step_down && core_) {
        core_.reset();
        spdlog::warn("cluster: stopped serving devices (no longer the leader)");
    }
    if (lead_term != 0 && cluster_->serving()) {
        // Built from the store as the log left it: every earlier term's entry is applied.
        core_ = std::make_unique<ServerCore>(*store_, topics_, settings_);
        for (auto it = status_extras_.begin(); it != status_extras_.end(); ++it)
            core_->set_status_extra(it.key(), it.value());
        core_->set_status_extra("role", "cluster-leader");
        reconcile = true;  // republish every document and the status on this broker
        spdlog::info("cluster: serving devices as the leader of term {}", lead_term);
    }
    if (core_) {
        core_->set_status_extra("cluster", cluster_->status());
        publish_all({core_->status_message()});
    } else {
        publish_all({follower_status()});
    }
}

std::string ServerNode::device_of(const std::string& topic) const {
    // {root}/devices/{id}/...: the device level, without a full parse on Paho's thread.
    const std::string& root = topics_.root();
    static constexpr std::string_view kDevices = "/devices/";
    if (topic.compare(0, root.size(), root) != 0 ||
        topic.compare(root.size(), kDevices.size(), kDevices) != 0)
        return {};
    const std::size_t start = root.size() + kDevices.size();
    const std::size_t end = topic.find('/', start);
    return topic.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

void ServerNode::enqueue(Inbound&& in) {
    const std::string device = device_of(in.topic);
    const std::size_t bytes = in.payload.size();
    {
        std::lock_guard lock(mu_);
        std::size_t& mine = queued_by_device_[device];
        if (mine + bytes > tuning::server::kMaxQueuedBytesPerDevice ||
            queued_bytes_ + bytes > tuning::server::kMaxQueuedBytesTotal) {
            // Not decoded, not acked: an honest device re-sends after kResendAfter; a
            // flooding one costs the others nothing but this check.
            uint64_t n = ++dropped_by_device_[device];
            if (n == 1 || n % 100 == 0) {
                spdlog::warn(
                    "device={} message of {} bytes dropped: {} bytes of it queued "
                    "(bound {}), {} in all (bound {}); {} dropped so far",
                    quoted_text(device), bytes, mine, tuning::server::kMaxQueuedBytesPerDevice,
                    queued_bytes_, tuning::server::kMaxQueuedBytesTotal, n);
            }
            if (mine == 0) queued_by_device_.erase(device);
            return;
        }
        mine += bytes;
        queued_bytes_ += bytes;
        queue_.push_back(std::move(in));
    }
    cv_.notify_one();
}

void ServerNode::dequeued(const Inbound& in) {
    queued_bytes_ -= in.payload.size();
    auto it = queued_by_device_.find(device_of(in.topic));
    if (it == queued_by_device_.end()) return;
    it->second -= std::min(it->second, in.payload.size());
    if (it->second == 0) queued_by_device_.erase(it);
}

ServerNode::~ServerNode() {
    stop();
    // The link's handlers use mu_, cv_ and queue_, declared after it and so destroyed
    // before it: the link goes first.
    link_.reset();
}

Status ServerNode::start() {
    if (join_) {
        PDS_CHECK(join_->load());
        if (core_) core_->set_status_extra("joining", join_->status());
    }
    backups_ = std::make_unique<ServerBackups>(
        options_.store_path, options_.backup, [this](const Value& summary) {
            run_on_worker({{"cmd", "_status-extra"}, {"key", "last_backup"}, {"value", summary}});
        });
    if (!options_.admin_socket.empty()) {
        admin_socket_ = std::make_unique<net::ControlServer>(
            options_.admin_socket,
            [this](const Value& req, const net::ControlServer::Progress& progress) {
                return admin(req, progress);
            },
            [](const Value& req, const Value& answer) {
                // Only now: stopping shuts the socket, which would cut the answer off.
                if (req.is_object() && req.value("cmd", "") == "stop" &&
                    answer.value("ok", false)) {
                    ::kill(::getpid(), SIGTERM);  // main() waits for it and stops cleanly
                }
            });
        // Synchronizing matters more than administration: without the socket the server
        // still runs, and says why `pdsync` cannot reach it.
        if (auto st = admin_socket_->start(); !st) {
            spdlog::error("admin socket unavailable: {}", st.error().message);
            admin_socket_.reset();
        }
    }
    if (cluster_) {
        if (auto st = cluster_->start(*store_); !st) return st;
    }
    worker_ = std::thread([this] { worker_loop(); });
    link_->start();
    backups_->start_schedule();
    return Ok{};
}

Value ServerNode::admin(const Value& request, const net::ControlServer::Progress& progress) {
    std::string cmd = request.is_object() && request.contains("cmd") && request["cmd"].is_string()
                          ? request["cmd"].get<std::string>()
                          : "";
    // Commands starting with '_' are the server's own jobs for its worker (run_on_worker);
    // a client of the socket must not reach them.
    if (!cmd.empty() && cmd[0] == '_') {
        spdlog::warn("admin socket: refused internal command {}", Value(cmd).dump());
        return error_reply(Errc::invalid_argument, "unknown command " + Value(cmd).dump());
    }
    if (cmd == "backup-now") {
        // Beside the worker, on the backup's own connection: changes keep streaming in.
        return backups_->run_now(
            request.value("label", "on demand"), [&](uint64_t done, uint64_t total) {
                if (progress) progress({{"done", done}, {"total", total}, {"unit", "pages"}});
            });
    }
    if (cmd == "backup-list") return backups_->list();
    if (cmd == "settings") {
        // The core's settings, then what only the node knows: backups, broker, web page.
        Value v = run_on_worker(request);
        if (!v.value("ok", false)) return v;
        const auto& b = options_.backup;
        v["backup"] = {{"target", !b.dir.empty() ? b.dir : b.smb_url},
                       {"interval_s", b.interval_s},
                       {"keep", b.keep}};
        for (auto it = options_.settings_extra.begin(); it != options_.settings_extra.end(); ++it)
            v[it.key()] = it.value();
        return v;
    }
    if (cluster_ && cluster_->handles(cmd)) return cluster_->admin(request);
    if (cluster_ && cmd == "status" && !cluster_->serving()) {
        Value v = decode_msgpack(follower_status().payload).value();
        v["ok"] = true;
        return v;
    }
    if (cmd == "promote" && !cluster_) {
        return error_reply(Errc::invalid_argument,
                           "this server is a single server, not a cluster standby: nothing to "
                           "promote (docs/failover.md)");
    }
    if (cmd == "stop") {
        spdlog::info("stop requested through the admin socket");
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
        if (stopping_) return error_reply(Errc::busy, "the server is stopping");
        admin_jobs_.push_back(job);
    }
    cv_.notify_one();
    if (answer.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
        return error_reply(Errc::timeout, "the server did not answer in time");
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
    if (cluster_) cluster_->stop();  // a batch waiting for its commit is failed now
    if (backups_) backups_->stop();
    if (worker_.joinable()) worker_.join();
    link_->stop();
    for (auto& job : admin_jobs_) {
        job->reply.set_value(error_reply(Errc::busy, "the server is stopping"));
    }
}

void ServerNode::publish_all(const std::vector<Outbound>& out) {
    for (const auto& o : out) {
        // The broker drops a connection whose packet is over its max_packet_size, and the
        // same publish would come again after the reconnect: never send one.
        if (o.topic.size() + o.payload.size() + tuning::mqtt::kPublishOverheadBytes >
            options_.max_packet_bytes) {
            spdlog::error(
                "mqtt: not publishing {}: {} bytes, over the broker's packet limit of "
                "{}",
                quoted_text(o.topic), o.payload.size(), options_.max_packet_bytes);
            continue;
        }
        if (auto st = link_->publish(o.topic, o.payload, o.retained); !st) {
            // Documents come back with the reconcile after reconnect; acks with the
            // device's re-send, answered from the applied table.
            spdlog::warn("mqtt: could not publish {}: {}", o.topic, st.error().message);
        }
    }
}

void ServerNode::worker_loop() {
    std::vector<Inbound> batch;
    batch.reserve(tuning::server::kMaxBatchMessages);
    while (true) {
        bool reconcile = false;
        bool cluster_wake = false, step_down = false;
        uint64_t lead_term = 0;
        std::deque<std::shared_ptr<AdminJob>> jobs;
        {
            std::unique_lock lock(mu_);
            auto ready = [&] {
                return stopping_ || reconcile_ || !queue_.empty() || !admin_jobs_.empty() ||
                       cluster_event_;
            };
            cv_.wait(lock, ready);
            if (stopping_) break;
            jobs.swap(admin_jobs_);
            reconcile = reconcile_;
            reconcile_ = false;
            cluster_wake = std::exchange(cluster_event_, false);
            step_down = std::exchange(cluster_step_down_, false);
            lead_term = std::exchange(cluster_lead_term_, 0);
            while (!queue_.empty() && batch.size() < tuning::server::kMaxBatchMessages) {
                dequeued(queue_.front());
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        if (cluster_wake) on_cluster_event(step_down, lead_term, reconcile);
        if (reconcile && cluster_ && !core_) publish_all({follower_status()});
        if (reconcile && core_) {
            core_->reset_presence();
            if (join_) join_->on_connected();  // broker rights before anything is published
            // A broker that restarted holds no grants: the whole table, before anything.
            publish_all({core_->session_table_message()});
            spdlog::info("reconcile: republishing the store's documents");
            std::size_t published = 0;
            core_->for_each_document_message([&](Outbound&& o) {
                publish_all({std::move(o)});
                ++published;
            });
            spdlog::info("reconcile: republished {} messages", published);
            publish_all({core_->status_message()});
        }
        for (auto& job : jobs) {
            const Value& req = job->request;
            const std::string cmd = req.is_object() && req.contains("cmd") && req["cmd"].is_string()
                                        ? req["cmd"].get<std::string>()
                                        : "";
            if (cmd == "_status-extra") {
                status_extras_[req["key"].get<std::string>()] = req["value"];
                if (core_) {
                    core_->set_status_extra(req["key"].get<std::string>(), req["value"]);
                    publish_all({core_->status_message()});
                }
                job->reply.set_value({{"ok", true}});
                continue;
            }
            if (!core_) {
                job->reply.set_value(error_reply(Errc::busy,
                                                 "this server does not lead the cluster; ask "
                                                 "the leader (pdsync cluster status)"));
                continue;
            }
            if (join_ && join_->handles_admin(cmd)) {
                job->reply.set_value(join_->admin(req));
                core_->set_status_extra("joining", join_->status());
                continue;
            }
            try {
                if (join_) core_->set_status_extra("joining", join_->status());
                if (cluster_) core_->set_status_extra("cluster", cluster_->status());
                auto result = core_->admin(job->request);
                // A removed machine's account goes too, which ends its live session.
                if (join_ && cmd == "machines-remove" && result.answer.value("ok", false))
                    join_->forget(req.value("device_id", ""));
                publish_all(result.publish);
                job->reply.set_value(std::move(result.answer));
            } catch (const std::exception& e) {
                spdlog::error("admin {} failed: {}", job->request.value("cmd", "?"), e.what());
                job->reply.set_value(error_reply(Errc::storage, e.what()));
            }
        }
        if (join_ && core_) {
            // Claims are the join service's, never the core's.
            std::erase_if(batch, [&](const Inbound& m) {
                if (!join_->is_claim(m.topic)) return false;
                join_->on_claim(m);
                return true;
            });
        }
        if (!batch.empty() && core_) {
            auto out = core_->handle_batch(
                batch, [this](std::vector<Outbound>&& early) { publish_all(early); });
            if (fault_exit_after_commits_ > 0 && core_->last_batch_had_changes() &&
                --fault_exit_after_commits_ == 0) {
                spdlog::critical("fault injection: exiting after a commit, before its acks");
                spdlog::default_logger()->flush();
                ::_exit(9);
            }
            if (join_) {
                // Rights first: a device is a member before its "accepted" is published.
                auto decisions = core_->take_join_decisions();
                if (!decisions.empty()) {
                    join_->apply(decisions);
                    core_->set_status_extra("joining", join_->status());
                }
            }
            // Documents, then acks: in cluster mode the batch's raft entry is committed.
            publish_all(out);

            batch.clear();
            if (cluster_ && cluster_->take_commit_failed()) {
                // The entry may still commit later: this core's view of the store is
                // unsure, so serve again only from a fresh core after a new barrier.
                core_.reset();
                cluster_->serve_again();
                publish_all({follower_status()});
            }
        }
        if (cluster_ && !core_) batch.clear();  // not the leader: the leader answers them
    }
}

}  // namespace pdsync::server
