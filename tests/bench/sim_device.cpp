// Simulated device over a real MQTT connection (see sim_device.hpp).
#include "tests/bench/sim_device.hpp"

#include <string_view>

#include "shared/base/hex.hpp"
#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"
#include "shared/user_id.hpp"

namespace pdsync::bench {
namespace {

constexpr std::size_t kAcksKept = 4096;  // acks remembered for wait_ack()

// A forward-only MessagePack reader that skips values without building them: a simulated
// device needs only a document's `version`, and decoding 200 KiB on Paho's shared thread
// would delay every other device's messages (and so the figures).
class Skipper {
  public:
    explicit Skipper(std::string_view bytes)
        : p_(reinterpret_cast<const uint8_t*>(bytes.data())), end_(p_ + bytes.size()) {}

    bool map_header(uint32_t& n) {
        if (!need(1)) return false;
        uint8_t b = *p_++;
        if ((b & 0xF0) == 0x80) return (n = b & 0x0F), true;
        if (b == 0xDE) return big(2, n);
        if (b == 0xDF) return big(4, n);
        return false;
    }
    bool str(std::string_view& out) {
        if (!need(1)) return false;
        uint8_t b = *p_++;
        uint32_t len = 0;
        if ((b & 0xE0) == 0xA0) {
            len = b & 0x1F;
        } else if (b < 0xD9 || b > 0xDB || !big(1u << (b - 0xD9), len)) {
            return false;
        }
        if (!need(len)) return false;
        out = std::string_view(reinterpret_cast<const char*>(p_), len);
        p_ += len;
        return true;
    }
    bool uint(uint64_t& out) {
        if (!need(1)) return false;
        uint8_t b = *p_++;
        if (b <= 0x7F) return (out = b), true;
        if (b >= 0xCC && b <= 0xCF) return big(1u << (b - 0xCC), out);
        return false;
    }
    // Skips one value of any type.
    bool skip() {
        if (!need(1)) return false;
        uint8_t b = *p_++;
        if (b <= 0x7F || b >= 0xE0 || b == 0xC0 || b == 0xC2 || b == 0xC3) return true;
        if ((b & 0xF0) == 0x80) return skip_items(2ull * (b & 0x0F));
        if ((b & 0xF0) == 0x90) return skip_items(b & 0x0F);
        if ((b & 0xE0) == 0xA0) return advance(b & 0x1F);
        uint32_t n = 0;
        switch (b) {
            case 0xC4:
            case 0xD9:
                return big(1, n) && advance(n);
            case 0xC5:
            case 0xDA:
                return big(2, n) && advance(n);
            case 0xC6:
            case 0xDB:
                return big(4, n) && advance(n);
            case 0xC7:
                return big(1, n) && advance(n + 1ull);
            case 0xC8:
                return big(2, n) && advance(n + 1ull);
            case 0xC9:
                return big(4, n) && advance(n + 1ull);
            case 0xCA:
            case 0xCE:
            case 0xD2:
                return advance(4);
            case 0xCB:
            case 0xCF:
            case 0xD3:
                return advance(8);
            case 0xCC:
            case 0xD0:
                return advance(1);
            case 0xCD:
            case 0xD1:
                return advance(2);
            case 0xD4:
                return advance(2);
            case 0xD5:
                return advance(3);
            case 0xD6:
                return advance(5);
            case 0xD7:
                return advance(9);
            case 0xD8:
                return advance(17);
            case 0xDC:
                return big(2, n) && skip_items(n);
            case 0xDD:
                return big(4, n) && skip_items(n);
            case 0xDE:
                return big(2, n) && skip_items(2ull * n);
            case 0xDF:
                return big(4, n) && skip_items(2ull * n);
            default:
                return false;
        }
    }

  private:
    bool need(uint64_t n) const { return static_cast<uint64_t>(end_ - p_) >= n; }
    bool advance(uint64_t n) {
        if (!need(n)) return false;
        p_ += n;
        return true;
    }
    bool skip_items(uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) {
            if (!skip()) return false;
        }
        return true;
    }
    template <typename T>
    bool big(unsigned bytes, T& out) {
        if (!need(bytes)) return false;
        uint64_t v = 0;
        for (unsigned i = 0; i < bytes; ++i) v = (v << 8) | *p_++;
        out = static_cast<T>(v);
        return true;
    }

    const uint8_t* p_;
    const uint8_t* end_;
};

}  // namespace

uint64_t peek_version(const std::string& payload) {
    Skipper in(payload);
    uint32_t n = 0;
    if (!in.map_header(n)) return 0;
    for (uint32_t i = 0; i < n; ++i) {
        std::string_view key;
        if (!in.str(key)) return 0;
        uint64_t version = 0;
        if (key == "version") return in.uint(version) ? version : 0;
        if (!in.skip()) return 0;
    }
    return 0;
}

SimDevice::SimDevice(const std::string& broker_uri, Topics topics, std::string device_id)
    : id_(std::move(device_id)), topics_(std::move(topics)), epoch_(random_hex(8)) {
    net::MqttSettings s;
    s.servers = {broker_uri};
    s.client_id = id_;
    s.will =
        net::MqttSettings::Will{topics_.device(id_, TopicKind::device_presence),
                                encode_msgpack_unchecked(presence_to_value({id_, false, 0})), true};
    net::MqttLink::Handlers h;
    h.on_message = [this](net::Received m) { on_message(m); };
    link_ = std::make_unique<net::MqttLink>(std::move(s), std::move(h));
    link_->subscribe({topics_.device(id_, TopicKind::device_inbox)});
}

SimDevice::~SimDevice() {
    link_->stop(std::chrono::milliseconds(0));
}

void SimDevice::start() {
    link_->start();
}

bool SimDevice::wait_connected(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return link_->wait_connected(std::max(left, std::chrono::milliseconds(0)));
}

void SimDevice::send_hello() {
    (void)link_->publish(topics_.device(id_, TopicKind::device_presence),
                         encode_msgpack_unchecked(presence_to_value({id_, true, now_ms()})), true);
    Hello h;
    h.device_id = id_;
    h.product = "pdsync-bench-sim";
    h.firmware = "1.0";
    h.protocol = tuning::protocol::kProtocolVersion;
    h.categories = CategorySet::all();
    h.auth_digest = AuthProfile{}.digest();
    h.epoch = epoch_;
    {
        std::lock_guard lock(mu_);
        h.next_seq = next_seq_;
    }
    (void)link_->publish(topics_.device(id_, TopicKind::device_hello),
                         encode_msgpack_unchecked(hello_to_value(h)), false);
}

bool SimDevice::wait_joined(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return joined_; });
}

bool SimDevice::join(Clock::time_point deadline) {
    send_hello();
    return wait_joined(deadline);
}

std::string SimDevice::refusal() {
    std::lock_guard lock(mu_);
    return refusal_;
}

void SimDevice::publish_event(EventKind kind, const std::string& user) {
    (void)link_->publish(topics_.device(id_, TopicKind::device_events),
                         encode_msgpack_unchecked(event_to_value({id_, kind, user, now_ms(), {}})),
                         false);
}

std::optional<double> SimDevice::login(const std::string& user, std::chrono::milliseconds timeout) {
    auto started = Clock::now();
    {
        std::lock_guard lock(mu_);
        login_ = Login{user, false, {}, {}, std::nullopt};
    }
    // The real client's order: subscribe, then the event (one connection keeps it).
    link_->subscribe({topics_.user_docs_filter(user)});
    publish_event(EventKind::login, user);
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, started + timeout, [&] { return login_->ready_at.has_value(); }))
        return std::nullopt;
    return ms_between(started, *login_->ready_at);
}

void SimDevice::logout() {
    std::string user;
    {
        std::lock_guard lock(mu_);
        if (!login_) return;
        user = login_->user;
        login_.reset();
        announced_.erase(user);
    }
    link_->unsubscribe({topics_.user_docs_filter(user)});
    publish_event(EventKind::logout, user);
}

void SimDevice::watch(const std::string& user) {
    link_->subscribe({topics_.user_docs_filter(user)});
}

std::optional<Clock::time_point> SimDevice::wait_document(const std::string& topic,
                                                          uint64_t version,
                                                          Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    bool ok = cv_.wait_until(lock, deadline, [&] {
        auto it = seen_.find(topic);
        return it != seen_.end() && it->second.version >= version;
    });
    if (!ok) return std::nullopt;
    return seen_[topic].at;
}

uint64_t SimDevice::document_version(const std::string& topic) {
    std::lock_guard lock(mu_);
    auto it = seen_.find(topic);
    return it == seen_.end() ? 0 : it->second.version;
}

uint64_t SimDevice::send_changes(const std::string& user, Category category,
                                 std::vector<ChangeOp> ops) {
    ChangeSet cs;
    cs.device_id = id_;
    cs.epoch = epoch_;
    cs.user = user;
    cs.category = category;
    cs.created_at = now_ms();
    cs.ops = std::move(ops);
    bool announce = false;
    {
        std::lock_guard lock(mu_);
        cs.seq = next_seq_++;
        announce = !user.empty() && announced_.insert(user).second;
    }
    // The server takes a user's change sets only within a session (docs/security.md).
    if (announce) publish_event(EventKind::login, user);
    (void)link_->publish(topics_.device(id_, TopicKind::device_changes),
                         encode_msgpack_unchecked(change_set_to_value(cs)), false);
    return cs.seq;
}

std::optional<std::pair<AckReply, Clock::time_point>> SimDevice::wait_ack(
    uint64_t seq, Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return acks_.count(seq) > 0; })) return std::nullopt;
    return acks_[seq];
}

bool SimDevice::wait_window(std::size_t window, Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return next_seq_ - 1 - answered_ < window; });
}

uint64_t SimDevice::acked_ok() {
    std::lock_guard lock(mu_);
    return acked_ok_;
}

uint64_t SimDevice::acked_failed() {
    std::lock_guard lock(mu_);
    return acked_failed_;
}

std::string SimDevice::last_ack_error() {
    std::lock_guard lock(mu_);
    return last_ack_error_;
}

// ---- Paho's thread ------------------------------------------------------------------

void SimDevice::on_message(const net::Received& m) {
    auto at = Clock::now();
    bytes_ += m.topic.size() + m.payload.size();
    auto t = topics_.parse(m.topic);
    if (!t) return;
    if (t->kind == TopicKind::user_doc) {
        document_bytes_ += m.payload.size();
        return on_document(*t, m, at);
    }
    if (t->kind != TopicKind::device_inbox || t->device_id != id_) return;
    auto v = decode_msgpack(m.payload);
    if (!v) return;
    auto r = reply_from_value(*v);
    if (!r) return;
    for (const auto& one : flatten_reply(std::move(r).value())) on_reply(one, at);
}

void SimDevice::on_reply(const Reply& r, Clock::time_point at) {
    {
        std::lock_guard lock(mu_);
        if (const auto* j = std::get_if<JoinReply>(&r)) {
            joined_ = j->accepted;
            if (!j->accepted) refusal_ = std::string(errc_name(j->reason)) + ": " + j->message;
        } else if (const auto* a = std::get_if<AckReply>(&r)) {
            if (a->seq == 0) return;
            ++answered_;
            (a->ok ? acked_ok_ : acked_failed_) += 1;
            if (!a->ok) last_ack_error_ = std::string(errc_name(a->reason)) + ": " + a->message;
            acks_[a->seq] = {*a, at};
            if (acks_.size() > kAcksKept) acks_.erase(acks_.begin());
        } else if (const auto* l = std::get_if<LoginReply>(&r)) {
            if (!login_ || login_->user != l->user) return;
            login_->manifest = true;
            login_->wanted = l->versions;
            check_ready(at);
        }
    }
    cv_.notify_all();
}

void SimDevice::on_document(const ParsedTopic& t, const net::Received& m, Clock::time_point at) {
    uint64_t version = peek_version(m.payload);
    {
        std::lock_guard lock(mu_);
        auto& seen = seen_[m.topic];
        if (version >= seen.version) seen = Seen{version, at};
        if (login_ && login_->user == t.user) {
            login_->have[t.category] = std::max(login_->have[t.category], version);
            check_ready(at);
        }
    }
    cv_.notify_all();
}

// Called with mu_ held: ready once the manifest and every listed version are here.
void SimDevice::check_ready(Clock::time_point at) {
    if (!login_ || login_->ready_at || !login_->manifest) return;
    for (const auto& [c, version] : login_->wanted) {
        auto it = login_->have.find(c);
        if (it == login_->have.end() || it->second < version) return;
    }
    login_->ready_at = at;
}

}  // namespace pdsync::bench
