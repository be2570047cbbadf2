// `pdsync status | users | machines | export | import | backup | server`: the
// administrator's commands, sent to pdsync-server's admin socket (backup restore runs in
// the CLI itself, since the server must be stopped for it).
#include "client-node/cli/cli_admin.hpp"

#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "client-node/cli/cli_common.hpp"
#include "server-node/backup/backup_manager.hpp"
#include "server-node/backup/progress_bar.hpp"
#include "server-node/backup/store_lock.hpp"
#include "server-node/server_backups.hpp"
#include "shared/net/control_socket.hpp"

namespace pdsync::cli {
namespace {

std::string when(int64_t ms) {
    if (ms <= 0) return "-";
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::ostringstream os;
    os << std::put_time(&tm, "%Y-%m-%d %H:%M:%S");
    return os.str();
}

std::string join(const Value& list) {
    std::string out;
    for (const auto& s : list) out += (out.empty() ? "" : ",") + s.get<std::string>();
    return out.empty() ? "-" : out;
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
    if (s.contains("replica")) std::cout << "replica      " << s["replica"].dump() << "\n";
    std::cout << "\n"
              << std::left << std::setw(18) << "MACHINE" << std::setw(8) << "ONLINE"
              << std::setw(10) << "FIRMWARE" << std::setw(14) << "LOCATION" << std::setw(21)
              << "LAST SYNC" << std::setw(9) << "PENDING" << std::setw(20) << "NOT SYNCED"
              << "LAST ERROR\n";
    for (const auto& m : s.value("machines", Value::array())) {
        std::string id = m.value("device_id", "") + (m.value("server_machine", false) ? "*" : "");
        std::cout << std::left << std::setw(18) << id << std::setw(8)
                  << (m.value("online", false) ? "yes" : "no") << std::setw(10)
                  << m.value("firmware", "") << std::setw(14) << m.value("location", "")
                  << std::setw(21) << when(m.value("last_sync_at", int64_t{0})) << std::setw(9)
                  << m.value("pending", 0) << std::setw(20)
                  << join(m.value("not_synced", Value::array()))
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

void add_admin_commands(CLI::App& app, int& exit_code) {
    static Common c;
    c.socket = env_or("PDSYNC_SERVER_SOCKET", "/run/pdsync/server.sock");
    auto common = [&](CLI::App* sub) {
        sub->add_option("--server-socket", c.socket,
                        "pdsync-server's admin socket (default $PDSYNC_SERVER_SOCKET or "
                        "/run/pdsync/server.sock)");
        sub->add_flag("--json", c.json, "Print JSON for scripts");
        sub->add_option("--timeout-ms", c.timeout_ms, "How long to wait for the server");
    };
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
        "status", "Fleet status: machines, users, limits, backups, replica, sleep");
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
                std::cout << std::left << std::setw(28) << "USER" << std::setw(21) << "LAST USED"
                          << "DOCUMENTS\n";
                for (const auto& u : v["users"]) {
                    std::string docs;
                    for (auto it = u["documents"].begin(); it != u["documents"].end(); ++it) {
                        docs += (docs.empty() ? "" : " ") + it.key() + "@" +
                                std::to_string(it.value().get<uint64_t>());
                    }
                    std::cout << std::left << std::setw(28) << u["user"].get<std::string>()
                              << std::setw(21) << when(u["last_used_at"].get<int64_t>()) << docs
                              << "\n";
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

    static server::BackupSettings target;
    static std::string store;
    static bool stop_first = false;
    auto* restore = backup->add_subcommand(
        "restore",
        "Replace the server store with backup ID (the server must be stopped; --stop stops it)");
    common(restore);
    restore->set_config("--config", "", "pdsync-server's config file (store and backup target)");

    restore->allow_config_extras(true);
    restore->add_option("id", backup_id)->required();
    restore->add_option("--store", store, "The server's store file")->required();
    restore->add_option("--backup-dir", target.dir);
    restore->add_option("--backup-smb-url", target.smb_url);
    restore->add_option("--backup-smb-user", target.smb_user);
    restore->add_option("--backup-smb-password", target.smb_password);
    restore->add_option("--backup-smb-password-file", target.smb_password_file);
    restore->add_option("--backup-smb-workgroup", target.smb_workgroup);
    restore->add_flag("--stop", stop_first,
                      "Stop the running server first (through its admin socket)");
    restore->callback([&] {
        auto held = [&] { return !backup::StoreLock::try_acquire(store).ok(); };
        if (held()) {
            if (!stop_first) {
                exit_code = fail("busy",
                                 "the server is running on " + store +
                                     "; stop it first (add --stop to have pdsync stop it)",
                                 c.json);
                return;
            }
            auto r = net::control_call(c.socket, {{"cmd", "stop"}},
                                       std::chrono::milliseconds(c.timeout_ms));
            if (!r || !r->value("ok", false)) {
                exit_code = fail(
                    "busy",
                    "the server holds " + store + " and could not be stopped through " + c.socket,
                    c.json);
                return;
            }
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (held() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(
                    std::chrono::milliseconds(50));  // polling the lock, with a deadline
            }
        }
        std::string error;
        auto t = server::make_backup_target(target, error);
        if (!t) {
            exit_code = fail("invalid_argument", error, c.json);
            return;
        }
        backup::ProgressBar::Options po;
        po.json = c.json;
        backup::ProgressBar bar("restore", po);
        backup::BackupManager::Options mo;
        mo.progress = bar.callback();  // bytes downloaded, then verified
        backup::BackupManager manager(mo);
        auto st = manager.restore(*t, backup_id, store);
        bar.finish();
        if (!st) {
            exit_code = fail(st.error().code, st.error().message, c.json);
            return;
        }
        print({{"ok", true}, {"id", backup_id}, {"store", store}}, [&](const Value&) {
            std::cout << "restored " << backup_id << " into " << store
                      << "; start pdsync-server again\n";
        });
    });

    auto* server = app.add_subcommand("server", "The server node itself");
    server->require_subcommand(1);
    common(server);
    leaf(server, "stop", "Stop pdsync-server cleanly")->callback([&] {
        if (auto r = call(c, {{"cmd", "stop"}}, exit_code))
            print(*r, [](const Value& v) { std::cout << v["message"].get<std::string>() << "\n"; });
    });
    leaf(server, "promote", "Make this standby the primary server")->callback([&] {
        if (auto r = call(c, {{"cmd", "promote"}}, exit_code)) {
            print(*r, [](const Value& v) {
                std::cout << v.value("message", std::string("promoted")) << "\n";
            });
        }
    });
}

}  // namespace pdsync::cli
