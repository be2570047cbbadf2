// The raw baselines: what the same broker does with the same bytes when no pdsync code is
// involved, measured in the same run as the pdsync figures so the ratio compares like with
// like. Every baseline uses plain MQTT v5 connections through pdsync::net::MqttLink (the
// same Paho stack and TCP_NODELAY as the daemons) and nothing of the protocol.
//
//   Samples rtt = publish_deliver(broker.uri(), std::string(2048, 'x'), 1000);
//
// Ownership and threads: free functions; each opens and closes its own connections.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tests/bench/bench_stats.hpp"

namespace pdsync::bench {

// Publish → delivery of one QoS 1 message, one message at a time.
Samples publish_deliver(const std::string& uri, const std::string& payload, std::size_t n);

// SUBSCRIBE → the last of `expected` retained messages under each filter, one filter at a
// time (the broker already holds them).
Samples subscribe_retained(const std::string& uri, const std::vector<std::string>& filters,
                           std::size_t expected);

// QoS 1 messages per second from one publisher to one subscriber, publishing with the
// broker's receive maximum in flight for `duration`.
double qos1_throughput(const std::string& uri, const std::string& payload,
                       std::chrono::milliseconds duration);

// Two hops, as an edit travels: A publishes `first` (QoS 1); a relay that receives it hands
// it to its own thread, which publishes `second` retained; B's receipt ends the sample.
Samples relay_two_hops(const std::string& uri, const std::string& first, const std::string& second,
                       std::size_t n);

// Time for one publisher to deliver all `payloads` (QoS 1, in order) to one subscriber.
double bulk_transfer_ms(const std::string& uri, const std::vector<std::string>& payloads);

// Time for one publisher to publish (topic, payload) pairs retained, QoS 1, until the
// broker acknowledged the last: the raw cost of a start-up republish.
double retained_publish_ms(const std::string& uri,
                           const std::vector<std::pair<std::string, std::string>>& messages);

}  // namespace pdsync::bench
