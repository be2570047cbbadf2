// ServerCore's administration commands (pdsync users / machines / export / import /
// status), each one transaction, publishing what it changed after the commit.
#include <spdlog/spdlog.h>

#include "server-node/server_batch.hpp"
#include "server-node/server_core.hpp"
#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"
#include "shared/merge.hpp"
#include "shared/reply.hpp"
#include "shared/user_id.hpp"

namespace pdsync::server {
namespace {

Value versions_value(const std::map<Category, uint64_t>& versions) {
    Value v = Value::object();
    for (const auto& [c, ver] : versions) v[std::string(category_name(c))] = ver;
    return v;
}

}  // namespace

ServerCore::AdminResult ServerCore::admin(const Value& request) {
    if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
        return {error_reply(Errc::invalid_argument, "request needs a string 'cmd'"), {}};
    }
    const std::string cmd = request["cmd"].get<std::string>();
    const std::string user = request.value("user", "");
    if (cmd == "status") {
        Value v = status_value();
        v["ok"] = true;
        return {v, {}};
    }
    if (cmd == "users-list" && request.contains("limit")) return users_page(request);
    if (cmd == "settings") {
        return {{{"ok", true},
                 {"server_id", settings_.server_id},
                 {"server_device_id", settings_.device_id},
                 {"categories", settings_.categories.names()},
                 {"machine_limit", settings_.machine_limit},
                 {"user_limit", settings_.user_limit},
                 {"inspect_view", settings_.inspect_view}},
                {}};
    }
    if (cmd == "users-list") {
        Value users = Value::array();
        for (const auto& u : store_.list_users()) {
            users.push_back({{"user", u.user},
                             {"created_at", u.created_at},
                             {"last_used_at", u.last_used_at},
                             {"documents", versions_value(store_.document_versions(u.user))}});
        }
        return {{{"ok", true},
                 {"users", users},
                 {"count", users.size()},
                 {"limit", settings_.user_limit}},
                {}};
    }
    if (cmd == "users-show") {
        auto row = store_.find_user(user);
        if (!row) return {error_reply(Errc::not_found, "no user '" + user + "' on the server"), {}};
        Value docs = Value::array();
        for (const auto& [c, v] : store_.document_versions(user)) {
            (void)v;
            if (auto doc = store_.load_document({user, c})) docs.push_back(document_to_value(*doc));
        }
        return {{{"ok", true},
                 {"user", user},
                 {"created_at", row->created_at},
                 {"last_used_at", row->last_used_at},
                 {"documents", docs}},
                {}};
    }
    if (cmd == "users-delete") {
        std::optional<Category> category;
        if (request.contains("category") && request["category"].is_string()) {
            category = category_from_name(request["category"].get<std::string>());
            if (!category) return {error_reply(Errc::unknown_category, "unknown category"), {}};
        }
        return delete_user_data(user, category);
    }
    if (cmd == "machines-remove") return remove_machine(request.value("device_id", ""));
    if (cmd == "export") {
        Value docs = Value::array();
        store_.for_each_document([&](const Document& d) {
            if (user.empty() || d.user == user) docs.push_back(document_to_value(d));
        });
        if (!user.empty() && docs.empty() && !store_.find_user(user)) {
            return {error_reply(Errc::not_found, "no user '" + user + "' on the server"), {}};
        }
        return {{{"ok", true},
                 {"export",
                  {{"schema", "pds.export/1"},
                   {"source", "server:" + settings_.server_id},
                   {"exported_at", now_ms()},
                   {"documents", docs}}}},
                {}};
    }
    if (cmd == "import") return import_documents(request.value("documents", Value::array()));
    return {error_reply(Errc::invalid_argument, "unknown command '" + cmd + "'"), {}};
}

ServerCore::AdminResult ServerCore::users_page(const Value& request) {
    // {"prefix": "al", "after": "alice", "limit": 50}: one page, and how many match.
    const Value& limit_v = request["limit"];
    // Any JSON integer: a parsed "50" is unsigned, a 50 built in C++ is signed.
    if (!limit_v.is_number_integer() || limit_v.get<int64_t>() < 1 ||
        limit_v.get<int64_t>() > static_cast<int64_t>(tuning::web::kUsersPageMax)) {
        return {error_reply(Errc::invalid_argument, "'limit' must be a number from 1 to " +
                                                        std::to_string(tuning::web::kUsersPageMax)),
                {}};
    }
    auto text = [&](const char* key) -> std::optional<std::string> {
        if (!request.contains(key)) return std::string();
        if (!request[key].is_string()) return std::nullopt;
        return request[key].get<std::string>();
    };
    auto prefix = text("prefix");
    auto after = text("after");
    if (!prefix || !after)
        return {error_reply(Errc::invalid_argument, "'prefix' and 'after' must be strings"), {}};
    auto limit = static_cast<std::size_t>(limit_v.get<uint64_t>());
    // One row more than asked tells whether another page follows.
    auto rows = store_.list_users_page(*prefix, *after, limit + 1);
    bool more = rows.size() > limit;
    if (more) rows.pop_back();
    Value users = Value::array();
    for (const auto& u : rows) {
        users.push_back({{"user", u.user},
                         {"created_at", u.created_at},
                         {"last_used_at", u.last_used_at},
                         {"documents", versions_value(store_.document_versions(u.user))}});
    }
    Value answer = {{"ok", true},
                    {"users", users},
                    {"matching", store_.count_users_with_prefix(*prefix)},
                    {"count", store_.count_users()},
                    {"limit", settings_.user_limit},
                    {"next_after", more ? Value(rows.back().user) : Value(nullptr)}};
    return {answer, {}};
}

ServerCore::AdminResult ServerCore::delete_user_data(const std::string& user,
                                                     std::optional<Category> category) {
    if (auto st = validate_user_id(user); !st)
        return {error_reply(st.code(), st.error().message), {}};
    if (!store_.find_user(user))
        return {error_reply(Errc::not_found, "no user '" + user + "' on the server"), {}};
    Batch b;
    std::size_t removed = 0;
    auto out = transact(b, [&] {
        if (!category) {
            removed = store_.document_versions(user).size();
            evict_user(user, b);  // rows, retained topics and every device's cached copy
            return;
        }
        DocKey key{user, *category};
        if (store_.load_document(key)) {
            b.docs[key] = std::nullopt;
            b.encodings.erase(key);
            b.deleted.insert(key);
            removed = 1;
        }
    });
    if (!b.failed.empty()) return {error_reply(Errc::storage, b.failed), {}};
    spdlog::info("user={} deleted by an administrator ({})", user,
                 category ? std::string(category_name(*category)) : std::string("all categories"));
    return {{{"ok", true}, {"user", user}, {"documents_deleted", removed}}, std::move(out)};
}

ServerCore::AdminResult ServerCore::remove_machine(const std::string& device_id) {
    auto it = devices_.find(device_id);
    if (it == devices_.end() || it->second.removed) {
        return {error_reply(Errc::not_found, "no machine '" + device_id + "' in the fleet"), {}};
    }
    Batch b;
    auto out = transact(b, [&] {
        DeviceRow row = it->second;
        row.removed = true;  // its slot is free now; if it comes back it is refused
        b.devices[device_id] = row;
        sessions_.close_device(device_id, b.session_lines);
        b.status_changed = true;
    });
    if (!b.failed.empty()) return {error_reply(Errc::storage, b.failed), {}};
    online_.erase(device_id);
    out.push_back(status_message());
    spdlog::info("device={} removed from the fleet by an administrator", device_id);
    return {{{"ok", true}, {"device_id", device_id}}, std::move(out)};
}

ServerCore::AdminResult ServerCore::import_documents(const Value& documents) {
    if (!documents.is_array())
        return {error_reply(Errc::invalid_argument, "'documents' must be an array"), {}};
    std::vector<Document> docs;
    for (const auto& v : documents) {
        auto d = document_from_value(v);
        if (!d)
            return {error_reply(d.code(), "document " + std::to_string(docs.size() + 1) + ": " +
                                              d.error().message),
                    {}};
        docs.push_back(std::move(d).value());
    }
    Batch b;
    auto out = transact(b, [&] {
        for (auto& d : docs) {
            if (!settings_.categories.contains(d.category)) continue;
            if (!d.user.empty() && !store_.find_user(d.user)) {
                if (auto st = register_user(d.user, b); !st)
                    throw std::runtime_error(st.error().message);
            }
            Document* current = document(d.key(), b);
            // The imported content replaces the server's; versions only move forward so
            // every device takes it as newer.
            uint64_t version = std::max(d.version, current ? current->version + 1 : uint64_t{1});
            d.version = version;
            d.updated_at = now_ms();
            for (auto& e : d.entries) e.rev = std::min(e.rev ? e.rev : version, version);
            b.docs[d.key()] = d;
            b.encodings.erase(d.key());
            b.dirty.insert(d.key());
            b.deleted.erase(d.key());
        }
    });
    if (!b.failed.empty()) return {error_reply(Errc::storage, b.failed), {}};
    spdlog::info("import: {} documents", b.dirty.size());
    return {{{"ok", true}, {"documents_imported", b.dirty.size()}}, std::move(out)};
}

}  // namespace pdsync::server
