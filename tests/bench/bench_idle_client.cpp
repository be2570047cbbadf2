// bench_idle_client: a bare MQTT client (pdsync::net over Paho, no pdsync state, no store)
// that connects, subscribes to one topic and idles until SIGTERM. Its resident memory is
// the raw baseline the bench holds pdsync-client's against.
//
//   bench_idle_client mqtt://127.0.0.1:PORT
#include <chrono>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"
#include "shared/net/mqtt_link.hpp"
#include "shared/net/node_options.hpp"

int main(int argc, char** argv) {
    using namespace pdsync;
    if (argc < 2) return 2;
    net::wait_for_stop_signal_blocking_setup();
    net::MqttSettings settings;
    settings.servers = {argv[1]};
    settings.client_id = "bench-idle-" + random_hex(4);
    net::MqttLink link(settings, {});
    link.subscribe({"pds/v1/devices/" + settings.client_id + "/inbox"});
    link.start();
    net::wait_for_stop_signal();
    link.stop(std::chrono::milliseconds(0));
    return 0;
}
