// pdsync-client: the device daemon. Reads --config (TOML) and/or the command line, opens
// the local store, serves the control socket, and synchronizes until SIGINT/SIGTERM.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "client-node/client_node.hpp"
#include "client-node/enrollment/device_runtime.hpp"
#include "shared/net/control_socket.hpp"
#include "shared/net/node_options.hpp"
#include "shared/user_id.hpp"

int main(int argc, char** argv) {
    using namespace pdsync;
    // A device has little memory and this daemon little concurrency: glibc's default of up
    // to 8 malloc arenas per core (one per busy thread: Paho's, the worker, each control
    // connection) keeps megabytes of freed memory that two arenas do without.
    ::mallopt(M_ARENA_MAX, 2);
    CLI::App app{"pdsync-client: synchronizes this device's personalized data with the fleet",
                 "pdsync-client"};
    app.set_version_flag("--version", "pdsync-client " PDSYNC_VERSION);
    app.set_config("--config", "", "Config file (TOML)");
    net::NodeOptions node;
    net::add_node_options(app, node);
    client::ClientSettings settings;
    std::string store_path = "pdsync-client.db";
    std::string socket_path = "/run/pdsync/client.sock";
    std::vector<std::string> categories;
    std::string fleet_key_file;
    app.add_option("--fleet-key-file", fleet_key_file,
                   "The fleet key that seals secrets (keychain passwords)");
    app.add_option("--device-id", settings.device_id,
                   "This device's id ([A-Za-z0-9._-], also its broker user)")
        ->required();
    app.add_option("--store", store_path, "Local SQLite store")->capture_default_str();
    app.add_option("--socket", socket_path, "Control socket path")->capture_default_str();
    app.add_option("--product", settings.product, "Product name shown in status")
        ->capture_default_str();
    app.add_option("--firmware", settings.firmware, "Firmware version shown in status")
        ->capture_default_str();
    app.add_option("--location", settings.location, "Where the device stands");
    app.add_option("--categories", categories, "Categories this firmware supports (default: all)")
        ->delimiter(',');
    int64_t failover_after_ms = settings.failover_after.count();
    app.add_option("--failover-after-ms", failover_after_ms,
                   "With several brokers: leave one whose server stays offline this long")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{500}, int64_t{3'600'000}));
    std::string server, join_code, credentials_file;
    app.add_option("--server", server,
                   "Join by code: the server machine, HOST or HOST:PORT (TLS port, default 8883)");
    app.add_option("--join-code", join_code, "Join by code: the fleet's join code");
    app.add_option("--credentials-file", credentials_file,
                   "Where an enabled device keeps its account (default: the store + .credentials)");
    if (auto done = net::parse_node_command_line(app, argc, argv)) return *done;
    // A broker given by hand (or an account) means the pre-join-code way of running.
    const bool configured =
        app.count("--broker") > 0 || !node.username.empty() || !node.cert_file.empty();

    settings.failover_after = std::chrono::milliseconds(failover_after_ms);
    net::setup_logging("client:" + settings.device_id, node);
    net::make_private_parent(store_path);
    if (auto st = validate_device_id(settings.device_id); !st) {
        spdlog::critical("{}", st.error().message);
        return 2;
    }
    std::string unknown;
    auto supported = categories_from_names(categories, unknown);
    if (!supported) {
        spdlog::critical("unknown category '{}' in --categories", unknown);
        return 2;
    }
    settings.supported = *supported;

    settings.auth_digest = node.auth.digest();
    if (!fleet_key_file.empty()) {
        auto key = load_fleet_key(fleet_key_file);
        if (!key) {
            spdlog::critical("{}", key.error().message);
            return 2;
        }
        settings.fleet_key = *key;
    }

    client::RuntimeSettings rs{store_path,   credentials_file, Topics(node.root), settings,
                               std::nullopt, server,           join_code};
    if (configured) {
        auto mqtt = node.mqtt_settings(settings.device_id);
        if (!mqtt) {
            spdlog::critical("{}", mqtt.error().message);
            return 2;
        }
        rs.configured = std::move(mqtt).value();
    }

    net::wait_for_stop_signal_blocking_setup();
    client::DeviceRuntime client(std::move(rs));
    if (auto st = client.start(); !st) {
        spdlog::critical("{}", st.error().message);
        return 1;
    }
    net::ControlServer control(
        socket_path,
        [&](const Value& req, const net::ControlServer::Progress&) { return client.request(req); });
    // "watch": the connection becomes a stream of events, so a panel need not poll
    // (docs/control-protocol.md). The first line is the status, as "status" answers it.
    control.set_streamer("watch", [&](const Value&, const net::ControlServer::LineWriter& write,
                                      const std::function<bool()>& open) {
        const uint64_t generation = client.generation();
        auto queue = client.watch();
        Value first = client.request({{"cmd", "status"}});
        first["watching"] = true;
        if (write(first)) {
            while (open() && client.generation() == generation) {
                auto event = queue->pop(std::chrono::milliseconds(200));
                if (event && !write(*event)) break;
            }
        }
        client.unwatch(queue);
    });
    if (auto st = control.start(); !st) {
        spdlog::critical("{}", st.error().message);
        return 1;
    }
    spdlog::info("device={} store={} socket={} broker={}", settings.device_id, store_path,
                 socket_path,
                 configured ? fmt::format("{}", fmt::join(node.brokers, ","))
                            : std::string("(join by code)"));
    int sig = net::wait_for_stop_signal();
    spdlog::info("signal {}: stopping", sig);
    control.stop();
    client.stop();
    return 0;
}
