// Enabled, configured or never enabled: which ClientNode runs, and swapping it.
#include "client-node/enrollment/device_runtime.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>

namespace pdsync::client {
namespace {

Value error_reply(Errc code, const std::string& message) {
    return {{"ok", false}, {"error", std::string(errc_name(code))}, {"message", message}};
}

// Where a never-enabled device's unused link points: never started, so never contacted.
constexpr const char* kNoBroker = "mqtts://not-enabled.invalid:8883";

}  // namespace

DeviceRuntime::DeviceRuntime(RuntimeSettings settings) : settings_(std::move(settings)) {
    if (settings_.credentials_path.empty())
        settings_.credentials_path = settings_.store_path + ".credentials";
}

DeviceRuntime::~DeviceRuntime() {
    stop();
}

Status DeviceRuntime::start() {
    PDS_TRY(auto creds, load_credentials(settings_.credentials_path));
    creds_ = std::move(creds);
    {
        std::unique_lock lock(mu_);
        PDS_CHECK(open_node());
    }
    if (!creds_ && !settings_.configured && !settings_.server.empty() &&
        !settings_.join_code.empty()) {
        // Enabled by its config file: claim now, beside the control socket.
        auto_enable_ = std::thread([this] {
            Value r = enable(settings_.server, settings_.join_code);
            if (!r.value("ok", false)) spdlog::error("enable: {}", r.value("message", "failed"));
        });
    }
    return Ok{};
}

void DeviceRuntime::stop() {
    if (auto_enable_.joinable()) auto_enable_.join();
    std::unique_lock lock(mu_);
    if (node_) node_->stop();
    node_.reset();
}

Status DeviceRuntime::open_node() {
    std::unique_ptr<ClientStore> store;
    try {
        store = open_sqlite_client_store(settings_.store_path);
    } catch (const std::exception& e) {
        return make_error(Errc::storage,
                          "cannot open store " + settings_.store_path + ": " + e.what());
    }
    ClientSettings cs = settings_.client;
    net::MqttSettings mqtt;
    if (creds_) {
        mqtt = mqtt_settings_of(*creds_, settings_.credentials_path, cs.device_id);
        if (!cs.fleet_key && creds_->fleet_key) cs.fleet_key = creds_->fleet_key;
    } else if (settings_.configured) {
        mqtt = *settings_.configured;
    } else {
        // Never enabled: no broker, no synchronization (its data is registered at the
        // first merge once it is enabled).
        mqtt.servers = {kNoBroker};
        mqtt.client_id = cs.device_id;
        store->set_setting("sync_enabled", "0");
    }
    node_ = std::make_unique<ClientNode>(std::move(store), settings_.topics, cs, std::move(mqtt));
    node_->start();
    ++generation_;
    return Ok{};
}

std::shared_ptr<EventQueue> DeviceRuntime::watch() {
    std::shared_lock lock(mu_);
    if (!node_) {
        auto closed = std::make_shared<EventQueue>(1);
        closed->close();
        return closed;
    }
    return node_->watch();
}

void DeviceRuntime::unwatch(const std::shared_ptr<EventQueue>& queue) {
    std::shared_lock lock(mu_);
    if (node_) node_->unwatch(queue);
}

Value DeviceRuntime::enable(const std::string& server, const std::string& code) {
    if (settings_.configured) {
        return error_reply(Errc::invalid_argument,
                           "this daemon's broker is configured by hand (--broker); remove it "
                           "from the config to join by code");
    }
    {
        std::shared_lock lock(mu_);
        if (creds_) {
            return error_reply(Errc::busy, "this device is already enabled (server " +
                                               creds_->broker + "); pdsync device disable first");
        }
    }
    spdlog::info("enable: claiming an account at {} for device {}", server,
                 settings_.client.device_id);
    auto creds = enroll({server, code, settings_.client.device_id}, settings_.topics);
    if (!creds) {
        std::unique_lock lock(mu_);
        enroll_error_ = std::string(errc_name(creds.code())) + ": " + creds.error().message;
        spdlog::error("enable: {}", enroll_error_);
        return error_reply(creds.code(), creds.error().message);
    }
    if (auto st = save_credentials(settings_.credentials_path, *creds); !st)
        return error_reply(st.code(), st.error().message);
    std::unique_lock lock(mu_);
    if (node_) node_->stop();
    node_.reset();
    ++generation_;
    creds_ = std::move(creds).value();
    enroll_error_.clear();
    {
        // Synchronization starts now; the node reads this setting when it is built.
        auto store = open_sqlite_client_store(settings_.store_path);
        store->set_setting("sync_enabled", "1");
    }
    if (auto st = open_node(); !st) return error_reply(st.code(), st.error().message);
    spdlog::info("enable: device {} has its own account at {}; joining", settings_.client.device_id,
                 creds_->broker);
    return {{"ok", true},
            {"enabled", true},
            {"broker", creds_->broker},
            {"message", "enabled; joining the fleet"}};
}

Value DeviceRuntime::disable() {
    std::unique_lock lock(mu_);
    if (!creds_) {
        return error_reply(Errc::not_enabled, settings_.configured
                                                  ? "this daemon's broker is configured by hand "
                                                    "(--broker), not enabled by code"
                                                  : "this device is not enabled");
    }
    if (node_) node_->stop();
    node_.reset();
    ++generation_;
    forget_credentials(settings_.credentials_path);
    creds_.reset();
    spdlog::info("disable: credentials forgotten; synchronization is off");
    if (auto st = open_node(); !st) return error_reply(st.code(), st.error().message);
    return {{"ok", true},
            {"enabled", false},
            {"message", "synchronization stopped; credentials forgotten"}};
}

Value DeviceRuntime::request(const Value& req) {
    const std::string cmd = req.is_object() ? req.value("cmd", "") : "";
    if (cmd == "enable") {
        return enable(req.value("server", settings_.server),
                      req.value("join_code", settings_.join_code));
    }
    if (cmd == "disable") return disable();
    std::shared_lock lock(mu_);
    const bool enabled = creds_ || settings_.configured;
    if (!enabled && cmd == "sync" && req.value("enabled", true)) {
        return error_reply(Errc::not_enabled,
                           "this device was never enabled: pdsync device enable --server HOST "
                           "--join-code CODE");
    }
    if (!node_) return error_reply(Errc::busy, "the daemon is stopping");
    Value answer = node_->request(req);
    if (cmd == "status" && answer.is_object()) {
        answer["enabled"] = enabled;
        answer["enabled_by"] = creds_ ? "join code" : settings_.configured ? "configuration" : "";
        if (creds_) answer["broker"] = creds_->broker;
        if (!enabled) answer["state"] = "not enabled";
        if (!enroll_error_.empty()) answer["enable_error"] = enroll_error_;
    }
    return answer;
}

}  // namespace pdsync::client
