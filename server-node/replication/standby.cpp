// Standby side of replication: snapshot, then commit frames in order, one transaction each.
#include "server-node/replication/standby.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"

namespace pdsync::server::replication {
namespace {

int64_t ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 t)
        .count();
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
    return out;
}

}  // namespace

Standby::Standby(ServerStore& store, Topics topics, StandbySettings settings)
    : store_(store), topics_(std::move(topics)), settings_(std::move(settings)) {
    net::MqttLink::Handlers h;
    h.on_message = [this](net::Received m) {
        push(Event{Event::Kind::message, std::move(m.payload)});
    };
    h.on_connected = [this] { push(Event{Event::Kind::connected, {}}); };
    h.on_lost = [this](const std::string&) { push(Event{Event::Kind::lost, {}}); };
    link_ = std::make_unique<net::MqttLink>(settings_.primary, std::move(h));
    link_->subscribe({topics_.replication()});
    if (auto seq = store_.meta("replication_seq")) {
        spdlog::info("replication: the store holds commit {} of stream '{}' from {}", *seq,
                     store_.meta("replication_stream").value_or(""),
                     store_.meta("replication_primary").value_or("?"));
    }
}

Standby::~Standby() {
    stop();
}

void Standby::start() {
    spdlog::info("replication: standby of {} (client id {})", joined(settings_.primary.servers),
                 settings_.primary.client_id);
    thread_ = std::thread([this] { run(); });
    link_->start();
}

void Standby::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ || !thread_.joinable()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    link_->stop(std::chrono::milliseconds(0));
    thread_.join();
    // The state stays what it was when replication stopped: promotion reports it.
    std::lock_guard lock(mu_);
    shown_.connected = false;
    shown_.stopped = true;
}

void Standby::push(Event e) {
    {
        std::lock_guard lock(mu_);
        events_.push_back(std::move(e));
    }
    cv_.notify_one();
}

void Standby::run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        // Woken by frames; otherwise a short tick for reports and retries.
        cv_.wait_for(lock, tuning::replication::kHeartbeat / 5,
                     [&] { return stopping_ || !events_.empty(); });
        if (stopping_) break;
        std::deque<Event> events;
        events.swap(events_);
        lock.unlock();
        bool applied_any = false;
        for (auto& e : events) {
            switch (e.kind) {
                case Event::Kind::connected:
                    connected_ = true;
                    requested_at_.reset();
                    send_report(need_snapshot_);
                    break;
                case Event::Kind::lost:
                    connected_ = false;
                    // Frames sent meanwhile are gone: a half-received commit never completes.
                    if (txn_)
                        resync("the connection dropped in the middle of a commit or snapshot");
                    break;
                case Event::Kind::message: {
                    auto frame = decode_frame(e.payload);
                    if (!frame) {
                        spdlog::warn("replication: bad frame: {}", frame.error().message);
                        if (txn_) resync("a frame of a commit could not be read");
                        break;
                    }
                    uint64_t before = applied_;
                    on_frame(*frame);
                    applied_any = applied_any || applied_ != before;
                    break;
                }
            }
        }
        // One report for everything applied in this round: the primary's acks wait for it.
        if (applied_any && !need_snapshot_) send_report(false);
        tick(Clock::now());
        show();
        lock.lock();
    }
    lock.unlock();
    abort_partial();
}

void Standby::on_frame(const Frame& f) {
    heard_ = Clock::now();
    if (!f.primary.empty()) primary_id_ = f.primary;
    try {
        switch (f.kind) {
            case FrameKind::heartbeat:
                if (need_snapshot_) {
                    primary_seq_ = f.seq;
                    // The primary hears us but sent no snapshot: the request went out before
                    // it subscribed (both starting at once). Ask again without the full wait.
                    if (!txn_ && requested_at_ &&
                        *heard_ - *requested_at_ >= 2 * tuning::replication::kHeartbeat)
                        send_report(true);
                    return;
                }
                if (f.stream != stream_) return resync("the primary restarted (new stream)");
                primary_seq_ = std::max(primary_seq_, f.seq);
                // Frames arrive in the order they were published, a heartbeat after the
                // commits it counts: a higher count means commit frames were lost.
                if (!txn_ && f.seq > applied_) {
                    return resync("commits " + std::to_string(applied_ + 1) + ".." +
                                  std::to_string(f.seq) + " never arrived");
                }
                return;
            case FrameKind::snapshot:
                return on_snapshot_frame(f);
            case FrameKind::commit:
                return on_commit_frame(f);
        }
    } catch (const std::exception& e) {
        spdlog::error("replication: could not apply a frame: {}", e.what());
        resync(std::string("the store failed: ") + e.what());
    }
}

void Standby::on_snapshot_frame(const Frame& f) {
    if (!need_snapshot_) return;  // another standby asked for it
    if (f.part == 0) {
        abort_partial();
        txn_ = store_.begin();
        store_.clear_all();
        partial_kind_ = FrameKind::snapshot;
        partial_seq_ = f.seq;
        partial_stream_ = f.stream;
        next_part_ = 0;
        spdlog::info("replication: receiving a snapshot of commit {} from {}", f.seq, f.primary);
    } else if (!txn_ || partial_kind_ != FrameKind::snapshot || partial_seq_ != f.seq ||
               partial_stream_ != f.stream || f.part != next_part_) {
        // A part went missing: drop this snapshot; the retry asks for a new one.
        abort_partial();
        return;
    }
    apply_rows(f.rows);
    ++next_part_;
    partial_since_ = Clock::now();
    if (!f.last) return;
    store_.set_meta("replication_primary", f.primary);
    store_.set_meta("replication_stream", f.stream);
    store_.set_meta("replication_seq", std::to_string(f.seq));
    txn_->commit();
    txn_.reset();
    stream_ = f.stream;
    applied_ = f.seq;
    primary_seq_ = f.seq;
    last_applied_at_ = f.at;
    need_snapshot_ = false;
    requested_at_.reset();
    ++snapshots_;
    spdlog::info("replication: snapshot of commit {} applied ({} frames); following stream {}",
                 f.seq, next_part_, f.stream);
    send_report(false);
}

void Standby::on_commit_frame(const Frame& f) {
    if (need_snapshot_) return;  // the snapshot will hold it
    if (f.stream != stream_) return resync("the primary restarted (new stream)");
    primary_seq_ = std::max(primary_seq_, f.seq);
    if (txn_) {
        if (partial_kind_ != FrameKind::commit || f.seq != partial_seq_ || f.part != next_part_) {
            return resync("a part of commit " + std::to_string(partial_seq_) + " never arrived");
        }
    } else {
        if (f.seq <= applied_) return;  // already held
        if (f.seq != applied_ + 1 || f.part != 0) {
            return resync("expected commit " + std::to_string(applied_ + 1) + ", got commit " +
                          std::to_string(f.seq) + " part " + std::to_string(f.part));
        }
        txn_ = store_.begin();
        partial_kind_ = FrameKind::commit;
        partial_seq_ = f.seq;
        partial_stream_ = f.stream;
        next_part_ = 0;
    }
    apply_rows(f.rows);
    ++next_part_;
    partial_since_ = Clock::now();
    if (!f.last) return;
    store_.set_meta("replication_seq", std::to_string(f.seq));
    txn_->commit();
    txn_.reset();
    applied_ = f.seq;
    last_applied_at_ = f.at;
    ++commits_;
}

void Standby::apply_rows(const Rows& rows) {
    for (const auto& key : rows.deleted_docs) store_.delete_document(key);
    for (const auto& user : rows.deleted_users) store_.delete_user(user);
    for (const auto& user : rows.users) store_.save_user(user);
    for (const auto& bytes : rows.docs) {
        auto doc = decode_document(bytes);
        if (!doc)
            throw std::runtime_error("a replicated document does not decode: " +
                                     doc.error().message);
        store_.save_document(*doc);
    }
    for (const auto& device : rows.devices) store_.save_device(device);
    for (const auto& a : rows.applied) store_.record_applied(a.device_id, a.epoch, a.seq, a.row);
}

void Standby::abort_partial() {
    txn_.reset();  // rolls back
}

void Standby::resync(const std::string& why) {
    abort_partial();
    ++resyncs_;
    if (!need_snapshot_) spdlog::warn("replication: {}; asking for a snapshot", why);
    need_snapshot_ = true;
    requested_at_.reset();
    send_report(true);
}

void Standby::send_report(bool request_snapshot) {
    if (!connected_) return;
    auto now = Clock::now();
    StandbyReport r{settings_.server_id, need_snapshot_ ? "" : stream_, applied_, now_ms()};
    const std::string topic =
        request_snapshot ? topics_.replication_request() : topics_.replication_ack();
    if (auto st = link_->publish(topic, encode_report(r), false); !st) {
        spdlog::warn("replication: report not sent: {}", st.error().message);
        return;
    }
    if (request_snapshot) {
        requested_at_ = now;
        spdlog::info("replication: asked the primary for a snapshot");
    }
    next_report_ = now + tuning::replication::kHeartbeat;
}

void Standby::tick(Clock::time_point now) {
    if (txn_ && now - partial_since_ >= tuning::replication::kSnapshotRetry) {
        return resync(std::string(frame_kind_name(partial_kind_)) + " " +
                      std::to_string(partial_seq_) + " stopped arriving");
    }
    if (!connected_) return;
    if (need_snapshot_ && !txn_ &&
        (!requested_at_ || now - *requested_at_ >= tuning::replication::kSnapshotRetry)) {
        send_report(true);
    } else if (now >= next_report_) {
        send_report(false);
    }
}

void Standby::show() {
    auto now = Clock::now();
    bool behind = need_snapshot_ || txn_ || primary_seq_ > applied_;
    std::lock_guard lock(mu_);
    if (!connected_) {
        shown_.state = heard_ ? "disconnected" : "connecting";
    } else if (need_snapshot_) {
        shown_.state = txn_ ? "snapshot" : "waiting_snapshot";
    } else {
        shown_.state = "streaming";
    }
    shown_.connected = connected_;
    shown_.in_sync = !need_snapshot_ && !txn_ && applied_ >= primary_seq_;
    shown_.primary_id = primary_id_;
    shown_.stream = stream_;
    shown_.applied = applied_;
    shown_.primary_seq = primary_seq_;
    shown_.last_applied_at = last_applied_at_;
    shown_.heard = heard_;
    if (!behind) {
        shown_.behind_since.reset();
    } else if (!shown_.behind_since) {
        shown_.behind_since = now;
    }
    shown_.snapshots = snapshots_;
    shown_.commits = commits_;
    shown_.resyncs = resyncs_;
}

Value Standby::status() const {
    std::lock_guard lock(mu_);
    const Shown& s = shown_;
    uint64_t records = s.primary_seq > s.applied ? s.primary_seq - s.applied : 0;
    Value v = {
        {"role", "standby"},
        {"server_id", settings_.server_id},
        {"primary", joined(settings_.primary.servers)},
        {"primary_id", s.primary_id},
        {"state", s.state},
        {"stopped", s.stopped},
        {"in_sync", s.in_sync},
        {"connected", s.connected},
        {"stream", s.stream},
        {"applied_seq", s.applied},
        {"primary_seq", s.primary_seq},
        {"lag", {{"records", records}, {"ms", s.behind_since ? ms_since(*s.behind_since) : 0}}},
        {"last_applied_at", s.last_applied_at},
        {"heard_ms_ago", s.heard ? ms_since(*s.heard) : -1},
        {"snapshots", s.snapshots},
        {"commits_applied", s.commits},
        {"resyncs", s.resyncs}};
    return v;
}

}  // namespace pdsync::server::replication
