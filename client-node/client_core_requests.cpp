// The client core's control requests (docs/control-protocol.md): status, login, logout,
// show, edit, sync, export, import. Each answers now, or registers a waiter the core
// answers later (a login waiting for the server, an edit waiting for its ack).
#include <spdlog/spdlog.h>

#include "client-node/client_core.hpp"
#include "client-node/client_view.hpp"
#include "shared/document_bytes.hpp"
#include "shared/reply.hpp"
#include "shared/text.hpp"
#include "shared/user_id.hpp"

namespace pdsync::client {

void ClientCore::request(RequestId id, const Value& body) {
    std::optional<Value> now;
    if (!body.is_object() || !body.contains("cmd") || !body["cmd"].is_string()) {
        now = error_reply(Errc::invalid_argument, "request needs a string 'cmd'");
    } else {
        const std::string cmd = body["cmd"].get<std::string>();
        if (cmd == "status") {
            now = cmd_status();
        } else if (cmd == "login") {
            now = cmd_login(id, body);
        } else if (cmd == "logout") {
            now = cmd_logout();
        } else if (cmd == "show") {
            now = cmd_show(body);
        } else if (cmd == "edit") {
            now = cmd_edit(id, body);
        } else if (cmd == "sync") {
            now = cmd_sync(body);
        } else if (cmd == "export") {
            now = cmd_export();
        } else if (cmd == "import") {
            now = cmd_import(body);
        } else {
            now = error_reply(Errc::invalid_argument, "unknown command '" + cmd + "'");
        }
    }
    if (now) answer(id, std::move(*now));
}

// Unacknowledged change sets, plus the local documents a first merge has yet to register.
uint64_t ClientCore::pending_changes() {
    uint64_t n = store_.outbox_size();
    if (merging_) {
        for (const auto& key : store_.document_keys(Origin::local))
            n += syncs_.contains(key.category) ? 1 : 0;
    }
    return n;
}

Value ClientCore::cmd_status() {
    Value v = {{"ok", true},
               {"device_id", settings_.device_id},
               {"product", settings_.product},
               {"firmware", settings_.firmware},
               {"connected", connected_},
               {"joined", joined_},
               {"state", join_state_name(join_state_)},
               {"syncs", syncs_.names()},
               {"supported", settings_.supported.names()},
               {"pending", pending_changes()},
               {"last_error", last_error_},
               {"sync", sync_enabled_},

               {"join_attempts", join_attempts_},
               {"join_retry_ms", static_cast<int64_t>(hello_backoff_.count())},
               {"server_online", server_status_.value("server_online", false)},
               {"user", login_ ? login_->user : ""},
               {"ready", login_ && login_->ready}};
    if (login_ && login_->ready) v["login_source"] = login_->source;
    return v;
}

std::optional<Value> ClientCore::cmd_login(RequestId id, const Value& body) {
    std::string user = body.value("user", "");
    if (auto st = validate_user_id(user); !st) return error_reply(st.code(), st.error().message);
    const std::string why_not = refusal();
    if (login_ && login_->user == user) {
        // The user logs in again: that is a use, which moves them in the server's
        // least-recently-used order. Offline, the server learns of it at the next join,
        // which announces the logged-in user.
        if (why_not.empty()) send_login_event(user);
        if (login_->ready) {
            Value again = login_answer(login_->source == "cache" ? why_not : "");
            again["again"] = true;
            again["use"] = why_not.empty() ? "sent" : "at the next join";
            return again;
        }
    } else {
        if (login_) cmd_logout();
        LoginState ls;
        ls.user = user;
        ls.started = now_;
        ls.deadline = now_ + tuning::client::kLoginServerWait;
        login_ = std::move(ls);
        // With the server there, the broker sends the user's documents only after the
        // server's grant, which its login reply follows (subscribe_user).
        subscribe_user(user, /*granted=*/!why_not.empty());
        if (why_not.empty()) {
            send_login_event(user);
        } else {
            // Offline, refused, or no server online: the cached documents are all there
            // is, and waiting would not change that. The subscription stays, so the
            // server's documents still arrive when it comes.
            finish_login("cache");
        }
        if (login_->ready) return login_answer(why_not);
    }
    int64_t wait_ms = body.value("wait_ms", int64_t{10000});
    login_waiters_.push_back({id, now_ + std::chrono::milliseconds(wait_ms)});
    return std::nullopt;
}

Value ClientCore::cmd_logout() {
    if (!login_) return {{"ok", true}, {"user", ""}};
    std::string user = login_->user;
    if (connected_) {
        publish(topics_.device(settings_.device_id, TopicKind::device_events),
                encode_msgpack_unchecked(event_to_value(
                    {settings_.device_id, EventKind::logout, user, env_.wall_ms(), {}})));
    }
    unsubscribe_user(user);
    announced_.erase(user);  // an edit of theirs still in the outbox announces them again
    for (auto& w : login_waiters_) answer(w.id, error_reply(Errc::busy, "logged out before ready"));
    login_waiters_.clear();
    login_.reset();
    store_.set_setting("current_user", "");
    emit({{"event", "logout"}, {"user", user}});
    return {{"ok", true}, {"user", user}};
}

Document ClientCore::view_of(const DocKey& key) {
    Document base;
    base.user = key.user;
    base.category = key.category;
    if (auto sd = store_.load(key)) base = sd->doc;
    return rebase(std::move(base), store_.outbox_for(key));
}

// The view restricted to `ids`: what an edit needs of the entries it names (whether they
// exist, their rev), without decoding a whole address book for a one-entry edit. Pending
// edits replay as in view_of: apply_ops decides each entry's rev and tombstone from that
// entry and its own ops alone, so the entries kept come out as in the whole view.
Document ClientCore::view_of_entries(const DocKey& key, const std::set<std::string>& ids) {
    auto bytes = store_.load_encoded(key);
    if (!bytes) return view_of(key);  // none, or a document only this device holds
    auto split = split_document(*bytes);
    if (!split) return view_of(key);
    Document base;
    base.user = key.user;
    base.category = key.category;
    auto head = head_value(*split);
    if (!head) return view_of(key);
    base.version = head->value("version", uint64_t{0});
    for (const auto& e : split->entries) {
        if (!ids.count(std::string(e.id))) continue;
        auto entry = decode_entry(e.bytes);
        if (!entry) return view_of(key);
        base.entries.push_back(std::move(entry).value());
    }
    return rebase(std::move(base), store_.outbox_for(key));
}

Value ClientCore::cmd_show(const Value& body) {
    std::string user = body.value("user", login_ ? login_->user : "");
    std::vector<Category> cats;
    if (body.contains("category") && body["category"].is_string()) {
        auto c = category_from_name(body["category"].get<std::string>());
        if (!c)
            return error_reply(Errc::unknown_category,
                               "unknown category '" + body["category"].get<std::string>() + "'");
        cats.push_back(*c);
    } else {
        for (auto c : kAllCategories) {
            if (settings_.supported.contains(c)) cats.push_back(c);
        }
    }
    Value docs = Value::array();
    for (auto c : cats) {
        DocKey key{is_personal(c) ? user : "", c};
        if (is_personal(c) && user.empty()) continue;
        std::size_t pending = 0;
        for (const auto& row : store_.outbox_for(key)) pending += row.acked ? 0 : 1;
        // A personal document's secrets open with its user's keys; older ones (and shared
        // documents') with the fleet key.
        std::vector<const FleetKey*> keys;
        if (is_personal(c)) keys = keys_.opening_keys(user);
        if (settings_.fleet_key) keys.push_back(&*settings_.fleet_key);
        docs.push_back(view_to_json(view_of(key), store_.device_items(key), pending, keys));
    }
    return {{"ok", true}, {"user", user}, {"documents", std::move(docs)}};
}

std::optional<Value> ClientCore::cmd_edit(RequestId request, const Value& body) {
    std::string cat_name = body.value("category", "");
    auto c = category_from_name(cat_name);
    if (!c) return error_reply(Errc::unknown_category, "unknown category '" + cat_name + "'");
    if (!settings_.supported.contains(*c)) {
        return error_reply(Errc::category_disabled, "this device does not support " + cat_name);
    }
    std::string user = is_personal(*c) ? body.value("user", login_ ? login_->user : "") : "";
    if (is_personal(*c)) {
        if (auto st = validate_user_id(user); !st)
            return error_reply(st.code(), "no user: log in first or pass 'user'");
    }
    if (!body.contains("ops") || !body["ops"].is_array() || body["ops"].empty()) {
        return error_reply(Errc::invalid_argument, "edit needs a non-empty 'ops' array");
    }
    DocKey key{user, *c};
    std::set<std::string> named;
    for (const auto& o : body["ops"]) {
        if (o.is_object() && o.contains("id") && o["id"].is_string())
            named.insert(o["id"].get<std::string>());
    }
    Document view = view_of_entries(key, named);
    std::vector<ChangeOp> shared_ops;
    std::vector<std::pair<std::string, Value>> device_ops;  // kind, op
    Value ids = Value::array();
    for (const auto& o : body["ops"]) {
        if (!o.is_object()) return error_reply(Errc::invalid_argument, "each op must be an object");
        std::string kind = o.value("op", "");
        std::string id = o.value("id", "");
        bool device = o.value("range", "shared") == "device";
        if (kind == "add" && id.empty()) id = env_.random_hex(8);
        if (auto st = validate_entry_id(id); !st) return error_reply(st.code(), st.error().message);
        ids.push_back(id);
        if (device) {
            Value op = o;
            op["id"] = id;
            device_ops.emplace_back(kind, std::move(op));
            continue;
        }
        ChangeOp op;
        op.id = id;
        const Entry* existing = view.find(id);
        op.base_rev = existing ? existing->rev : 0;
        if (o.contains("after") && o["after"].is_string()) op.after = o["after"].get<std::string>();
        if (kind == "add" || kind == "update" || kind == "put") {
            op.kind = OpKind::put;
            op.fields = o.value("fields", Value::object());
            if (!op.fields.is_object())
                return error_reply(Errc::invalid_argument, "fields must be an object");
            // Secrets never leave the device in clear: sealed, or refused.
            bool has_secret = false;
            for (auto it = op.fields.begin(); it != op.fields.end(); ++it) {
                has_secret = has_secret || (is_secret_field(it.key()) && !is_sealed(it.value()));
            }
            if (has_secret) {
                const FleetKey* sealing = sealing_key(key);
                if (!sealing) return secret_refusal(key);
                op.fields = seal_secrets(op.fields, *sealing);
            }

            if (kind == "update" && (!existing || existing->deleted)) {
                return error_reply(Errc::not_found, "no entry '" + id + "' to update");
            }
        } else if (kind == "delete") {
            op.kind = OpKind::remove;
            if (!existing || existing->deleted)
                return error_reply(Errc::not_found, "no entry '" + id + "' to delete");
        } else if (kind == "move") {
            op.kind = OpKind::move;
            if (!op.after)
                return error_reply(Errc::invalid_argument, "move needs 'after' (\"\" for first)");
            if (!existing || existing->deleted)
                return error_reply(Errc::not_found, "no entry '" + id + "' to move");
        } else {
            return error_reply(Errc::invalid_argument,
                               "unknown op '" + kind + "' (add, update, delete, move)");
        }
        shared_ops.push_back(std::move(op));
    }
    if (shared_ops.size() > tuning::client::kMaxOpsPerChangeSet) {
        return error_reply(
            Errc::too_large,
            "at most " + std::to_string(tuning::client::kMaxOpsPerChangeSet) + " ops per edit");
    }
    uint64_t seq = 0;
    std::string state = "local";
    {
        auto txn = store_.begin();
        for (auto& [kind, op] : device_ops) {
            std::string id = op["id"].get<std::string>();
            std::optional<std::string> after;
            if (op.contains("after") && op["after"].is_string())
                after = op["after"].get<std::string>();
            if (kind == "delete") {
                store_.remove_device_item(key, id);
            } else {
                Value fields = op.value("fields", Value::object());
                if (kind == "move") {
                    auto items = store_.device_items(key);
                    for (auto& it : items) {
                        if (it.id == id) fields = it.fields;
                    }
                }
                store_.put_device_item(key, DeviceItem{id, fields}, after);
            }
        }
        if (!shared_ops.empty()) {
            if (!ever_joined_ || (joined_ && !synced(*c))) {
                // Not synchronized (yet): the data stays on this device; data from before
                // the first join is registered with the server at first merge.
                auto sd = store_.load(key);
                Document doc = sd ? sd->doc : Document{user, *c, 0, 0, {}, Value::object()};
                apply_ops(doc, shared_ops, doc.version + 1);
                store_.save(doc, sd ? sd->origin : Origin::local);
            } else {
                OutboxRow row;
                row.user = user;
                row.category = *c;
                row.created_at = env_.wall_ms();
                row.ops = std::move(shared_ops);
                seq = store_.append_outbox(std::move(row));
                state = "pending";
            }
        }
        txn->commit();
    }
    emit({{"event", "document"},
          {"user", user},
          {"category", cat_name},
          {"origin", "local"},
          {"seq", seq}});
    if (seq == 0) return Value{{"ok", true}, {"state", state}, {"ids", ids}};
    send_outbox();
    int64_t wait_ms = body.value("wait_ms", int64_t{5000});
    Value queued = {{"ok", true}, {"state", "pending"}, {"seq", seq}, {"ids", ids}};
    if (wait_ms <= 0) return queued;
    // An ack can only come over a connection to a server that takes this device: without
    // one the edit is answered at once, not after the caller's whole wait.
    if (!connected_ || join_state_ == JoinState::refused) {
        queued["waited_ms"] = 0;
        queued["message"] = !connected_ ? "offline: saved on this device; sent when it reconnects"
                                        : "the server refused this device (" + refused_because_ +
                                              "): kept on this device";
        return queued;
    }
    edit_waiters_[seq] = Waiter{request,
                                now_ + std::chrono::milliseconds(wait_ms),
                                {{"ids", ids}},
                                std::chrono::milliseconds(wait_ms)};
    return std::nullopt;
}

// ---- Enabling, export and import ------------------------------------------------------

Value ClientCore::cmd_sync(const Value& body) {
    bool enable = body.value("enabled", true);
    if (enable == sync_enabled_) return {{"ok", true}, {"sync", sync_enabled_}};
    store_.set_setting("sync_enabled", enable ? "1" : "0");
    sync_enabled_ = enable;
    if (enable) {
        join_state_ = JoinState::connecting;
        out_.link.emplace_back(StartLink{});
    } else {
        out_.link.emplace_back(StopLink{});
        lost();
        join_state_ = JoinState::sync_off;
    }
    spdlog::info("device={} synchronization {}", settings_.device_id,
                 enable ? "enabled" : "disabled");
    return {{"ok", true}, {"sync", sync_enabled_}};
}

// Export and import are refused while synchronization is active (as on the reference
// product): the outbox and the server would otherwise race the file.
Value ClientCore::cmd_export() {
    if (sync_enabled_) {
        return error_reply(
            Errc::busy,
            "synchronization is active on this device; turn it off first (pdsync device sync off)");
    }
    Value docs = Value::array();
    for (auto& sd : store_.documents()) {
        Document view = rebase(sd.doc, store_.outbox_for(sd.doc.key()));
        docs.push_back(document_to_value(view));
    }
    Value items = Value::array();
    for (const auto& [key, item] : store_.all_device_items()) {
        items.push_back({{"user", key.user},
                         {"category", std::string(category_name(key.category))},
                         {"id", item.id},
                         {"fields", item.fields}});
    }
    return {{"ok", true},
            {"export",
             {{"schema", "pds.export/1"},
              {"source", "device:" + settings_.device_id},
              {"exported_at", env_.wall_ms()},
              {"documents", docs},
              {"device_items", items}}}};
}

Value ClientCore::cmd_import(const Value& body) {
    if (sync_enabled_) {
        return error_reply(
            Errc::busy,
            "synchronization is active on this device; turn it off first (pdsync device sync off)");
    }
    const Value& data = body.value("export", Value::object());
    if (data.value("schema", "") != "pds.export/1")
        return error_reply(Errc::bad_schema, "not a pds.export/1 file");
    std::vector<Document> docs;
    for (const auto& v : data.value("documents", Value::array())) {
        auto d = document_from_value(v);
        if (!d)
            return error_reply(
                d.code(), "document " + std::to_string(docs.size() + 1) + ": " + d.error().message);
        if (!settings_.supported.contains(d->category)) continue;
        docs.push_back(std::move(d).value());
    }
    auto txn = store_.begin();
    for (auto& d : docs) {
        // Imported data is this device's own until a server registers it (first merge).
        d.version = 0;
        store_.save(d, Origin::local);
    }
    std::size_t items = 0;
    for (const auto& v : data.value("device_items", Value::array())) {
        auto c = category_from_name(v.value("category", ""));
        if (!c || !v.contains("id") || !v["id"].is_string()) continue;
        store_.put_device_item(
            DocKey{v.value("user", ""), *c},
            DeviceItem{v["id"].get<std::string>(), v.value("fields", Value::object())},
            std::nullopt);
        ++items;
    }
    txn->commit();
    spdlog::info("device={} imported {} documents and {} device items", settings_.device_id,
                 docs.size(), items);
    return {{"ok", true}, {"documents_imported", docs.size()}, {"device_items_imported", items}};
}

// The key a new secret of `key`'s document is sealed with: its user's (given with a login
// the server accepted on this device), or for a shared document, or for data from before
// this device ever joined (registered at its first merge), the fleet key.
const FleetKey* ClientCore::sealing_key(const DocKey& key) const {
    if (is_personal(key.category)) {
        if (const UserKey* k = keys_.sealing_key(key.user)) return k;
        if (ever_joined_) return nullptr;
    }
    return settings_.fleet_key ? &*settings_.fleet_key : nullptr;
}

Value ClientCore::secret_refusal(const DocKey& key) const {
    if (is_personal(key.category) && ever_joined_)
        return error_reply(Errc::no_session,
                           "no key for user " + quoted_text(key.user) +
                               " on this device yet: it comes with the server's answer to "
                               "their login here, so log in while the server is reachable");
    return error_reply(Errc::invalid_argument,
                       "this device has no fleet key (--fleet-key-file): it cannot store a "
                       "password field");
}

}  // namespace pdsync::client
