// `pdsync status | users | machines | export | import | backup | server`: the
// administrator's commands, sent to pdsync-server's admin socket (backup restore runs in
// the CLI itself, since the server must be stopped for it).
#include "client-node/cli/cli_admin.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "client-node/cli/cli_common.hpp"
#include "client-node/cli/text_width.hpp"
#include "shared/net/control_socket.hpp"

namespace pdsync::cli {
namespace {

// pdsync-server beside this program (both come in /usr/bin from the packages), unless
// PDSYNC_SERVER_BIN names another; otherwise the PATH decides.
std::string server_binary() {
    if (const char* env = std::getenv("PDSYNC_SERVER_BIN"); env && *env) return env;
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        auto sibling = self.parent_path() / "pdsync-server";
        if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
    }
    return "pdsync-server";
}

// Replaces this process with `pdsync-server restore ARGS…`. The CLI's --server-socket is
// the server's --admin-socket. Returns only when the exec failed (exit status 3, as for an
// unreachable daemon).
int exec_server_restore(const std::vector<std::string>& args, const std::string& socket) {
    std::vector<std::string> argv = {server_binary(), "restore"};
    bool socket_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--server-socket" && i + 1 < args.size()) {
            argv.insert(argv.end(), {"--admin-socket", args[++i]});
            socket_given = true;
        } else if (args[i].rfind("--server-socket=", 0) == 0) {
            argv.push_back("--admin-socket=" + args[i].substr(16));
            socket_given = true;
        } else {
            argv.push_back(args[i]);
        }
    }
    // A socket from $PDSYNC_SERVER_SOCKET or an earlier option; the config file decides otherwise.
    if (!socket_given && std::getenv("PDSYNC_SERVER_SOCKET")) {
        argv.insert(argv.end(), {"--admin-socket", socket});
    }
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    std::cout.flush();
    ::execvp(cargs[0], cargs.data());
    return fail("io", "cannot run " + argv[0] + ": " + std::strerror(errno), false);
}

std::string when(int64_t ms) {
    return local_time(ms, "-");
}

std::string join(const Value& list) {
    std::string out;
    for (const auto& s : list) out += (out.empty() ? "" : ",") + s.get<std::string>();
    return out.empty() ? "-" : out;
}

// The raft cluster in words (the status's "cluster" field): this member, who leads, and
// whether this server serves; a single server has none.
std::string cluster_line(const Value& s) {
    if (!s.contains("cluster") || !s["cluster"].is_object()) return "none (a single server)";
    const Value& c = s["cluster"];
    std::ostringstream os;
    os << "member " << c.value("id", uint64_t{0}) << " of "
       << c.value("members", Value::array()).size() << ", " << c.value("state", "?")
       << (c.value("serving", false) ? " (serving)" : " (not serving)") << ", term "
       << c.value("term", uint64_t{0}) << ", leader " << c.value("leader_id", uint64_t{0});
    if (!c.value("leader_address", std::string()).empty())
        os << " at " << c.value("leader_address", std::string());
    return os.str();
}

void print_status(const Value& s) {
    std::cout << "server       " << s.value("server_id", "?") << " (" << s.value("role", "primary")
              << ", "
              << (s.value("may_sleep", false) ? "may sleep" : "may not sleep: clients online")
              << ")\n";
    std::cout << "users        " << s.value("users", 0) << " / " << s.value("user_limit", 0)
              << "\n";
    std::cout << "machines     " << s.value("machine_count", 0) << " / "
              << s.value("machine_limit", 0) << " (server machine included)\n";
    if (s.contains("last_backup")) {
        const auto& b = s["last_backup"];
        std::cout << "last backup  " << when(b.value("at", int64_t{0})) << "  "
                  << (b.value("ok", false) ? "ok " + b.value("id", std::string())
                                           : "FAILED: " + b.value("message", std::string()))
                  << "  (" << b.value("target", "") << ")\n";
    } else {
        std::cout << "last backup  none\n";
    }
    std::cout << "cluster      " << cluster_line(s) << "\n";
    std::cout << "\n"
              << pad_to("MACHINE", 18) << pad_to("ONLINE", 8) << pad_to("FIRMWARE", 10)
              << pad_to("LOCATION", 14) << pad_to("LAST SYNC", 21) << pad_to("PENDING", 9)
              << pad_to("NOT SYNCED", 20) << "LAST ERROR\n";
    for (const auto& m : s.value("machines", Value::array())) {
        std::string id = m.value("device_id", "") + (m.value("server_machine", false) ? "*" : "");
        std::cout << pad_to(id, 18) << pad_to(m.value("online", false) ? "yes" : "no", 8)
                  << pad_to(m.value("firmware", ""), 10) << pad_to(m.value("location", ""), 14)
                  << pad_to(when(m.value("last_sync_at", int64_t{0})), 21)
                  << pad_to(std::to_string(m.value("pending", 0)), 9)
                  << pad_to(join(m.value("not_synced", Value::array())), 20)
                  << (m.value("last_error", "").empty() ? "-" : m.value("last_error", "")) << "\n";
    }
    // Devices whose new users were refused by the per-device rate (docs/security.md).
    for (const auto& m : s.value("machines", Value::array())) {
        if (auto n = m.value("new_users_refused", uint64_t{0}); n > 0) {
            std::cout << "rate limited: " << m.value("device_id", "") << ": " << n
                      << " new users refused, last at "
                      << when(m.value("rate_limited_at", int64_t{0})) << "\n";
        }
    }
    if (s.contains("joining")) {
        const Value& j = s["joining"];
        for (const auto& m : j.value("pending", Value::array())) {
            std::cout << "pending approval: " << m.value("device_id", "") << " ("
                      << m.value("product", "") << ", since " << when(m.value("since", int64_t{0}))
                      << "): pdsync machines approve|deny " << m.value("device_id", "") << "\n";
        }
        if (!j.value("join_code", Value::object()).value("valid", true))
            std::cout << "join code: expired or used up (pdsync join-code --rotate)\n";
    }
    const Value refused = s.value("refused", Value::object());
    for (auto it = refused.begin(); it != refused.end(); ++it) {
        std::cout << "refused: " << it.key() << ": " << it.value().get<std::string>() << "\n";
    }
}

void print_document(const Value& d) {
    std::cout << d.value("user", "shared") << " / " << d.value("category", "") << "  (version "
              << d.value("version", 0) << ")\n";
    int i = 1;
    for (const auto& e : d.value("entries", Value::array())) {
        if (e.value("deleted", false)) continue;
        std::cout << "  " << i++ << ". " << e.value("id", "") << "  "
                  << e.value("fields", Value::object()).dump() << "\n";
    }
}

}  // namespace

void add_server_socket_options(CLI::App* sub, Common& c) {
    sub->add_option("--server-socket", c.socket,
                    "pdsync-server's admin socket (default $PDSYNC_SERVER_SOCKET or "
                    "/run/pdsync/server.sock)");
    sub->add_flag("--json", c.json, "Print JSON for scripts");
    sub->add_option("--timeout-ms", c.timeout_ms, "How long to wait for the server");
}

void add_admin_commands(CLI::App& app, int& exit_code) {
    static Common c;
    c.socket = env_or("PDSYNC_SERVER_SOCKET", "/run/pdsync/server.sock");
    auto common = [&](CLI::App* sub) { add_server_socket_options(sub, c); };
    // Options are accepted on the group (`pdsync users --json list`) and on the leaf
    // (`pdsync users list --json`).
    auto leaf = [&](CLI::App* parent, const char* name, const char* description) {
        auto* sub = parent->add_subcommand(name, description);
        common(sub);
        return sub;
    };
    auto print = [&](const Value& v, const std::function<void(const Value&)>& readable) {
        if (c.json) {
            // ASCII only: control characters and bidirectional marks become \u escapes.
            std::cout << v.dump(-1, ' ', true, Value::error_handler_t::replace) << "\n";
        } else {
            readable(inert(v));
        }
    };

    auto* status = app.add_subcommand(
        "status", "Fleet status: machines, users, limits, backups, cluster, sleep");
    common(status);
    status->callback([&] {
        if (auto r = call(c, {{"cmd", "status"}}, exit_code)) print(*r, print_status);
    });

    static std::string user, category, device_id, file, label, backup_id;
    auto* users = app.add_subcommand("users", "Users stored on the server");
    users->require_subcommand(1);
    common(users);
    leaf(users, "list", "Every user with last use and document versions")->callback([&] {
        if (auto r = call(c, {{"cmd", "users-list"}}, exit_code)) {
            print(*r, [](const Value& v) {
                std::cout << pad_to("USER", 28) << pad_to("LAST USED", 21) << "DOCUMENTS\n";
                for (const auto& u : v["users"]) {
                    std::string docs;
                    for (auto it = u["documents"].begin(); it != u["documents"].end(); ++it) {
                        docs += (docs.empty() ? "" : " ") + it.key() + "@" +
                                std::to_string(it.value().get<uint64_t>());
                    }
                    std::cout << pad_to(u["user"].get<std::string>(), 28)
                              << pad_to(when(u["last_used_at"].get<int64_t>()), 21) << docs << "\n";
                }
                std::cout << v["count"] << " of " << v["limit"] << " users\n";
            });
        }
    });
    auto* ushow = leaf(users, "show", "One user's documents");
    ushow->add_option("user", user)->required();
    ushow->callback([&] {
        if (auto r = call(c, {{"cmd", "users-show"}, {"user", user}}, exit_code)) {
            print(*r, [](const Value& v) {
                for (const auto& d : v["documents"]) print_document(d);
            });
        }
    });
    auto* udel = leaf(users, "delete", "Delete a user's data everywhere (or one category)");
    udel->add_option("user", user)->required();
    udel->add_option("--category", category, "Only this category");
    udel->callback([&] {
        Value req = {{"cmd", "users-delete"}, {"user", user}};
        if (!category.empty()) req["category"] = category;
        if (auto r = call(c, req, exit_code)) {
            print(*r, [](const Value& v) {
                std::cout << "deleted " << v["documents_deleted"] << " documents of "
                          << v["user"].get<std::string>()
                          << " on the server, the broker and every device\n";
            });
        }
    });

    auto* machines = app.add_subcommand("machines", "Machines of the fleet");
    machines->require_subcommand(1);
    common(machines);
    leaf(machines, "list", "Every machine (same as the status table)")->callback([&] {
        if (auto r = call(c, {{"cmd", "status"}}, exit_code)) print(*r, print_status);
    });
    auto* mrm =
        leaf(machines, "remove",
             "Remove a machine; its slot is free at once, and it is refused if it comes back");
    mrm->add_option("device_id", device_id)->required();
    mrm->callback([&] {
        if (auto r = call(c, {{"cmd", "machines-remove"}, {"device_id", device_id}}, exit_code)) {
            print(*r, [](const Value& v) {
                std::cout << "removed " << v["device_id"].get<std::string>() << "\n";
            });
        }
    });

    auto* exp = app.add_subcommand(
        "export", "Export the server's documents (all, or one user) to FILE (.json or .msgpack)");
    common(exp);
    exp->add_option("--user", user, "Only this user");
    exp->add_option("file", file)->required();
    exp->callback([&] {
        Value req = {{"cmd", "export"}};
        if (!user.empty()) req["user"] = user;
        if (auto r = call(c, req, exit_code)) {
            if (auto st = write_export_file(file, (*r)["export"]); !st) {
                exit_code = fail("io", st.error().message, c.json);
                return;
            }
            print({{"ok", true}, {"file", file}, {"documents", (*r)["export"]["documents"].size()}},
                  [&](const Value& v) {
                      std::cout << "exported " << v["documents"] << " documents to " << file
                                << "\n";
                  });
        }
    });
    auto* imp = app.add_subcommand(
        "import", "Import documents from FILE into the server (they replace the server's)");
    common(imp);
    imp->add_option("file", file)->required();
    imp->callback([&] {
        auto data = read_export_file(file);
        if (!data) {
            exit_code = fail(std::string(errc_name(data.code())), data.error().message, c.json);
            return;
        }
        auto request = [](Value chunk, bool) {
            return Value{{"cmd", "import"}, {"documents", std::move(chunk)}};
        };
        if (auto r =
                import_in_chunks(c, data->value("documents", Value::array()), request, exit_code)) {
            print(*r, [](const Value& v) {
                std::cout << "imported " << v["documents_imported"] << " documents\n";
            });
        }
    });

    auto* backup = app.add_subcommand("backup", "Backups of the server store");
    backup->require_subcommand(1);
    common(backup);
    auto* now = leaf(backup, "now", "Take a consistent backup now (the server keeps running)");
    now->add_option("--label", label, "A note stored with the backup");
    now->callback([&] {
        c.timeout_ms = std::max(c.timeout_ms, 600000);
        if (auto r =
                call(c, {{"cmd", "backup-now"}, {"label", label.empty() ? "on demand" : label}},
                     exit_code, "backup")) {
            print(*r, [](const Value& v) {
                std::cout << "backup " << v["id"].get<std::string>() << " written to "
                          << v["target"].get<std::string>() << " (verified)";
                if (!v["removed"].empty())
                    std::cout << "; retention removed " << v["removed"].size();
                std::cout << "\n";
            });
        }
    });
    leaf(backup, "list", "Backups on the configured target")->callback([&] {
        if (auto r = call(c, {{"cmd", "backup-list"}}, exit_code)) {
            print(*r, [](const Value& v) {
                std::cout << "backups on " << v["target"].get<std::string>() << ":\n";
                for (const auto& b : v["backups"]) {
                    std::cout << "  " << b["id"].get<std::string>() << "  "
                              << b["created_at"].get<std::string>() << "  " << b["size"]
                              << " bytes  " << b["label"].get<std::string>() << "\n";
                }
            });
        }
    });

    // A restore needs the backup library (SQLite, SMB), which this command does not carry:
    // it runs as `pdsync-server restore`, with every argument passed on as it came.
    static std::vector<std::string> restore_args;
    auto* restore = backup->add_subcommand(
        "restore",
        "Replace the server store with backup ID (runs pdsync-server restore; the server must "
        "be stopped, --stop stops it)");
    restore->prefix_command();  // everything after `restore` goes to pdsync-server as it is
    restore->callback([&, restore] {
        restore_args = restore->remaining();
        exit_code = exec_server_restore(restore_args, c.socket);
    });

    auto* server = app.add_subcommand("server", "The server node itself");
    server->require_subcommand(1);
    common(server);
    leaf(server, "stop", "Stop pdsync-server cleanly")->callback([&] {
        if (auto r = call(c, {{"cmd", "stop"}}, exit_code))
            print(*r, [](const Value& v) { std::cout << v["message"].get<std::string>() << "\n"; });
    });
    leaf(server, "promote", "Make this cluster standby the only voter, when the voters are gone")
        ->callback([&] {
            if (auto r = call(c, {{"cmd", "promote"}}, exit_code)) {
                print(*r, [](const Value& v) {
                    std::cout << v.value("message", std::string("promoted")) << "\n";
                });
            }
        });
}

}  // namespace pdsync::cli
