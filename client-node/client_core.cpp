// The client's rules: connection and join, first merge, outbox, inbound messages, login
// and timers. Control requests are in client_core_requests.cpp.
#include "client-node/client_core.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "client-node/client_view.hpp"
#include "shared/document_bytes.hpp"
#include "shared/reply.hpp"
#include "shared/text.hpp"

namespace pdsync::client {

const char* join_state_name(JoinState s) {
    switch (s) {
        case JoinState::sync_off:
            return "sync off";
        case JoinState::connecting:
            return "connecting";
        case JoinState::joining:
            return "joining";
        case JoinState::joined:
            return "joined";
        case JoinState::refused:
            return "refused";
        case JoinState::offline:
            return "offline";
    }
    return "?";
}

ClientCore::ClientCore(ClientStore& store, Topics topics, ClientSettings settings, CoreEnv env,
                       std::size_t brokers, TimePoint now)
    : store_(store),
      keys_(store),
      topics_(std::move(topics)),
      settings_(std::move(settings)),
      env_(std::move(env)),
      brokers_(brokers),
      now_(now),
      hello_backoff_(tuning::client::kJoinRetryMin) {
    epoch_ = store_.setting("epoch").value_or("");
    if (epoch_.empty()) {
        epoch_ = env_.random_hex(8);
        store_.set_setting("epoch", epoch_);
    }
    ever_joined_ = store_.setting("ever_joined").value_or("0") == "1";
    sync_enabled_ = store_.setting("sync_enabled").value_or("1") == "1";
    if (!sync_enabled_) join_state_ = JoinState::sync_off;
}

// Every entry point runs its work through here: the time is set, a failure (a store
// error) is logged and answered instead of escaping, and the output is handed over.
template <typename F>
Output ClientCore::step(TimePoint now, std::optional<RequestId> request, F&& work) {
    now_ = now;
    try {
        work();
    } catch (const std::exception& ex) {
        // A store failure must not kill the device: report it and go on.
        spdlog::error("device={} event failed: {}", settings_.device_id, ex.what());
        set_error(std::string("internal: ") + ex.what());
        if (request) answer(*request, error_reply(Errc::storage, ex.what()));
    }
    try {
        note_state();
    } catch (const std::exception&) {
    }
    return std::exchange(out_, Output{});
}

Output ClientCore::start(TimePoint now) {
    return step(now, std::nullopt, [&] {
        std::vector<std::string> filters = {
            topics_.device(settings_.device_id, TopicKind::device_inbox), topics_.server_status()};
        for (auto c : kAllCategories) {
            if (!is_personal(c) && settings_.supported.contains(c))
                filters.push_back(topics_.shared_doc(c));
        }
        out_.link.emplace_back(Subscribe{std::move(filters)});
        // A user still logged in when the daemon stopped is logged in again at start.
        if (auto user = store_.setting("current_user"); user && !user->empty()) {
            LoginState ls;
            ls.user = *user;
            ls.started = now_;
            ls.deadline = now_ + tuning::client::kLoginServerWait;
            login_ = std::move(ls);
            subscribe_user(*user, /*granted=*/false);
        }
        if (sync_enabled_) out_.link.emplace_back(StartLink{});
    });
}

Output ClientCore::on_message(const net::Received& m, TimePoint now) {
    return step(now, std::nullopt, [&] { message(m); });
}
Output ClientCore::on_connected(TimePoint now) {
    return step(now, std::nullopt, [&] { connected(); });
}
Output ClientCore::on_lost(TimePoint now) {
    return step(now, std::nullopt, [&] { lost(); });
}
Output ClientCore::on_request(RequestId id, const Value& body, TimePoint now) {
    return step(now, id, [&] { request(id, body); });
}
Output ClientCore::on_tick(TimePoint now) {
    return step(now, std::nullopt, [&] { tick(); });
}

Output ClientCore::on_stop() {
    for (auto& w : login_waiters_) answer(w.id, error_reply(Errc::busy, "the daemon is stopping"));
    login_waiters_.clear();
    for (auto& [seq, w] : edit_waiters_)
        answer(w.id, error_reply(Errc::busy, "the daemon is stopping"));
    edit_waiters_.clear();
    return std::exchange(out_, Output{});
}

Publish ClientCore::presence(bool online, bool stamped) const {
    return {topics_.device(settings_.device_id, TopicKind::device_presence),
            encode_msgpack_unchecked(
                presence_to_value({settings_.device_id, online, stamped ? env_.wall_ms() : 0})),
            true};
}

void ClientCore::answer(RequestId id, Value body) {
    out_.answers.push_back({id, std::move(body)});
}

void ClientCore::publish(std::string topic, std::string payload, bool retained) {
    out_.link.emplace_back(Publish{std::move(topic), std::move(payload), retained});
}

void ClientCore::emit(Value event) {
    event["at"] = env_.wall_ms();
    out_.events.push_back(std::move(event));
}

void ClientCore::note_state() {
    Value state = {{"event", "state"},
                   {"state", join_state_name(join_state_)},
                   {"connected", connected_},
                   {"sync", sync_enabled_},
                   {"last_error", last_error_}};
    if (state == shown_state_) return;
    shown_state_ = state;
    emit(std::move(state));
}

// ---- Connection and join -----------------------------------------------------------

void ClientCore::connected() {
    connected_ = true;
    server_status_ = Value::object();  // this broker's status comes with the subscription
    server_absent_since_ = now_;
    joined_ = false;
    join_state_ = JoinState::joining;
    inflight_.clear();
    out_.link.emplace_back(presence(true));
    hello_backoff_ = tuning::client::kJoinRetryMin;
    send_hello();
}

void ClientCore::lost() {
    connected_ = false;
    server_absent_since_.reset();
    joined_ = false;
    join_state_ = sync_enabled_ ? JoinState::offline : JoinState::sync_off;
    refused_because_.clear();
    inflight_.clear();
    // Nothing will be acknowledged before the device is back: whoever waits is told now,
    // and a login waiting for the server is served from the cache.
    answer_edit_waiters("offline: the connection was lost; sent when the device reconnects");
    if (login_ && !login_->ready) finish_login("cache");
}

void ClientCore::send_hello() {
    Hello h;
    h.device_id = settings_.device_id;
    h.product = settings_.product;
    h.firmware = settings_.firmware;
    h.location = settings_.location;
    h.protocol = tuning::protocol::kProtocolVersion;
    h.categories = settings_.supported;
    h.auth_digest = settings_.auth_digest;
    h.epoch = epoch_;
    h.next_seq = store_.first_unacked_seq();
    h.cached_users = store_.cached_users();
    h.box_pk = keys_.public_key();
    // Exponential back-off: a refused device asks again, but never in a tight loop.
    next_hello_ = now_ + hello_backoff_;
    hello_backoff_ =
        std::min(hello_backoff_ * 2, std::chrono::milliseconds(tuning::client::kJoinRetryMax));
    ++join_attempts_;
    publish(topics_.device(settings_.device_id, TopicKind::device_hello),
            encode_msgpack_unchecked(hello_to_value(h)));
}

// A login event opens the server's session for `user` on this device: only then does it
// take the user's change sets and let the broker deliver the user's documents here
// (docs/security.md).
void ClientCore::send_login_event(const std::string& user) {
    announced_[user] = now_;
    DeviceEvent e{settings_.device_id, EventKind::login, user, env_.wall_ms(), {}};
    // The server's copies this device holds: one the server holds newer comes back as a
    // delta of what changed since (LoginReply::deltas).
    CategorySet cats = joined_ ? syncs_ : settings_.supported;
    for (auto c : cats.intersect(CategorySet::personal()).list()) {
        auto stored = store_.version_of(DocKey{user, c});
        if (stored && stored->origin == Origin::server) e.have[c] = stored->version;
    }
    publish(topics_.device(settings_.device_id, TopicKind::device_events),
            encode_msgpack_unchecked(event_to_value(e)));
}

void ClientCore::on_join(const JoinReply& r) {
    if (!r.accepted) {
        joined_ = false;
        join_state_ = JoinState::refused;
        refused_because_ = std::string(errc_name(r.reason)) + ": " + r.message;
        set_error(refused_because_);
        spdlog::warn("device={} join refused: {} ({}); retrying in {} ms", settings_.device_id,
                     errc_name(r.reason), r.message, hello_backoff_.count());
        // Edits waiting for an ack will not get one from this server.
        answer_edit_waiters("the server refused this device (" + refused_because_ +
                            "): kept on this device");
        if (login_ && !login_->ready) finish_login("cache");
        return;
    }
    joined_ = true;
    join_state_ = JoinState::joined;
    refused_because_.clear();
    hello_backoff_ = tuning::client::kJoinRetryMin;
    CategorySet before = syncs_;

    syncs_ = r.categories.intersect(settings_.supported);
    if (login_ && before != syncs_) {
        unsubscribe_user(login_->user);
        subscribe_user(login_->user, /*granted=*/false);  // the login reply fetches (below)
    }
    last_error_.clear();
    spdlog::info("device={} joined; syncing [{}]", settings_.device_id,
                 fmt::join(syncs_.names(), ","));
    {
        auto txn = store_.begin();
        if (!ever_joined_) {
            ever_joined_ = true;
            store_.set_setting("ever_joined", "1");
        }
        // Applied by the server, but the acks were lost: their documents will arrive.
        store_.drop_unacked_upto(r.last_seq);
        txn->commit();
    }
    forget_users(r.gone_users, "no longer on the server");
    merging_ = true;
    register_local_documents();
    next_send_seq_ = 0;
    // Tell the server who is here (LRU order); for a login not yet ready this also asks
    // for the manifest it waits on. It goes before the outbox: the server takes a user's
    // change sets only from a device where that user has a session, and this connection
    // has announced nobody yet.
    announced_.clear();
    if (login_) send_login_event(login_->user);
    send_outbox();
}

// First merge: data only this device holds becomes a registration. The server keeps the
// first one it receives; if it already has the document, it answers `exists` and this
// device takes the server's copy. It goes a chunk of documents per worker pass, each chunk
// one transaction, so the device keeps answering (and sending) while it moves hundreds of
// MiB into its outbox.
void ClientCore::register_local_documents() {
    auto keys = store_.document_keys(Origin::local);
    auto txn = store_.begin();
    std::size_t n = 0;
    // One document in memory at a time: a device may hold hundreds of MiB of them.
    for (const auto& key : keys) {
        if (n == tuning::client::kFirstMergeChunk) break;
        if (!syncs_.contains(key.category)) continue;
        auto sd = store_.load(key);
        if (!sd) continue;
        OutboxRow row;
        row.user = sd->doc.user;
        row.category = sd->doc.category;
        row.registers = true;
        row.created_at = env_.wall_ms();
        for (const auto* e : sd->doc.live_entries()) {
            row.ops.push_back(ChangeOp{OpKind::put, e->id, e->fields, 0, std::nullopt});
        }
        store_.append_outbox(std::move(row));
        store_.remove(key);
        ++n;
    }
    txn->commit();
    if (n == tuning::client::kFirstMergeChunk) {
        merged_ += n;
        return;  // more in the next pass
    }
    merging_ = false;
    if (merged_ + n > 0)
        spdlog::info("device={} first merge: {} local documents registered with the server",
                     settings_.device_id, merged_ + n);
    merged_ = 0;
}

// ---- Outbox ---------------------------------------------------------------------------

// Sends unacked change sets up to the window. The link carries them out after this step;
// one it fails to send is sent again by the resend timer, or after the reconnect that
// follows a lost connection.
void ClientCore::send_outbox() {
    if (!connected_ || !joined_) return;
    const auto window = static_cast<std::size_t>(tuning::client::kOutboxWindow);
    if (inflight_.size() >= window) return;
    for (const auto& row : store_.unacked_from(next_send_seq_, window - inflight_.size())) {
        if (inflight_.count(row.seq)) continue;
        ChangeSet cs;
        cs.device_id = settings_.device_id;
        cs.epoch = epoch_;
        cs.seq = row.seq;
        cs.user = row.user;
        cs.category = row.category;
        cs.registers = row.registers;
        cs.created_at = row.created_at;
        cs.ops = row.ops;
        // An edit made offline by a user who has logged out since: its session ended when
        // the device went offline, so it is announced again first.
        // Or one whose announcement is old: the server ends an idle session.
        if (!row.user.empty() && !row.registers) {
            auto a = announced_.find(row.user);
            if (a == announced_.end() || now_ - a->second >= tuning::client::kReannounceAfter)
                send_login_event(row.user);
        }
        publish(topics_.device(settings_.device_id, TopicKind::device_changes),
                encode_msgpack_unchecked(change_set_to_value(cs)));
        inflight_[row.seq] = now_;
        next_send_seq_ = row.seq + 1;
    }
}

// Acks, one or a batch's: their bookkeeping in one transaction, then the edits waiting on
// them are answered and the outbox goes on.
void ClientCore::on_acks(const std::vector<AckReply>& acks) {
    // An ack's bookkeeping need not wait for the disk: if a power cut rolls it back, the
    // change set is sent again and the server answers it from its record of applied ones.
    auto txn = store_.begin(Durability::cache);
    std::vector<std::pair<uint64_t, Value>> answers;
    for (const auto& a : acks) {
        if (auto answer = apply_ack(a)) answers.emplace_back(a.seq, std::move(*answer));
    }
    txn->commit();
    for (auto& [seq, body] : answers) {
        emit({{"event", "edit"},
              {"seq", seq},
              {"state", body.value("ok", false) ? "acked" : "refused"},
              {"error", body.value("error", "")}});
        auto w = edit_waiters_.find(seq);
        if (w == edit_waiters_.end()) continue;
        body.update(w->second.extra);
        answer(w->second.id, std::move(body));
        edit_waiters_.erase(w);
    }
    send_outbox();
}

// What one ack changes in the store and in the sender. Answers what an edit waiting on it
// is told, when the ack settles that edit.
std::optional<Value> ClientCore::apply_ack(const AckReply& r) {
    if (r.seq == 0) {
        set_error(std::string(errc_name(r.reason)) + ": " + r.message);
        spdlog::warn("device={} server rejected a message: {} ({})", settings_.device_id,
                     errc_name(r.reason), r.message);
        return std::nullopt;
    }
    inflight_.erase(r.seq);
    if (r.ok) {
        if (!r.user.empty() && (!login_ || login_->user != r.user)) {
            // Nobody here looks at that user's documents: the next login fetches them anyway.
            store_.drop_outbox(r.seq);
        } else {
            store_.mark_acked(r.seq, r.version);
            // The server publishes the document before the ack, so it is usually here already.
            DocKey key{r.user, r.category};
            if (auto stored = store_.version_of(key); stored && stored->version >= r.version)
                store_.drop_acked_upto(key, stored->version);
        }
        return Value{{"ok", true},
                     {"state", "acked"},
                     {"seq", r.seq},
                     {"version", r.version},
                     {"conflicts", r.conflicts}};
    }
    if (r.reason == Errc::out_of_order) {
        // The server expects an earlier change set: send again from there.
        next_send_seq_ = r.expected_seq;
        std::erase_if(inflight_, [&](const auto& kv) { return kv.first >= r.expected_seq; });
        return std::nullopt;
    }
    if (r.reason == Errc::storage || r.reason == Errc::busy || r.reason == Errc::timeout) {
        // Transient: keep the row; the resend timer sends it again.
        inflight_[r.seq] = now_;
        set_error(std::string(errc_name(r.reason)) + ": " + r.message);
        spdlog::warn("device={} change set {} deferred by the server: {}", settings_.device_id,
                     r.seq, r.message);
        return std::nullopt;
    }
    if (r.reason == Errc::not_joined) {
        joined_ = false;
        join_state_ = JoinState::joining;
        send_hello();
        return std::nullopt;
    }
    // Final: the server will never take this change set.
    store_.drop_outbox(r.seq);
    if (r.reason == Errc::exists) {
        // A first merge's expected outcome: the server already held this document.
        spdlog::info(
            "device={} user={} first merge: the server already holds {}; its copy is "
            "kept (version {})",
            settings_.device_id, r.user, category_name(r.category), r.version);
    } else {
        set_error(std::string(errc_name(r.reason)) + ": " + r.message);
        spdlog::warn("device={} user={} change set {} refused: {} ({})", settings_.device_id,
                     r.user, r.seq, errc_name(r.reason), r.message);
    }
    Value body = error_reply(r.reason, r.message);
    body["seq"] = r.seq;
    return body;
}

// ---- Inbound --------------------------------------------------------------------------

void ClientCore::message(const net::Received& m) {
    auto t = topics_.parse(m.topic);
    if (!t) {
        spdlog::warn("device={} ignored message on '{}': {}", settings_.device_id, m.topic,
                     t.error().message);
        return;
    }
    switch (t->kind) {
        case TopicKind::device_inbox: {
            if (t->device_id != settings_.device_id) return;
            auto v = decode_msgpack(m.payload);
            auto r = v ? reply_from_value(*v) : Result<Reply>(v.error());
            if (!r) {
                spdlog::warn("device={} bad inbox message: {}", settings_.device_id,
                             r.error().message);
                return;
            }
            return on_reply(*r);
        }
        case TopicKind::user_doc:
        case TopicKind::shared_doc:
            return on_document(*t, m.payload);
        case TopicKind::server_status: {
            auto v = decode_msgpack(m.payload);
            if (!v || !v->is_object()) return;
            std::string before = server_status_.value("boot_id", "");
            server_status_ = *v;
            std::string now = server_status_.value("boot_id", "");
            if (!now.empty() && now != before && !before.empty()) {
                // A new server process: whatever it had not acked may be lost with the old
                // one, so ask again now instead of waiting for the resend timer.
                spdlog::info("device={} server restarted; re-joining", settings_.device_id);
                joined_ = false;
                hello_backoff_ = tuning::client::kJoinRetryMin;
                send_hello();
            }
            return;
        }

        default:
            return;
    }
}

void ClientCore::on_reply(const Reply& r) {
    if (auto* j = std::get_if<JoinReply>(&r)) return on_join(*j);
    if (auto* a = std::get_if<AckReply>(&r)) return on_acks({*a});
    if (auto* batch = std::get_if<AckBatch>(&r)) return on_acks(batch->acks);
    if (auto* l = std::get_if<LoginReply>(&r)) return on_login_reply(*l);
    if (auto* e = std::get_if<EvictNotice>(&r))
        return forget_users(e->users, "evicted by the server");
}

void ClientCore::on_document(const ParsedTopic& t, const std::string& payload) {
    DocKey key{t.kind == TopicKind::user_doc ? t.user : "", t.category};
    if (!settings_.supported.contains(key.category)) return;
    const bool watched = key.user.empty() || (login_ && login_->ready && key.user == login_->user);
    if (payload.empty()) {
        // The server deleted the document (administrator, or user eviction).
        store_.remove(key);
        if (login_ && key.user == login_->user) login_->buffered.erase(key.category);
        if (watched)
            emit({{"event", "document"},
                  {"user", key.user},
                  {"category", std::string(category_name(key.category))},
                  {"deleted", true}});
        return;
    }
    const bool logging_in = login_ && !login_->ready && key.user == login_->user;
    if (!key.user.empty() && !logging_in && (!login_ || key.user != login_->user))
        return;  // not ours any more
    // Checked before it is kept; the entries that are byte for byte those of the copy
    // already held were checked when that copy came, so only the changed ones are decoded.
    auto cached = store_.load_encoded(key);
    auto doc = check_document_bytes(payload, cached ? std::string_view(*cached) : "");
    if (!doc) {
        spdlog::warn("device={} bad document on {}: {}", settings_.device_id,
                     topics_.user_doc(key.user, key.category), quoted_text(doc.error().message));
        return;
    }
    if (doc->user != key.user || doc->category != key.category) {
        spdlog::warn("device={} document does not match its topic; ignored", settings_.device_id);
        return;
    }
    if (logging_in) {
        login_->buffered[key.category] = {doc->version, payload};
        check_login_ready();
        return;
    }
    auto current = store_.version_of(key);
    if (current && current->origin == Origin::server && current->version > doc->version)
        return;  // stale
    auto txn = store_.begin(Durability::cache);
    store_.save_encoded(key, doc->version, Origin::server, payload);
    store_.drop_acked_upto(key, doc->version);
    txn->commit();
    if (watched && !(current && current->version == doc->version))
        emit({{"event", "document"},
              {"user", key.user},
              {"category", std::string(category_name(key.category))},
              {"version", doc->version},
              {"origin", "server"}});
}

// ---- Login ----------------------------------------------------------------------------

// One topic per synchronized category, not users/{uid}/+: a device whose firmware lacks a
// category must not even receive it (docs/protocol.md §5.8).
//
// A category the cache holds a server copy of is subscribed without its retained message
// (warm login: no document bytes travel); the manifest then says whether that copy is
// current, and a stale one is fetched (fetch_stale). A category not cached takes the
// retained copy at once, so a device that knows nothing gets the whole current document
// from the retained topic (docs/protocol.md §5.4).
//
// `granted` is false while the server has not answered the login yet: the broker delivers a
// user's documents only once the server granted the session, and a retained copy refused at
// subscribe time is not sent again. So every category is subscribed without it, and the
// manifest's answer fetches whatever is newer than the cache (fetch_stale).
void ClientCore::subscribe_user(const std::string& user, bool granted) {
    CategorySet cats = joined_ ? syncs_ : settings_.supported;
    std::vector<std::string> fetch;
    std::vector<std::string> cached;
    for (auto c : cats.intersect(CategorySet::personal()).list()) {
        auto stored = store_.version_of(DocKey{user, c});
        bool warm = !granted || (stored && stored->origin == Origin::server);
        (warm ? cached : fetch).push_back(topics_.user_doc(user, c));
        if (warm && login_ && login_->user == user) login_->without_retained.insert(c);
    }
    if (!fetch.empty()) out_.link.emplace_back(Subscribe{std::move(fetch), true});
    if (!cached.empty()) out_.link.emplace_back(Subscribe{std::move(cached), false});
}

// Subscribes again, this time for the retained copy (Retain Handling 0 sends it for an
// existing subscription too), to the categories the manifest shows newer than the cache.
void ClientCore::fetch_stale(const std::vector<Category>& stale) {
    std::vector<std::string> filters;
    for (auto c : stale) {
        if (login_->without_retained.erase(c)) filters.push_back(topics_.user_doc(login_->user, c));
    }
    if (!filters.empty()) out_.link.emplace_back(Subscribe{std::move(filters), true});
}

void ClientCore::unsubscribe_user(const std::string& user) {
    std::vector<std::string> filters;
    for (auto c : CategorySet::personal().list()) filters.push_back(topics_.user_doc(user, c));
    out_.link.emplace_back(Unsubscribe{std::move(filters)});
}

void ClientCore::on_login_reply(const LoginReply& r) {
    if (!login_ || r.user != login_->user) return;
    if (r.reason != Errc::ok) {
        // No session (too many new users from this device): the server takes none of this
        // user's edits and the broker sends none of their documents. The cache is all there is.
        set_error(std::string(errc_name(r.reason)) + ": " + r.message);
        spdlog::warn("device={} login of {} refused by the server: {} ({})", settings_.device_id,
                     quoted_text(r.user), errc_name(r.reason), quoted_text(r.message));
        if (!login_->ready) finish_login("cache");
        return;
    }
    if (!r.sealed_key.empty()) {
        if (auto st = keys_.accept(r.user, r.sealed_key); !st)
            spdlog::warn("device={} user={} the server's user key does not open: {}",
                         settings_.device_id, quoted_text(r.user), st.error().message);
    }
    apply_deltas(r);
    if (login_->ready) {
        // A login served from the cache (or one the server hears of again at a join): now
        // that the session is granted, fetch what the server holds newer than the cache.
        if (!login_->buffered.empty()) {
            auto txn = store_.begin(Durability::cache);
            store_buffered();
            txn->commit();
        }
        std::vector<std::string> newer;
        for (const auto& [c, version] : r.versions) {
            if (!synced(c)) continue;
            auto stored = store_.version_of(DocKey{login_->user, c});
            if (!stored || stored->origin != Origin::server || stored->version < version)
                newer.push_back(topics_.user_doc(login_->user, c));
        }
        if (!newer.empty()) out_.link.emplace_back(Subscribe{std::move(newer), true});
        return;
    }
    login_->manifest = true;
    login_->versions = r.versions;
    check_login_ready();
}

// A stale category's delta, applied to the cached copy, becomes that category's received
// document; one that does not apply is logged and the retained copy fetched instead.
void ClientCore::apply_deltas(const LoginReply& r) {
    for (const auto& [c, delta] : r.deltas) {
        if (!synced(c)) continue;
        DocKey key{login_->user, c};
        auto cached = store_.load_encoded(key);
        if (!cached) continue;
        auto bytes = apply_delta(*cached, delta, key);
        if (!bytes) {
            spdlog::warn("device={} user={} {}: {}; fetching the whole document",
                         settings_.device_id, quoted_text(login_->user), category_name(c),
                         quoted_text(bytes.error().message));
            continue;
        }
        login_->buffered[c] = {delta.version, std::move(bytes).value()};
    }
}

void ClientCore::check_login_ready() {
    if (!login_ || login_->ready || !login_->manifest) return;
    std::vector<Category> waiting;
    for (const auto& [c, version] : login_->versions) {
        if (!synced(c)) continue;
        auto b = login_->buffered.find(c);
        if (b != login_->buffered.end() && b->second.version >= version) continue;
        auto stored = store_.version_of(DocKey{login_->user, c});
        if (stored && stored->origin == Origin::server && stored->version >= version) continue;
        waiting.push_back(c);  // still waiting for this document
    }
    if (!waiting.empty()) return fetch_stale(waiting);
    finish_login("server");
}

// The documents received for this login, into the caller's transaction (a copy already
// stored at a newer version stays), and the buffer emptied.
void ClientCore::store_buffered() {
    for (auto& [c, received] : login_->buffered) {
        DocKey key{login_->user, c};
        auto current = store_.version_of(key);
        if (current && current->origin == Origin::server && current->version > received.version)
            continue;
        store_.save_encoded(key, received.version, Origin::server, received.payload);
        store_.drop_acked_upto(key, received.version);
    }
    login_->buffered.clear();
}

// Why a login cannot be served by the server right now ("" when it can).
std::string ClientCore::refusal() const {
    if (!sync_enabled_) return "synchronization is off on this device";
    if (join_state_ == JoinState::refused)
        return "the server refused this device: " + refused_because_;
    if (!connected_) return "offline: the broker is not reachable";
    if (!joined_ && !server_status_.value("server_online", false)) return "no server is online";
    return "";
}

void ClientCore::finish_login(const std::string& source) {
    // Everything the server sent for this login, applied in one transaction. Its commit
    // need not reach the disk before the user sees the documents: they are the server's
    // copies, which the next login fetches again if a power cut takes them.
    auto txn = store_.begin(Durability::cache);
    if (source == "server") {
        // The manifest lists every document the server holds for this user: a cached one
        // it does not list was deleted meanwhile (by an administrator, say).
        for (auto c : syncs_.intersect(CategorySet::personal()).list()) {
            if (login_->versions.count(c)) continue;
            DocKey key{login_->user, c};
            auto cached = store_.version_of(key);
            if (cached && cached->origin == Origin::server) store_.remove(key);
        }
    }
    store_buffered();
    // Restored if the daemon restarts; written here, off the path to the server.
    store_.set_setting("current_user", login_->user);
    txn->commit();
    login_->ready = true;
    login_->source = source;
    login_->ready_ms = std::chrono::duration<double, std::milli>(now_ - login_->started).count();
    spdlog::info("device={} user={} ready from {} in {:.2f} ms", settings_.device_id, login_->user,
                 source, login_->ready_ms);
    Value body = login_answer(source == "cache" ? refusal() : "");
    for (auto& w : login_waiters_) answer(w.id, body);
    login_waiters_.clear();
    emit({{"event", "login"},
          {"user", login_->user},
          {"ready", true},
          {"source", source},
          {"documents", body["documents"]}});
    out_.trim_heap = true;
}

// The answer to a login that is ready. A login from the cache says why, and which of the
// user's documents this device holds by itself.
Value ClientCore::login_answer(const std::string& why_cache) const {
    Value body = {{"ok", true},
                  {"user", login_->user},
                  {"ready", true},
                  {"source", login_->source},
                  {"ms", login_->ready_ms},
                  {"documents", static_cast<uint64_t>(login_->versions.size())}};
    if (login_->source == "cache") {
        Value cached = Value::array();
        for (auto c : settings_.supported.intersect(CategorySet::personal()).list()) {
            DocKey key{login_->user, c};
            if (store_.version_of(key) || !store_.device_items(key).empty() ||
                !store_.outbox_for(key).empty())
                cached.push_back(std::string(category_name(c)));
        }
        body["documents"] = static_cast<uint64_t>(cached.size());
        body["cached"] = std::move(cached);
        body["why"] = why_cache.empty()
                          ? "the server did not answer in " +
                                std::to_string(tuning::client::kLoginServerWait.count()) + " ms"
                          : why_cache;
    }
    return body;
}

void ClientCore::forget_users(const std::vector<std::string>& users, const char* why) {
    if (users.empty()) return;
    auto txn = store_.begin();
    for (const auto& u : users) {
        store_.remove_user(u);
        keys_.forget(u);
        spdlog::info("device={} user={} removed from this device: {}", settings_.device_id,
                     quoted_text(u), why);
    }
    txn->commit();
    for (const auto& u : users) emit({{"event", "user_removed"}, {"user", u}, {"why", why}});
}

// ---- Timers ---------------------------------------------------------------------------

// Devices follow the serving server: a broker whose server stays offline (dead, or a
// cluster member that does not lead) is left for the next one of the list.
void ClientCore::follow_primary() {
    if (!connected_ || brokers_ < 2) return;
    if (server_status_.value("server_online", false)) {
        server_absent_since_.reset();
        return;
    }
    if (!server_absent_since_) server_absent_since_ = now_;
    if (now_ - *server_absent_since_ < settings_.failover_after) return;
    server_absent_since_.reset();
    out_.link.emplace_back(MoveToNextServer{
        "no server online there for " + std::to_string(settings_.failover_after.count()) + " ms"});
}

void ClientCore::tick() {
    if (connected_ && !joined_ && now_ >= next_hello_) send_hello();
    if (merging_ && joined_) {
        register_local_documents();
        send_outbox();
    }
    follow_primary();
    if (!inflight_.empty()) {
        auto oldest =
            std::min_element(inflight_.begin(), inflight_.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; });
        if (now_ - oldest->second >= tuning::client::kResendAfter) {
            // Go back to the oldest unacknowledged change set; the server answers
            // duplicates from its record, so re-sending is safe.
            next_send_seq_ = inflight_.begin()->first;
            inflight_.clear();
            send_outbox();
        }
    }
    if (login_ && !login_->ready && now_ >= login_->deadline) {
        spdlog::warn("device={} user={} no answer from the server; using cached documents",
                     settings_.device_id, login_->user);
        finish_login("cache");
    }
    std::erase_if(edit_waiters_, [&](auto& kv) {
        if (now_ < kv.second.deadline) return false;
        Value body = {
            {"ok", true},
            {"state", "pending"},
            {"seq", kv.first},
            {"waited_ms", static_cast<int64_t>(kv.second.bound.count())},
            {"message", "not acknowledged within " + std::to_string(kv.second.bound.count()) +
                            " ms; kept in the outbox and sent again"}};
        body.update(kv.second.extra);
        answer(kv.second.id, std::move(body));
        return true;
    });
    std::erase_if(login_waiters_, [&](Waiter& w) {
        if (now_ < w.deadline) return false;
        answer(w.id, error_reply(Errc::timeout, "the user's documents are not ready yet"));
        return true;
    });
}

void ClientCore::answer_edit_waiters(const std::string& why) {
    for (auto& [seq, w] : edit_waiters_) {
        Value body = {
            {"ok", true}, {"state", "pending"}, {"seq", seq}, {"waited_ms", 0}, {"message", why}};
        body.update(w.extra);
        answer(w.id, std::move(body));
    }
    edit_waiters_.clear();
}

void ClientCore::set_error(const std::string& error) {
    last_error_ = error;
    try {
        store_.set_setting("last_error", error);
    } catch (const std::exception&) {
    }
}

}  // namespace pdsync::client
