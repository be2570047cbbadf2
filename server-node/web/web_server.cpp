// The web admin page's HTTP binding: cpp-httplib routes, TLS, cookies, headers.
#include "server-node/web/web_server.hpp"

#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include "server-node/web/web_assets.hpp"
#include "server-node/web/web_password.hpp"
#include "shared/base/tuning.hpp"
#include "shared/reply.hpp"

namespace pdsync::server::web {
namespace {

namespace wt = tuning::web;

int64_t monotonic_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// For log lines: the value quoted, control characters and non-ASCII escaped.
std::string log_quoted(std::string_view s) {
    std::string out = "'";
    for (unsigned char c : s.substr(0, 200)) {
        if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\') {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out + "'";
}

void send_json(httplib::Response& res, int status, const Value& body) {
    res.status = status;
    res.set_content(body.dump(-1, ' ', false, Value::error_handler_t::replace),
                    "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, int status, Errc code, const std::string& message) {
    send_json(res, status, error_reply(code, message));
}

void send_asset(httplib::Response& res, const std::string& path) {
    const Asset* a = find_asset(path);
    if (!a) {
        send_error(res, 404, Errc::not_found, "no such file");
        return;
    }
    res.set_content(std::string(a->body), std::string(a->content_type));
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

Result<ListenAddress> parse_listen_address(const std::string& listen) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
        return make_error(Errc::invalid_argument,
                          "--web-listen '" + listen + "' is not ADDRESS:PORT");
    std::string host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    int port = 0;
    try {
        std::size_t used = 0;
        port = std::stoi(listen.substr(colon + 1), &used);
        if (used != listen.size() - colon - 1) port = 0;
    } catch (const std::exception&) {
        port = 0;
    }
    if (port < 1 || port > 65535)
        return make_error(Errc::invalid_argument, "--web-listen '" + listen + "': bad port");
    return ListenAddress{host, port, is_loopback(host)};
}

Status check_web_options(const WebOptions& o) {
    PDS_TRY(auto addr, parse_listen_address(o.listen));
    PDS_TRY(auto hash, read_password_hash_file(o.password_hash_file));
    (void)hash;
    bool https = !o.cert_file.empty() || !o.key_file.empty();
    if (!https && !addr.loopback) {
        return make_error(Errc::invalid_argument,
                          "--web-listen " + o.listen +
                              " is not a loopback address: give --web-cert-file and "
                              "--web-key-file (plain HTTP only on 127.0.0.1 or ::1)");
    }
    if (https && (o.cert_file.empty() || o.key_file.empty()))
        return make_error(Errc::invalid_argument,
                          "HTTPS needs both --web-cert-file and --web-key-file");
    return Ok{};
}

WebServer::WebServer(WebOptions options, AdminCall admin)
    : options_(std::move(options)),
      api_(std::move(admin)),
      sessions_(std::chrono::duration_cast<std::chrono::milliseconds>(wt::kSessionIdle).count(),
                std::chrono::duration_cast<std::chrono::milliseconds>(wt::kSessionMax).count(),
                wt::kMaxSessions),
      throttle_(std::chrono::duration_cast<std::chrono::milliseconds>(wt::kLoginDelayFirst).count(),
                std::chrono::duration_cast<std::chrono::milliseconds>(wt::kLoginDelayMax).count(),
                wt::kLoginThrottleEntries) {}

WebServer::~WebServer() {
    stop();
}

Status WebServer::start() {
    PDS_CHECK(check_web_options(options_));
    PDS_TRY(auto addr, parse_listen_address(options_.listen));
    PDS_TRY(password_hash_, read_password_hash_file(options_.password_hash_file));
    https_ = !options_.cert_file.empty();
    if (https_) {
        std::string cert = options_.cert_file, key = options_.key_file;
        auto ssl = std::make_unique<httplib::SSLServer>([cert, key](SSL_CTX& ctx) {
            // TLS 1.2 or later with AEAD ciphers only, as on the broker's listeners.
            SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
            SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                          SSL_OP_CIPHER_SERVER_PREFERENCE);
            return SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") == 1 &&
                   SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) == 1 &&
                   SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
                   SSL_CTX_check_private_key(&ctx) == 1;
        });
        if (!ssl->is_valid()) {
            return make_error(Errc::invalid_argument, "cannot use the web certificate '" + cert +
                                                          "' with key '" + key + "'");
        }
        http_ = std::move(ssl);
    } else {
        http_ = std::make_unique<httplib::Server>();
    }
    // __Host-: the browser keeps the cookie only for this exact origin, over HTTPS.
    cookie_name_ = https_ ? "__Host-pdsync_session" : "pdsync_session";
    http_->new_task_queue = [] { return new httplib::ThreadPool(wt::kHttpThreads); };
    http_->set_payload_max_length(wt::kMaxRequestBody);
    http_->set_read_timeout(5);
    http_->set_write_timeout(5);
    http_->set_keep_alive_timeout(wt::kHttpKeepAlive.count());
    install_routes();
    if (!http_->bind_to_port(addr.host, addr.port)) {
        return make_error(Errc::io, "web page: cannot listen on " + options_.listen);
    }
    port_ = addr.port;
    thread_ = std::thread([this] { http_->listen_after_bind(); });
    spdlog::info("web admin page on {}://{}", https_ ? "https" : "http", options_.listen);
    return Ok{};
}

void WebServer::stop() {
    if (http_) http_->stop();
    if (thread_.joinable()) thread_.join();
}

std::string WebServer::session_cookie(const std::string& value, int max_age_s) const {
    std::string c = cookie_name_ + "=" + value + "; Path=/; HttpOnly; SameSite=Strict";
    if (https_) c += "; Secure";
    if (max_age_s >= 0) c += "; Max-Age=" + std::to_string(max_age_s);
    return c;
}

std::optional<Session> WebServer::session_of(const httplib::Request& req) {
    const std::string cookies = req.get_header_value("Cookie");
    const std::string key = cookie_name_ + "=";
    std::size_t pos = 0;
    while (pos < cookies.size()) {
        while (pos < cookies.size() && cookies[pos] == ' ') ++pos;
        auto end = cookies.find(';', pos);
        if (end == std::string::npos) end = cookies.size();
        if (cookies.compare(pos, key.size(), key) == 0)
            return sessions_.use(cookies.substr(pos + key.size(), end - pos - key.size()),
                                 monotonic_ms(), req.get_header_value("X-Pdsync-Poll") != "1");
        pos = end + 1;
    }
    return std::nullopt;
}

bool WebServer::same_origin(const httplib::Request& req) const {
    // A browser names the page that sent a request in Origin; one from another site is
    // refused whatever else it carries (defence beside SameSite and the CSRF token).
    if (!req.has_header("Origin")) return true;
    const std::string origin = req.get_header_value("Origin");
    return origin == (https_ ? "https://" : "http://") + req.get_header_value("Host");
}

void WebServer::install_routes() {
    // Every answer: no framing, no sniffing, no referrer, nothing cached, scripts only from
    // this server (the page has no inline script and no CDN).
    http_->set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                       "base-uri 'none'; form-action 'self'");
        res.set_header("X-Content-Type-Options", "nosniff");
        res.set_header("X-Frame-Options", "DENY");
        res.set_header("Referrer-Policy", "no-referrer");
        res.set_header("Cache-Control", "no-store");
    });
    http_->Get("/login", [this](const httplib::Request& req, httplib::Response& res) {
        if (session_of(req)) return res.set_redirect("/");
        send_asset(res, "/assets/login.html");
    });
    http_->Get("/", [this](const httplib::Request& req, httplib::Response& res) {
        if (!session_of(req)) return res.set_redirect("/login");
        send_asset(res, "/assets/app.html");
    });
    // The page's script and style carry nothing secret: the login page needs them too.
    http_->Get("/assets/.*", [](const httplib::Request& req, httplib::Response& res) {
        send_asset(res, req.path);
    });
    http_->Post("/api/v1/login",
                [this](const httplib::Request& req, httplib::Response& res) { login(req, res); });
    http_->Post("/api/v1/logout",
                [this](const httplib::Request& req, httplib::Response& res) { logout(req, res); });
    http_->Get("/api/v1/.*",
               [this](const httplib::Request& req, httplib::Response& res) { api(req, res); });
    http_->Post("/api/v1/.*",
                [this](const httplib::Request& req, httplib::Response& res) { api(req, res); });
    // Anything else: the API says 401/404 in JSON; a page leads to the login.
    http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;
        if (req.path.rfind("/api/", 0) == 0) {
            if (res.status == 404) send_error(res, 404, Errc::not_found, "no such API route");
            return;
        }
        if (!session_of(req)) {
            res.set_redirect("/login");
        } else if (res.status == 404) {
            res.set_redirect("/");
        }
    });
}

void WebServer::login(const httplib::Request& req, httplib::Response& res) {
    const std::string& from = req.remote_addr;
    // A cross-site form cannot send application/json without a preflight this server never
    // grants: the login cannot be forged from another page either.
    if (!same_origin(req) ||
        req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
        return send_error(res, 403, Errc::forbidden, "cross-site or non-JSON login refused");
    }
    if (int64_t wait = throttle_.wait_ms(from, monotonic_ms()); wait > 0) {
        res.set_header("Retry-After", std::to_string((wait + 999) / 1000));
        return send_json(res, 429,
                         {{"ok", false},
                          {"error", "rate_limited"},
                          {"message", "too many failed logins: wait and try again"},
                          {"retry_after_ms", wait}});
    }
    Value body = Value::parse(req.body, nullptr, false);
    std::string password =
        body.is_object() && body.contains("password") && body["password"].is_string()
            ? body["password"].get<std::string>()
            : std::string();
    bool ok = false;
    {
        std::lock_guard lock(verify_mu_);
        ok = !password.empty() && verify_password(password_hash_, password);
    }
    std::fill(password.begin(), password.end(), '\0');
    if (!ok) {
        throttle_.failed(from, monotonic_ms());
        spdlog::warn("web: failed admin login from {}", log_quoted(from));
        return send_error(res, 401, Errc::unauthenticated, "wrong password");
    }
    throttle_.succeeded(from);
    Session s = sessions_.open(monotonic_ms());
    spdlog::info("web: admin logged in from {}", log_quoted(from));
    res.set_header("Set-Cookie", session_cookie(s.token, -1));
    send_json(res, 200, {{"ok", true}, {"csrf", s.csrf}});
}

void WebServer::logout(const httplib::Request& req, httplib::Response& res) {
    auto s = session_of(req);
    if (!s) return send_error(res, 401, Errc::unauthenticated, "not logged in");
    if (!same_origin(req) || !tokens_equal(req.get_header_value("X-CSRF-Token"), s->csrf))
        return send_error(res, 403, Errc::forbidden, "missing or wrong CSRF token");
    sessions_.close(s->token);
    res.set_header("Set-Cookie", session_cookie("", 0));
    send_json(res, 200, {{"ok", true}});
}

void WebServer::api(const httplib::Request& req, httplib::Response& res) {
    auto s = session_of(req);
    if (!s) return send_error(res, 401, Errc::unauthenticated, "log in first");
    const std::string path = req.path.substr(std::string("/api/v1").size());
    if (req.method == "GET" && path == "/session")
        return send_json(res, 200, {{"ok", true}, {"csrf", s->csrf}});
    ApiRequest r{req.method, path, {}, Value::object()};
    for (const auto& [k, v] : req.params) r.query[k] = v;
    if (req.method != "GET") {
        // Every action carries the session's CSRF token, which a page from another site
        // cannot read; a missing or wrong one is refused before anything runs.
        if (!same_origin(req) || !tokens_equal(req.get_header_value("X-CSRF-Token"), s->csrf)) {
            spdlog::warn("web: {} {} refused: missing or wrong CSRF token (from {})", req.method,
                         log_quoted(req.path), log_quoted(req.remote_addr));
            return send_error(res, 403, Errc::forbidden, "missing or wrong CSRF token");
        }
        if (!req.body.empty()) {
            r.body = Value::parse(req.body, nullptr, false);
            if (r.body.is_discarded() || !r.body.is_object())
                return send_error(res, 400, Errc::malformed, "the body is not a JSON object");
        }
        spdlog::info("web: {} {}", req.method, log_quoted(req.path));
    }
    ApiResponse out = api_.handle(r);
    send_json(res, out.status, out.body);
}

}  // namespace pdsync::server::web
