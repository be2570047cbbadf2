// The broker rights of a pdsync fleet, as commands for Mosquitto's dynamic security plugin
// (JSON on $CONTROL/dynamic-security/v1, mosquitto 2.0.11). Pure: it builds the commands;
// DynsecLink sends them. docs/decisions.md ("broker rights") describes the layout.
//
// Roles (R is the topic root):
//   pdsync-server     everything under R/ and the plugin's control topic
//   claimant          publish R/claim/+/request, read R/claim/+/response; nothing else
//   candidate         read R/server/status; users/ and shared/ explicitly denied
//   member            read R/users/#, R/shared/#, R/server/status
//   device/{id}       that device's hello and presence, read its inbox
//   member/{id}       that device's changes and events
//   inspector         read R/inspect/#
// A device holds device/{id} and either candidate or member + member/{id}. Shared roles
// never change once made: the plugin's addRoleACL/removeRoleACL disconnect every client
// holding a role, so a device's promotion or demotion only changes its own role list
// (addClientRole/removeClientRole disconnect that one client, which reconnects at once).
// Every account is bound to its client id.
//
//   DynsecCommands d(Topics("pds/v1"));
//   Value msg = d.message({d.promote("mfp-1")[0], ...});
#pragma once

#include <string>
#include <vector>

#include "shared/codec.hpp"
#include "topics/topics.hpp"

namespace pdsync::server {

inline constexpr const char* kDynsecTopic = "$CONTROL/dynamic-security/v1";
inline constexpr const char* kDynsecResponseTopic = "$CONTROL/dynamic-security/v1/response";
// The claim account every fresh device uses; its password is the current code's id.
inline constexpr const char* kClaimAccount = "pdsync-claim";
inline constexpr const char* kInspectorAccount = "inspector";

class DynsecCommands {
  public:
    // `session_plugin`: the broker loads pdsync_sessions.so after this plugin, so a member's
    // role holds no delivery right under users/ and those deliveries fall through to it.
    explicit DynsecCommands(Topics topics, bool session_plugin = false)
        : topics_(std::move(topics)), session_plugin_(session_plugin) {}

    // Shared roles and default access: safe to send on every connect ("already exists"
    // answers are expected and ignored).
    std::vector<Value> shared_roles() const;
    // The server's own account: its role and its client id binding (both disconnect it).
    std::vector<Value> own_account(const std::string& server_user,
                                   const std::string& client_id) const;
    std::vector<Value> claim_account(const std::string& password) const;  // create
    Value set_password(const std::string& user, const std::string& password) const;
    std::vector<Value> inspector_account(const std::string& password) const;

    // A device's account as a candidate, bound to its id as client id.
    std::vector<Value> create_device(const std::string& device_id,
                                     const std::string& password) const;
    std::vector<Value> promote(const std::string& device_id) const;
    std::vector<Value> demote(const std::string& device_id) const;
    std::vector<Value> remove_device(const std::string& device_id) const;
    Value get_client(const std::string& user) const;

  private:
    Value role(const std::string& name, Value acls) const;
    Topics topics_;
    bool session_plugin_;
};

// {"commands": [...]} with a correlationData on each ("<tag>:<index>").
Value dynsec_message(std::vector<Value> commands, const std::string& tag);

}  // namespace pdsync::server
