// The web admin page's HTTP(S) server (cpp-httplib, Debian's libcpp-httplib): serves the
// page's files compiled into the binary (web_assets), the login and logout, and the JSON
// API (web_api) behind a session cookie and a CSRF token. HTTPS with the fleet's server
// certificate; plain HTTP is accepted only on a loopback address (tests, an SSH tunnel).
//
//   WebServer web(options, [&](const Value& req, auto& progress) { return node.admin(req,
//   progress); }); if (auto st = web.start(); !st) ...;   // listening when start() returns
//   web.stop();
//
// Ownership and threads: owned by main(); start()/stop() from the owning thread. Requests
// are served by a small pool of its own threads (tuning::web::kHttpThreads).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server-node/web/web_api.hpp"
#include "server-node/web/web_sessions.hpp"
#include "shared/base/result.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace pdsync::server::web {

struct WebOptions {
    std::string listen;              // "ADDR:PORT" or "[v6]:PORT"; empty: no web page
    std::string cert_file;           // PEM chain (the fleet's server certificate)
    std::string key_file;            // its key
    std::string password_hash_file;  // crypto_pwhash_str of the admin password
    bool enabled() const { return !listen.empty(); }
};

struct ListenAddress {
    std::string host;
    int port = 0;
    bool loopback = false;
};
// Parses "ADDR:PORT"; refuses a missing port or one outside 1..65535.
Result<ListenAddress> parse_listen_address(const std::string& listen);

// Checks what start() will need before the server starts: the address, plain HTTP only on
// loopback, the password hash file, a certificate with its key.
[[nodiscard]] Status check_web_options(const WebOptions& options);

class WebServer {
  public:
    WebServer(WebOptions options, AdminCall admin);
    ~WebServer();

    // Reads the password hash, loads the certificate, binds. Refuses plain HTTP on an
    // address that is not loopback.
    [[nodiscard]] Status start();
    void stop();
    int port() const { return port_; }
    bool https() const { return https_; }

  private:
    void install_routes();
    void login(const httplib::Request& req, httplib::Response& res);
    void logout(const httplib::Request& req, httplib::Response& res);
    void api(const httplib::Request& req, httplib::Response& res);
    std::optional<Session> session_of(const httplib::Request& req);
    std::string session_cookie(const std::string& value, int max_age_s) const;
    bool same_origin(const httplib::Request& req) const;

    WebOptions options_;
    WebApi api_;
    SessionTable sessions_;
    LoginThrottle throttle_;
    std::mutex verify_mu_;  // one Argon2 verification (64 MiB) at a time
    std::string password_hash_;
    std::string cookie_name_;
    bool https_ = false;
    int port_ = 0;
    std::unique_ptr<httplib::Server> http_;
    std::thread thread_;
};

}  // namespace pdsync::server::web
