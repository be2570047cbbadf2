// The JSON API under /api/v1 (docs/admin-api.md), free of HTTP: a request arrives as method,
// path, query and JSON body, already authenticated and CSRF-checked by web_server, and is
// answered through the same administration commands the admin socket serves
// (ServerNode::admin), so `pdsync` and the web page are two doors to one set of handlers.
// What is only the web's lives here: routes, HTTP status codes, "[sealed]" in place of
// secrets, and the "back up now" job the page polls.
//
// Ownership and threads: owned by WebServer; handle() may be called from any HTTP thread.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "server-node/web/backup_job.hpp"
#include "shared/codec.hpp"

namespace pdsync::server::web {

// One administration request, as the admin socket takes it: ServerNode::admin.
using AdminCall =
    std::function<Value(const Value& request, const std::function<void(const Value&)>& progress)>;

struct ApiRequest {
    std::string method;  // "GET" or "POST"
    std::string path;    // below /api/v1, e.g. "/users"
    std::map<std::string, std::string> query;
    Value body = Value::object();
};

struct ApiResponse {
    int status = 200;
    Value body;
};

class WebApi {
  public:
    explicit WebApi(AdminCall admin);

    ApiResponse handle(const ApiRequest& request);

  private:
    ApiResponse call(const Value& request, int ok_status = 200);
    ApiResponse machines();
    ApiResponse users(const ApiRequest& r);
    ApiResponse backups();
    ApiResponse features();
    bool answers(const std::string& cmd);

    AdminCall admin_;
    BackupJob backup_job_;
};

// The HTTP status for an administration answer ({"ok": false, "error": name, ...}).
int http_status_for(const Value& answer);

}  // namespace pdsync::server::web
