// Server protocol logic: join, change sets, login events, presence, user limit.
#include "server-node/server_core.hpp"

#include "server-node/server_batch.hpp"

#include <spdlog/spdlog.h>

#include <optional>

#include "shared/base/hex.hpp"
#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"
#include "shared/merge.hpp"
#include "shared/secrets.hpp"
#include "shared/text.hpp"
#include "shared/user_keys.hpp"

namespace pdsync::server {

ServerCore::ServerCore(ServerStore& store, Topics topics, ServerSettings settings, Environment env)
    : store_(store),
      cache_(tuning::server::kDocumentCacheBytes),
      topics_(std::move(topics)),
      settings_(std::move(settings)),
      env_(std::move(env)),
      started_at_(now_ms()),
      boot_id_(random_hex(8)) {
    for (auto& d : store_.list_devices()) devices_[d.device_id] = d;
}

std::vector<Outbound> ServerCore::handle_batch(const std::vector<Inbound>& batch,
                                               const EarlyPublish& before_commit) {
    Batch b;
    return transact(b, [&] {
        sessions_.expire(now_ms(), b.session_lines);
        for (const auto& msg : batch) handle_one(msg, b);
        if (!b.session_lines.empty()) {
            // The grant before the login reply: the broker applies it before it routes the
            // reply, so the device's subscription after the reply is already allowed.
            b.early.insert(b.early.begin(),
                           Outbound{topics_.server_sessions(), std::move(b.session_lines), false});
            b.session_lines.clear();
        }
        if (!b.early.empty()) {
            if (before_commit) {
                before_commit(std::move(b.early));
            } else {
                b.replies.insert(b.replies.end(), b.early.begin(), b.early.end());
            }
            b.early.clear();
        }
    });
}

std::vector<Outbound> ServerCore::transact(Batch& b, const std::function<void()>& work) {
    try {
        auto txn = store_.begin();
        work();
        for (const auto& key : b.deleted) store_.delete_document(key);
        for (const auto& key : b.dirty) {
            auto& doc = b.docs[key];
            if (!doc) continue;
            // One encoding per changed document and batch: the store and the broker get
            // the same bytes.
            auto& body = b.encoded[key];
            if (body.empty()) body = b.encodings[key].encode(*doc);
            store_.save_encoded_document(*doc, body);
        }
        for (const auto& [id, row] : b.devices) store_.save_device(row);
        txn->commit();
    } catch (const std::exception& e) {
        spdlog::error("store: transaction rolled back: {}", e.what());
        b.failed = e.what();
        Batch failed;
        for (const auto& [device_id, seq] : b.change_sets) {
            refuse_change(device_id, seq, Errc::storage,
                          std::string("the server could not store the change: ") + e.what(),
                          failed);
        }
        last_batch_had_changes_ = false;
        flush_acks(failed);
        if (!b.session_lines.empty())
            failed.replies.insert(failed.replies.begin(),
                                  {topics_.server_sessions(), std::move(b.session_lines), false});
        return std::move(failed.replies);
    }
    // Committed: now the world may learn about it.
    last_batch_had_changes_ = !b.change_sets.empty();
    for (auto& [id, row] : b.devices) devices_[id] = row;
    std::vector<Outbound> out;
    if (!b.session_lines.empty())
        out.push_back({topics_.server_sessions(), std::move(b.session_lines), false});
    for (const auto& key : b.deleted) {
        if (b.dirty.count(key)) continue;
        out.push_back({doc_topic(key), "", true});
        add_inspect(out, doc_topic(key), nullptr);
    }
    for (const auto& key : b.deleted) cache_.erase(key);
    for (const auto& key : b.dirty) {
        auto& doc = b.docs[key];
        if (!doc) continue;
        std::string& body = b.encoded[key];
        std::size_t bytes = body.size();
        out.push_back({doc_topic(key), std::move(body), true});
        if (settings_.inspect_view) {
            Value v = document_to_value(*doc);
            add_inspect(out, doc_topic(key), &v);
        }
        cache_.put(std::move(*doc), bytes, std::move(b.encodings[key]));
    }
    for (const auto& [key, bytes] : b.from_cache) {
        // Read but unchanged: back in as it was.
        if (b.dirty.count(key) || b.deleted.count(key)) continue;
        if (auto& doc = b.docs[key])
            cache_.put(std::move(*doc), bytes, std::move(b.encodings[key]));
    }
    flush_acks(b);
    for (auto& r : b.replies) out.push_back(std::move(r));
    if (b.status_changed) {
        out.push_back(status_message());
        if (settings_.inspect_view) {
            Value v = status_value();
            add_inspect(out, topics_.server_status(), &v);
        }
    }
    return out;
}

std::string ServerCore::doc_topic(const DocKey& key) const {
    return key.user.empty() ? topics_.shared_doc(key.category)
                            : topics_.user_doc(key.user, key.category);
}

void ServerCore::handle_one(const Inbound& msg, Batch& b) {
    auto topic = topics_.parse(msg.topic);
    if (!topic) {
        spdlog::warn("mqtt: ignored message on {}: {}", quoted_text(msg.topic),
                     topic.error().message);
        return;
    }
    const std::string& device_id = topic->device_id;
    if (topic->kind == TopicKind::device_presence) {
        if (msg.payload.empty()) return;  // a cleared retained presence
    }
    auto value = decode_msgpack(msg.payload);
    if (!value) {
        spdlog::warn("device={} topic={} rejected payload: {} ({})", device_id,
                     quoted_text(msg.topic), errc_name(value.code()), value.error().message);
        if (topic->kind == TopicKind::device_changes)
            refuse_change(device_id, 0, value.code(), value.error().message, b);
        return;
    }
    switch (topic->kind) {
        case TopicKind::device_hello: {
            auto h = hello_from_value(*value);
            if (!h || h->device_id != device_id) {
                std::string why = h ? "device_id does not match the topic" : h.error().message;
                spdlog::warn("device={} hello rejected: {}", device_id, why);
                JoinReply r;
                r.reason = h ? Errc::bad_device_id : h.code();
                r.message = why;
                reply(device_id, r, b);
                return;
            }
            on_hello(device_id, *h, b);
            return;
        }
        case TopicKind::device_changes: {
            auto cs = change_set_from_value(*value);
            if (!cs) {
                uint64_t seq = value->is_object() && value->contains("seq") &&
                                       (*value)["seq"].is_number_unsigned()
                                   ? (*value)["seq"].get<uint64_t>()
                                   : 0;
                spdlog::warn("device={} change set rejected: {} ({})", device_id,
                             errc_name(cs.code()), cs.error().message);
                refuse_change(device_id, seq, cs.code(), cs.error().message, b);
                return;
            }
            if (cs->device_id != device_id) {
                spdlog::warn("device={} change set rejected: bad_device_id (it names device {})",
                             device_id, cs->device_id);
                refuse_change(device_id, cs->seq, Errc::bad_device_id,
                              "device_id does not match the topic", b);
                return;
            }
            on_changes(device_id, *cs, b);
            return;
        }
        case TopicKind::device_events: {
            auto e = event_from_value(*value);
            if (!e || e->device_id != device_id) {
                spdlog::warn("device={} event rejected: {}", device_id,
                             e ? "device_id does not match the topic" : e.error().message);
                return;
            }
            on_event(device_id, *e, b);
            return;
        }
        case TopicKind::device_presence: {
            auto p = presence_from_value(*value);
            if (!p || p->device_id != device_id) {
                spdlog::warn("device={} presence rejected: {}", device_id,
                             p ? "device_id does not match the topic" : p.error().message);
                return;
            }
            on_presence(device_id, *p, b);
            return;
        }
        default:
            // Documents, inbox and status are the server's own publications.
            return;
    }
}

std::size_t ServerCore::joined_count() const {
    std::size_t n = 0;
    for (const auto& [id, d] : devices_) {
        if (!d.removed && id != settings_.device_id) ++n;
    }
    return n;
}

void ServerCore::on_hello(const std::string& device_id, const Hello& h, Batch& b) {
    JoinReply r;
    auto known = devices_.find(device_id);
    bool is_new = known == devices_.end();
    auto refuse = [&](Errc code, std::string message) {
        r.accepted = false;
        r.reason = code;
        r.message = std::move(message);
        refused_[device_id] = std::string(errc_name(code)) + ": " + r.message;
        spdlog::warn("device={} join refused: {} ({})", device_id, errc_name(code), r.message);
        join_decisions_.push_back({device_id, false, code, r.message});
        b.status_changed = true;
        reply(device_id, r, b);
    };
    if (!is_new && known->second.removed) {
        return refuse(Errc::not_joined,
                      "this machine was removed from the fleet by an administrator");
    }
    if (h.protocol != tuning::protocol::kProtocolVersion) {
        return refuse(Errc::protocol_unsupported,
                      "the server speaks protocol " +
                          std::to_string(tuning::protocol::kProtocolVersion) + ", the device " +
                          std::to_string(h.protocol));
    }
    if (h.auth_digest != settings_.auth_digest) {
        return refuse(Errc::auth_profile_mismatch,
                      "user authentication / department ID settings differ from the server's");
    }
    // The server machine counts as one; its own client ("localhost") is not an extra one.
    if (is_new && device_id != settings_.device_id &&
        joined_count() + 1 >= static_cast<std::size_t>(settings_.machine_limit)) {
        return refuse(Errc::machine_limit, "the fleet already has " +
                                               std::to_string(settings_.machine_limit) +
                                               " machines (the server machine included)");
    }
    if (is_new && settings_.admission) {
        if (Errc why = settings_.admission(device_id, h); why != Errc::ok) {
            return refuse(why,
                          why == Errc::pending_approval
                              ? "waiting for an administrator: pdsync machines approve " + device_id
                              : "an administrator denied this machine");
        }
    }
    int64_t now = now_ms();
    DeviceRow row = is_new ? DeviceRow{} : known->second;
    if (auto pending = b.devices.find(device_id); pending != b.devices.end()) row = pending->second;
    row.device_id = device_id;
    row.product = h.product;
    row.firmware = h.firmware;
    row.location = h.location;
    row.supported = h.categories;
    if (is_new) row.joined_at = now;
    row.last_seen_at = now;
    row.last_error.clear();
    if (row.epoch != h.epoch) {
        row.epoch = h.epoch;  // a new outbox (a new or wiped machine): its sequence restarts
        row.last_seq = 0;
    }
    // Change sets below next_seq were acknowledged by a server state the device trusts
    // (perhaps one since restored from a backup): it holds them no more, so don't wait.
    if (row.last_seq + 1 < h.next_seq) row.last_seq = h.next_seq - 1;
    b.devices[device_id] = row;
    refused_.erase(device_id);
    b.status_changed = true;
    box_keys_[device_id] = h.box_pk;
    helloed_.insert(device_id);

    r.accepted = true;
    join_decisions_.push_back({device_id, true, Errc::ok, ""});
    r.categories = settings_.categories.intersect(h.categories);
    r.last_seq = row.last_seq;
    for (const auto& u : h.cached_users) {
        if (!store_.find_user(u)) r.gone_users.push_back(u);
    }
    spdlog::info("device={} joined (product={} firmware={} syncs {} categories{})", device_id,
                 quoted_text(h.product), quoted_text(h.firmware), r.categories.list().size(),
                 is_new ? ", new" : "");
    reply(device_id, r, b);
}

DeviceRow* ServerCore::joined_device(const std::string& device_id, Batch& b) {
    if (auto it = b.devices.find(device_id); it != b.devices.end())
        return it->second.removed ? nullptr : &it->second;
    auto it = devices_.find(device_id);
    if (it == devices_.end() || it->second.removed) return nullptr;
    return &(b.devices[device_id] = it->second);
}

void ServerCore::on_changes(const std::string& device_id, const ChangeSet& cs, Batch& b) {
    b.change_sets.emplace_back(device_id, cs.seq);
    DeviceRow* dev = joined_device(device_id, b);
    if (!dev)
        return refuse_change(device_id, cs.seq, Errc::not_joined,
                             "the device has not joined; send hello", b);
    // A member whose latest hello was refused (its auth profile or protocol changed) may
    // not sync until a hello is accepted again (docs/protocol.md §5.2).
    if (refused_.count(device_id)) {
        spdlog::warn("device={} change set refused: its last hello was refused ({})", device_id,
                     refused_.at(device_id));
        return refuse_change(device_id, cs.seq, Errc::not_joined,
                             "the last hello was refused: " + refused_.at(device_id), b);
    }

    if (cs.epoch != dev->epoch) {
        return refuse_change(device_id, cs.seq, Errc::not_joined,
                             "unknown outbox epoch; send hello", b);
    }
    if (cs.seq <= dev->last_seq) {
        // A re-sent change set (its ack was lost, or the server restarted before acking).
        AckReply r;
        r.seq = cs.seq;
        r.user = cs.user;
        r.category = cs.category;
        if (auto prior = store_.find_applied(device_id, cs.epoch, cs.seq)) {
            r.ok = prior->ok;
            r.reason = prior->reason;
            r.message = prior->message;
            r.version = prior->version;
            r.conflicts = prior->conflicts;
        } else {
            r.ok = true;
            r.message = "already applied";
        }
        spdlog::debug("device={} seq={} duplicate, answered again", device_id, cs.seq);
        return reply(device_id, r, b);
    }
    if (cs.seq != dev->last_seq + 1) {
        AckReply r;
        r.seq = cs.seq;
        r.reason = Errc::out_of_order;
        r.message = "expected change set " + std::to_string(dev->last_seq + 1);
        r.expected_seq = dev->last_seq + 1;
        r.user = cs.user;
        r.category = cs.category;
        return reply(device_id, r, b);
    }
    // A server that started since this device's last hello knows none of its sessions: the
    // device is asked to join again, which announces its user before its outbox, and the
    // change set keeps its seq (nothing is consumed, nothing lost).
    if (is_personal(cs.category) && !helloed_.count(device_id) &&
        !sessions_.has(device_id, cs.user)) {
        spdlog::info("device={} change set {} before its hello to this server: asked to join",
                     device_id, cs.seq);
        return refuse_change(device_id, cs.seq, Errc::not_joined,
                             "this server has not had this device's hello since it started; "
                             "send hello",
                             b);
    }
    AckReply r = apply_changes(cs, *dev, b);
    dev->last_seq = cs.seq;
    dev->last_sync_at = now_ms();
    // `exists` is a first merge's expected outcome (the server's copy wins), not an error.
    if (!r.ok && r.reason != Errc::exists)
        dev->last_error = std::string(errc_name(r.reason)) + ": " + r.message;
    AppliedRow row{r.ok, r.reason, r.message, r.version, r.conflicts};
    store_.record_applied(device_id, cs.epoch, cs.seq, row);
    reply(device_id, r, b);
}

AckReply ServerCore::apply_changes(const ChangeSet& cs, DeviceRow& dev, Batch& b) {
    AckReply r;
    r.seq = cs.seq;
    r.user = cs.user;
    r.category = cs.category;
    auto fail = [&](Errc code, std::string message) {
        r.ok = false;
        r.reason = code;
        r.message = std::move(message);
        spdlog::warn("device={} user={} category={} seq={} rejected: {} ({})", dev.device_id,
                     quoted_text(cs.user), category_name(cs.category), cs.seq, errc_name(code),
                     r.message);
        return r;
    };
    if (!settings_.categories.contains(cs.category)) {
        return fail(Errc::category_disabled,
                    "this fleet does not synchronize " + std::string(category_name(cs.category)));
    }
    if (!dev.supported.contains(cs.category)) {
        return fail(Errc::category_disabled, "the device declared no support for " +
                                                 std::string(category_name(cs.category)));
    }
    if (is_personal(cs.category)) {
        if (auto st = check_session(cs, dev.device_id, b); !st)
            return fail(st.code(), st.error().message);
    }
    Document* doc = document(cs.key(), b);
    int64_t now = now_ms();
    if (cs.registers) {
        if (doc) {
            // A first merge's expected outcome, so no warning: the server's copy wins.
            r.version = doc->version;
            r.reason = Errc::exists;
            r.message = "the server already holds this document; its copy wins";
            spdlog::info(
                "device={} user={} category={} first merge: the server's copy (version "
                "{}) is kept",
                dev.device_id, cs.user, category_name(cs.category), doc->version);
            return r;
        }
        Document registered = document_from_registration(cs, 1, now);
        std::string body = encode_document(registered);
        if (body.size() > tuning::codec::kMaxPayloadBytes) {
            return fail(Errc::too_large, "the registered document is over the size bound");
        }
        b.size_bound[cs.key()] = body.size();
        b.encoded[cs.key()] = std::move(body);

        b.docs[cs.key()] = std::move(registered);
        b.encodings.erase(cs.key());
        b.dirty.insert(cs.key());
        b.deleted.erase(cs.key());
        r.ok = true;
        r.version = 1;
        spdlog::info("device={} user={} category={} registered ({} entries)", dev.device_id,
                     quoted_text(cs.user), category_name(cs.category), cs.ops.size());
        return r;
    }
    if (!doc) {
        Document fresh;
        fresh.user = cs.user;
        fresh.category = cs.category;
        b.docs[cs.key()] = std::move(fresh);
        doc = &*b.docs[cs.key()];
    }
    // The merged document must stay within what every device can decode; a change that
    // would outgrow it is refused whole and the document stays as it was. An upper bound
    // (stored size + what the ops can add) settles almost every change set; only one that
    // could cross the limit pays for a copy and an exact encode.
    auto bound = b.size_bound.find(cs.key());
    if (bound == b.size_bound.end())
        bound = b.size_bound.emplace(cs.key(), store_.document_bytes(cs.key())).first;
    std::size_t growth = 0;
    for (const auto& op : cs.ops)
        growth += op.id.size() + encode_msgpack_unchecked(op.fields).size() + 32;
    std::optional<Document> before;
    if (bound->second + growth > tuning::codec::kMaxPayloadBytes ||
        doc->entries.size() + cs.ops.size() > tuning::codec::kMaxArrayItems) {
        before = *doc;
    }
    MergeOutcome m = apply_ops(*doc, cs.ops, doc->version + 1);
    // Whatever the ops touched is re-encoded at the commit (the rest keeps its bytes).
    auto& encodings = b.encodings[cs.key()];
    for (const auto& op : cs.ops) encodings.invalidate(op.id);
    if (m.changed) {
        if (before) {
            std::size_t bytes = encode_document(*doc).size();
            if (bytes > tuning::codec::kMaxPayloadBytes ||
                doc->entries.size() > tuning::codec::kMaxArrayItems) {
                *doc = std::move(*before);
                return fail(Errc::too_large,
                            "the document would grow to " + std::to_string(bytes) + " bytes and " +
                                std::to_string(doc->entries.size()) +
                                "+ entries, over the bound of " +
                                std::to_string(tuning::codec::kMaxPayloadBytes) + " bytes");
            }
            bound->second = bytes;
        } else {
            bound->second += growth;
        }

        doc->version += 1;
        doc->updated_at = now;
        prune_tombstones(*doc, settings_.max_tombstones);
        b.encoded.erase(cs.key());
        b.dirty.insert(cs.key());
        b.deleted.erase(cs.key());
    }
    r.ok = true;
    r.version = doc->version;
    r.conflicts = std::move(m.conflicts);
    return r;
}

Status ServerCore::check_session(const ChangeSet& cs, const std::string& device_id, Batch& b) {
    bool known = store_.find_user(cs.user).has_value();
    if (sessions_.has(device_id, cs.user)) {
        sessions_.touch(device_id, cs.user, now_ms());
        return known ? Status{Ok{}} : register_user(cs.user, b);
    }
    // A first merge brings documents of users the device held before it joined, with no
    // login: only for a user the server does not hold, and never evicting anyone, so a
    // flood of them fills free slots at most (and goes first when a login needs room).
    if (cs.registers && !known) return register_user(cs.user, b, false);
    // A first merge's registration of a document the server already holds changes nothing
    // (it is answered `exists` and the device takes the server's copy), so it needs no
    // session; one that would create a document for a user held here does.
    if (cs.registers && document(cs.key(), b) != nullptr) return Ok{};
    spdlog::warn(
        "device={} user={} change set refused: no_session (no login of this user on "
        "this device)",
        device_id, quoted_text(cs.user));
    return make_error(Errc::no_session,
                      "the user has no session on this device: a login event must come first");
}

Status ServerCore::register_user(const std::string& user, Batch& b, bool may_evict) {
    // The limit is a hard policy: the least recently used user makes room (docs/protocol.md §5.7).
    while (store_.count_users() >= static_cast<std::size_t>(std::max(1, settings_.user_limit))) {
        if (!may_evict)
            return make_error(
                Errc::user_limit,
                "the user limit is reached; a new user is registered only at a login");
        auto victim = store_.least_recent_user(user);
        if (!victim) return make_error(Errc::user_limit, "user limit reached and no user to evict");
        evict_user(victim->user, b);
    }
    int64_t now = now_ms();
    // Registered without a login (a first merge): never used here, so the first to make
    // room, behind every user who has logged in.
    store_.save_user(UserRow{user, now, may_evict ? now : 0});
    b.users.insert(user);
    b.status_changed = true;
    spdlog::info("user={} registered", quoted_text(user));
    return Ok{};
}

void ServerCore::evict_user(const std::string& user, Batch& b) {
    for (const auto& [category, version] : store_.document_versions(user)) {
        (void)version;
        DocKey key{user, category};
        b.docs[key] = std::nullopt;
        b.encodings.erase(key);
        b.dirty.erase(key);
        b.deleted.insert(key);
    }
    // Documents created earlier in this batch and not yet saved.
    for (auto& [key, doc] : b.docs) {
        if (key.user == user && doc) {
            doc.reset();
            b.encodings.erase(key);
            b.dirty.erase(key);
            b.deleted.insert(key);
        }
    }
    store_.delete_user(user);
    sessions_.close_user(user, b.session_lines);
    b.users.insert(user);
    EvictNotice notice{{user}};
    for (const auto& [id, d] : devices_) {
        if (!d.removed) reply(id, notice, b);
    }
    b.status_changed = true;
    spdlog::info("user={} evicted (least recently used, user limit {})", quoted_text(user),
                 settings_.user_limit);
}

Document* ServerCore::document(const DocKey& key, Batch& b) {
    auto it = b.docs.find(key);
    if (it == b.docs.end()) {
        if (auto taken = cache_.take(key)) {
            b.from_cache[key] = taken->bytes;
            b.encodings[key] = std::move(taken->encodings);
            it = b.docs.emplace(key, std::move(taken->doc)).first;
        } else {
            it = b.docs.emplace(key, store_.load_document(key)).first;
        }
    }
    return it->second ? &*it->second : nullptr;
}

void ServerCore::on_event(const std::string& device_id, const DeviceEvent& e, Batch& b) {
    DeviceRow* dev = joined_device(device_id, b);
    if (!dev) return;
    if (e.kind == EventKind::logout) return sessions_.close(device_id, e.user, b.session_lines);
    LoginReply r;
    r.user = e.user;
    auto known = store_.find_user(e.user);
    if (!known && !sessions_.has(device_id, e.user)) {
        // A user the server does not hold: a new user, at the device's bounded rate.
        if (auto st = sessions_.take_new_user(device_id, now_ms()); !st) {
            spdlog::warn("device={} user={} login refused: {} ({})", device_id, quoted_text(e.user),
                         errc_name(st.code()), st.error().message);
            r.reason = st.code();
            r.message = st.error().message;
            b.status_changed = true;
            b.early.push_back({topics_.device(device_id, TopicKind::device_inbox),
                               encode_msgpack_unchecked(reply_to_value(r)), false});
            return;
        }
    }
    sessions_.open(device_id, e.user, now_ms(), b.session_lines);
    if (auto& u = known) {
        u->last_used_at = std::max(u->last_used_at + 1, now_ms());
        store_.save_user(*u);
        b.users.insert(e.user);
        r.known = true;
        // Committed versions only (documents are saved at the end of the batch): the
        // reply can go out before this batch's commit, and changes in this batch reach
        // the device right after as ordinary document updates.
        CategorySet syncs = settings_.categories.intersect(dev->supported);
        for (const auto& [c, v] : store_.document_versions(e.user)) {
            if (syncs.contains(c)) r.versions[c] = v;
        }
        add_deltas(e, r);
    }
    // The user's key goes only with a session, sealed to the key this device gave in its
    // hello: a device where the user never logged in cannot open their sealed fields.
    if (auto pk = box_keys_.find(device_id);
        settings_.user_key_secret && pk != box_keys_.end() && pk->second.size() == 32) {
        BoxPublicKey to{};
        std::copy(pk->second.begin(), pk->second.end(), to.begin());
        r.sealed_key = seal_user_key(derive_user_key(*settings_.user_key_secret, e.user), to);
    }
    dev->last_sync_at = now_ms();
    spdlog::info("device={} user={} login ({} documents)", device_id, quoted_text(e.user),
                 r.versions.size());
    b.early.push_back({topics_.device(device_id, TopicKind::device_inbox),
                       encode_msgpack_unchecked(reply_to_value(r)), false});
}

// From committed state, like the versions: the cache holds committed documents only, and
// the store's copy is what the last commit left (this batch saves its documents at its end).
void ServerCore::add_deltas(const DeviceEvent& e, LoginReply& r) {
    for (const auto& [c, version] : r.versions) {
        auto have = e.have.find(c);
        if (have == e.have.end() || have->second == 0 || have->second >= version) continue;
        DocKey key{e.user, c};
        auto bytes = cache_.encoded(key);
        if (!bytes) bytes = store_.load_encoded_document(key);
        if (!bytes) continue;
        // Worth it only well under the document: otherwise the retained copy is as cheap.
        auto delta = make_delta(*bytes, have->second, bytes->size() / 2);
        if (!delta) {
            spdlog::warn("user={} {}: no delta from the stored document: {}", quoted_text(e.user),
                         category_name(c), quoted_text(delta.error().message));
        } else if (*delta) {
            r.deltas[c] = std::move(**delta);
        }
    }
}

void ServerCore::on_presence(const std::string& device_id, const Presence& p, Batch& b) {
    bool changed = p.online ? online_.insert(device_id).second : online_.erase(device_id) > 0;
    uint64_t& pending = pending_[device_id];
    if (pending != p.pending) {
        pending = p.pending;
        b.status_changed = true;
    }
    if (!p.online) sessions_.close_device(device_id, b.session_lines);
    if (changed) {
        b.status_changed = true;
        spdlog::info("device={} {}", device_id, p.online ? "online" : "offline");
    }
}

void ServerCore::reply(const std::string& device_id, const Reply& r, Batch& b) {
    if (const auto* ack = std::get_if<AckReply>(&r)) {
        // One message per device and batch for all its acks: each publish costs a QoS 1
        // round trip and thread hand-offs on both ends.
        auto [it, first] = b.acks.try_emplace(device_id);
        if (first) {
            it->second.first = b.replies.size();
            b.replies.push_back({topics_.device(device_id, TopicKind::device_inbox), "", false});
        }
        it->second.second.push_back(*ack);
        return;
    }
    b.replies.push_back({topics_.device(device_id, TopicKind::device_inbox),
                         encode_msgpack_unchecked(reply_to_value(r)), false});
}

void ServerCore::flush_acks(Batch& b) const {
    for (auto& [device_id, slot] : b.acks) {
        auto& [index, acks] = slot;
        Reply r =
            acks.size() == 1 ? Reply{std::move(acks.front())} : Reply{AckBatch{std::move(acks)}};
        b.replies[index].payload = encode_msgpack_unchecked(reply_to_value(r));
    }
    b.acks.clear();
}

void ServerCore::refuse_change(const std::string& device_id, uint64_t seq, Errc reason,
                               const std::string& message, Batch& b) {
    AckReply r;
    r.seq = seq;
    r.ok = false;
    r.reason = reason;
    r.message = message;
    reply(device_id, r, b);
}

void ServerCore::for_each_document_message(const std::function<void(Outbound&&)>& sink) {
    store_.for_each_encoded_document([&](const DocKey& key, std::string_view body) {
        if (!settings_.categories.contains(key.category)) return;
        // The stored bytes are the published bytes: no decode, no encode.
        sink({doc_topic(key), std::string(body), true});
        if (!settings_.inspect_view) return;
        if (auto doc = decode_document(body)) {
            std::vector<Outbound> inspect;
            Value v = document_to_value(*doc);
            add_inspect(inspect, doc_topic(key), &v);
            for (auto& o : inspect) sink(std::move(o));
        }
    });
}

std::vector<Outbound> ServerCore::all_documents() {
    std::vector<Outbound> out;
    for_each_document_message([&](Outbound&& o) { out.push_back(std::move(o)); });
    return out;
}

void ServerCore::add_inspect(std::vector<Outbound>& out, const std::string& topic,
                             const Value* v) const {
    if (!settings_.inspect_view) return;
    // {root}/users/alice/home -> {root}/inspect/users/alice/home
    std::string inspect = topics_.root() + "/inspect" + topic.substr(topics_.root().size());
    out.push_back({inspect,
                   v ? redact_secrets(*v).dump(2, ' ', false, Value::error_handler_t::replace) : "",
                   true});
}

Outbound ServerCore::session_table_message() const {
    return {topics_.server_sessions(), sessions_.table(), false};
}

Outbound ServerCore::status_message() const {
    return {topics_.server_status(), encode_msgpack_unchecked(status_value()), true};
}

void ServerCore::set_status_extra(const std::string& key, Value value) {
    status_extra_[key] = std::move(value);
}

Value ServerCore::status_value() const {
    Value machines = Value::array();
    for (const auto& [id, d] : devices_) {
        if (d.removed) continue;
        Value m = {{"device_id", id},
                   {"product", d.product},
                   {"firmware", d.firmware},
                   {"location", d.location},
                   {"online", online_.count(id) > 0},
                   {"pending", pending_.count(id) ? pending_.at(id) : 0},
                   {"joined_at", d.joined_at},
                   {"last_seen_at", d.last_seen_at},
                   {"last_sync_at", d.last_sync_at},
                   {"last_seq", d.last_seq},
                   {"not_synced", settings_.categories.minus(d.supported).names()},
                   {"last_error", d.last_error},
                   {"server_machine", id == settings_.device_id}};
        m.update(sessions_.status_of(id));
        machines.push_back(std::move(m));
    }
    Value refused = Value::object();
    for (const auto& [id, why] : refused_) refused[id] = why;
    Value v = {{"schema", "pds.status/1"},
               {"server_id", settings_.server_id},
               {"boot_id", boot_id_},
               {"started_at", started_at_},
               {"at", now_ms()},
               {"server_online", true},
               {"may_sleep", may_sleep()},
               {"online", static_cast<uint64_t>(online_.size())},
               {"users", static_cast<uint64_t>(store_.count_users())},
               {"user_limit", settings_.user_limit},
               {"machines", std::move(machines)},
               {"machine_count", static_cast<uint64_t>(joined_count() + 1)},
               {"machine_limit", settings_.machine_limit},
               {"categories", settings_.categories.names()},
               {"refused", std::move(refused)}};
    for (auto it = status_extra_.begin(); it != status_extra_.end(); ++it) v[it.key()] = it.value();
    return v;
}

}  // namespace pdsync::server
