// Test support: a real fleet on loopback. RAII wrappers start a real mosquitto, the real
// pdsync-server and real pdsync-client daemons as child processes, each on a free port or
// socket under the test's temp dir, and stop them by PID. MqttProbe is a plain MQTT
// client a test uses to look at what is on the broker.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shared/codec.hpp"
#include "shared/net/mqtt_link.hpp"
#include "tests/support/process.hpp"

namespace pdsync::test {

struct BrokerOptions {
    bool persistence = false;
    bool anonymous = true;  // the security tests use password files instead
    std::string password_file;
    std::string acl_file;
    std::string extra;  // more config lines, verbatim (plugins, packet limits)
};

class Broker {
  public:
    Broker(const TempDir& dir, BrokerOptions options = {}, std::string name = "broker");
    int port() const { return port_; }
    std::string uri() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
    void start();
    void stop() { process_.stop(); }
    void kill9() { process_.kill9(); }
    bool running() { return process_.running(); }
    Process& process() { return process_; }

  private:
    std::string conf_;
    std::string log_;
    int port_;
    Process process_;
};

class Server {
  public:
    Server(const TempDir& dir, std::vector<std::string> brokers,
           std::vector<std::string> extra_args = {}, std::string name = "server");
    void start(const std::vector<std::string>& env = {});
    int stop() { return process_.stop(); }
    void kill9() { process_.kill9(); }
    bool running() { return process_.running(); }
    const std::string& store() const { return store_; }
    std::string log() const { return process_.log(); }
    Process& process() { return process_; }
    const std::string& admin_socket() const { return admin_socket_; }
    // One administration request; waits until the admin socket answers.
    Value admin(const Value& request, int timeout_ms = 20000);

  private:
    std::vector<std::string> args_;
    std::string admin_socket_;
    std::string store_;

    std::string log_;
    Process process_;
};

class Device {
  public:
    Device(const TempDir& dir, std::vector<std::string> brokers, std::string device_id,
           std::vector<std::string> extra_args = {});
    // Returns once the control socket answers; `env` ("NAME=value") for this run only.
    void start(const std::vector<std::string>& env = {});

    int stop() { return process_.stop(); }
    void kill9() { process_.kill9(); }
    bool running() { return process_.running(); }
    const std::string& id() const { return id_; }
    const std::string& socket() const { return socket_; }
    const std::string& store() const { return store_; }
    std::string log() const { return process_.log(); }

    // One control request; throws on transport failure (the test fails with the reason).
    Value call(const Value& request, int timeout_ms = 20000);
    Value status() { return call({{"cmd", "status"}}); }
    Value login(const std::string& user) {
        return call({{"cmd", "login"}, {"user", user}, {"wait_ms", 15000}});
    }
    Value logout() { return call({{"cmd", "logout"}}); }
    Value edit(const std::string& category, const Value& ops, int wait_ms = 10000,
               const std::string& user = "");
    // The live entries (shared then device-only) of one category for the current user; []
    // when the device holds no such document. Throws when the device refuses the request.
    Value show(const std::string& category, const std::string& user = "");
    // Waits until the device has joined the fleet.
    bool wait_joined(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  private:
    std::vector<std::string> args_;
    std::string id_;
    std::string socket_;
    std::string store_;
    std::string log_;
    Process process_;
};

// Runs the pdsync CLI; returns exit code and stdout.
struct CliResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};
CliResult run_cli(const std::vector<std::string>& args);

// A plain MQTT v5 client that records the last payload seen on every topic.
class MqttProbe {
  public:
    MqttProbe(const std::string& broker_uri, const std::vector<std::string>& filters,
              std::string client_id = "", std::string username = "", std::string password = "");
    ~MqttProbe();
    std::optional<std::string> last(const std::string& topic);
    std::map<std::string, std::string> all();
    std::size_t count();  // messages received so far
    bool wait_for(const std::string& topic, const std::function<bool(const std::string&)>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));
    net::MqttLink& link() { return *link_; }

  private:
    std::mutex mu_;
    std::map<std::string, std::string> last_;
    std::size_t count_ = 0;
    std::unique_ptr<net::MqttLink> link_;
};

}  // namespace pdsync::test
