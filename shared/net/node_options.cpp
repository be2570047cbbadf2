// Shared daemon options, logging set-up and signal handling.
#include "shared/net/node_options.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace pdsync::net {

Result<MqttSettings> NodeOptions::mqtt_settings(const std::string& client_id) const {
    MqttSettings s;
    s.servers = brokers;
    if (s.servers.empty())
        return make_error(Errc::invalid_argument, "no broker address configured");
    s.client_id = client_id;
    s.username = username.empty() ? client_id : username;
    s.password = password;
    if (!password_file.empty()) {
        std::ifstream in(password_file);
        if (!in) return make_error(Errc::io, "cannot read password file " + password_file);
        std::getline(in, s.password);
    }
    if (!s.password.empty()) {
        // A password goes only to a broker that proved who it is: a TLS listener whose
        // certificate the fleet CA signed (a local user who binds a plaintext port first
        // would otherwise receive it).
        for (const auto& uri : s.servers) {
            if (uri.rfind("mqtts://", 0) != 0 && uri.rfind("ssl://", 0) != 0)
                return make_error(Errc::invalid_argument,
                                  "refusing to send a password to " + uri +
                                      ", which is not TLS: use mqtts:// with --ca-file");
        }
        if (ca_file.empty())
            return make_error(Errc::invalid_argument,
                              "refusing to send a password without --ca-file: the broker's "
                              "certificate could not be verified");
    }
    s.keep_alive = std::chrono::seconds(keep_alive_s);
    s.ca_file = ca_file;
    s.cert_file = cert_file;
    s.key_file = key_file;
    return s;
}

void add_node_options(CLI::App& app, NodeOptions& o) {
    app.add_option("--broker", o.brokers,
                   "Broker URIs, tried in order (mqtt://host:port, mqtts://...)")
        ->delimiter(',');
    app.add_option("--username", o.username, "Broker user name (default: the client id)");
    app.add_option("--password", o.password, "Broker password");
    app.add_option("--password-file", o.password_file, "File holding the broker password");
    app.add_option("--ca-file", o.ca_file, "Fleet CA certificate (TLS)");
    app.add_option("--cert-file", o.cert_file, "Client certificate (TLS)");
    app.add_option("--key-file", o.key_file, "Client private key (TLS)");
    app.add_option("--root", o.root, "Topic root")->capture_default_str();
    app.add_option("--keep-alive-s", o.keep_alive_s,
                   "MQTT keep-alive; presence goes offline ~1.5x after a crash")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));

    app.add_option("--log-level", o.log_level, "trace|debug|info|warn|error")
        ->capture_default_str();
    app.add_option("--log-file", o.log_file, "Also log to this file");
    app.add_option("--auth-method", o.auth.method, "User authentication method (auth profile)")
        ->capture_default_str();
    app.add_option("--auth-realm", o.auth.realm, "Authentication realm or domain (auth profile)");
    app.add_flag("--department-id-management", o.auth.department_id_management,
                 "Department ID management is on (auth profile)");
    app.add_option("--department-ids", o.auth.department_ids, "Department IDs (auth profile)")
        ->delimiter(',');
}

namespace {
// A key comes from a file anyone may have written: never echo its control bytes raw.
std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char ch : s) {
        if (ch < 0x20 || ch == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[ch >> 4];
            out += kHex[ch & 0xf];
        } else {
            out += static_cast<char>(ch);
        }
    }
    return out;
}
}  // namespace

std::optional<int> parse_node_command_line(CLI::App& app, int argc, char** argv) {
    app.allow_config_extras(CLI::config_extras_mode::error);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ConfigError& e) {
        // CLI11 words an unknown key as "INI was not able to parse KEY"; say what it means.
        static constexpr std::string_view kUnknownKey = "INI was not able to parse ";
        std::string what = e.what();
        std::string file;
        if (auto* config = app.get_config_ptr(); config != nullptr && config->count() > 0)
            file = config->as<std::string>();
        // A "[name]" line reaches CLI11 as the item "name.++" (a section opens).
        static constexpr std::string_view kSectionOpen = ".++";
        if (what.rfind(kUnknownKey, 0) == 0) {
            std::string key = what.substr(kUnknownKey.size());
            bool section = key.size() > kSectionOpen.size() &&
                           key.compare(key.size() - kSectionOpen.size(), kSectionOpen.size(),
                                       kSectionOpen) == 0;
            if (section) key.resize(key.size() - kSectionOpen.size());
            std::cerr << app.get_name() << ": unknown " << (section ? "section" : "key") << " '"
                      << printable(key) << "' in config file '" << printable(file) << "'\n";
        } else
            std::cerr << app.get_name() << ": config file '" << printable(file)
                      << "': " << printable(what) << "\n";
        return 2;  // as for every other bad setting the daemons refuse
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return std::nullopt;
}

void make_private_parent(const std::string& file) {
    auto dir = std::filesystem::path(file).parent_path();
    std::error_code ec;
    if (dir.empty() || std::filesystem::exists(dir, ec)) return;
    std::filesystem::create_directories(dir, ec);  // under umask 077: 0700
    if (!ec) ::chmod(dir.c_str(), 0700);
}

void setup_logging(const std::string& node, const NodeOptions& o) {
    // Stores, logs and keys hold users' data and secrets: no other local user reads them.
    ::umask(077);
    std::vector<spdlog::sink_ptr> sinks;
    if (!o.log_file.empty()) make_private_parent(o.log_file);
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    if (!o.log_file.empty())
        sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(o.log_file));
    auto logger = std::make_shared<spdlog::logger>(node, sinks.begin(), sinks.end());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
    logger->set_level(spdlog::level::from_str(o.log_level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

namespace {
sigset_t stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    return set;
}
}  // namespace

int wait_for_stop_signal_blocking_setup() {
    sigset_t set = stop_signals();
    return pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_stop_signal() {
    sigset_t set = stop_signals();
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

}  // namespace pdsync::net
