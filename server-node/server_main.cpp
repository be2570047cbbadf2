// pdsync-server: the authoritative store node. Reads its settings from --config (TOML)
// and/or the command line, opens the store, and runs until SIGINT/SIGTERM.
// `pdsync-server restore ID` restores a backup into the store instead, with the same
// options (store, backup target), so they are declared once, here.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>

#include "server-node/backup/store_lock.hpp"
#include "server-node/server_node.hpp"
#include "server-node/server_restore.hpp"
#include "server-node/web/web_options.hpp"
#include "shared/base/tuning.hpp"
#include "shared/net/node_options.hpp"
#include "shared/secrets.hpp"
#include "shared/user_keys.hpp"

#include <fstream>

int main(int argc, char** argv) {
    using namespace pdsync;
    CLI::App app{"pdsync-server: authoritative store node of a pdsync fleet", "pdsync-server"};
    app.set_version_flag("--version", "pdsync-server " PDSYNC_VERSION);
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
    server::cluster::ClusterSettings cluster;
    std::string cluster_peers;
    app.add_option("--cluster-listen", cluster.listen,
                   "Be a member of a raft cluster: ADDR:PORT this server's raft transport binds "
                   "(no cluster options: a single server)");
    app.add_option("--cluster-id", cluster.id, "This server's raft id (a number above 0)");
    app.add_option("--cluster-advertise", cluster.advertise,
                   "ADDR:PORT the other members dial (default: --cluster-listen)");
    app.add_option("--cluster-dir", cluster.dir, "Raft log and snapshots (default: STORE.raft)");
    app.add_option("--cluster-peers", cluster_peers,
                   "Initial voters ID=ADDR:PORT,... (this server among them): bootstraps a new "
                   "raft directory; ignored once it holds a log");
    app.add_flag("--cluster-join", cluster.join,
                 "With a new raft directory and no peers: wait to be added by the leader "
                 "(pdsync cluster add) instead of for `pdsync cluster init`");
    std::string cluster_secret_file;
    app.add_option("--cluster-secret-file", cluster_secret_file,
                   "The cluster's shared secret (`pdsync cluster secret --out FILE`, mode 600): "
                   "raft connections from peers without it are refused");
    app.add_option("--cluster-snapshot-every", cluster.snapshot_threshold,
                   "Log entries between two snapshots of the store (0: 1024)");
    // Joining by code (server-node/join/, docs/deploying.md).
    std::string broker_rights = "none";
    app.add_option("--broker-rights", broker_rights,
                   "dynsec: grant every device's broker rights through Mosquitto's dynamic "
                   "security plugin (join codes); none: the broker's own password file and ACL")
        ->check(CLI::IsMember({"dynsec", "none"}))
        ->capture_default_str();
    server::JoinSettings join;
    app.add_option("--join-state", join.state_path,
                   "Join code and approvals file (default: the store's path + .join.json)");
    std::string server_fleet_key;
    app.add_option("--fleet-key-file", server_fleet_key,
                   "The fleet key, sealed to every device that joins by code");
    std::string user_key_file;
    app.add_option("--user-key-file", user_key_file,
                   "The secret each user's key for sealed fields derives from, made (0600) when "
                   "missing (default: the store's path + .userkey). Keep it with the fleet CA "
                   "and give every cluster member the same one; backups do not hold it");
    std::string approval = "auto";
    app.add_option("--join-approval", approval,
                   "auto: a machine with the join code joins; manual: it waits for "
                   "`pdsync machines approve`")
        ->check(CLI::IsMember({"auto", "manual"}))
        ->capture_default_str();
    bool session_plugin = false;
    app.add_flag("--session-plugin", session_plugin,
                 "dynsec: the broker loads pdsync_sessions.so after the dynamic security plugin, "
                 "so members read users/ only within a session (docs/security.md)");
    std::string inspector_password_file;
    app.add_option("--inspector-password-file", inspector_password_file,
                   "Keep the read-only inspector account with this password (dynsec)");
    server::RestoreRequest restore_request;
    auto* restore = app.add_subcommand(
        "restore",
        "Replace the store with backup ID and exit (the server must be stopped; --stop stops "
        "it through its admin socket). Reads --config, --store and --backup-* like the server.");
    restore->fallthrough();  // --store, --backup-*, --config given after `restore` still apply
    restore->add_option("id", restore_request.backup_id, "The backup (pdsync backup list)")
        ->required();
    restore->add_flag("--stop", restore_request.stop_first,
                      "Stop the running server first, through --admin-socket");
    restore->add_flag("--json", restore_request.json, "One JSON answer on stdout");
    server::web::WebCommandLine web_cl;
    server::web::add_web_options(app, web_cl);
    if (auto done = net::parse_node_command_line(app, argc, argv)) return *done;
    if (web_cl.hash_password) return server::web::run_hash_password();
    if (*restore) {
        restore_request.store_path = store_path;
        restore_request.target = options.backup;
        restore_request.admin_socket = options.admin_socket;
        return server::run_restore(restore_request);
    }

    net::setup_logging("server", node);
    net::make_private_parent(store_path);  // before the store lock beside it
    if (web_cl.options.enabled()) {
        if (auto st = server::web::check_web_options(web_cl.options); !st) {
            spdlog::critical("web admin page: {}", st.error().message);
            return 2;
        }
    }
    std::string unknown;
    auto synced = categories_from_names(categories, unknown);
    if (!synced) {
        spdlog::critical("unknown category '{}' in --categories", unknown);
        return 2;
    }
    settings.categories = *synced;

    settings.auth_digest = node.auth.digest();
    if (user_key_file.empty()) user_key_file = store_path + ".userkey";
    if (auto secret = load_or_create_user_key_secret(user_key_file); !secret) {
        spdlog::critical("--user-key-file: {}", secret.error().message);
        return 2;
    } else {
        settings.user_key_secret = *secret;
    }
    auto mqtt = node.mqtt_settings(settings.server_id);
    if (!mqtt) {
        spdlog::critical("{}", mqtt.error().message);
        return 2;
    }
    if (broker_rights == "dynsec") {
        if (node.ca_file.empty() || mqtt->ca_file.empty()) {
            spdlog::critical(
                "--broker-rights dynsec needs --ca-file (the fleet CA) and a TLS "
                "broker address (mqtts://): the server's own link is verified too");
            return 2;
        }
        join.ca_file = node.ca_file;
        join.manual_approval = approval == "manual";
        join.session_plugin = session_plugin;
        if (join.state_path.empty()) join.state_path = store_path + ".join.json";
        if (!server_fleet_key.empty()) {
            auto key = load_fleet_key(server_fleet_key);
            if (!key) {
                spdlog::critical("{}", key.error().message);
                return 2;
            }
            join.fleet_key = *key;
        }
        if (!inspector_password_file.empty()) {
            std::ifstream in(inspector_password_file);
            if (!in || !std::getline(in, join.inspector_password) ||
                join.inspector_password.empty()) {
                spdlog::critical("cannot read the inspector password from {}",
                                 inspector_password_file);
                return 2;
            }
        }
        options.join = std::move(join);
    }
    if (!cluster.listen.empty()) {
        if (cluster.id == 0) {
            spdlog::critical("--cluster-listen needs --cluster-id N (a number above 0)");
            return 2;
        }
        if (cluster_secret_file.empty()) {
            spdlog::critical(
                "--cluster-listen needs --cluster-secret-file FILE, the secret every member "
                "holds (make it once with `pdsync cluster secret --out FILE` and copy it to "
                "each member)");
            return 2;
        }
        auto secret = server::cluster::load_cluster_secret(cluster_secret_file);
        if (!secret) {
            spdlog::critical("{}", secret.error().message);
            return 2;
        }
        cluster.secret = *secret;
        auto peers = server::cluster::parse_peers(cluster_peers);
        if (!peers) {
            spdlog::critical("{}", peers.error().message);
            return 2;
        }
        cluster.peers = std::move(peers).value();
        if (cluster.dir.empty()) cluster.dir = store_path + ".raft";
        cluster.store_path = store_path;
        options.cluster = std::move(cluster);
    } else if (cluster.id != 0 || !cluster_peers.empty() || cluster.join ||
               !cluster_secret_file.empty()) {
        spdlog::critical("the --cluster-* options need --cluster-listen ADDR:PORT");
        return 2;
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
    spdlog::info("server={} store={} categories=[{}] machine_limit={} user_limit={}",
                 settings.server_id, store_path, fmt::join(settings.categories.names(), ","),
                 settings.machine_limit, settings.user_limit);
    options.settings_extra["broker"] = {{"servers", mqtt->servers},
                                        {"username", mqtt->username},
                                        {"tls", !mqtt->ca_file.empty()},
                                        {"ca_file", mqtt->ca_file},
                                        {"client_certificate", !mqtt->cert_file.empty()}};
    options.settings_extra["web"] = server::web::web_settings_summary(web_cl.options);
    server::ServerNode server(std::move(store), Topics(node.root), settings,
                              std::move(mqtt).value(), std::move(options));
    if (auto st = server.start(); !st) {
        spdlog::critical("{}", st.error().message);
        return 1;
    }
    // The web admin page: a second door to the same administration commands as the socket.
    std::optional<server::web::WebServer> web;
    if (web_cl.options.enabled()) {
        web.emplace(web_cl.options, [&server](const Value& req, const auto& progress) {
            return server.admin(req, progress);
        });
        if (auto st = web->start(); !st) {
            spdlog::critical("web admin page: {}", st.error().message);
            server.stop();
            return 2;
        }
    }

    int sig = net::wait_for_stop_signal();
    spdlog::info("signal {}: stopping", sig);
    if (web) web->stop();
    server.stop();
    return 0;
}
