// Joining by code and broker rights, on the server (docs/deploying.md, decisions "join
// codes" and "broker rights"): the server is the only writer of the dynamic security
// plugin. It answers claims (a fresh device's HMAC-proven request) with an account of its
// own, sealed to the device's key; moves an account between candidate and member as
// ServerCore accepts or refuses its hellos; deletes it when the machine is removed; keeps
// the join code (rotate, expiry, uses) and the machines held for approval.
//
// The plugin's answers come back on Paho's thread (on_dynsec_response); everything else
// runs on the server's worker thread, which waits for the answer of each command message
// (well under a millisecond on loopback), so a grant is in force before the reply that
// announces it is published.
//
// Ownership and threads: owned by ServerNode; on_dynsec_response() from Paho's thread,
// every other member from the worker thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server-node/join/dynsec_commands.hpp"
#include "server-node/join/join_state.hpp"
#include "server-node/server_core.hpp"
#include "shared/secrets.hpp"

namespace pdsync::server {

struct JoinSettings {
    std::string state_path;             // the join state file (0600)
    std::string ca_file;                // the fleet CA (PEM) whose pin goes into every code
    std::string server_user;            // the server's broker account
    std::string server_client_id;       // the client id that account is bound to
    std::optional<FleetKey> fleet_key;  // sealed into every grant
    bool manual_approval = false;       // --join-approval manual
    std::string inspector_password;     // set: the inspector account is kept
    bool session_plugin = false;        // the broker loads pdsync_sessions.so (--session-plugin)
};

class JoinService {
  public:
    using Publish = std::function<Status(const std::string& topic, const std::string& payload)>;
    JoinService(Topics topics, JoinSettings settings, Publish publish);

    // Reads the state and the CA; makes the first join code if there is none.
    [[nodiscard]] Status load();

    bool is_dynsec_response(const std::string& topic) const {
        return topic == kDynsecResponseTopic;
    }
    bool is_claim(const std::string& topic) const {
        return !topics_.claim_nonce_of_request(topic).empty();
    }
    void on_dynsec_response(const std::string& payload);  // Paho's thread

    // After every (re)connect: default access, shared roles, the claim and inspector
    // accounts. Idempotent.
    void on_connected();
    void on_claim(const Inbound& msg);
    // ServerCore's admission check for a machine it has not seen (manual approval).
    Errc admission(const std::string& device_id, const Hello& hello);
    // Brings each device's broker role in line with the server's decision.
    void apply(const std::vector<JoinDecision>& decisions);
    void forget(const std::string& device_id);  // the machine was removed

    bool handles_admin(const std::string& cmd) const;
    Value admin(const Value& request);
    Value status() const;  // pending machines, join code bounds (never the code)

  private:
    // Sends one command message; the responses in order, or Errc::timeout.
    Result<std::vector<Value>> run(std::vector<Value> commands, const std::string& what);
    Status save();
    void reply_claim(const std::string& nonce, const ClaimReply& r);
    Value join_code_info(bool with_code) const;
    Value rotate(const Value& request);

    Topics topics_;
    JoinSettings settings_;
    DynsecCommands commands_;
    Publish publish_;
    JoinState state_;
    CaPin pin_{};

    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, Value> answers_;  // correlation tag -> responses
    uint64_t next_tag_ = 0;
    bool ready_ = false;  // the broker's rights are in place: devices may claim now
};

}  // namespace pdsync::server
