// pdsync-server's command-line options for the web admin page, and the
// `--web-hash-password` mode that turns a password on stdin into the hash the server reads
// (deploy/fleet-init.sh runs it), so main() gains only a few lines.
#pragma once

#include <CLI/CLI.hpp>

#include "server-node/web/web_server.hpp"

namespace pdsync::server::web {

struct WebCommandLine {
    WebOptions options;
    bool hash_password = false;  // --web-hash-password: print a hash and exit
};

void add_web_options(CLI::App& app, WebCommandLine& cl);

// Reads one line (the password) from stdin and prints its hash; the exit status for main().
int run_hash_password();

// What the settings page shows of the web page itself.
Value web_settings_summary(const WebOptions& options);

}  // namespace pdsync::server::web
