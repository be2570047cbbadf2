// Client node worker: join, first merge, login, outbox, applying server documents.
#include "client-node/client_node.hpp"

#include <malloc.h>

#include <spdlog/spdlog.h>

#include "client-node/client_view.hpp"
#include "shared/clock.hpp"
#include "shared/text.hpp"
#include "shared/tuning.hpp"
#include "shared/user_id.hpp"

namespace pdsync::client {
namespace {

Value error_reply(Errc code, const std::string& message) {
    return {{"ok", false}, {"error", std::string(errc_name(code))}, {"message", message}};
}

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

ClientNode::ClientNode(std::unique_ptr<ClientStore> store, Topics topics, ClientSettings settings,
                       net::MqttSettings mqtt)
    : store_(std::move(store)),
      topics_(std::move(topics)),
      settings_(std::move(settings)),
      hello_backoff_(tuning::kJoinRetryMin) {
    epoch_ = store_->setting("epoch").value_or("");
    if (epoch_.empty()) {
        epoch_ = random_hex(8);
        store_->set_setting("epoch", epoch_);
    }
    ever_joined_ = store_->setting("ever_joined").value_or("0") == "1";
    sync_enabled_ = store_->setting("sync_enabled").value_or("1") == "1";
    mqtt.will = net::MqttSettings::Will{
        topics_.device(settings_.device_id, TopicKind::device_presence),
        encode_msgpack_unchecked(presence_to_value({settings_.device_id, false, 0})), true};
    net::MqttLink::Handlers h;
    h.on_message = [this](net::Received m) { post(std::move(m)); };
    h.on_connected = [this] { post(Connected{}); };
    h.on_lost = [this](const std::string&) { post(Lost{}); };
    link_ = std::make_unique<net::MqttLink>(std::move(mqtt), std::move(h));
    std::vector<std::string> filters = {
        topics_.device(settings_.device_id, TopicKind::device_inbox), topics_.server_status()};
    for (auto c : kAllCategories) {
        if (!is_personal(c) && settings_.supported.contains(c))
            filters.push_back(topics_.shared_doc(c));
    }
    link_->subscribe(filters);
    // A user still logged in when the daemon stopped is logged in again at start.
    if (auto user = store_->setting("current_user"); user && !user->empty()) {
        LoginState ls;
        ls.user = *user;
        ls.started = Clock::now();
        ls.deadline = ls.started + tuning::kLoginServerWait;
        login_ = std::move(ls);
        subscribe_user(*user);
    }
}

ClientNode::~ClientNode() {
    stop();
}

void ClientNode::start() {
    worker_ = std::thread([this] { worker_loop(); });
    if (sync_enabled_) {
        link_->start();
    } else {
        join_state_ = "sync off";
    }
}

void ClientNode::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (link_->connected()) {
        (void)link_->publish(
            topics_.device(settings_.device_id, TopicKind::device_presence),
            encode_msgpack_unchecked(presence_to_value({settings_.device_id, false, now_ms()})),
            true);
    }
    link_->stop();
}

void ClientNode::post(Event e) {
    {
        std::lock_guard lock(mu_);
        events_.push_back(std::move(e));
    }
    cv_.notify_one();
}

Value ClientNode::request(const Value& req) {
    auto reply = std::make_shared<std::promise<Value>>();
    auto fut = reply->get_future();
    {
        std::lock_guard lock(mu_);
        if (stopping_) return error_reply(Errc::busy, "the daemon is stopping");
    }
    post(Request{req, reply});
    int64_t wait_ms =
        req.is_object() && req.contains("wait_ms") && req["wait_ms"].is_number_integer()
            ? req["wait_ms"].get<int64_t>()
            : 10000;
    if (fut.wait_for(std::chrono::milliseconds(std::max<int64_t>(wait_ms, 0) + 5000)) !=
        std::future_status::ready) {
        return error_reply(Errc::timeout, "the daemon did not answer in time");
    }
    return fut.get();
}

void ClientNode::worker_loop() {
    while (true) {
        std::deque<Event> batch;
        {
            std::unique_lock lock(mu_);
            // A first merge in progress goes on at once after whatever came in.
            cv_.wait_for(
                lock,
                merging_ && joined_ ? std::chrono::milliseconds(0) : std::chrono::milliseconds(100),
                [&] { return stopping_ || !events_.empty(); });
            if (stopping_) break;
            batch.swap(events_);
        }
        for (auto& e : batch) {
            try {
                handle(e);
            } catch (const std::exception& ex) {
                // A store failure must not kill the device: report it and go on.
                spdlog::error("device={} event failed: {}", settings_.device_id, ex.what());
                set_error(std::string("internal: ") + ex.what());
                if (auto* r = std::get_if<Request>(&e)) {
                    try {
                        r->reply->set_value(error_reply(Errc::storage, ex.what()));
                    } catch (const std::future_error&) {
                    }
                }
            }
        }
        try {
            tick();
        } catch (const std::exception& ex) {
            spdlog::error("device={} timer failed: {}", settings_.device_id, ex.what());
        }
    }
    // Answer whoever still waits.
    for (auto& w : login_waiters_)
        w.reply->set_value(error_reply(Errc::busy, "the daemon is stopping"));
    for (auto& [seq, w] : edit_waiters_)
        w.reply->set_value(error_reply(Errc::busy, "the daemon is stopping"));
    std::lock_guard lock(mu_);
    for (auto& e : events_) {
        if (auto* r = std::get_if<Request>(&e))
            r->reply->set_value(error_reply(Errc::busy, "the daemon is stopping"));
    }
}

void ClientNode::handle(Event& e) {
    if (auto* m = std::get_if<net::Received>(&e)) return on_message(*m);
    if (std::holds_alternative<Connected>(e)) return on_connected();
    if (std::holds_alternative<Lost>(e)) return on_lost();
    if (auto* r = std::get_if<Request>(&e)) {
        bool deferred = false;
        Value answer = handle_request(*r, deferred);
        if (!deferred) r->reply->set_value(std::move(answer));
    }
}

// ---- Connection and join -----------------------------------------------------------

void ClientNode::on_connected() {
    connected_ = true;
    server_status_ = Value::object();  // this broker's status comes with the subscription
    server_absent_since_ = Clock::now();
    joined_ = false;
    join_state_ = "joining";
    inflight_.clear();
    (void)link_->publish(
        topics_.device(settings_.device_id, TopicKind::device_presence),
        encode_msgpack_unchecked(presence_to_value({settings_.device_id, true, now_ms()})), true);
    hello_backoff_ = tuning::kJoinRetryMin;
    send_hello();
}

void ClientNode::on_lost() {
    connected_ = false;
    server_absent_since_.reset();
    joined_ = false;
    join_state_ = "offline";
    inflight_.clear();
}

void ClientNode::send_hello() {
    Hello h;
    h.device_id = settings_.device_id;
    h.product = settings_.product;
    h.firmware = settings_.firmware;
    h.location = settings_.location;
    h.protocol = tuning::kProtocolVersion;
    h.categories = settings_.supported;
    h.auth_digest = settings_.auth_digest;
    h.epoch = epoch_;
    h.next_seq = store_->first_unacked_seq();
    h.cached_users = store_->cached_users();
    // Exponential back-off: a refused device asks again, but never in a tight loop.
    next_hello_ = Clock::now() + hello_backoff_;
    hello_backoff_ = std::min(hello_backoff_ * 2, std::chrono::milliseconds(tuning::kJoinRetryMax));
    ++join_attempts_;
    if (auto st = link_->publish(topics_.device(settings_.device_id, TopicKind::device_hello),
                                 encode_msgpack_unchecked(hello_to_value(h)), false);
        !st) {
        spdlog::warn("device={} hello not sent: {}", settings_.device_id, st.error().message);
    }
}

void ClientNode::on_join(const JoinReply& r) {
    if (!r.accepted) {
        joined_ = false;
        join_state_ = "refused";
        set_error(std::string(errc_name(r.reason)) + ": " + r.message);
        spdlog::warn("device={} join refused: {} ({}); retrying in {} ms", settings_.device_id,
                     errc_name(r.reason), r.message, hello_backoff_.count());
        return;
    }
    joined_ = true;
    join_state_ = "joined";
    hello_backoff_ = tuning::kJoinRetryMin;
    CategorySet before = syncs_;

    syncs_ = r.categories.intersect(settings_.supported);
    if (login_ && before != syncs_) {
        unsubscribe_user(login_->user);
        subscribe_user(login_->user);
    }
    last_error_.clear();
    spdlog::info("device={} joined; syncing [{}]", settings_.device_id,
                 fmt::join(syncs_.names(), ","));
    {
        auto txn = store_->begin();
        if (!ever_joined_) {
            ever_joined_ = true;
            store_->set_setting("ever_joined", "1");
        }
        // Applied by the server, but the acks were lost: their documents will arrive.
        store_->drop_unacked_upto(r.last_seq);
        txn->commit();
    }
    forget_users(r.gone_users, "no longer on the server");
    merging_ = true;
    register_local_documents();
    next_send_seq_ = 0;
    // The server holds a user's edits only from a device where that user has a session
    // (docs/security.md): the login goes before the outbox, and an edit of a user who has
    // logged out since announces that user's session again (send_outbox).
    announced_.clear();
    if (login_) {
        // Tell the server who is here (LRU order); for a login not yet ready this also
        // asks for the manifest it waits on.
        announce(login_->user);
    }
    send_outbox();
}

void ClientNode::announce(const std::string& user) {
    announced_.insert(user);
    (void)link_->publish(topics_.device(settings_.device_id, TopicKind::device_events),
                         encode_msgpack_unchecked(event_to_value(
                             {settings_.device_id, EventKind::login, user, now_ms()})),
                         false);
}

// First merge: data only this device holds becomes a registration. The server keeps the
// first one it receives; if it already has the document, it answers `exists` and this
// device takes the server's copy. It goes a chunk of documents per worker pass, each chunk
// one transaction, so the device keeps answering (and sending) while it moves hundreds of
// MiB into its outbox.
void ClientNode::register_local_documents() {
    auto keys = store_->document_keys(Origin::local);
    auto txn = store_->begin();
    std::size_t n = 0;
    // One document in memory at a time: a device may hold hundreds of MiB of them.
    for (const auto& key : keys) {
        if (n == tuning::kFirstMergeChunk) break;
        if (!syncs_.contains(key.category)) continue;
        auto sd = store_->load(key);
        if (!sd) continue;
        OutboxRow row;
        row.user = sd->doc.user;
        row.category = sd->doc.category;
        row.registers = true;
        row.created_at = now_ms();
        for (const auto* e : sd->doc.live_entries()) {
            row.ops.push_back(ChangeOp{OpKind::put, e->id, e->fields, 0, std::nullopt});
        }
        store_->append_outbox(std::move(row));
        store_->remove(key);
        ++n;
    }
    txn->commit();
    if (n == tuning::kFirstMergeChunk) {
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

void ClientNode::send_outbox() {
    if (!connected_ || !joined_) return;
    const auto window = static_cast<std::size_t>(tuning::kClientOutboxWindow);
    if (inflight_.size() >= window) return;
    for (const auto& row : store_->unacked_from(next_send_seq_, window - inflight_.size())) {
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
        // An edit made offline by a user who has logged out since: the session it was made
        // in ended when the device went offline.
        if (!row.user.empty() && !row.registers && !announced_.count(row.user)) announce(row.user);
        auto st = link_->publish(topics_.device(settings_.device_id, TopicKind::device_changes),
                                 encode_msgpack_unchecked(change_set_to_value(cs)), false);
        if (!st) {
            spdlog::warn("device={} change set {} not sent: {}", settings_.device_id, row.seq,
                         st.error().message);
            return;
        }
        inflight_[row.seq] = Clock::now();
        next_send_seq_ = row.seq + 1;
    }
}

// Acks, one or a batch's: their bookkeeping in one transaction, then the edits waiting on
// them are answered and the outbox goes on.
void ClientNode::on_acks(const std::vector<AckReply>& acks) {
    // An ack's bookkeeping need not wait for the disk: if a power cut rolls it back, the
    // change set is sent again and the server answers it from its record of applied ones.
    auto txn = store_->begin(Durability::cache);
    std::vector<std::pair<uint64_t, Value>> answers;
    for (const auto& a : acks) {
        if (auto answer = apply_ack(a)) answers.emplace_back(a.seq, std::move(*answer));
    }
    txn->commit();
    for (auto& [seq, answer] : answers) {
        auto w = edit_waiters_.find(seq);
        if (w == edit_waiters_.end()) continue;
        answer.update(w->second.extra);
        w->second.reply->set_value(answer);
        edit_waiters_.erase(w);
    }
    send_outbox();
}

// What one ack changes in the store and in the sender. Answers what an edit waiting on it
// is told, when the ack settles that edit.
std::optional<Value> ClientNode::apply_ack(const AckReply& r) {
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
            store_->drop_outbox(r.seq);
        } else {
            store_->mark_acked(r.seq, r.version);
            // The server publishes the document before the ack, so it is usually here already.
            DocKey key{r.user, r.category};
            if (auto stored = store_->version_of(key); stored && stored->version >= r.version)
                store_->drop_acked_upto(key, stored->version);
        }
        return Value{{"ok", true},
                     {"state", "acked"},
                     {"seq", r.seq},
                     {"version", r.version},
                     {"conflicts", r.conflicts}};
    }
    if (r.reason == Errc::out_of_order) {
        next_send_seq_ = r.expected_seq;
        std::erase_if(inflight_, [&](const auto& kv) { return kv.first >= r.expected_seq; });
        return std::nullopt;
    }
    if (r.reason == Errc::storage || r.reason == Errc::busy || r.reason == Errc::timeout) {
        // Transient: keep the row; the resend timer sends it again.
        inflight_[r.seq] = Clock::now();
        set_error(std::string(errc_name(r.reason)) + ": " + r.message);
        spdlog::warn("device={} change set {} deferred by the server: {}", settings_.device_id,
                     r.seq, r.message);
        return std::nullopt;
    }
    if (r.reason == Errc::not_joined) {
        joined_ = false;
        join_state_ = "joining";
        send_hello();
        return std::nullopt;
    }
    // Final: the server will never take this change set.
    store_->drop_outbox(r.seq);
    if (r.reason != Errc::exists) set_error(std::string(errc_name(r.reason)) + ": " + r.message);
    spdlog::warn("device={} user={} change set {} refused: {} ({})", settings_.device_id, r.user,
                 r.seq, errc_name(r.reason), r.message);
    Value answer = error_reply(r.reason, r.message);
    answer["seq"] = r.seq;
    return answer;
}

// ---- Inbound --------------------------------------------------------------------------

void ClientNode::on_message(const net::Received& m) {
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
                hello_backoff_ = tuning::kJoinRetryMin;
                send_hello();
            }
            return;
        }

        default:
            return;
    }
}

void ClientNode::on_reply(const Reply& r) {
    if (auto* j = std::get_if<JoinReply>(&r)) return on_join(*j);
    if (auto* a = std::get_if<AckReply>(&r)) return on_acks({*a});
    if (auto* batch = std::get_if<AckBatch>(&r)) return on_acks(batch->acks);
    if (auto* l = std::get_if<LoginReply>(&r)) return on_login_reply(*l);
    if (auto* e = std::get_if<EvictNotice>(&r))
        return forget_users(e->users, "evicted by the server");
}

void ClientNode::on_document(const ParsedTopic& t, const std::string& payload) {
    DocKey key{t.kind == TopicKind::user_doc ? t.user : "", t.category};
    if (!settings_.supported.contains(key.category)) return;
    if (payload.empty()) {
        // The server deleted the document (administrator, or user eviction).
        store_->remove(key);
        if (login_ && key.user == login_->user) login_->buffered.erase(key.category);
        return;
    }
    auto doc = decode_document(payload);
    if (!doc) {
        spdlog::warn("device={} bad document on {}: {}", settings_.device_id,
                     topics_.user_doc(key.user, key.category), doc.error().message);
        return;
    }
    if (doc->user != key.user || doc->category != key.category) {
        spdlog::warn("device={} document does not match its topic; ignored", settings_.device_id);
        return;
    }
    if (login_ && !login_->ready && key.user == login_->user) {
        login_->buffered[key.category] = {doc->version, payload};
        check_login_ready();
        return;
    }
    if (!key.user.empty() && (!login_ || key.user != login_->user)) return;  // not ours any more
    auto current = store_->version_of(key);
    if (current && current->origin == Origin::server && current->version > doc->version)
        return;  // stale
    auto txn = store_->begin(Durability::cache);
    store_->save_encoded(key, doc->version, Origin::server, payload);
    store_->drop_acked_upto(key, doc->version);
    txn->commit();
}

// ---- Login ----------------------------------------------------------------------------

// One topic per synchronized category, not users/{uid}/+: a device whose firmware lacks a
// category must not even receive it (docs/protocol.md §5.8).
void ClientNode::subscribe_user(const std::string& user) {
    CategorySet cats = joined_ ? syncs_ : settings_.supported;
    std::vector<std::string> filters;
    for (auto c : cats.intersect(CategorySet::personal()).list())
        filters.push_back(topics_.user_doc(user, c));
    link_->subscribe(filters);
}

void ClientNode::unsubscribe_user(const std::string& user) {
    std::vector<std::string> filters;
    for (auto c : CategorySet::personal().list()) filters.push_back(topics_.user_doc(user, c));
    link_->unsubscribe(filters);
}

void ClientNode::on_login_reply(const LoginReply& r) {
    if (!login_ || r.user != login_->user) return;
    if (r.reason != Errc::ok) {
        set_error(std::string(errc_name(r.reason)) + ": " + r.message);
        spdlog::warn("device={} login of {} refused by the server: {} ({})", settings_.device_id,
                     quoted_text(r.user), errc_name(r.reason), r.message);
        subscribe_user(login_->user);
        if (!login_->ready) finish_login("cache");
        return;
    }
    // The server granted this device the user's documents (the broker's session plugin)
    // before it sent this reply: subscribing now has the retained ones delivered.
    subscribe_user(login_->user);
    if (login_->ready) return;
    login_->manifest = true;
    login_->versions = r.versions;
    check_login_ready();
}

void ClientNode::check_login_ready() {
    if (!login_ || login_->ready || !login_->manifest) return;
    for (const auto& [c, version] : login_->versions) {
        if (!synced(c)) continue;
        auto b = login_->buffered.find(c);
        if (b != login_->buffered.end() && b->second.version >= version) continue;
        auto stored = store_->version_of(DocKey{login_->user, c});
        if (stored && stored->origin == Origin::server && stored->version >= version) continue;
        return;  // still waiting for this document
    }
    finish_login("server");
}

void ClientNode::finish_login(const std::string& source) {
    // Everything the server sent for this login, applied in one transaction. Its commit
    // need not reach the disk before the user sees the documents: they are the server's
    // copies, which the next login fetches again if a power cut takes them.
    auto txn = store_->begin(Durability::cache);
    if (source == "server") {
        // The manifest lists every document the server holds for this user: a cached one
        // it does not list was deleted meanwhile (by an administrator, say).
        for (auto c : syncs_.intersect(CategorySet::personal()).list()) {
            if (login_->versions.count(c)) continue;
            DocKey key{login_->user, c};
            auto cached = store_->version_of(key);
            if (cached && cached->origin == Origin::server) store_->remove(key);
        }
    }
    for (auto& [c, received] : login_->buffered) {
        DocKey key{login_->user, c};
        auto current = store_->version_of(key);
        if (current && current->origin == Origin::server && current->version > received.version)
            continue;
        store_->save_encoded(key, received.version, Origin::server, received.payload);
        store_->drop_acked_upto(key, received.version);
    }
    // Restored if the daemon restarts; written here, off the path to the server.
    store_->set_setting("current_user", login_->user);
    txn->commit();
    login_->buffered.clear();
    login_->ready = true;
    login_->source = source;
    login_->ready_ms = ms_since(login_->started);
    spdlog::info("device={} user={} ready from {} in {:.2f} ms", settings_.device_id, login_->user,
                 source, login_->ready_ms);
    Value answer = {{"ok", true},
                    {"user", login_->user},
                    {"ready", true},
                    {"source", source},
                    {"ms", login_->ready_ms},
                    {"documents", static_cast<uint64_t>(login_->versions.size())}};
    for (auto& w : login_waiters_) w.reply->set_value(answer);
    login_waiters_.clear();
    // The user is served; now hand back what decoding their documents took from the heap.
    ::malloc_trim(0);
}

void ClientNode::forget_users(const std::vector<std::string>& users, const char* why) {
    if (users.empty()) return;
    auto txn = store_->begin();
    for (const auto& u : users) {
        store_->remove_user(u);
        spdlog::info("device={} user={} removed from this device: {}", settings_.device_id, u, why);
    }
    txn->commit();
}

// ---- Timers ---------------------------------------------------------------------------

// Devices follow the primary: a broker whose server stays offline (dead, or a standby's
// that was never promoted) is left for the next one of the list.
void ClientNode::follow_primary(Clock::time_point now) {
    if (!connected_ || link_->server_count() < 2) return;
    if (server_status_.value("server_online", false)) {
        server_absent_since_.reset();
        return;
    }
    if (!server_absent_since_) server_absent_since_ = now;
    if (now - *server_absent_since_ < settings_.failover_after) return;
    server_absent_since_.reset();
    link_->move_to_next_server("no server online there for " +
                               std::to_string(settings_.failover_after.count()) + " ms");
}

void ClientNode::tick() {
    auto now = Clock::now();
    if (connected_ && !joined_ && now >= next_hello_) send_hello();
    if (merging_ && joined_) {
        register_local_documents();
        send_outbox();
    }
    follow_primary(now);
    if (!inflight_.empty()) {
        auto oldest =
            std::min_element(inflight_.begin(), inflight_.end(),
                             [](const auto& a, const auto& b) { return a.second < b.second; });
        if (now - oldest->second >= tuning::kResendAfter) {
            // Go back to the oldest unacknowledged change set; the server answers
            // duplicates from its record, so re-sending is safe.
            next_send_seq_ = inflight_.begin()->first;
            inflight_.clear();
            send_outbox();
        }
    }
    if (login_ && !login_->ready && now >= login_->deadline) {
        spdlog::warn("device={} user={} no answer from the server; using cached documents",
                     settings_.device_id, login_->user);
        subscribe_user(login_->user);
        finish_login("cache");
    }
    std::erase_if(edit_waiters_, [&](auto& kv) {
        if (now < kv.second.deadline) return false;
        Value answer = {{"ok", true},
                        {"state", "pending"},
                        {"seq", kv.first},
                        {"message", connected_ ? "not acknowledged yet" : "offline: queued"}};
        answer.update(kv.second.extra);
        kv.second.reply->set_value(answer);
        return true;
    });
    std::erase_if(login_waiters_, [&](Waiter& w) {
        if (now < w.deadline) return false;
        w.reply->set_value(error_reply(Errc::timeout, "the user's documents are not ready yet"));
        return true;
    });
}

void ClientNode::set_error(const std::string& error) {
    last_error_ = error;
    try {
        store_->set_setting("last_error", error);
    } catch (const std::exception&) {
    }
}

bool ClientNode::synced(Category c) const {
    return syncs_.contains(c);
}

// ---- Control requests -----------------------------------------------------------------

Value ClientNode::handle_request(Request& r, bool& deferred) {
    const Value& body = r.body;
    if (!body.is_object() || !body.contains("cmd") || !body["cmd"].is_string()) {
        return error_reply(Errc::invalid_argument, "request needs a string 'cmd'");
    }
    const std::string cmd = body["cmd"].get<std::string>();
    if (cmd == "status") return cmd_status();
    if (cmd == "login") return cmd_login(r, deferred);
    if (cmd == "logout") return cmd_logout();
    if (cmd == "show") return cmd_show(body);
    if (cmd == "edit") return cmd_edit(r, deferred);
    if (cmd == "sync") return cmd_sync(body);
    if (cmd == "export") return cmd_export();
    if (cmd == "import") return cmd_import(body);
    return error_reply(Errc::invalid_argument, "unknown command '" + cmd + "'");
}

// Unacknowledged change sets, plus the local documents a first merge has yet to register.
uint64_t ClientNode::pending_changes() {
    uint64_t n = store_->outbox_size();
    if (merging_) {
        for (const auto& key : store_->document_keys(Origin::local))
            n += syncs_.contains(key.category) ? 1 : 0;
    }
    return n;
}

Value ClientNode::cmd_status() {
    Value v = {{"ok", true},
               {"device_id", settings_.device_id},
               {"product", settings_.product},
               {"firmware", settings_.firmware},
               {"connected", connected_},
               {"joined", joined_},
               {"state", join_state_},
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

Value ClientNode::cmd_login(Request& r, bool& deferred) {
    std::string user = r.body.value("user", "");
    if (auto st = validate_user_id(user); !st) return error_reply(st.code(), st.error().message);
    if (login_ && login_->user != user) cmd_logout();
    if (!login_) {
        LoginState ls;
        ls.user = user;
        ls.started = Clock::now();
        ls.deadline = ls.started + tuning::kLoginServerWait;
        login_ = std::move(ls);
        bool server_reachable =
            connected_ && (joined_ || server_status_.value("server_online", false));
        if (server_reachable) {
            // Subscribed at the server's reply, once the broker lets this device read the
            // user's documents (on_login_reply).
            announce(user);
        } else {
            subscribe_user(user);
            // Offline, or no server online: the cached documents are all there is. The
            // subscription stays, so the server's documents still arrive when it comes.
            finish_login("cache");
        }
    }
    if (login_->ready) {
        return {{"ok", true},
                {"user", user},
                {"ready", true},
                {"source", login_->source},
                {"ms", login_->ready_ms}};
    }
    int64_t wait_ms = r.body.value("wait_ms", int64_t{10000});
    login_waiters_.push_back({r.reply, Clock::now() + std::chrono::milliseconds(wait_ms)});
    deferred = true;
    return {};
}

Value ClientNode::cmd_logout() {
    if (!login_) return {{"ok", true}, {"user", ""}};
    std::string user = login_->user;
    if (connected_) {
        (void)link_->publish(topics_.device(settings_.device_id, TopicKind::device_events),
                             encode_msgpack_unchecked(event_to_value(
                                 {settings_.device_id, EventKind::logout, user, now_ms()})),
                             false);
    }
    unsubscribe_user(user);
    announced_.erase(user);  // edits still in the outbox announce the session again
    for (auto& w : login_waiters_)
        w.reply->set_value(error_reply(Errc::busy, "logged out before ready"));
    login_waiters_.clear();
    login_.reset();
    store_->set_setting("current_user", "");
    return {{"ok", true}, {"user", user}};
}

Document ClientNode::view_of(const DocKey& key) {
    Document base;
    base.user = key.user;
    base.category = key.category;
    if (auto sd = store_->load(key)) base = sd->doc;
    return rebase(std::move(base), store_->outbox_for(key));
}

Value ClientNode::cmd_show(const Value& body) {
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
        for (const auto& row : store_->outbox_for(key)) pending += row.acked ? 0 : 1;
        docs.push_back(view_to_json(view_of(key), store_->device_items(key), pending,
                                    settings_.fleet_key ? &*settings_.fleet_key : nullptr));
    }
    return {{"ok", true}, {"user", user}, {"documents", std::move(docs)}};
}

Value ClientNode::cmd_edit(Request& r, bool& deferred) {
    const Value& body = r.body;
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
    Document view = view_of(key);
    std::vector<ChangeOp> shared_ops;
    std::vector<std::pair<std::string, Value>> device_ops;  // kind, op
    Value ids = Value::array();
    for (const auto& o : body["ops"]) {
        if (!o.is_object()) return error_reply(Errc::invalid_argument, "each op must be an object");
        std::string kind = o.value("op", "");
        std::string id = o.value("id", "");
        bool device = o.value("range", "shared") == "device";
        if (kind == "add" && id.empty()) id = random_hex(8);
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
            // Secrets never leave the device in clear: sealed with the fleet key, or refused.
            bool has_secret = false;
            for (auto it = op.fields.begin(); it != op.fields.end(); ++it) {
                has_secret = has_secret || (is_secret_field(it.key()) && !is_sealed(it.value()));
            }
            if (has_secret && !settings_.fleet_key) {
                return error_reply(Errc::invalid_argument,
                                   "this device has no fleet key (--fleet-key-file): it cannot "
                                   "store a password field");
            }
            if (has_secret) op.fields = seal_secrets(op.fields, *settings_.fleet_key);

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
    if (shared_ops.size() > tuning::kMaxOpsPerChangeSet) {
        return error_reply(
            Errc::too_large,
            "at most " + std::to_string(tuning::kMaxOpsPerChangeSet) + " ops per edit");
    }
    uint64_t seq = 0;
    std::string state = "local";
    {
        auto txn = store_->begin();
        for (auto& [kind, op] : device_ops) {
            std::string id = op["id"].get<std::string>();
            std::optional<std::string> after;
            if (op.contains("after") && op["after"].is_string())
                after = op["after"].get<std::string>();
            if (kind == "delete") {
                store_->remove_device_item(key, id);
            } else {
                Value fields = op.value("fields", Value::object());
                if (kind == "move") {
                    auto items = store_->device_items(key);
                    for (auto& it : items) {
                        if (it.id == id) fields = it.fields;
                    }
                }
                store_->put_device_item(key, DeviceItem{id, fields}, after);
            }
        }
        if (!shared_ops.empty()) {
            if (!ever_joined_ || (joined_ && !synced(*c))) {
                // Not synchronized (yet): the data stays on this device; data from before
                // the first join is registered with the server at first merge.
                auto sd = store_->load(key);
                Document doc = sd ? sd->doc : Document{user, *c, 0, 0, {}, Value::object()};
                apply_ops(doc, shared_ops, doc.version + 1);
                store_->save(doc, sd ? sd->origin : Origin::local);
            } else {
                OutboxRow row;
                row.user = user;
                row.category = *c;
                row.created_at = now_ms();
                row.ops = std::move(shared_ops);
                seq = store_->append_outbox(std::move(row));
                state = "pending";
            }
        }
        txn->commit();
    }
    if (seq == 0) return {{"ok", true}, {"state", state}, {"ids", ids}};
    send_outbox();
    int64_t wait_ms = body.value("wait_ms", int64_t{5000});
    if (wait_ms <= 0) return {{"ok", true}, {"state", "pending"}, {"seq", seq}, {"ids", ids}};
    edit_waiters_[seq] =
        Waiter{r.reply, Clock::now() + std::chrono::milliseconds(wait_ms), {{"ids", ids}}};
    deferred = true;
    return {};
}

}  // namespace pdsync::client

namespace pdsync::client {

// ---- Enabling, export and import ------------------------------------------------------

Value ClientNode::cmd_sync(const Value& body) {
    bool enable = body.value("enabled", true);
    if (enable == sync_enabled_) return {{"ok", true}, {"sync", sync_enabled_}};
    store_->set_setting("sync_enabled", enable ? "1" : "0");
    sync_enabled_ = enable;
    if (enable) {
        join_state_ = "connecting";
        link_->start();
    } else {
        link_->stop();
        on_lost();
        join_state_ = "sync off";
    }
    spdlog::info("device={} synchronization {}", settings_.device_id,
                 enable ? "enabled" : "disabled");
    return {{"ok", true}, {"sync", sync_enabled_}};
}

// Export and import are refused while synchronization is active (as on the reference
// product): the outbox and the server would otherwise race the file.
Value ClientNode::cmd_export() {
    if (sync_enabled_) {
        return error_reply(
            Errc::busy,
            "synchronization is active on this device; turn it off first (pdsync device sync off)");
    }
    Value docs = Value::array();
    for (auto& sd : store_->documents()) {
        Document view = rebase(sd.doc, store_->outbox_for(sd.doc.key()));
        docs.push_back(document_to_value(view));
    }
    Value items = Value::array();
    for (const auto& [key, item] : store_->all_device_items()) {
        items.push_back({{"user", key.user},
                         {"category", std::string(category_name(key.category))},
                         {"id", item.id},
                         {"fields", item.fields}});
    }
    return {{"ok", true},
            {"export",
             {{"schema", "pds.export/1"},
              {"source", "device:" + settings_.device_id},
              {"exported_at", now_ms()},
              {"documents", docs},
              {"device_items", items}}}};
}

Value ClientNode::cmd_import(const Value& body) {
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
    auto txn = store_->begin();
    for (auto& d : docs) {
        // Imported data is this device's own until a server registers it (first merge).
        d.version = 0;
        store_->save(d, Origin::local);
    }
    std::size_t items = 0;
    for (const auto& v : data.value("device_items", Value::array())) {
        auto c = category_from_name(v.value("category", ""));
        if (!c || !v.contains("id") || !v["id"].is_string()) continue;
        store_->put_device_item(
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

}  // namespace pdsync::client
