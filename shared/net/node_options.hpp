// Command-line and config-file options both daemons share (broker connection, topic root,
// auth profile, logging), declared once on a CLI11 app. Every option can be given on the
// command line or in the TOML/INI file named by --config.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "shared/base/tuning.hpp"
#include "shared/messages.hpp"
#include "shared/net/mqtt_link.hpp"

namespace pdsync::net {

struct NodeOptions {
    std::vector<std::string> brokers{"mqtt://127.0.0.1:1883"};
    std::string username;
    std::string password;
    std::string password_file;  // read the password from a file (keeps it out of ps)
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    std::string root = "pds/v1";
    std::string log_level = "info";
    std::string log_file;
    int keep_alive_s = static_cast<int>(tuning::mqtt::kKeepAlive.count());
    AuthProfile auth;

    // Builds the MQTT settings for `client_id` (reads password_file if set).
    [[nodiscard]] Result<MqttSettings> mqtt_settings(const std::string& client_id) const;
};

void add_node_options(CLI::App& app, NodeOptions& o);

// Parses the command line and the --config file into `app`. A key in the config file that
// no option declares is an error that names the key: CLI11 would skip it, so a typo such as
// `brokr = ...` would silently leave the default in force. Returns the exit code when parsing
// ends the program (--help, --version, a bad option or key), nothing when the daemon goes on.
[[nodiscard]] std::optional<int> parse_node_command_line(CLI::App& app, int argc, char** argv);

// Sets up spdlog: level, a pattern with the node name, an optional log file. First it
// sets the process umask to 077, so every file the daemon creates from then on (stores
// and their -wal/-shm files, logs, keys, backups) is 0600 and every directory 0700.
void setup_logging(const std::string& node, const NodeOptions& o);

// Creates the directory that will hold `file` if it is missing, mode 0700 (a directory
// that exists is left as it is: its owner chose its mode).
void make_private_parent(const std::string& file);

// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (call before starting threads, so
// every thread inherits it) and returns a function that waits for one of them.
int wait_for_stop_signal_blocking_setup();
int wait_for_stop_signal();

}  // namespace pdsync::net
