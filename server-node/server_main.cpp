// pdsync-server: the authoritative store node. Reads its settings from --config (TOML)
// and/or the command line, opens the store, and runs until SIGINT/SIGTERM.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "server-node/backup/store_lock.hpp"
#include "server-node/server_node.hpp"
#include "shared/net/node_options.hpp"
#include "shared/tuning.hpp"

int main(int argc, char** argv) {
    using namespace pdsync;
    CLI::App app{"pdsync-server: authoritative store node of a pdsync fleet"};
    app.set_config("--config", "", "Config file (TOML)");
    net::NodeOptions node;
    net::add_node_options(app, node);
    std::string store_path = "pdsync-server.db";
    server::ServerSettings settings;
    std::vector<std::string> categories;
    server::ServerNodeOptions options;
    options.admin_socket = "/run/pdsync/server.sock";
    app.add_option("--store", store_path, "SQLite store file")->capture_default_str();
    app.add_option("--admin-socket", options.admin_socket,
                   "Administration socket for the pdsync CLI")
        ->capture_default_str();
    auto& bk = options.backup;
    app.add_option("--backup-dir", bk.dir, "Back up to this local directory");
    app.add_option("--backup-smb-url", bk.smb_url,
                   "Back up to this SMB share (smb://host[:port]/share/dir)");
    app.add_option("--backup-smb-user", bk.smb_user, "SMB user");
    app.add_option("--backup-smb-password", bk.smb_password, "SMB password");
    app.add_option("--backup-smb-password-file", bk.smb_password_file,
                   "File holding the SMB password");
    app.add_option("--backup-smb-workgroup", bk.smb_workgroup, "SMB workgroup")
        ->capture_default_str();
    app.add_option("--backup-interval-s", bk.interval_s,
                   "Scheduled backup every N seconds (0: off)")
        ->capture_default_str();
    app.add_option("--backup-keep", bk.keep, "Backups kept by retention")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    app.add_option("--server-id", settings.server_id, "Name of this server (MQTT client id)")
        ->capture_default_str();
    app.add_option("--device-id", settings.device_id,
                   "Device id of the server machine's own client (localhost)");
    app.add_option("--categories", categories, "Categories to synchronize (default: all)")
        ->delimiter(',');
    app.add_option("--machine-limit", settings.machine_limit,
                   "Machines, the server machine included")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    app.add_option("--max-packet-bytes", options.max_packet_bytes,
                   "The broker's max_packet_size: larger publishes are logged, not sent")
        ->capture_default_str();
    app.add_flag("--inspect-view", settings.inspect_view,
                 "Publish a JSON view of every document under {root}/inspect/ (secrets redacted)");
    app.add_option("--user-limit", settings.user_limit,
                   "Users stored before the least recently used is evicted")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000000));
    app.add_flag("--clear-fence", options.clear_fence,
                 "Serve as the primary even if a promoted standby fenced this server");
    std::vector<std::string> standby_of;
    app.add_option("--standby-of", standby_of,
                   "Run as a standby: copy the store of the primary server reached over these "
                   "broker URIs (tried in order) until `pdsync server promote` makes this server "
                   "the primary on --broker")
        ->delimiter(',');
    int replica_ack_wait_ms =
        static_cast<int>(server::replication::tuning::kDefaultAckWait.count());
    app.add_option("--replica-ack-wait-ms", replica_ack_wait_ms,
                   "How long an ack waits for an attached standby to hold its change (0: "
                   "asynchronous replication, a failover may lose the last acked changes)")
        ->capture_default_str()
        ->check(CLI::Range(0, 600000));
    CLI11_PARSE(app, argc, argv);

    net::setup_logging("server", node);
    net::make_private_parent(store_path);  // before the store lock beside it
    std::string unknown;
    auto synced = categories_from_names(categories, unknown);
    if (!synced) {
        spdlog::critical("unknown category '{}' in --categories", unknown);
        return 2;
    }
    settings.categories = *synced;

    settings.auth_digest = node.auth.digest();
    auto mqtt = node.mqtt_settings(settings.server_id);
    if (!mqtt) {
        spdlog::critical("{}", mqtt.error().message);
        return 2;
    }
    options.replica_ack_wait = std::chrono::milliseconds(replica_ack_wait_ms);
    if (!standby_of.empty()) {
        // The primary's broker, as the same server account under a client id of its own.
        auto primary = node.mqtt_settings(settings.server_id + "-standby");
        if (!primary) {
            spdlog::critical("{}", primary.error().message);
            return 2;
        }
        primary->servers = standby_of;
        if (node.username.empty()) primary->username = settings.server_id;
        options.standby =
            server::replication::StandbySettings{settings.server_id, std::move(primary).value()};
    }

    net::wait_for_stop_signal_blocking_setup();
    // One server per store: a second one, or a restore, must not touch it meanwhile.
    auto lock = backup::StoreLock::try_acquire(store_path);
    if (!lock) {
        spdlog::critical("{}", lock.error().message);
        return 1;
    }
    options.store_path = store_path;
    std::unique_ptr<server::ServerStore> store;
    try {
        store = server::open_sqlite_server_store(store_path);
    } catch (const std::exception& e) {
        spdlog::critical("cannot open store {}: {}", store_path, e.what());
        return 1;
    }
    spdlog::info("server={} store={} categories=[{}] machine_limit={} user_limit={}{}",
                 settings.server_id, store_path, fmt::join(settings.categories.names(), ","),
                 settings.machine_limit, settings.user_limit,
                 standby_of.empty()
                     ? ""
                     : " role=standby of " + fmt::format("{}", fmt::join(standby_of, ",")));
    server::ServerNode server(std::move(store), Topics(node.root), settings,
                              std::move(mqtt).value(), std::move(options));
    if (auto st = server.start(); !st) {
        spdlog::critical("{}", st.error().message);
        return 1;
    }

    int sig = net::wait_for_stop_signal();
    spdlog::info("signal {}: stopping", sig);
    server.stop();
    return server.fenced() ? 3 : 0;  // 3: do not restart (systemd RestartPreventExitStatus)
}
