// The fleet's roles and accounts as dynamic security plugin commands.
#include "server-node/join/dynsec_commands.hpp"

namespace pdsync::server {
namespace {

Value acl(const char* type, const std::string& topic, bool allow = true) {
    return {{"acltype", type}, {"topic", topic}, {"allow", allow}, {"priority", 0}};
}

// Subscribing and receiving are checked separately (subscribe at SUBSCRIBE time,
// publishClientReceive at each delivery), so a read right is both.
void add_read(Value& acls, const std::string& topic, bool allow = true) {
    acls.push_back(acl("subscribePattern", topic, allow));
    acls.push_back(acl("publishClientReceive", topic, allow));
}

Value roles_list(std::initializer_list<std::string> names) {
    Value out = Value::array();
    for (const auto& n : names) out.push_back({{"rolename", n}, {"priority", -1}});
    return out;
}

}  // namespace

Value DynsecCommands::role(const std::string& name, Value acls) const {
    return {{"command", "createRole"}, {"rolename", name}, {"acls", std::move(acls)}};
}

std::vector<Value> DynsecCommands::shared_roles() const {
    const std::string& r = topics_.root();
    std::vector<Value> out;
    // Nothing is allowed unless a role says so, deliveries included: a role that does not
    // mention users/ leaves the decision to the next plugin (a session plugin), and with
    // none the broker denies.
    out.push_back({{"command", "setDefaultACLAccess"},
                   {"acls",
                    {{{"acltype", "publishClientSend"}, {"allow", false}},
                     {{"acltype", "publishClientReceive"}, {"allow", false}},
                     {{"acltype", "subscribe"}, {"allow", false}},
                     {{"acltype", "unsubscribe"}, {"allow", true}}}}});
    Value server = Value::array();
    server.push_back(acl("publishClientSend", r + "/#"));
    add_read(server, r + "/#");
    server.push_back(acl("publishClientSend", kDynsecTopic));
    add_read(server, kDynsecResponseTopic);
    out.push_back(role("pdsync-server", std::move(server)));

    Value claimant = Value::array();
    claimant.push_back(acl("publishClientSend", r + "/claim/+/request"));
    add_read(claimant, r + "/claim/+/response");
    out.push_back(role("claimant", std::move(claimant)));

    Value candidate = Value::array();
    add_read(candidate, r + "/server/status");
    // Explicit denials: a later plugin that allows reads under users/ is never asked for
    // an account that is not a member.
    add_read(candidate, r + "/users/#", false);
    add_read(candidate, r + "/shared/#", false);
    add_read(candidate, r + "/inspect/#", false);
    out.push_back(role("candidate", std::move(candidate)));

    Value member = Value::array();
    add_read(member, r + "/server/status");
    add_read(member, r + "/shared/#");
    // With the session plugin (docs/decisions.md, "broker rights"), no delivery right: this
    // plugin then defers every users/ delivery to it, which allows one only within a session.
    if (session_plugin_)
        member.push_back(acl("subscribePattern", r + "/users/#"));
    else
        add_read(member, r + "/users/#");
    out.push_back(role("member", std::move(member)));

    Value inspector = Value::array();
    add_read(inspector, r + "/inspect/#");
    out.push_back(role("inspector", std::move(inspector)));

    return out;
}

std::vector<Value> DynsecCommands::own_account(const std::string& server_user,
                                               const std::string& client_id) const {
    // `mosquitto_ctrl dynsec init` gives the account only the control topic; adding a
    // role it already holds is answered with an error and disconnects nobody.
    return {{{"command", "addClientRole"},
             {"username", server_user},
             {"rolename", "pdsync-server"},
             {"priority", -1}},
            {{"command", "setClientId"}, {"username", server_user}, {"clientid", client_id}}};
}

std::vector<Value> DynsecCommands::claim_account(const std::string& password) const {
    return {{{"command", "createClient"},
             {"username", kClaimAccount},
             {"password", password},
             {"clientid", kClaimAccount},
             {"textname", "pdsync: every fresh device claims through this account"},
             {"roles", roles_list({"claimant"})}}};
}

Value DynsecCommands::set_password(const std::string& user, const std::string& password) const {
    return {{"command", "setClientPassword"}, {"username", user}, {"password", password}};
}

std::vector<Value> DynsecCommands::inspector_account(const std::string& password) const {
    return {{{"command", "createClient"},
             {"username", kInspectorAccount},
             {"password", password},
             {"clientid", kInspectorAccount},
             {"roles", roles_list({"inspector"})}}};
}

std::vector<Value> DynsecCommands::create_device(const std::string& id,
                                                 const std::string& password) const {
    const std::string dev = topics_.root() + "/devices/" + id + "/";
    Value own = Value::array();
    own.push_back(acl("publishClientSend", dev + "hello"));
    own.push_back(acl("publishClientSend", dev + "presence"));
    add_read(own, dev + "inbox");
    Value writes = Value::array();
    writes.push_back(acl("publishClientSend", dev + "changes"));
    writes.push_back(acl("publishClientSend", dev + "events"));
    return {role("device/" + id, std::move(own)),
            role("member/" + id, std::move(writes)),
            {{"command", "createClient"},
             {"username", id},
             {"password", password},
             {"clientid", id},
             {"roles", roles_list({"device/" + id, "candidate"})}}};
}

std::vector<Value> DynsecCommands::promote(const std::string& id) const {
    return {{{"command", "addClientRole"}, {"username", id}, {"rolename", "member"}},
            {{"command", "addClientRole"}, {"username", id}, {"rolename", "member/" + id}},
            {{"command", "removeClientRole"}, {"username", id}, {"rolename", "candidate"}}};
}

std::vector<Value> DynsecCommands::demote(const std::string& id) const {
    return {{{"command", "addClientRole"}, {"username", id}, {"rolename", "candidate"}},
            {{"command", "removeClientRole"}, {"username", id}, {"rolename", "member"}},
            {{"command", "removeClientRole"}, {"username", id}, {"rolename", "member/" + id}}};
}

std::vector<Value> DynsecCommands::remove_device(const std::string& id) const {
    return {{{"command", "deleteClient"}, {"username", id}},
            {{"command", "deleteRole"}, {"rolename", "device/" + id}},
            {{"command", "deleteRole"}, {"rolename", "member/" + id}}};
}

Value DynsecCommands::get_client(const std::string& user) const {
    return {{"command", "getClient"}, {"username", user}};
}

Value dynsec_message(std::vector<Value> commands, const std::string& tag) {
    Value list = Value::array();
    for (std::size_t i = 0; i < commands.size(); ++i) {
        commands[i]["correlationData"] = tag + ":" + std::to_string(i);
        list.push_back(std::move(commands[i]));
    }
    return {{"commands", std::move(list)}};
}

}  // namespace pdsync::server
