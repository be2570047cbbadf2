// `pdsync watch [FILTER]`: subscribes to the broker and prints every document, status and
// message as it changes, decoded to JSON with secrets redacted (the terminal twin of the
// inspection view). Ctrl-C ends it; --count N ends it after N messages.
#include <csignal>
#include <iostream>

#include "client-node/cli/cli_admin.hpp"
#include "client-node/cli/cli_common.hpp"
#include "shared/base/hex.hpp"
#include "shared/clock.hpp"
#include "shared/net/mqtt_link.hpp"
#include "shared/net/node_options.hpp"
#include "shared/secrets.hpp"
#include "shared/text.hpp"

namespace pdsync::cli {

void add_watch_command(CLI::App& app, int& exit_code) {
    static net::NodeOptions node;
    static std::string filter;
    static int count = 0;
    static int timeout_ms = 0;
    auto* watch =
        app.add_subcommand("watch", "Print decoded documents and messages as they change");
    watch->add_option("filter", filter, "Topic filter (default: {root}/#)");
    watch->add_option("--broker", node.brokers, "Broker URI")->delimiter(',');
    watch->add_option("--username", node.username, "Broker user (the inspector account, say)");
    watch->add_option("--password", node.password, "Broker password");
    watch->add_option("--password-file", node.password_file, "File holding the broker password");
    watch->add_option("--ca-file", node.ca_file, "Fleet CA (TLS)");
    watch->add_option("--cert-file", node.cert_file, "Client certificate (TLS)");
    watch->add_option("--key-file", node.key_file, "Client key (TLS)");
    watch->add_option("--root", node.root, "Topic root")->capture_default_str();
    watch->add_option("--count", count, "Stop after this many messages");
    watch->add_option("--timeout-ms", timeout_ms, "Stop after this long (0: never)");
    watch->callback([&] {
        auto settings = node.mqtt_settings("pdsync-watch-" + random_hex(4));
        if (!settings) {
            exit_code = fail("invalid_argument", settings.error().message, false);
            return;
        }
        if (node.username.empty()) settings->username.clear();
        std::mutex mu;
        std::condition_variable cv;
        int seen = 0;
        net::MqttLink::Handlers h;
        h.on_message = [&](net::Received m) {
            std::string text;
            if (m.payload.empty()) {
                text = "(deleted)";
            } else if (auto v = decode_msgpack(m.payload)) {
                text = redact_secrets(*v).dump(-1, ' ', false, Value::error_handler_t::replace);
            } else {
                text = m.payload;  // the inspection view is JSON already
            }
            std::lock_guard lock(mu);
            std::cout << escape_for_display(m.topic) << "  " << escape_for_display(text)
                      << std::endl;
            ++seen;
            cv.notify_all();
        };
        net::MqttLink link(*settings, h);
        link.subscribe({filter.empty() ? node.root + "/#" : filter});
        link.start();
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        std::unique_lock lock(mu);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!(count > 0 && seen >= count)) {
            if (timeout_ms > 0 && std::chrono::steady_clock::now() >= deadline) break;
            cv.wait_for(lock, std::chrono::milliseconds(100));
        }
        lock.unlock();
        link.stop(std::chrono::milliseconds(0));
        exit_code = 0;
    });
}

}  // namespace pdsync::cli
