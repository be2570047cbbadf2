// Routes of the web admin API onto the server's administration commands.
#include "server-node/web/web_api.hpp"

#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"
#include "shared/reply.hpp"
#include "shared/secrets.hpp"

namespace pdsync::server::web {
namespace {

// A string field of a JSON body, or "" if absent.
std::string text(const Value& body, const char* key) {
    return body.is_object() && body.contains(key) && body[key].is_string()
               ? body[key].get<std::string>()
               : std::string();
}

bool is_unknown_command(const Value& answer) {
    return !answer.value("ok", false) && answer.value("error", "") == "invalid_argument" &&
           answer.value("message", "").rfind("unknown command", 0) == 0;
}

}  // namespace

int http_status_for(const Value& answer) {
    if (answer.value("ok", false)) return 200;
    if (is_unknown_command(answer)) return 501;
    const std::string e = answer.value("error", "");
    if (e == "not_found") return 404;
    if (e == "busy" || e == "exists") return 409;
    if (e == "timeout") return 504;
    if (e == "storage" || e == "io") return 500;
    if (e == "unauthenticated") return 401;
    if (e == "forbidden") return 403;
    if (e == "rate_limited") return 429;
    return 400;  // the request's fault: a bad id, an unknown category, a bad argument
}

WebApi::WebApi(AdminCall admin)
    : admin_(std::move(admin)),
      backup_job_([this](const std::string& label,
                         const std::function<void(uint64_t, uint64_t)>& progress) {
          return admin_({{"cmd", "backup-now"}, {"label", label}}, [&](const Value& p) {
              progress(p.value("done", uint64_t{0}), p.value("total", uint64_t{0}));
          });
      }) {}

ApiResponse WebApi::call(const Value& request, int ok_status) {
    Value answer = admin_(request, {});
    int status = http_status_for(answer);
    return {status == 200 ? ok_status : status, std::move(answer)};
}

bool WebApi::answers(const std::string& cmd) {
    return !is_unknown_command(admin_({{"cmd", cmd}}, {}));
}

ApiResponse WebApi::handle(const ApiRequest& r) {
    const std::string& p = r.path;
    const Value& b = r.body;
    if (r.method == "GET") {
        if (p == "/status") return call({{"cmd", "status"}});
        if (p == "/features") return features();
        if (p == "/machines") return machines();
        if (p == "/users") return users(r);
        if (p == "/users/show") {
            auto it = r.query.find("user");
            ApiResponse out =
                call({{"cmd", "users-show"}, {"user", it == r.query.end() ? "" : it->second}});
            // People see "[sealed]" where a device sealed a secret, never its ciphertext.
            if (out.body.contains("documents"))
                out.body["documents"] = redact_secrets(out.body["documents"]);
            return out;
        }
        if (p == "/backups") return backups();
        if (p == "/backups/job") return {200, {{"ok", true}, {"job", backup_job_.state()}}};
        if (p == "/settings") return call({{"cmd", "settings"}});
        if (p == "/join-code") return call({{"cmd", "join-code"}});
    } else if (r.method == "POST") {
        if (p == "/machines/remove")
            return call({{"cmd", "machines-remove"}, {"device_id", text(b, "device_id")}});
        if (p == "/machines/approve")
            return call({{"cmd", "machines-approve"}, {"device_id", text(b, "device_id")}});
        if (p == "/machines/deny") {
            return call({{"cmd", "machines-deny"},
                         {"device_id", text(b, "device_id")},
                         {"reason", text(b, "reason")}});
        }
        if (p == "/users/delete") {
            Value req = {{"cmd", "users-delete"}, {"user", text(b, "user")}};
            if (!text(b, "category").empty()) req["category"] = text(b, "category");
            return call(req);
        }
        if (p == "/backups") {
            std::string label = text(b, "label");
            if (label.size() > 128)
                return {400,
                        error_reply(Errc::invalid_argument, "the label is longer than 128 bytes")};
            if (!backup_job_.start(label.empty() ? "from the web page" : label, now_ms()))
                return {409, error_reply(Errc::busy, "a backup is already running")};
            return {202, {{"ok", true}, {"job", backup_job_.state()}}};
        }
        if (p == "/join-code/rotate") return call({{"cmd", "join-code"}, {"rotate", true}});
    }
    return {404, error_reply(Errc::not_found, "no API route " + r.method + " /api/v1" + p)};
}

ApiResponse WebApi::machines() {
    Value status = admin_({{"cmd", "status"}}, {});
    if (!status.value("ok", false)) return {http_status_for(status), status};
    Value out = {{"ok", true},
                 {"machines", status.value("machines", Value::array())},
                 {"refused", status.value("refused", Value::object())},
                 {"machine_count", status.value("machine_count", 0)},
                 {"machine_limit", status.value("machine_limit", 0)}};
    // Pending machines exist only on a server that holds new machines for approval.
    Value pending = admin_({{"cmd", "machines-pending"}}, {});
    if (pending.value("ok", false)) out["pending"] = pending.value("machines", Value::array());
    return {200, out};
}

ApiResponse WebApi::users(const ApiRequest& r) {
    std::size_t limit = tuning::web::kUsersPageDefault;
    if (auto it = r.query.find("limit"); it != r.query.end()) {
        try {
            limit = static_cast<std::size_t>(std::stoul(it->second));
        } catch (const std::exception&) {
            return {400, error_reply(Errc::invalid_argument, "'limit' is not a number")};
        }
    }
    Value req = {{"cmd", "users-list"}, {"limit", limit}};
    if (auto it = r.query.find("prefix"); it != r.query.end()) req["prefix"] = it->second;
    if (auto it = r.query.find("after"); it != r.query.end()) req["after"] = it->second;
    return call(req);
}

ApiResponse WebApi::backups() {
    Value job = backup_job_.state();
    Value settings = admin_({{"cmd", "settings"}}, {});
    Value out = {
        {"ok", true}, {"job", job}, {"schedule", settings.value("backup", Value::object())}};
    // Listing waits for a running backup (one at a time on the target): while one runs, the
    // page shows its progress and fetches the list once it is done.
    if (job.value("state", "") == "running") {
        out["backups"] = nullptr;
        return {200, out};
    }
    Value list = admin_({{"cmd", "backup-list"}}, {});
    if (list.value("ok", false)) {
        out["backups"] = list["backups"];
        out["target"] = list["target"];
    } else {
        out["backups"] = Value::array();
        out["list_error"] = list.value("message", "");
    }
    return {200, out};
}

ApiResponse WebApi::features() {
    // Join codes and approval come with the join protocol; the page shows their parts only
    // where this server answers their commands.
    return {200,
            {{"ok", true},
             {"join_code", answers("join-code")},
             {"pending_machines", answers("machines-pending")},
             {"poll_ms", tuning::web::kPagePoll.count()}}};
}

}  // namespace pdsync::server::web
