// Primary side of replication: commit frames, snapshots, heartbeats, and acks that wait
// for the standby.
#include "server-node/replication/publisher.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"

namespace pdsync::server::replication {
namespace {

// Accumulates rows and publishes them as frames of bounded size: parts 0..n of one commit
// or snapshot, `last` on the final one (which may be empty).
class FrameWriter {
  public:
    FrameWriter(Frame header, std::function<void(const Frame&)> emit)
        : frame_(std::move(header)), emit_(std::move(emit)) {}

    void doc(std::string bytes) {
        bytes_ += bytes.size();
        frame_.rows.docs.push_back(std::move(bytes));
        added();
    }
    void deleted_doc(DocKey key) {
        bytes_ += key.user.size() + 32;
        frame_.rows.deleted_docs.push_back(std::move(key));
        added();
    }
    void user(UserRow row) {
        bytes_ += row.user.size() + 48;
        frame_.rows.users.push_back(std::move(row));
        added();
    }
    void deleted_user(std::string user) {
        bytes_ += user.size() + 8;
        frame_.rows.deleted_users.push_back(std::move(user));
        added();
    }
    void device(DeviceRow row) {
        bytes_ += row.device_id.size() + row.product.size() + row.firmware.size() +
                  row.location.size() + row.last_error.size() + row.epoch.size() + 256;
        frame_.rows.devices.push_back(std::move(row));
        added();
    }
    void applied(AppliedEntry entry) {
        bytes_ += entry.device_id.size() + entry.epoch.size() + entry.row.message.size() + 96;
        for (const auto& c : entry.row.conflicts) bytes_ += c.size() + 2;
        frame_.rows.applied.push_back(std::move(entry));
        added();
    }
    void finish() {
        frame_.last = true;
        emit_(frame_);
    }
    uint32_t parts() const { return frame_.part + 1; }

  private:
    void added() {
        if (frame_.rows.count() < tuning::replication::kFrameRows &&
            bytes_ < tuning::replication::kFrameBytes)
            return;
        frame_.last = false;
        emit_(frame_);
        frame_.rows = Rows{};
        ++frame_.part;
        bytes_ = 0;
    }

    Frame frame_;
    std::function<void(const Frame&)> emit_;
    std::size_t bytes_ = 0;
};

int64_t ms_between(std::chrono::steady_clock::time_point a,
                   std::chrono::steady_clock::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

}  // namespace

ReplicationPublisher::ReplicationPublisher(ServerStore& store, Topics topics,
                                           PublisherSettings settings, Publish publish, Wake wake)
    : store_(store),
      topics_(std::move(topics)),
      settings_(std::move(settings)),
      publish_(std::move(publish)),
      wake_(std::move(wake)),
      stream_(random_hex(8)),
      request_topic_(topics_.replication_request()),
      ack_topic_(topics_.replication_ack()),
      at_(now_ms()) {
    for (const auto& d : store_.list_devices()) devices_[d.device_id] = {d.epoch, d.last_seq};
}

std::vector<std::string> ReplicationPublisher::filters(const Topics& topics) {
    return {topics.replication_request(), topics.replication_ack()};
}

bool ReplicationPublisher::handles(const std::string& topic) const {
    return topic == request_topic_ || topic == ack_topic_;
}

void ReplicationPublisher::on_message(const std::string& topic, const std::string& payload) {
    auto report = decode_report(payload);
    if (!report) {
        spdlog::warn("replication: ignored a message on {}: {}", topic, report.error().message);
        return;
    }
    {
        std::lock_guard lock(mu_);
        reports_.push_back(std::move(report).value());
        if (topic == request_topic_) snapshot_requested_ = true;
    }
    wake_();
}

Frame ReplicationPublisher::header(FrameKind kind) const {
    Frame f;
    f.kind = kind;
    f.stream = stream_;
    f.primary = settings_.server_id;
    f.seq = seq_;
    f.at = at_;
    return f;
}

void ReplicationPublisher::publish_frame(const Frame& frame) {
    publish_(Outbound{topics_.replication(), encode_frame(frame), false});
}

bool ReplicationPublisher::any_listening(Clock::time_point now) const {
    return std::any_of(standbys_.begin(), standbys_.end(), [&](const auto& kv) {
        return now - kv.second.heard < tuning::replication::kStandbyForget;
    });
}

bool ReplicationPublisher::any_attached() const {
    return std::any_of(standbys_.begin(), standbys_.end(),
                       [](const auto& kv) { return kv.second.attached; });
}

uint64_t ReplicationPublisher::confirmed() const {
    uint64_t best = 0;
    for (const auto& [id, s] : standbys_) {
        if (s.attached) best = std::max(best, s.applied);
    }
    return best;
}

void ReplicationPublisher::on_commit(const CommitRecord& record) {
    ++seq_;
    at_ = now_ms();
    auto now = Clock::now();
    if (!any_listening(now)) {
        commit_times_.clear();
        return;  // nobody to send it to; a standby that comes starts with a snapshot
    }
    commit_times_.emplace_back(seq_, now);
    while (commit_times_.size() > tuning::replication::kMaxTrackedCommits)
        commit_times_.pop_front();
    // Called after the commit and before any other transaction: the store holds exactly
    // what this commit left. Nothing may escape into ServerCore: a failure only skips
    // this frame, and the gap makes every standby ask for a snapshot.
    try {
        FrameWriter w(header(FrameKind::commit), [this](const Frame& f) { publish_frame(f); });
        std::set<DocKey> keys = record.saved;
        keys.insert(record.deleted.begin(), record.deleted.end());
        for (const auto& key : keys) {
            if (auto doc = store_.load_document(key)) {
                w.doc(encode_document(*doc));
            } else {
                w.deleted_doc(key);
            }
        }
        for (const auto& user : record.users) {
            if (auto row = store_.find_user(user)) {
                w.user(*row);
            } else {
                w.deleted_user(user);
            }
        }
        for (const auto& id : record.devices) {
            auto row = store_.find_device(id);
            if (!row) continue;  // device rows are never deleted
            // The change sets this commit applied: those after what was last replicated,
            // and at most one batch's worth (a hello may move last_seq far ahead).
            uint64_t from = 1;
            if (auto it = devices_.find(id); it != devices_.end() && it->second.first == row->epoch)
                from = it->second.second + 1;
            const uint64_t batch = tuning::server::kMaxBatchMessages;
            if (row->last_seq > batch) from = std::max(from, row->last_seq - batch + 1);
            if (!row->epoch.empty() && row->last_seq >= from) {
                for (auto& [seq, applied] : store_.list_applied(id, row->epoch, from))
                    w.applied(AppliedEntry{id, row->epoch, seq, std::move(applied)});
            }
            devices_[id] = {row->epoch, row->last_seq};
            w.device(std::move(*row));
        }
        w.finish();
    } catch (const std::exception& e) {
        spdlog::error("replication: commit {} not sent, standbys will resynchronize: {}", seq_,
                      e.what());
    }
}

std::vector<Outbound> ReplicationPublisher::gate(std::vector<Outbound> out) {
    if (settings_.ack_wait.count() <= 0) return out;
    auto now = Clock::now();
    std::vector<Outbound> ready;
    release(now, ready);
    if (held_.empty() && (!any_attached() || confirmed() >= seq_)) {
        ready.insert(ready.end(), std::make_move_iterator(out.begin()),
                     std::make_move_iterator(out.end()));
        return ready;
    }
    for (auto& o : out) {
        // Documents and status go now (a device may see a change before its ack, as
        // always); the replies wait for the standby.
        if (o.retained) {
            ready.push_back(std::move(o));
        } else {
            held_.push_back(Held{std::move(o), seq_, now});
        }
    }
    return ready;
}

void ReplicationPublisher::release(Clock::time_point now, std::vector<Outbound>& out) {
    while (!held_.empty()) {
        Held& h = held_.front();
        if (!any_attached() || confirmed() >= h.seq) {
            out.push_back(std::move(h.message));
            held_.pop_front();
            continue;
        }
        if (now - h.since < settings_.ack_wait) return;
        for (auto& [id, s] : standbys_) {
            if (s.attached && s.applied < h.seq) {
                s.attached = false;
                status_changed_ = true;
                spdlog::warn(
                    "replication: standby {} did not confirm commit {} within {} ms; acks no "
                    "longer wait for it until it catches up",
                    id, h.seq, settings_.ack_wait.count());
            }
        }
    }
}

void ReplicationPublisher::take_reports(Clock::time_point now) {
    std::vector<StandbyReport> reports;
    bool snapshot = false;
    {
        std::lock_guard lock(mu_);
        reports.swap(reports_);
        snapshot = std::exchange(snapshot_requested_, false);
    }
    bool was_listening = any_listening(now);
    for (auto& r : reports) {
        Standby& s = standbys_[r.standby_id];
        if (!s.connected) {
            s.connected = true;
            status_changed_ = true;
            spdlog::info("replication: standby {} connected (stream '{}', commit {})", r.standby_id,
                         r.stream, r.applied);
        }
        s.heard = now;
        s.stream = r.stream;
        s.applied = r.stream == stream_ ? r.applied : 0;
    }
    if (!reports.empty() && !was_listening) next_heartbeat_ = now;  // answer a newcomer at once
    if (snapshot) send_snapshot();
    for (auto& [id, s] : standbys_) {
        if (s.connected && now - s.heard >= tuning::replication::kStandbyAlive) {
            s.connected = false;
            status_changed_ = true;
            spdlog::warn("replication: standby {} silent for {} ms; acks no longer wait for it", id,
                         ms_between(s.heard, now));
        }
        if (!s.connected && s.attached) {
            s.attached = false;
            status_changed_ = true;
        }
        if (s.connected && !s.attached && s.stream == stream_ && s.applied >= seq_) {
            s.attached = true;
            status_changed_ = true;
            spdlog::info("replication: standby {} caught up at commit {}{}", id, seq_,
                         settings_.ack_wait.count() > 0 ? "; acks now wait for it" : "");
        }
    }
}

void ReplicationPublisher::send_snapshot() {
    try {
        Frame h = header(FrameKind::snapshot);
        h.at = now_ms();
        std::size_t docs = 0;
        std::size_t users = 0;
        std::size_t devices = 0;
        FrameWriter w(h, [this](const Frame& f) { publish_frame(f); });
        devices_.clear();
        for (auto& d : store_.list_devices()) {
            if (!d.epoch.empty() && d.last_seq > 0) {
                uint64_t keep = tuning::replication::kSnapshotAppliedPerDevice;
                uint64_t from = d.last_seq > keep ? d.last_seq - keep + 1 : 1;
                for (auto& [seq, applied] : store_.list_applied(d.device_id, d.epoch, from))
                    w.applied(AppliedEntry{d.device_id, d.epoch, seq, std::move(applied)});
            }
            devices_[d.device_id] = {d.epoch, d.last_seq};
            w.device(std::move(d));
            ++devices;
        }
        for (auto& u : store_.list_users()) {
            w.user(std::move(u));
            ++users;
        }
        store_.for_each_document([&](const Document& doc) {
            w.doc(encode_document(doc));
            ++docs;
        });
        w.finish();
        spdlog::info(
            "replication: snapshot at commit {}: {} documents, {} users, {} devices in {} frames",
            seq_, docs, users, devices, w.parts());
    } catch (const std::exception& e) {
        // The standby asks again after tuning::replication::kSnapshotRetry.
        spdlog::error("replication: snapshot failed: {}", e.what());
    }
}

std::vector<Outbound> ReplicationPublisher::poll() {
    auto now = Clock::now();
    take_reports(now);
    if (any_listening(now) && now >= next_heartbeat_) {
        Frame beat = header(FrameKind::heartbeat);
        beat.at = now_ms();
        publish_frame(beat);
        next_heartbeat_ = now + tuning::replication::kHeartbeat;
    }
    uint64_t best = 0;
    for (const auto& [id, s] : standbys_) best = std::max(best, s.applied);
    while (!commit_times_.empty() && commit_times_.front().first <= best) commit_times_.pop_front();
    std::vector<Outbound> out;
    release(now, out);
    return out;
}

ReplicationPublisher::Clock::time_point ReplicationPublisher::next_poll() const {
    auto now = Clock::now();
    auto next = Clock::time_point::max();
    if (any_listening(now)) next = std::min(next, next_heartbeat_);
    if (!held_.empty()) next = std::min(next, held_.front().since + settings_.ack_wait);
    return next;
}

bool ReplicationPublisher::take_status_changed() {
    return std::exchange(status_changed_, false);
}

Value ReplicationPublisher::status() const {
    auto now = Clock::now();
    const Standby* best = nullptr;
    std::string best_id;
    Value all = Value::array();
    for (const auto& [id, s] : standbys_) {
        all.push_back({{"standby_id", id},
                       {"connected", s.connected},
                       {"attached", s.attached},
                       {"applied", s.applied},
                       {"heard_ms_ago", ms_between(s.heard, now)}});
        bool better = !best || (s.connected && !best->connected) ||
                      (s.connected == best->connected && s.applied > best->applied);
        if (better) {
            best = &s;
            best_id = id;
        }
    }
    uint64_t applied = best ? best->applied : 0;
    int64_t lag_ms = 0;
    if (applied < seq_) {
        for (const auto& [seq, at] : commit_times_) {
            if (seq > applied) {
                lag_ms = ms_between(at, now);
                break;
            }
        }
    }
    Value v = {{"connected", best && best->connected},
               {"attached", any_attached()},
               {"acks_wait", any_attached() && settings_.ack_wait.count() > 0},
               {"ack_wait_ms", static_cast<int64_t>(settings_.ack_wait.count())},
               {"stream", stream_},
               {"seq", seq_},
               {"applied", applied},
               {"lag", {{"records", seq_ - applied}, {"ms", lag_ms}}},
               {"standbys", std::move(all)}};
    if (best) {
        v["standby_id"] = best_id;
        v["heard_ms_ago"] = ms_between(best->heard, now);
    }
    return v;
}

}  // namespace pdsync::server::replication
