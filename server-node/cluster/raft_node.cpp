// libraft + libuv wiring: the raft thread, its work queue, the state machine callbacks, and
// the leadership watch.
#include "server-node/cluster/raft_node.hpp"

#include <spdlog/spdlog.h>
#include <uv.h>
extern "C" {  // libraft's headers declare C functions without extern "C"
#include <raft.h>
#include <raft/uv.h>
}

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "server-node/cluster/auth_transport.hpp"
#include "shared/base/tuning.hpp"
#include "shared/reply.hpp"

namespace pdsync::server::cluster {
namespace {

int raft_role(Role r) {
    switch (r) {
        case Role::voter:
            return RAFT_VOTER;
        case Role::standby:
            return RAFT_STANDBY;
        case Role::spare:
            return RAFT_SPARE;
    }
    return RAFT_SPARE;
}

const char* raft_role_name(int role) {
    switch (role) {
        case RAFT_VOTER:
            return "voter";
        case RAFT_STANDBY:
            return "standby";
        case RAFT_SPARE:
            return "spare";
    }
    return "?";
}

const char* state_name(int state) {
    switch (state) {
        case RAFT_FOLLOWER:
            return "follower";
        case RAFT_CANDIDATE:
            return "candidate";
        case RAFT_LEADER:
            return "leader";
    }
    return "unavailable";
}

Value fail(Errc code, const std::string& message) {
    return error_reply(code, message);
}

// A raft request with the promise that carries its outcome back.
template <typename Req, typename Promise>
struct Pending {
    Req req{};
    Promise promise;
    struct RaftNode::Impl* impl = nullptr;
    uint64_t term = 0;
    int then_role = -1;  // add: the role to assign once added
    uint64_t id = 0;
};

}  // namespace

struct RaftNode::Impl {
    Impl(ClusterSettings s, StoreFsm& f, Events e, std::atomic<bool>& serving_flag)
        : settings(std::move(s)), fsm(f), events(std::move(e)), serving(serving_flag) {}

    ClusterSettings settings;
    StoreFsm& fsm;
    Events events;
    std::atomic<bool>& serving;

    uv_loop_t loop{};
    uv_async_t async{};
    uv_timer_t timer{};
    AuthTransport transport{&loop, settings.secret};
    raft_io io{};
    raft_fsm raft_fsm_{};
    struct raft raft {};
    bool raft_ready = false;  // raft_init done
    bool started = false;     // raft_start done
    bool closing = false;

    std::mutex mu;
    std::deque<std::function<void()>> ops;
    bool accepting = true;

    mutable std::mutex status_mu;
    Value status_value = Value::object();

    // Raft thread only.
    bool leading = false;
    uint64_t leader_term = 0;
    bool barrier_pending = false;
    std::string seed;  // a store image to append first, once leader (cluster init)
    uint64_t seen_leader = 0;
    uint64_t seen_term = 0;
    int seen_state = -1;

    std::thread thread;

    void post(std::function<void()> op) {
        {
            std::lock_guard lock(mu);
            if (!accepting) return;
            ops.push_back(std::move(op));
        }
        uv_async_send(&async);
    }

    // ---- raft thread ------------------------------------------------------------------
    static void on_async(uv_async_t* handle) {
        auto* self = static_cast<Impl*>(handle->data);
        std::deque<std::function<void()>> todo;
        {
            std::lock_guard lock(self->mu);
            todo.swap(self->ops);
        }
        for (auto& op : todo) op();
    }

    static int fsm_apply(struct raft_fsm* f, const struct raft_buffer* buf, void** result) {
        auto* self = static_cast<Impl*>(f->data);
        *result = nullptr;
        auto st = self->fsm.apply(std::string_view(static_cast<const char*>(buf->base), buf->len));
        if (!st) {
            spdlog::critical("cluster: could not apply a committed entry to the store: {}",
                             st.error().message);
            return RAFT_IOERR;
        }
        return 0;
    }

    static int fsm_snapshot(struct raft_fsm* f, struct raft_buffer* bufs[], unsigned* n_bufs) {
        auto* self = static_cast<Impl*>(f->data);
        auto image = self->fsm.image();
        if (!image) {
            spdlog::error("cluster: snapshot failed: {}", image.error().message);
            return RAFT_IOERR;
        }
        *bufs = static_cast<raft_buffer*>(raft_malloc(sizeof(raft_buffer)));
        if (!*bufs) return RAFT_NOMEM;
        (*bufs)[0].len = image->size();
        (*bufs)[0].base = raft_malloc(image->size() ? image->size() : 1);
        if (!(*bufs)[0].base) {
            raft_free(*bufs);
            return RAFT_NOMEM;
        }
        std::memcpy((*bufs)[0].base, image->data(), image->size());
        *n_bufs = 1;
        spdlog::info("cluster: snapshot taken ({} bytes)", image->size());
        return 0;
    }

    static int fsm_restore(struct raft_fsm* f, struct raft_buffer* buf) {
        auto* self = static_cast<Impl*>(f->data);
        auto st =
            self->fsm.restore(std::string_view(static_cast<const char*>(buf->base), buf->len));
        std::size_t bytes = buf->len;
        raft_free(buf->base);
        if (!st) {
            spdlog::critical("cluster: could not restore a snapshot: {}", st.error().message);
            return RAFT_IOERR;
        }
        spdlog::info("cluster: store restored from a snapshot ({} bytes)", bytes);
        return 0;
    }

    Status init_raft() {
        int rv = transport.init();
        if (rv != 0) return Error{Errc::io, std::string("raft tcp: ") + raft_strerror(rv)};
        if (settings.listen != settings.address()) {
            rv = transport.set_bind_address(settings.listen.c_str());
            if (rv != 0) {
                transport.release();
                return Error{Errc::invalid_argument,
                             "--cluster-listen '" + settings.listen + "': " + raft_strerror(rv)};
            }
        }
        rv = raft_uv_init(&io, &loop, settings.dir.c_str(), transport.transport());
        if (rv != 0) {
            std::string why = io.errmsg;
            transport.release();
            return Error{Errc::io, "raft directory " + settings.dir + ": " + why};
        }
        raft_uv_set_connect_retry_delay(&io, pdsync::tuning::cluster::kConnectRetryMs);
        raft_fsm_.version = 1;
        raft_fsm_.data = this;
        raft_fsm_.apply = &Impl::fsm_apply;
        raft_fsm_.snapshot = &Impl::fsm_snapshot;
        raft_fsm_.restore = &Impl::fsm_restore;
        rv = raft_init(&raft, &io, &raft_fsm_, settings.id, settings.address().c_str());
        if (rv != 0) {
            std::string why = raft_errmsg(&raft);
            raft_uv_close(&io);
            transport.release();
            return Error{Errc::io, std::string("raft: ") + why};
        }
        raft.data = this;
        raft_set_election_timeout(&raft, pdsync::tuning::cluster::kElectionTimeoutMs);
        raft_set_heartbeat_timeout(&raft, pdsync::tuning::cluster::kHeartbeatTimeoutMs);
        unsigned threshold = settings.snapshot_threshold
                                 ? settings.snapshot_threshold
                                 : pdsync::tuning::cluster::kSnapshotThreshold;
        raft_set_snapshot_threshold(&raft, threshold);
        raft_set_snapshot_trailing(
            &raft, std::min(pdsync::tuning::cluster::kSnapshotTrailing, threshold / 2));
        // Pre-vote: a member cut off and coming back does not depose a working leader by
        // bumping the term.
        raft_set_pre_vote(&raft, true);
        raft_ready = true;
        return Ok{};
    }

    Status bootstrap(const std::vector<Member>& members) {
        raft_configuration conf;
        raft_configuration_init(&conf);
        for (const auto& m : members) {
            int rv = raft_configuration_add(&conf, m.id, m.address.c_str(), raft_role(m.role));
            if (rv != 0) {
                raft_configuration_close(&conf);
                return Error{Errc::invalid_argument,
                             std::string("cluster peers: ") + raft_strerror(rv)};
            }
        }
        int rv = raft_bootstrap(&raft, &conf);
        raft_configuration_close(&conf);
        if (rv == RAFT_CANTBOOTSTRAP) return Ok{};  // already holds a log: peers are history
        if (rv != 0) return Error{Errc::io, std::string("raft bootstrap: ") + raft_errmsg(&raft)};
        spdlog::info("cluster: bootstrapped a pristine raft directory with {} members",
                     members.size());
        return Ok{};
    }

    Status start_raft() {
        int rv = raft_start(&raft);
        if (rv != 0) return Error{Errc::io, std::string("raft start: ") + raft_errmsg(&raft)};
        started = true;
        return Ok{};
    }

    bool pristine() const {
        namespace fs = std::filesystem;
        std::error_code ec;
        return !fs::exists(fs::path(settings.dir) / "metadata1", ec) &&
               !fs::exists(fs::path(settings.dir) / "metadata2", ec);
    }

    static void on_timer(uv_timer_t* handle) { static_cast<Impl*>(handle->data)->watch(); }

    void watch() {
        if (!started || closing) {
            refresh_status();
            return;
        }
        int state = raft_state(&raft);
        uint64_t term = raft.current_term;
        if (leading && (state != RAFT_LEADER || term != leader_term)) {
            leading = false;
            barrier_pending = false;
            serving.store(false);
            spdlog::warn("cluster: no longer the leader (term {}, now {})", leader_term,
                         state_name(state));
            if (events.on_follower) events.on_follower();
        }
        if (!leading && state == RAFT_LEADER) {
            leading = true;
            leader_term = term;
            spdlog::info("cluster: elected leader for term {}", term);
        }
        if (leading && !serving.load() && !barrier_pending) start_serving();
        raft_id leader_id = 0;
        const char* leader_address = nullptr;
        raft_leader(&raft, &leader_id, &leader_address);
        bool changed = state != seen_state || term != seen_term || leader_id != seen_leader;
        seen_state = state;
        seen_term = term;
        seen_leader = leader_id;
        refresh_status();
        if (changed && events.on_status) events.on_status();
    }

    // A new leader serves once every entry of earlier terms is applied (a barrier), and
    // once the data it was asked to bring (cluster init) is in the log.
    void start_serving() {
        barrier_pending = true;
        if (!seed.empty()) {
            auto* p = new Pending<struct raft_apply, int>();
            p->impl = this;
            p->term = leader_term;
            p->req.data = p;
            raft_buffer buf;
            std::string entry = make_entry(EntryKind::image, seed);
            buf.len = entry.size();
            buf.base = raft_malloc(buf.len);
            std::memcpy(buf.base, entry.data(), buf.len);
            int rv =
                raft_apply(&raft, &p->req, &buf, 1, [](struct raft_apply* req, int status, void*) {
                    auto* pending = static_cast<Pending<struct raft_apply, int>*>(req->data);
                    Impl* self = pending->impl;
                    uint64_t term = pending->term;
                    delete pending;
                    self->barrier_pending = false;
                    if (status != 0) {
                        spdlog::warn("cluster: the initial store did not commit: {}",
                                     raft_strerror(status));
                        return;
                    }
                    spdlog::info("cluster: the initial store is committed");
                    self->seed.clear();
                    self->serve(term);
                });
            if (rv != 0) {
                raft_free(buf.base);
                delete p;
                barrier_pending = false;
            }
            return;
        }
        auto* p = new Pending<struct raft_barrier, int>();
        p->impl = this;
        p->term = leader_term;
        p->req.data = p;
        int rv = raft_barrier(&raft, &p->req, [](struct raft_barrier* req, int status) {
            auto* pending = static_cast<Pending<struct raft_barrier, int>*>(req->data);
            Impl* self = pending->impl;
            uint64_t term = pending->term;
            delete pending;
            self->barrier_pending = false;
            if (status != 0) return;  // tried again at the next watch, if still leader
            self->serve(term);
        });
        if (rv != 0) {
            delete p;
            barrier_pending = false;
        }
    }

    void serve(uint64_t term) {
        if (!leading || leader_term != term || raft_state(&raft) != RAFT_LEADER) return;
        serving.store(true);
        spdlog::info("cluster: serving as leader of term {} from log index {}", term,
                     raft_last_applied(&raft));
        refresh_status();
        if (events.on_leader) events.on_leader(term);
    }

    void refresh_status() {
        Value v = Value::object();
        v["id"] = settings.id;
        v["address"] = settings.address();
        if (!started) {
            v["state"] = closing ? "stopped" : "uninitialized";
        } else {
            int state = raft_state(&raft);
            v["state"] = state_name(state);
            v["term"] = raft.current_term;
            raft_id leader_id = 0;
            const char* leader_address = nullptr;
            raft_leader(&raft, &leader_id, &leader_address);
            v["leader_id"] = leader_id;
            v["leader_address"] = leader_address ? leader_address : "";
            v["commit_index"] = raft.commit_index;
            v["last_applied"] = raft_last_applied(&raft);
            v["last_index"] = raft_last_index(&raft);
            Value members = Value::array();
            for (unsigned i = 0; i < raft.configuration.n; ++i) {
                const auto& s = raft.configuration.servers[i];
                members.push_back(
                    {{"id", s.id}, {"address", s.address}, {"role", raft_role_name(s.role)}});
            }
            v["members"] = std::move(members);
        }
        v["serving"] = serving.load();
        v["divergences"] = fsm.divergences();
        v["snapshots_restored"] = fsm.restores();
        std::lock_guard lock(status_mu);
        status_value = std::move(v);
    }

    // After raft_close: its I/O and transport go; init_raft() may set them up again.
    void release_io() {
        raft_uv_close(&io);
        transport.release();
        raft_ready = false;
        started = false;
    }

    void close_handles() {
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
    }

    void close_all() {
        closing = true;
        serving.store(false);
        uv_timer_stop(&timer);
        if (raft_ready) {
            raft_close(&raft, [](struct raft* r) {
                auto* self = static_cast<Impl*>(r->data);
                self->release_io();
                self->close_handles();
            });
        } else {
            close_handles();
        }
    }

    void run(std::promise<Status>& ready) {
        uv_loop_init(&loop);
        uv_async_init(&loop, &async, &Impl::on_async);
        async.data = this;
        uv_timer_init(&loop, &timer);
        timer.data = this;
        Status st = init_raft();
        if (st) {
            bool fresh = pristine();
            if (fresh && !settings.peers.empty()) {
                st = bootstrap(settings.peers);
                if (st) st = start_raft();
            } else if (!fresh || settings.join) {
                st = start_raft();
                if (st && fresh)
                    spdlog::info("cluster: waiting to be added by the leader (pdsync cluster add)");
            } else {
                spdlog::warn(
                    "cluster: pristine raft directory {} and no --cluster-peers: run `pdsync "
                    "cluster init` to start a cluster of this server, or start with "
                    "--cluster-join to be added to one",
                    settings.dir);
            }
        }
        if (st)
            uv_timer_start(&timer, &Impl::on_timer, 0, pdsync::tuning::cluster::kStatePoll.count());
        refresh_status();
        bool ok = st.ok();
        ready.set_value(std::move(st));
        if (!ok) {
            {
                std::lock_guard lock(mu);
                accepting = false;
            }
            close_all();
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
};

RaftNode::RaftNode(ClusterSettings settings, StoreFsm& fsm, Events events)
    : impl_(std::make_unique<Impl>(std::move(settings), fsm, std::move(events), serving_)) {}

RaftNode::~RaftNode() {
    stop();
}

Status RaftNode::start() {
    std::promise<Status> ready;
    auto result = ready.get_future();
    impl_->thread = std::thread([this, &ready] { impl_->run(ready); });
    Status st = result.get();
    if (!st) {
        impl_->thread.join();
    }
    return st;
}

void RaftNode::stop() {
    if (!impl_->thread.joinable()) return;
    {
        std::lock_guard lock(impl_->mu);
        if (impl_->accepting) {
            impl_->accepting = false;
            impl_->ops.push_back([impl = impl_.get()] { impl->close_all(); });
        }
    }
    uv_async_send(&impl_->async);
    impl_->thread.join();
    // Work posted before the close ran; anything else was refused by post().
}

std::future<Result<Committed>> RaftNode::propose(std::string entry) {
    using P = Pending<struct raft_apply, std::promise<Result<Committed>>>;
    auto* p = new P();
    auto fut = p->promise.get_future();
    p->impl = impl_.get();
    {
        std::lock_guard lock(impl_->mu);
        if (!impl_->accepting) {
            p->promise.set_value(Error{Errc::busy, "the cluster member is stopping"});
            delete p;
            return fut;
        }
    }
    impl_->post([p, entry = std::move(entry)]() mutable {
        Impl* self = p->impl;
        if (!self->started || raft_state(&self->raft) != RAFT_LEADER || !self->serving.load()) {
            p->promise.set_value(Error{Errc::busy, "this server is not the cluster leader"});
            delete p;
            return;
        }
        p->term = self->raft.current_term;
        p->req.data = p;
        raft_buffer buf;
        buf.len = entry.size();
        buf.base = raft_malloc(buf.len ? buf.len : 1);
        std::memcpy(buf.base, entry.data(), buf.len);
        int rv = raft_apply(
            &self->raft, &p->req, &buf, 1, [](struct raft_apply* req, int status, void*) {
                auto* pending = static_cast<P*>(req->data);
                if (status == 0) {
                    pending->promise.set_value(Committed{pending->term, req->index});
                } else {
                    pending->promise.set_value(
                        Error{Errc::busy, std::string("not committed: ") + raft_strerror(status)});
                }
                delete pending;
            });
        if (rv != 0) {
            raft_free(buf.base);
            p->promise.set_value(
                Error{Errc::busy, std::string("not appended: ") + raft_strerror(rv)});
            delete p;
        }
    });
    return fut;
}

void RaftNode::serve_again() {
    Impl* self = impl_.get();
    serving_.store(false);
    self->post([self] {
        self->serving.store(false);
        self->barrier_pending = false;
        self->watch();
    });
}

namespace {
using ChangePending = Pending<struct raft_change, std::promise<Value>>;

void change_done(struct raft_change* req, int status) {
    auto* p = static_cast<ChangePending*>(req->data);
    if (status != 0) {
        p->promise.set_value(
            fail(Errc::busy, std::string("configuration change failed: ") + raft_strerror(status)));
    } else {
        p->promise.set_value({{"ok", true}});
    }
    delete p;
}
}  // namespace

// Administration needs the leader: anywhere else the request is answered at once.
template <typename P>
bool leads_or_refuse(P* p) {
    if (p->impl->started && raft_state(&p->impl->raft) == RAFT_LEADER) return true;
    p->promise.set_value(fail(Errc::busy, "this server is not the cluster leader"));
    delete p;
    return false;
}

// Runs `op(p)` on the raft thread once this member leads (the request `p` then owned by
// raft's callback); anywhere else `p` is answered at once.
template <typename P, typename Op>
auto as_leader(RaftNode::Impl* impl, P* p, Op op) {
    auto fut = p->promise.get_future();
    p->impl = impl;
    impl->post([p, op = std::move(op)]() mutable {
        if (!leads_or_refuse(p)) return;
        p->req.data = p;
        op(p->impl, p);
    });
    return fut;
}

std::future<Value> RaftNode::add(Member member) {
    auto* change = new ChangePending();
    change->then_role = raft_role(member.role);
    change->id = member.id;
    return as_leader(impl_.get(), change, [member](Impl* self, ChangePending* p) {
        int rv = raft_add(&self->raft, &p->req, member.id, member.address.c_str(),
                          [](struct raft_change* req, int status) {
                              auto* pending = static_cast<ChangePending*>(req->data);
                              if (status != 0 || pending->then_role == RAFT_SPARE)
                                  return change_done(req, status);
                              int rv2 = raft_assign(&pending->impl->raft, &pending->req,
                                                    pending->id, pending->then_role, &change_done);
                              if (rv2 != 0) change_done(req, rv2);
                          });
        if (rv != 0) change_done(&p->req, rv);
    });
}

std::future<Value> RaftNode::remove(uint64_t id) {
    return as_leader(impl_.get(), new ChangePending(), [id](Impl* self, ChangePending* p) {
        int rv = raft_remove(&self->raft, &p->req, id, &change_done);
        if (rv != 0) change_done(&p->req, rv);
    });
}

std::future<Value> RaftNode::transfer(uint64_t id) {
    using TP = Pending<struct raft_transfer, std::promise<Value>>;
    return as_leader(impl_.get(), new TP(), [id](Impl* self, TP* p) {
        int rv = raft_transfer(&self->raft, &p->req, id, [](struct raft_transfer* req) {
            auto* pending = static_cast<TP*>(req->data);
            raft_id leader = 0;
            const char* address = nullptr;
            raft_leader(&pending->impl->raft, &leader, &address);
            pending->promise.set_value({{"ok", true}, {"leader_id", leader}});
            delete pending;
        });
        if (rv != 0) {
            p->promise.set_value(fail(Errc::invalid_argument, raft_strerror(rv)));
            delete p;
        }
    });
}

std::future<Value> RaftNode::init(std::string seed_image) {
    auto promise = std::make_shared<std::promise<Value>>();
    auto fut = promise->get_future();
    Impl* self = impl_.get();
    self->post([self, promise, seed = std::move(seed_image)]() mutable {
        if (self->started || !self->raft_ready || !self->pristine()) {
            promise->set_value(fail(Errc::busy,
                                    "this server already belongs to a cluster (or waits to be "
                                    "added to one)"));
            return;
        }
        auto st =
            self->bootstrap({Member{self->settings.id, self->settings.address(), Role::voter}});
        if (st) st = self->start_raft();
        if (!st) {
            promise->set_value(fail(st.code(), st.error().message));
            return;
        }
        self->seed = std::move(seed);
        promise->set_value(
            {{"ok", true},
             {"id", self->settings.id},
             {"address", self->settings.address()},
             {"message", "a cluster of one voter; add members with pdsync cluster add"}});
    });
    return fut;
}

std::future<Value> RaftNode::force_sole_voter() {
    auto promise = std::make_shared<std::promise<Value>>();
    auto fut = promise->get_future();
    Impl* self = impl_.get();
    self->post([self, promise] {
        if (!self->started) {
            promise->set_value(fail(Errc::busy, "this server is not a cluster member"));
            return;
        }
        if (raft_state(&self->raft) == RAFT_LEADER) {
            promise->set_value(fail(Errc::invalid_argument, "this server already leads"));
            return;
        }
        // raft_recover only works on a raft that is not running: close it, then init it
        // again on the same directory, recover and start.
        self->serving.store(false);
        raft_close(&self->raft, [](struct raft* r) {
            auto* me = static_cast<Impl*>(r->data);
            me->release_io();
            me->leading = false;
            me->barrier_pending = false;
            // The TCP handles closed by raft_close are released on the next loop turn.
            me->post([me] {
                // As at a process start: raft applies its log again from the beginning.
                auto st = me->fsm.reset_to_empty();
                if (st) st = me->init_raft();
                if (st) {
                    raft_configuration conf;
                    raft_configuration_init(&conf);
                    raft_configuration_add(&conf, me->settings.id, me->settings.address().c_str(),
                                           RAFT_VOTER);
                    int rv = raft_recover(&me->raft, &conf);
                    raft_configuration_close(&conf);
                    if (rv != 0)
                        st =
                            Error{Errc::io, std::string("raft recover: ") + raft_errmsg(&me->raft)};
                }
                if (st) st = me->start_raft();
                if (!st) {
                    spdlog::critical("cluster: promotion failed: {}", st.error().message);
                    return;
                }
                spdlog::warn("cluster: promoted: this server is now the only voter");
            });
        });
        promise->set_value({{"ok", true},
                            {"message",
                             "this server is now the cluster's only voter; it leads once its "
                             "election timeout passes"}});
    });
    return fut;
}

Value RaftNode::status() const {
    std::lock_guard lock(impl_->status_mu);
    return impl_->status_value;
}

}  // namespace pdsync::server::cluster
