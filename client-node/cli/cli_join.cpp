// Joining by code in the `pdsync` command: on the server machine `pdsync join-code` and
// `pdsync machines pending|approve|deny|provision` (admin socket); on a device
// `pdsync device enable --server HOST[:PORT] --join-code CODE` and `pdsync device disable`
// (the daemon's control socket).
#include <iostream>

#include "client-node/cli/cli_admin.hpp"
#include "client-node/cli/cli_common.hpp"

namespace pdsync::cli {
namespace {

std::string when(int64_t ms) {
    return local_time(ms, "never");
}

void print_code(const Value& v) {
    std::cout << v.value("join_code", "") << "\n";
    const int64_t uses = v.value("uses_left", int64_t{-1});
    std::cout
        << "  expires " << when(v.value("expires_at", int64_t{0})) << ", uses left "
        << (uses < 0 ? std::string("unlimited") : std::to_string(uses))
        << (v.value("valid", true) ? "" : "  (NO LONGER VALID: pdsync join-code --rotate)")
        << (v.value("broker_ready", true)
                ? ""
                : "\n  the broker is not ready for devices yet (is pdsync-server connected to it?)")
        << "\n  on each device: pdsync device enable --server THIS-HOST --join-code "
        << v.value("join_code", "") << "\n";
}

}  // namespace

void add_join_commands(CLI::App& app, CLI::App& device, CLI::App& machines, Common& device_common,
                       int& exit_code) {
    static Common c;
    c.socket = env_or("PDSYNC_SERVER_SOCKET", "/run/pdsync/server.sock");
    auto common = [&](CLI::App* sub) {
        sub->add_option("--server-socket", c.socket, "pdsync-server's admin socket");
        sub->add_flag("--json", c.json, "Print JSON for scripts");
    };
    auto print = [&](const Common& cc, const Value& v,
                     const std::function<void(const Value&)>& readable) {
        if (cc.json) {
            std::cout << v.dump() << "\n";
        } else {
            readable(v);
        }
    };

    static bool rotate = false;
    static std::string expires;
    static int64_t uses = 0;
    auto* jc =
        app.add_subcommand("join-code", "Print the fleet's join code (devices join with it alone)");
    common(jc);
    jc->add_flag("--rotate", rotate, "Replace the code; the old one stops working at once");
    jc->add_option("--expires", expires,
                   "With a new code: valid for this long (90s, 30m, 24h, 7d)");
    jc->add_option("--uses", uses, "With a new code: this many devices may join with it")
        ->check(CLI::Range(int64_t{1}, int64_t{1000000}));
    jc->callback([&] {
        Value req = {{"cmd", "join-code"}};
        if (rotate) req["rotate"] = true;
        if (!expires.empty()) req["expires"] = expires;
        if (uses > 0) req["uses"] = uses;
        if (auto r = call(c, req, exit_code)) print(c, *r, print_code);
    });

    static std::string id;
    auto* pending = machines.add_subcommand("pending", "Machines waiting for approval");
    common(pending);
    pending->callback([&] {
        if (auto r = call(c, {{"cmd", "machines-pending"}}, exit_code)) {
            print(c, *r, [](const Value& v) {
                if (v["pending"].empty()) std::cout << "no machine waits for approval\n";
                for (const auto& m : v["pending"]) {
                    std::cout << std::left << std::setw(18) << m.value("device_id", "")
                              << std::setw(16) << m.value("product", "") << std::setw(10)
                              << m.value("firmware", "") << std::setw(14) << m.value("location", "")
                              << "since " << when(m.value("since", int64_t{0})) << "\n";
                }
            });
        }
    });
    for (const auto& [name, cmd, what] :
         {std::tuple{"approve", "machines-approve", "Let a pending machine join"},
          std::tuple{"deny", "machines-deny", "Refuse a machine; it stays a candidate"},
          std::tuple{"provision", "machines-provision",
                     "Make a device account in advance (deploy/enroll-device.sh)"}}) {
        auto* sub = machines.add_subcommand(name, what);
        common(sub);
        sub->add_option("device_id", id)->required();
        std::string command = cmd;
        sub->callback([&, command] {
            if (auto r = call(c, {{"cmd", command}, {"device_id", id}}, exit_code)) {
                print(c, *r, [](const Value& v) {
                    std::cout << v.value("device_id", "") << ": "
                              << v.value("message", "account made") << "\n";
                });
            }
        });
    }

    static std::string server, code;
    auto* enable = device.add_subcommand(
        "enable", "Enable synchronization: join the fleet with the server's address and join code");
    enable->add_option("--server", server, "The server machine: HOST or HOST:PORT")->required();
    enable->add_option("--join-code", code, "The fleet's join code (pdsync join-code)")->required();
    enable->callback([&] {
        Common cc = device_common;
        cc.timeout_ms = std::max(cc.timeout_ms, 60000);
        if (auto r =
                call(cc, {{"cmd", "enable"}, {"server", server}, {"join_code", code}}, exit_code)) {
            print(cc, *r, [](const Value& v) {
                std::cout << "enabled: this device has its own account at " << v.value("broker", "")
                          << "; it joins the fleet now\n";
            });
        }
    });
    auto* disable =
        device.add_subcommand("disable", "Stop synchronizing and forget this device's credentials");
    disable->callback([&] {
        if (auto r = call(device_common, {{"cmd", "disable"}}, exit_code)) {
            print(device_common, *r, [](const Value&) {
                std::cout << "disabled: synchronization stopped, credentials forgotten\n";
            });
        }
    });
}

}  // namespace pdsync::cli
