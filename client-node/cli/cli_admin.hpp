// The administrator's subcommands of `pdsync` (status, users, machines, export, import,
// backup, server), talking to pdsync-server's admin socket.
#pragma once

#include <CLI/CLI.hpp>

namespace pdsync::cli {

// Adds the subcommands to `app`; their callbacks set `exit_code`.
void add_admin_commands(CLI::App& app, int& exit_code);

// `pdsync join-code`, `pdsync machines pending|approve|deny|provision` and
// `pdsync device enable|disable` (cli_join.cpp); `machines` and `device` exist already.
struct Common;
void add_join_commands(CLI::App& app, CLI::App& device, CLI::App& machines, Common& device_common,
                       int& exit_code);

// `pdsync watch`: decoded documents and messages as they change (cli_watch.cpp).
void add_watch_command(CLI::App& app, int& exit_code);

// --server-socket, --json and --timeout-ms of a subcommand that talks to pdsync-server's
// admin socket, into `c`.
void add_server_socket_options(CLI::App* sub, Common& c);

// `pdsync cluster ...` (cli_cluster.cpp).
void add_cluster_command(CLI::App& app, int& exit_code);

}  // namespace pdsync::cli
