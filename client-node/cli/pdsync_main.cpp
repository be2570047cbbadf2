// pdsync: the command-line tool. `pdsync device ...` talks to the local pdsync-client
// daemon through its control socket. Readable output by default, --json for scripts;
// errors go to stderr with a non-zero exit code.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "client-node/cli/cli_admin.hpp"
#include "client-node/cli/cli_common.hpp"
#include "shared/net/control_socket.hpp"
#include "shared/terminal/progress_bar.hpp"

namespace {

using pdsync::Value;
using pdsync::cli::call;
using pdsync::cli::fail;

std::string fields_line(const Value& fields) {
    std::string s = fields.dump(-1, ' ', false, Value::error_handler_t::replace);
    return s.size() > 100 ? s.substr(0, 97) + "..." : s;
}

void print_show(const Value& raw) {
    const Value answer = pdsync::cli::inert(raw);  // documents come from the network
    for (const auto& d : answer["documents"]) {
        std::string who = d.contains("user") ? d["user"].get<std::string>() + " / " : "shared / ";
        std::cout << who << d["category"].get<std::string>() << "  (version " << d["version"]
                  << ", " << d["pending"] << " pending)\n";
        int i = 1;
        for (const auto& e : d["entries"]) {
            std::cout << "  " << i++ << ". " << e["id"].get<std::string>()
                      << (e["range"] == "device" ? "  [device only]  " : "  ")
                      << fields_line(e["fields"]) << "\n";
        }
        if (d["entries"].empty()) std::cout << "  (empty)\n";
    }
}

void print_status(const Value& raw) {
    const Value s = pdsync::cli::inert(raw);
    std::cout << "device    " << s["device_id"].get<std::string>() << " ("
              << s["product"].get<std::string>() << " " << s["firmware"].get<std::string>()
              << ")\n";
    std::cout << "state     " << s["state"].get<std::string>()
              << (s["connected"].get<bool>() ? ", connected" : ", offline") << "\n";
    std::string syncs;
    for (const auto& c : s["syncs"]) syncs += (syncs.empty() ? "" : ", ") + c.get<std::string>();
    std::cout << "syncs     " << (syncs.empty() ? "-" : syncs) << "\n";
    std::string user = s["user"].get<std::string>();
    std::cout << "user      " << (user.empty() ? "-" : user)
              << (user.empty() ? "" : (s["ready"].get<bool>() ? " (ready)" : " (loading)")) << "\n";
    std::cout << "pending   " << s["pending"] << " change sets\n";
    if (s.contains("enabled")) {
        std::cout << "enabled   "
                  << (s["enabled"].get<bool>()
                          ? "yes, by " + s.value("enabled_by", "") +
                                (s.contains("broker") ? " (" + s.value("broker", "") + ")" : "")
                          : std::string("no (pdsync device enable --server HOST --join-code CODE)"))
                  << "\n";
        if (s.contains("enable_error"))
            std::cout << "enable    failed: " << s.value("enable_error", "") << "\n";
    }
    std::string err = s["last_error"].get<std::string>();
    std::cout << "error     " << (err.empty() ? "-" : err) << "\n";
}

// A duration for people: one decimal below 10 ms ("1.6 ms"), whole milliseconds above.
std::string millis(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, ms < 10 ? "%.1f ms" : "%.0f ms", ms);
    return buf;
}

// A login served by the server, or from this device alone (and why); a login of the
// user already logged in says that it counted as a use.
void print_login(const Value& r) {
    std::string user = r.value("user", "");
    if (r.value("again", false)) {
        std::cout << user << " was already logged in; this login counts as a use ("
                  << (r.value("use", "") == "sent" ? "sent to the server"
                                                   : "the server learns of it at the next join")
                  << ")\n";
    }
    if (r.value("source", "") != "cache") {
        std::cout << user << " is ready (" << r.value("source", "?") << ", "
                  << millis(r.value("ms", 0.0)) << ")\n";
        return;
    }
    std::string cached;
    for (const auto& c : r.value("cached", Value::array()))
        cached += (cached.empty() ? "" : ", ") + c.get<std::string>();
    std::cout << user << " is ready from this device alone: " << r.value("why", "") << "\n"
              << "  cached here: " << (cached.empty() ? "nothing yet" : cached) << "\n";
}

std::string read_all(std::istream& in) {
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"pdsync: personalized-data synchronization for a device fleet", "pdsync"};
    app.set_version_flag("--version", "pdsync " PDSYNC_VERSION);
    app.require_subcommand(1);
    pdsync::cli::Common c;
    c.socket = pdsync::cli::env_or("PDSYNC_SOCKET", "/run/pdsync/client.sock");
    int exit_code = 0;

    auto* device = app.add_subcommand("device", "Commands for this device's pdsync-client daemon");
    device->require_subcommand(1);
    device->add_option("--socket", c.socket,
                       "Control socket (default $PDSYNC_SOCKET or /run/pdsync/client.sock)");
    device->add_flag("--json", c.json, "Print JSON for scripts");
    device->add_option("--timeout-ms", c.timeout_ms, "How long to wait for the daemon");

    std::string user;
    auto* login =
        device->add_subcommand("login", "Log a user in and wait until their settings are ready");
    login->add_option("user", user, "User id")->required();
    login->callback([&] {
        if (auto r = call(c, {{"cmd", "login"}, {"user", user}, {"wait_ms", c.timeout_ms - 1000}},
                          exit_code)) {
            if (c.json) {
                std::cout << r->dump() << "\n";
            } else {
                print_login(*r);
            }
        }
    });

    auto* logout = device->add_subcommand("logout", "Log the current user out");
    logout->callback([&] {
        if (auto r = call(c, {{"cmd", "logout"}}, exit_code)) {
            if (c.json) {
                std::cout << r->dump() << "\n";
            } else {
                std::cout << "logged out " << r->value("user", "") << "\n";
            }
        }
    });

    std::string category;
    auto* show =
        device->add_subcommand("show", "Print the current user's documents (or one category)");
    show->add_option("--category", category, "Only this category");
    show->add_option("--user", user, "Another cached user");
    show->callback([&] {
        Value req = {{"cmd", "show"}};
        if (!category.empty()) req["category"] = category;
        if (!user.empty()) req["user"] = user;
        if (auto r = call(c, req, exit_code)) {
            if (c.json) {
                std::cout << r->dump() << "\n";
            } else {
                print_show(*r);
            }
        }
    });

    std::string ops_json;
    std::string ops_file;
    std::string range = "shared";
    std::string add_json;
    std::string update_id;
    std::string update_json;
    std::string fields_json;
    std::string delete_id;
    std::string move_id;
    std::string after;
    bool no_wait = false;
    auto* edit = device->add_subcommand("edit",
                                        "Change entries: --add JSON, --update ID FIELDS, --delete "
                                        "ID, --move ID --after ID, or --ops/--file");
    edit->add_option("category", category, "Category to edit")->required();
    edit->add_option("--ops", ops_json, R"(JSON array of ops: [{"op":"add","fields":{...}}, ...])");
    edit->add_option("--file", ops_file, "Read the ops JSON from a file (- for stdin)");
    edit->add_option("--add", add_json, "Add an entry with these JSON fields");
    edit->add_option("--id", update_id, "Entry id for --add (for --update: the same id, optional)");
    edit->add_option("--update", update_json,
                     "Replace the fields of this entry with FIELDS (--update ID FIELDS)");
    edit->add_option("fields", fields_json, "JSON fields for --update");
    edit->add_option("--delete", delete_id, "Delete this entry");
    edit->add_option("--move", move_id, "Move this entry (with --after)");
    edit->add_option("--after", after, "Place after this entry (\"\" = first)");
    edit->add_option("--range", range,
                     "shared (synchronized) or device (Device-Specific, never leaves)")
        ->check(CLI::IsMember({"shared", "device"}));
    edit->add_option("--user", user, "User (default: the logged-in user)");
    edit->add_flag("--no-wait", no_wait, "Do not wait for the server's acknowledgement");
    edit->callback([&] {
        Value ops = Value::array();
        try {
            if (!ops_file.empty()) {
                if (ops_file == "-") {
                    ops = Value::parse(read_all(std::cin));
                } else {
                    std::ifstream in(ops_file);
                    if (!in) {
                        exit_code = fail("io", "cannot read " + ops_file, c.json);
                        return;
                    }
                    ops = Value::parse(read_all(in));
                }
            } else if (!ops_json.empty()) {
                ops = Value::parse(ops_json);
            }
            auto with_after = [&](Value op) {
                if (edit->count("--after")) op["after"] = after;
                if (range == "device") op["range"] = "device";
                return op;
            };
            if (!add_json.empty()) {
                Value op = {{"op", "add"}, {"fields", Value::parse(add_json)}};
                if (!update_id.empty()) op["id"] = update_id;
                ops.push_back(with_after(op));
            }
            if (!update_json.empty()) {
                // `--update ID FIELDS`; the older `--id ID --update FIELDS` still works.
                std::string id = update_json;
                std::string fields = fields_json;
                if (fields.empty() && !update_id.empty() && update_json.front() == '{') {
                    id = update_id;
                    fields = update_json;
                }
                if (!update_id.empty() && update_id != id) {
                    exit_code = fail(
                        "invalid_argument",
                        "--update " + id + " and --id " + update_id + " name different entries",
                        c.json);
                    return;
                }
                if (fields.empty()) {
                    exit_code = fail("invalid_argument",
                                     "--update " + id + " needs the new fields as JSON", c.json);
                    return;
                }
                ops.push_back(
                    with_after({{"op", "update"}, {"id", id}, {"fields", Value::parse(fields)}}));
            } else if (!fields_json.empty()) {
                exit_code = fail(
                    "invalid_argument",
                    "unexpected argument " + fields_json + " (fields go with --update ID)", c.json);
                return;
            }
            if (!delete_id.empty())
                ops.push_back(with_after({{"op", "delete"}, {"id", delete_id}}));
            if (!move_id.empty())
                ops.push_back(with_after({{"op", "move"}, {"id", move_id}, {"after", after}}));
        } catch (const std::exception& e) {
            exit_code = fail("invalid_argument", std::string("bad JSON: ") + e.what(), c.json);
            return;
        }
        if (!ops.is_array() || ops.empty()) {
            exit_code = fail("invalid_argument",
                             "nothing to do: give --add/--update/--delete/--move or --ops", c.json);
            return;
        }
        Value req = {{"cmd", "edit"},
                     {"category", category},
                     {"ops", ops},
                     {"wait_ms", no_wait ? 0 : c.timeout_ms - 1000}};
        if (!user.empty()) req["user"] = user;
        if (auto r = call(c, req, exit_code)) {
            if (c.json) {
                std::cout << r->dump() << "\n";
            } else {
                std::string state = r->value("state", "");
                std::string why = r->value("message", "");
                std::cout << (state == "acked"   ? "saved and synchronized"
                              : state == "local" ? "saved on this device"
                                                 : "saved; waiting to synchronize" +
                                                       (why.empty() ? "" : " (" + why + ")"))
                          << (r->contains("version")
                                  ? " (version " + std::to_string((*r)["version"].get<uint64_t>()) +
                                        ")"
                                  : "")
                          << "\n";
            }
        }
    });

    auto* status = device->add_subcommand("status", "This device's synchronization state");
    status->callback([&] {
        if (auto r = call(c, {{"cmd", "status"}}, exit_code)) {
            if (c.json) {
                std::cout << r->dump() << "\n";
            } else {
                print_status(*r);
            }
        }
    });

    auto* watch = device->add_subcommand(
        "watch", "Print this device's events as they happen, one JSON object a line (Ctrl-C ends)");
    watch->callback([&] {
        auto st = pdsync::net::control_stream(
            c.socket, {{"cmd", "watch"}},
            [](const Value& line) {
                std::cout << line.dump(-1, ' ', false, Value::error_handler_t::replace)
                          << std::endl;
                return true;
            },
            [] { return true; });
        if (!st)
            exit_code = fail(std::string(pdsync::errc_name(st.code())), st.error().message, c.json);
    });

    std::string file;
    auto* dexport = device->add_subcommand("export",
                                           "Export this device's synchronizable data to FILE "
                                           "(.json or .msgpack); refused while syncing");
    dexport->add_option("file", file)->required();
    dexport->callback([&] {
        if (auto r = call(c, {{"cmd", "export"}}, exit_code, "export")) {
            if (auto st = pdsync::cli::write_export_file(file, (*r)["export"]); !st) {
                exit_code = fail("io", st.error().message, c.json);
                return;
            }
            std::cout << (c.json
                              ? Value{{"ok", true}, {"file", file}}.dump() + "\n"
                              : "exported " + std::to_string((*r)["export"]["documents"].size()) +
                                    " documents to " + file + "\n");
        }
    });
    auto* dimport = device->add_subcommand("import",
                                           "Import data from FILE into this device; refused while "
                                           "syncing (registered at its next first merge)");
    dimport->add_option("file", file)->required();
    dimport->callback([&] {
        auto data = pdsync::cli::read_export_file(file);
        if (!data) {
            exit_code =
                fail(std::string(pdsync::errc_name(data.code())), data.error().message, c.json);
            return;
        }
        // Device items go with the last request: they belong to the documents before them.
        Value base = *data;
        base.erase("documents");
        auto request = [&](Value chunk, bool last) {
            Value part = base;
            part["documents"] = std::move(chunk);
            if (!last) part["device_items"] = Value::array();
            return Value{{"cmd", "import"}, {"export", std::move(part)}};
        };
        if (auto r = pdsync::cli::import_in_chunks(c, data->value("documents", Value::array()),
                                                   request, exit_code)) {
            std::cout << (c.json ? r->dump() + "\n"
                                 : "imported " +
                                       std::to_string((*r)["documents_imported"].get<uint64_t>()) +
                                       " documents\n");
        }
    });
    std::string sync_state;
    auto* sync = device->add_subcommand("sync", "Turn this device's synchronization on or off");
    sync->add_option("state", sync_state)->required()->check(CLI::IsMember({"on", "off"}));
    bool sync_no_wait = false;
    sync->add_flag("--no-wait", sync_no_wait, "With on: do not wait for the first sync to finish");
    sync->callback([&] {
        auto r = call(c, {{"cmd", "sync"}, {"enabled", sync_state == "on"}}, exit_code);
        if (!r) return;
        if (sync_state == "on" && !sync_no_wait) {
            // The first sync: join, register this device's data, drain the outbox. A bar
            // of change sets done on a terminal; quiet under --json or in a pipe.
            pdsync::terminal::ProgressBar::Options o;
            o.json = c.json;
            pdsync::terminal::ProgressBar bar("first sync", o);
            uint64_t total = 0;
            auto deadline =
                std::chrono::steady_clock::now() + std::chrono::milliseconds(c.timeout_ms);
            while (std::chrono::steady_clock::now() < deadline) {
                auto st = pdsync::net::control_call(c.socket, {{"cmd", "status"}},
                                                    std::chrono::milliseconds(2000));
                if (!st) break;
                uint64_t pending = st->value("pending", uint64_t{0});
                total = std::max(total, pending);
                bar.update(total - pending, total);
                if (st->value("joined", false) && pending == 0) break;
                std::this_thread::sleep_for(
                    std::chrono::milliseconds(50));  // polling the daemon, with a deadline
            }
            bar.finish();
        }
        std::cout << (c.json ? r->dump() + "\n" : "synchronization " + sync_state + "\n");
    });

    pdsync::cli::add_admin_commands(app, exit_code);
    pdsync::cli::add_watch_command(app, exit_code);
    pdsync::cli::add_cluster_command(app, exit_code);
    pdsync::cli::add_join_commands(app, *device, *app.get_subcommand("machines"), c, exit_code);

    CLI11_PARSE(app, argc, argv);
    return exit_code;
}
