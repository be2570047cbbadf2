// The web admin page's options and the --web-hash-password mode of pdsync-server.
#include "server-node/web/web_options.hpp"

#include <iostream>

#include "server-node/web/web_password.hpp"

namespace pdsync::server::web {

void add_web_options(CLI::App& app, WebCommandLine& cl) {
    auto& o = cl.options;
    app.add_option("--web-listen", o.listen,
                   "Serve the web admin page on ADDRESS:PORT (HTTPS; plain HTTP only on loopback)");
    app.add_option("--web-cert-file", o.cert_file,
                   "TLS certificate chain of the web page (the fleet's server certificate)");
    app.add_option("--web-key-file", o.key_file, "Its private key");
    app.add_option(
        "--web-admin-password-hash-file", o.password_hash_file,
        "File with the admin password's Argon2 hash (pdsync-server --web-hash-password)");
    app.add_flag("--web-hash-password", cl.hash_password,
                 "Read a password from stdin, print its hash for --web-admin-password-hash-file, "
                 "and exit");
}

int run_hash_password() {
    std::string password;
    std::getline(std::cin, password);
    while (!password.empty() && (password.back() == '\r' || password.back() == '\n'))
        password.pop_back();
    auto hash = hash_password(password);
    std::fill(password.begin(), password.end(), '\0');
    if (!hash) {
        std::cerr << "pdsync-server: " << hash.error().message << "\n";
        return 2;
    }
    std::cout << *hash << "\n";
    return 0;
}

Value web_settings_summary(const WebOptions& options) {
    if (!options.enabled()) return {{"enabled", false}};
    return {{"enabled", true},
            {"listen", options.listen},
            {"https", !options.cert_file.empty()},
            {"certificate", options.cert_file}};
}

}  // namespace pdsync::server::web
