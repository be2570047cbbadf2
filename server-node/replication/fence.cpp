// The fence message and its publisher.
#include "server-node/replication/fence.hpp"

#include <spdlog/spdlog.h>

#include "shared/codec.hpp"
#include "shared/value_access.hpp"

namespace pdsync::server::replication {

std::string encode_fence(const Fence& fence) {
    return encode_msgpack_unchecked(
        Value{{"schema", kFenceSchema}, {"server_id", fence.server_id}, {"at", fence.at}});
}

Result<Fence> decode_fence(std::string_view bytes) {
    PDS_TRY(Value v, decode_msgpack(bytes));
    PDS_CHECK(field::schema(v, kFenceSchema));
    Fence f;
    PDS_TRY(f.server_id, field::str(v, "server_id"));
    PDS_TRY(f.at, field::i64_or(v, "at", 0));
    if (f.server_id.empty()) return make_error(Errc::malformed, "a fence names a server");
    return f;
}

FencePublisher::FencePublisher(net::MqttSettings old_primary_broker, const Topics& topics,
                               Fence fence)
    : topic_(topics.server_fence()), payload_(encode_fence(fence)) {
    old_primary_broker.client_id = fence.server_id + "-fence";
    old_primary_broker.will.reset();
    net::MqttLink::Handlers h;
    h.on_connected = [this] {
        {
            std::lock_guard lock(mu_);
            due_ = true;
        }
        cv_.notify_one();
    };
    h.on_lost = [this](const std::string&) { in_place_ = false; };
    link_ = std::make_unique<net::MqttLink>(std::move(old_primary_broker), std::move(h));
}

FencePublisher::~FencePublisher() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    link_->stop(std::chrono::milliseconds(500));
}

void FencePublisher::start() {
    thread_ = std::thread([this] { loop(); });
    link_->start();
}

void FencePublisher::loop() {
    std::unique_lock lock(mu_);
    while (true) {
        cv_.wait(lock, [&] { return stopping_ || due_; });
        if (stopping_) return;
        due_ = false;
        lock.unlock();
        if (auto st = link_->publish(topic_, payload_, true); !st) {
            spdlog::warn("fence: not published on the old primary's broker: {}",
                         st.error().message);
        } else if (link_->flush(std::chrono::seconds(5))) {
            in_place_ = true;
            spdlog::info("fence: in place on the old primary's broker {}", link_->current_server());
        }
        lock.lock();
    }
}

}  // namespace pdsync::server::replication
