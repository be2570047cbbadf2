// Cluster membership of a server: store preparation, commit through the log, admin.
#include "server-node/cluster/cluster_node.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <stdexcept>

#include "server-node/cluster/change_capture.hpp"
#include "shared/base/tuning.hpp"
#include "shared/reply.hpp"

namespace pdsync::server::cluster {
namespace {

Value fail(Errc code, const std::string& message) {
    return error_reply(code, message);
}

Value wait_answer(std::future<Value> answer) {
    if (answer.wait_for(pdsync::tuning::cluster::kCommitWait) != std::future_status::ready)
        return fail(Errc::timeout, "the cluster did not answer in time");
    return answer.get();
}

bool pristine(const std::string& dir) {
    std::error_code ec;
    return !std::filesystem::exists(std::filesystem::path(dir) / "metadata1", ec) &&
           !std::filesystem::exists(std::filesystem::path(dir) / "metadata2", ec);
}

}  // namespace

ClusterNode::ClusterNode(ClusterSettings settings, Events events)
    : settings_(std::move(settings)), events_(std::move(events)) {}

ClusterNode::~ClusterNode() {
    stop();
}

Status ClusterNode::start(ServerStore& store) {
    store_ = &store;
    std::error_code ec;
    std::filesystem::create_directories(settings_.dir, ec);
    if (ec)
        return Error{Errc::io,
                     "cannot create the raft directory " + settings_.dir + ": " + ec.message()};
    std::filesystem::permissions(settings_.dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
    try {
        fsm_ = std::make_unique<StoreFsm>(settings_.store_path);
    } catch (const std::exception& e) {
        return Error{Errc::storage, e.what()};
    }
    bool fresh = pristine(settings_.dir);
    bool awaiting_init = fresh && settings_.peers.empty() && !settings_.join;
    if (fresh && !settings_.peers.empty() && fsm_->has_data()) {
        return Error{Errc::invalid_argument,
                     "the store " + settings_.store_path +
                         " holds data and the raft directory is new: start the cluster from it "
                         "with `pdsync cluster init` (no --cluster-peers), then add the others"};
    }
    if (!awaiting_init) {
        if (fresh && settings_.join && fsm_->has_data())
            spdlog::warn("cluster: joining: the data in {} is replaced by the cluster's",
                         settings_.store_path);
        // Derived state: raft restores its snapshot and applies its log from here.
        PDS_CHECK(fsm_->reset_to_empty());
    }
    sqlite3* db = store.sqlite_handle();
    if (!db) return Error{Errc::storage, "cluster mode needs the SQLite store"};
    store.set_transaction_factory([this, db] {
        return begin_captured(db, [this](std::string cs) { submit(std::move(cs)); });
    });
    raft_ = std::make_unique<RaftNode>(settings_, *fsm_, events_);
    return raft_->start();
}

void ClusterNode::stop() {
    if (raft_) raft_->stop();
}

void ClusterNode::submit(std::string changeset) {
    auto committed = raft_->propose(make_entry(EntryKind::changeset, changeset));
    if (committed.wait_for(pdsync::tuning::cluster::kCommitWait) != std::future_status::ready) {
        commit_failed_ = true;
        throw std::runtime_error("the cluster did not commit the change in time");
    }
    auto result = committed.get();
    if (!result) {
        commit_failed_ = true;
        throw std::runtime_error(result.error().message);
    }
    last_term_ = result->term;
    last_index_ = result->index;
}

Committed ClusterNode::last_commit() const {
    return Committed{last_term_.load(), last_index_.load()};
}

void ClusterNode::serve_again() {
    raft_->serve_again();
}

bool ClusterNode::handles(const std::string& cmd) const {
    return cmd == "cluster-init" || cmd == "cluster-add" || cmd == "cluster-remove" ||
           cmd == "cluster-transfer" || cmd == "cluster-status" || cmd == "promote";
}

Value ClusterNode::status() const {
    Value v = raft_ ? raft_->status() : Value{{"state", "starting"}};
    v["last_commit_term"] = last_term_.load();
    v["last_commit_index"] = last_index_.load();
    return v;
}

Value ClusterNode::admin(const Value& request) {
    const std::string cmd = request.value("cmd", "");
    if (!raft_) return fail(Errc::busy, "the cluster member is starting");
    if (cmd == "cluster-status") {
        Value v = status();
        v["ok"] = true;
        return v;
    }
    if (cmd == "cluster-init") {
        if (!pristine(settings_.dir))
            return fail(Errc::busy, "this server already belongs to a cluster");
        auto image = fsm_->image();
        if (!image) return fail(image.code(), image.error().message);
        if (auto st = fsm_->reset_to_empty(); !st) return fail(st.code(), st.error().message);
        Value answer = wait_answer(raft_->init(std::move(image).value()));
        spdlog::info("cluster: init: {}", answer.dump());
        return answer;
    }
    if (cmd == "cluster-add") {
        Member m;
        m.id = request.value("id", uint64_t{0});
        m.address = request.value("address", "");
        auto role = role_from_name(request.value("role", "voter"));
        if (!role) return fail(role.code(), role.error().message);
        m.role = *role;
        if (m.id == 0 || m.address.find(':') == std::string::npos)
            return fail(Errc::invalid_argument,
                        "cluster add needs --id N (above 0) and --address HOST:PORT");
        return wait_answer(raft_->add(m));
    }
    if (cmd == "cluster-remove") {
        uint64_t id = request.value("id", uint64_t{0});
        if (id == 0) return fail(Errc::invalid_argument, "cluster remove needs --id N");
        return wait_answer(raft_->remove(id));
    }
    if (cmd == "cluster-transfer") {
        return wait_answer(raft_->transfer(request.value("id", uint64_t{0})));
    }
    if (cmd == "promote") {
        Value answer = wait_answer(raft_->force_sole_voter());
        spdlog::warn("cluster: promote: {}", answer.dump());
        return answer;
    }
    return fail(Errc::invalid_argument, "unknown cluster command '" + cmd + "'");
}

}  // namespace pdsync::server::cluster
