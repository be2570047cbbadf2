// Fencing the old primary after a failover. A promoted standby publishes a retained fence
// ("pds.fence/1": the new primary's id and when it was promoted) on the old primary's
// broker, and keeps publishing it there whenever that broker comes back. A primary that
// finds a fence naming another server on its own broker stops serving: the old primary,
// restarted by accident or by a watchdog, cannot become a second primary that devices
// might follow.
//
//   FencePublisher fence(standby_settings.primary, topics, Fence{"server-b", now_ms()});
//   fence.start();  // connects in the background; publishes on every (re)connect
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "shared/base/result.hpp"
#include "shared/net/mqtt_link.hpp"
#include "topics/topics.hpp"

namespace pdsync::server::replication {

inline constexpr const char* kFenceSchema = "pds.fence/1";

struct Fence {
    std::string server_id;  // the primary now
    int64_t at = 0;         // when it was promoted (its clock, ms)
};

std::string encode_fence(const Fence& fence);
// Errc::malformed or bad_schema for anything but a fence.
[[nodiscard]] Result<Fence> decode_fence(std::string_view bytes);

// Owned by the promoted server; its own MQTT connection and a small thread that publishes
// after each connect (MqttLink handlers must not publish).
class FencePublisher {
  public:
    FencePublisher(net::MqttSettings old_primary_broker, const Topics& topics, Fence fence);
    ~FencePublisher();
    FencePublisher(const FencePublisher&) = delete;
    FencePublisher& operator=(const FencePublisher&) = delete;

    void start();
    // Whether the fence is on the old primary's broker now (published and acknowledged).
    bool in_place() const { return in_place_.load(); }

  private:
    void loop();

    std::string topic_;
    std::string payload_;
    std::unique_ptr<net::MqttLink> link_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool due_ = false;
    bool stopping_ = false;
    std::atomic<bool> in_place_{false};
    std::thread thread_;
};

}  // namespace pdsync::server::replication
