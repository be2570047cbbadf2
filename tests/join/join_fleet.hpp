// Test support for joining by code: a fleet set up exactly as deploy/fleet-init.sh sets it
// up (CA, broker certificate, dynamic security plugin, server config), its real mosquitto
// and pdsync-server on free ports, devices that start with no broker and are enabled with
// the join code, and a raw MQTT v5 client (Paho) that reports the broker's reason codes,
// for playing a device whose credentials are in hostile hands.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/fleet.hpp"

namespace mqtt {
class async_client;
}

namespace pdsync::test {

struct JoinFleetOptions {
    std::vector<std::string> fleet_init_args;  // e.g. {"--join-approval", "manual"}
    std::vector<std::string> server_args;      // e.g. {"--machine-limit", "2"}
    bool start_server = true;
    // An "observer" account that may read everything, for proving what crosses the broker.
    bool observer = false;
};

class JoinFleet {
  public:
    JoinFleet(const TempDir& dir, JoinFleetOptions options = {}, const std::string& name = "fleet");
    ~JoinFleet();

    int tls_port() const { return tls_port_; }
    std::string uri() const { return "mqtts://localhost:" + std::to_string(tls_port_); }
    std::string server_address() const { return "localhost:" + std::to_string(tls_port_); }
    const std::string& ca_file() const { return ca_file_; }
    const std::string& fleet_dir() const { return fleet_; }
    std::string server_password() const;
    std::string secret(const std::string& file) const;  // fleet/secrets/<file>
    Server& server() { return *server_; }
    Process& broker() { return broker_; }
    std::string broker_log() const { return broker_.log(); }
    void start_server(const std::vector<std::string>& extra = {});

    // `pdsync join-code` through the admin socket (fails the test if it is refused).
    std::string join_code(const Value& options = Value::object());
    // A device with no broker configured, as a fresh machine is.
    std::unique_ptr<Device> device(const std::string& id, std::vector<std::string> args = {});
    // `pdsync device enable` on it; the daemon's answer.
    Value enable(Device& d, const std::string& code, const std::string& server = "");

  private:
    const TempDir& dir_;
    std::string name_;
    std::string fleet_;
    std::string ca_file_;
    int tls_port_ = 0;
    Process broker_;
    std::unique_ptr<Server> server_;
    JoinFleetOptions options_;
};

// The credentials an enabled device keeps (its .credentials file).
struct DeviceAccount {
    std::string username;
    std::string password;
};
DeviceAccount account_of(const Device& d);

// A raw MQTT v5 client over TLS: every call answers the broker's reason code.
class RawClient {
  public:
    RawClient(const std::string& uri, const std::string& ca_file, std::string client_id);
    ~RawClient();
    // 0 on success, else the CONNACK's reason code (0x86 bad credentials, 0x87 not
    // authorized, 0x85 client id refused) or -1 when no CONNACK came.
    int connect(const std::string& user, const std::string& password);
    bool connected() const;
    int publish(const std::string& topic, const std::string& payload, bool retained = false);
    std::vector<int> subscribe(const std::vector<std::string>& filters);
    // Messages received, in order.
    std::vector<std::pair<std::string, std::string>> received();
    bool wait_for(const std::string& topic, std::chrono::milliseconds timeout);
    bool wait_disconnected(std::chrono::milliseconds timeout);

  private:
    struct State;
    std::unique_ptr<State> state_;
    std::unique_ptr<mqtt::async_client> client_;
    std::string ca_file_;
};

}  // namespace pdsync::test
