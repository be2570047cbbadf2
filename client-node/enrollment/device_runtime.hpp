// The daemon's client function, enabled or not: it owns the ClientNode and swaps it when
// `pdsync device enable` brings credentials or `pdsync device disable` forgets them.
//
// Three ways to run:
//   - enabled by code: a credentials file beside the store (client-node/enrollment/) says
//     which broker and account to use;
//   - configured by hand: --broker (with --username/--password-file or a certificate, or
//     an anonymous test broker), as before join codes existed;
//   - never enabled: no broker is contacted and synchronization stays off, so data the
//     device holds now is registered at its first merge once it is enabled; export and
//     import work meanwhile. With --server and --join-code in the config, the daemon
//     enables itself at start.
//
// Ownership and threads: owned by main(); request() from the control socket's threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <thread>

#include "client-node/client_node.hpp"
#include "client-node/enrollment/enrollment.hpp"

namespace pdsync::client {

struct RuntimeSettings {
    std::string store_path;
    std::string credentials_path;  // default: store_path + ".credentials"
    Topics topics;
    ClientSettings client;
    std::optional<net::MqttSettings> configured;  // --broker given: run as configured
    std::string server;                           // --server (enable at start)
    std::string join_code;                        // --join-code
};

class DeviceRuntime {
  public:
    explicit DeviceRuntime(RuntimeSettings settings);
    ~DeviceRuntime();

    [[nodiscard]] Status start();
    void stop();
    Value request(const Value& req);
    // The control socket's "watch" stream, through the node running now. A swap (enable,
    // disable) increments generation(): a stream of the old node ends, and the panel
    // watches again.
    std::shared_ptr<EventQueue> watch();
    void unwatch(const std::shared_ptr<EventQueue>& queue);
    uint64_t generation() const { return generation_.load(); }

  private:
    Status open_node();  // builds and starts the node for the current mode
    Value enable(const std::string& server, const std::string& code);
    Value disable();

    RuntimeSettings settings_;
    std::shared_mutex mu_;  // exclusive while the node is swapped
    std::unique_ptr<ClientNode> node_;
    std::optional<Credentials> creds_;
    std::string enroll_error_;  // why the last enable failed
    std::thread auto_enable_;
    std::atomic<uint64_t> generation_{0};
};

}  // namespace pdsync::client
