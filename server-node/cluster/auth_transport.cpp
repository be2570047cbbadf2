// The cluster-secret handshake around libraft's TCP transport (auth_transport.hpp).
#include "server-node/cluster/auth_transport.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <list>
#include <string>

#include "shared/base/tuning.hpp"
#include "shared/codec.hpp"

namespace pdsync::server::cluster {
namespace {

constexpr std::size_t kNonce = 32;
constexpr std::size_t kMac = crypto_auth_hmacsha256_BYTES;
static_assert(kMac == 32);

// A peer's claimed address, quoted with control characters escaped, for a log line.
std::string log_quoted(const std::string& s) {
    return Value(s).dump(-1, ' ', false, Value::error_handler_t::replace);
}

}  // namespace

struct Handshake;

struct AuthTransport::Impl {
    uv_loop_t* loop = nullptr;
    ClusterSecret secret{};
    raft_uv_transport inner{};
    raft_uv_transport* outer = nullptr;
    bool inner_ready = false;
    raft_id id = 0;  // this member's
    raft_uv_accept_cb accept_cb = nullptr;
    bool closing = false;
    raft_uv_transport_close_cb close_cb = nullptr;
    std::list<Handshake*> pending;

    void mac(const char* label, raft_id dialer, const unsigned char* nonce_a,
             const unsigned char* nonce_d, unsigned char* out) const {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, secret.data(), secret.size());
        crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(label),
                                      std::strlen(label) + 1);
        unsigned char id_le[8];
        for (int i = 0; i < 8; ++i) id_le[i] = static_cast<unsigned char>(dialer >> (8 * i));
        crypto_auth_hmacsha256_update(&st, id_le, sizeof id_le);
        crypto_auth_hmacsha256_update(&st, nonce_a, kNonce);
        crypto_auth_hmacsha256_update(&st, nonce_d, kNonce);
        crypto_auth_hmacsha256_final(&st, out);
        sodium_memzero(&st, sizeof st);
    }
};

// One connection between libraft's TCP handshake and raft: the acceptor's or the dialer's
// side of the exchange. Freed once its timer is closed and its writes are done.
struct Handshake {
    AuthTransport::Impl* owner = nullptr;
    uv_stream_t* stream = nullptr;
    uv_timer_t timer{};
    bool dialer = false;
    raft_id dialer_id = 0;
    std::string address;             // acceptor: what the dialer claims; dialer: the peer's
    raft_id peer_id = 0;             // dialer: the member it dials
    raft_uv_connect* req = nullptr;  // the dialer's: raft's connect request
    int stage = 0;                   // which message is awaited
    unsigned char nonce_a[kNonce]{};
    unsigned char nonce_d[kNonce]{};
    unsigned char rx[kNonce + kMac]{};  // what is awaited, read into exactly
    std::size_t have = 0, need = 0;
    unsigned char tx1[kNonce + kMac]{}, tx2[kMac]{};
    uv_write_t w1{}, w2{};
    int holds = 1;  // the timer, and one per write in flight
    bool done = false;

    void release() {
        if (--holds == 0) delete this;
    }

    void read(std::size_t bytes) {
        have = 0;
        need = bytes;
        uv_read_start(
            stream,
            [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
                // Exactly what is still awaited, so no byte meant for raft is taken.
                auto* self = static_cast<Handshake*>(h->data);
                buf->base = reinterpret_cast<char*>(self->rx + self->have);
                buf->len = self->need - self->have;
            },
            [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
                auto* self = static_cast<Handshake*>(s->data);
                if (n < 0) return self->fail("closed the connection during the handshake");
                self->have += static_cast<std::size_t>(n);
                if (self->have < self->need) return;
                uv_read_stop(s);
                self->received();
            });
    }

    void write(uv_write_t* w, unsigned char* bytes, std::size_t n, uv_write_cb cb) {
        ++holds;
        w->data = this;
        uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(bytes), static_cast<unsigned>(n));
        if (uv_write(w, stream, &buf, 1, cb) != 0) {
            --holds;
            fail("could not write");
        }
    }

    static void write_done(uv_write_t* w, int status) {
        auto* self = static_cast<Handshake*>(w->data);
        if (status != 0) self->fail("could not write");
        self->release();
    }

    void start() {
        stream->data = this;
        timer.data = this;
        uv_timer_init(owner->loop, &timer);
        uv_timer_start(
            &timer,
            [](uv_timer_t* t) {
                static_cast<Handshake*>(t->data)->fail("did not finish the handshake in time");
            },
            static_cast<uint64_t>(tuning::cluster::kHandshakeTimeout.count()), 0);
        owner->pending.push_back(this);
        if (dialer) {
            read(kNonce);
            return;
        }
        randombytes_buf(nonce_a, kNonce);
        std::memcpy(tx1, nonce_a, kNonce);
        write(&w1, tx1, kNonce, &Handshake::write_done);
        if (!done) read(kNonce + kMac);
    }

    void received() {
        if (done) return;
        if (dialer && stage == 0) {
            std::memcpy(nonce_a, rx, kNonce);
            randombytes_buf(nonce_d, kNonce);
            std::memcpy(tx1, nonce_d, kNonce);
            owner->mac("pdsync-raft-dial-1", dialer_id, nonce_a, nonce_d, tx1 + kNonce);
            stage = 1;
            write(&w1, tx1, kNonce + kMac, &Handshake::write_done);
            if (!done) read(kMac);
            return;
        }
        unsigned char expected[kMac];
        if (dialer) {
            owner->mac("pdsync-raft-accept-1", dialer_id, nonce_a, nonce_d, expected);
            if (crypto_verify_32(expected, rx) != 0)
                return fail("answered without the cluster secret", RAFT_NOCONNECTION);
            return hand_over();
        }
        std::memcpy(nonce_d, rx, kNonce);
        owner->mac("pdsync-raft-dial-1", dialer_id, nonce_a, nonce_d, expected);
        if (crypto_verify_32(expected, rx + kNonce) != 0)
            return fail("does not hold the cluster secret");
        owner->mac("pdsync-raft-accept-1", dialer_id, nonce_a, nonce_d, tx2);
        // Handed to raft once the proof has left: raft then owns the stream.
        write(&w2, tx2, kMac, [](uv_write_t* w, int status) {
            auto* self = static_cast<Handshake*>(w->data);
            if (status != 0) {
                self->fail("could not write");
            } else {
                self->hand_over();
            }
            self->release();
        });
    }

    void detach() {
        done = true;
        owner->pending.remove(this);
        uv_timer_stop(&timer);
        uv_close(reinterpret_cast<uv_handle_t*>(&timer),
                 [](uv_handle_t* h) { static_cast<Handshake*>(h->data)->release(); });
    }

    void hand_over() {
        if (done) return;
        uv_stream_t* s = stream;
        s->data = nullptr;
        detach();
        if (dialer) {
            req->cb(req, s, 0);
        } else if (owner->closing || !owner->accept_cb) {
            uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) { raft_free(h); });
        } else {
            owner->accept_cb(owner->outer, dialer_id, address.c_str(), s);
        }
    }

    void fail(const char* why, int status = RAFT_NOCONNECTION) {
        if (done) return;
        if (status != RAFT_CANCELED) {
            if (dialer) {
                spdlog::warn("cluster: raft connection to member {} at {}: the peer {}; dropped",
                             peer_id, log_quoted(address), why);
            } else {
                spdlog::warn(
                    "cluster: refused a raft connection claiming member id {} at {}: it {}",
                    dialer_id, log_quoted(address), why);
            }
        }
        uv_read_stop(stream);
        // The stream first: its cancelled writes call back before the timer's close does.
        uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) { raft_free(h); });
        detach();
        if (dialer) req->cb(req, nullptr, status);
    }
};

namespace {

AuthTransport::Impl* impl_of(raft_uv_transport* t) {
    return static_cast<AuthTransport::Impl*>(t->impl);
}
AuthTransport::Impl* impl_of_inner(raft_uv_transport* t) {
    return static_cast<AuthTransport::Impl*>(t->data);
}

void on_inner_accept(raft_uv_transport* inner, raft_id id, const char* address,
                     uv_stream_t* stream) {
    auto* impl = impl_of_inner(inner);
    if (impl->closing || impl->pending.size() >= tuning::cluster::kMaxPendingHandshakes) {
        if (!impl->closing)
            spdlog::warn("cluster: {} raft connections are in their handshake: dropped one more",
                         impl->pending.size());
        uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) { raft_free(h); });
        return;
    }
    auto* hs = new Handshake();
    hs->owner = impl;
    hs->stream = stream;
    hs->dialer_id = id;
    hs->address = address ? address : "";
    hs->start();
}

struct Connect {
    raft_uv_connect inner_req{};
    raft_uv_connect* outer_req = nullptr;
    AuthTransport::Impl* impl = nullptr;
    raft_id peer = 0;
    std::string address;
};

void on_inner_connect(raft_uv_connect* inner_req, uv_stream_t* stream, int status) {
    auto* c = static_cast<Connect*>(inner_req->data);
    auto* impl = c->impl;
    raft_uv_connect* req = c->outer_req;
    raft_id peer = c->peer;
    std::string address = std::move(c->address);
    delete c;
    if (status != 0) return req->cb(req, nullptr, status);
    if (impl->closing) {
        uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) { raft_free(h); });
        return req->cb(req, nullptr, RAFT_CANCELED);
    }
    auto* hs = new Handshake();
    hs->owner = impl;
    hs->stream = stream;
    hs->dialer = true;
    hs->dialer_id = impl->id;
    hs->req = req;
    hs->peer_id = peer;
    hs->address = std::move(address);
    hs->start();
}

int outer_init(raft_uv_transport* t, raft_id id, const char* address) {
    auto* impl = impl_of(t);
    impl->id = id;
    return impl->inner.init(&impl->inner, id, address);
}

int outer_listen(raft_uv_transport* t, raft_uv_accept_cb cb) {
    auto* impl = impl_of(t);
    impl->accept_cb = cb;
    return impl->inner.listen(&impl->inner, &on_inner_accept);
}

int outer_connect(raft_uv_transport* t, raft_uv_connect* req, raft_id id, const char* address,
                  raft_uv_connect_cb cb) {
    auto* impl = impl_of(t);
    req->cb = cb;
    auto* c = new Connect();
    c->inner_req.data = c;
    c->outer_req = req;
    c->impl = impl;
    c->peer = id;
    c->address = address ? address : "";
    int rv = impl->inner.connect(&impl->inner, &c->inner_req, id, address, &on_inner_connect);
    if (rv != 0) delete c;
    return rv;
}

void outer_close(raft_uv_transport* t, raft_uv_transport_close_cb cb) {
    auto* impl = impl_of(t);
    impl->closing = true;
    impl->close_cb = cb;
    while (!impl->pending.empty()) impl->pending.front()->fail("closing", RAFT_CANCELED);
    impl->inner.close(&impl->inner, [](raft_uv_transport* inner) {
        auto* me = impl_of_inner(inner);
        if (me->close_cb) me->close_cb(me->outer);
    });
}

}  // namespace

AuthTransport::AuthTransport(uv_loop_t* loop, const ClusterSecret& secret)
    : impl_(std::make_unique<Impl>()) {
    impl_->loop = loop;
    impl_->secret = secret;
    impl_->outer = &outer_;
}

AuthTransport::~AuthTransport() {
    release();
    sodium_memzero(impl_->secret.data(), impl_->secret.size());
}

int AuthTransport::init() {
    int rv = raft_uv_tcp_init(&impl_->inner, impl_->loop);
    if (rv != 0) return rv;
    impl_->inner.data = impl_.get();  // after: raft_uv_tcp_init clears the struct
    impl_->inner_ready = true;
    impl_->closing = false;
    impl_->accept_cb = nullptr;
    impl_->close_cb = nullptr;
    std::memset(&outer_, 0, sizeof outer_);
    outer_.impl = impl_.get();
    outer_.init = &outer_init;
    outer_.listen = &outer_listen;
    outer_.connect = &outer_connect;
    outer_.close = &outer_close;
    return 0;
}

int AuthTransport::set_bind_address(const char* address) {
    return raft_uv_tcp_set_bind_address(&impl_->inner, address);
}

void AuthTransport::release() {
    if (!impl_->inner_ready) return;
    raft_uv_tcp_close(&impl_->inner);
    impl_->inner_ready = false;
}

}  // namespace pdsync::server::cluster
