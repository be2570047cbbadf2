// Claims, broker roles and join codes on the server's worker thread.
#include "server-node/join/join_service.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <fstream>
#include <sstream>

#include "shared/base/hex.hpp"
#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"
#include "shared/user_id.hpp"

namespace pdsync::server {
namespace {

Value fail(Errc code, const std::string& message) {
    return {{"ok", false}, {"error", std::string(errc_name(code))}, {"message", message}};
}

// The DER bytes of the first certificate of a PEM file.
Result<std::string> first_cert_der(const std::string& path) {
    std::ifstream in(path);
    if (!in) return make_error(Errc::io, "cannot read the fleet CA " + path);
    std::string line, b64;
    bool inside = false;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == "-----BEGIN CERTIFICATE-----") {
            inside = true;
            continue;
        }
        if (line == "-----END CERTIFICATE-----") break;
        if (inside) b64 += line;
    }
    std::string der(b64.size(), '\0');
    std::size_t len = 0;
    if (b64.empty() || sodium_base642bin(reinterpret_cast<unsigned char*>(der.data()), der.size(),
                                         b64.c_str(), b64.size(), nullptr, &len, nullptr,
                                         sodium_base64_VARIANT_ORIGINAL) != 0) {
        return make_error(Errc::invalid_argument, path + " holds no PEM certificate");
    }
    der.resize(len);
    return der;
}

// "90s", "30m", "24h", "7d" -> milliseconds; 0 on a bad value.
int64_t duration_ms(const std::string& s) {
    if (s.size() < 2) return 0;
    int64_t n = 0;
    for (std::size_t i = 0; i + 1 < s.size(); ++i) {
        if (!std::isdigit(static_cast<unsigned char>(s[i])) || n > 1'000'000'000) return 0;
        n = n * 10 + (s[i] - '0');
    }
    switch (s.back()) {
        case 's':
            return n * 1000;
        case 'm':
            return n * 60'000;
        case 'h':
            return n * 3'600'000;
        case 'd':
            return n * 86'400'000;
        default:
            return 0;
    }
}

std::string new_password() {
    return random_hex(24);  // 192 bits, safe in any quoting
}

bool is_error(const Value& response) {
    return response.contains("error") && response["error"].is_string();
}

std::string error_of(const Value& response) {
    return is_error(response) ? response["error"].get<std::string>() : "";
}

}  // namespace

JoinService::JoinService(Topics topics, JoinSettings settings, Publish publish)
    : topics_(topics),
      settings_(std::move(settings)),
      commands_(topics, settings_.session_plugin),
      publish_(std::move(publish)) {}

Status JoinService::load() {
    PDS_TRY(auto der, first_cert_der(settings_.ca_file));
    pin_ = ca_pin_of_der(der);
    PDS_TRY(state_, load_join_state(settings_.state_path));
    if (!state_.code || state_.code->code.ca_pin != pin_) {
        // The first code, or the CA was replaced: the old code would pin the wrong CA.
        state_.code = StoredJoinCode{JoinCode::generate(pin_), now_ms(), 0, -1};
        PDS_CHECK(save());
        spdlog::info("join: made a new join code (pdsync join-code prints it)");
    }
    return Ok{};
}

Status JoinService::save() {
    return save_join_state(settings_.state_path, state_);
}

void JoinService::on_dynsec_response(const std::string& payload) {
    Value v = Value::parse(payload, nullptr, false);
    if (v.is_discarded() || !v.contains("responses") || !v["responses"].is_array()) return;
    std::string tag;
    for (const auto& r : v["responses"]) {
        std::string c = r.value("correlationData", "");
        if (auto colon = c.rfind(':'); colon != std::string::npos) tag = c.substr(0, colon);
    }
    if (tag.empty()) return;
    {
        std::lock_guard lock(mu_);
        answers_[tag] = std::move(v["responses"]);
    }
    cv_.notify_all();
}

Result<std::vector<Value>> JoinService::run(std::vector<Value> commands, const std::string& what) {
    const std::size_t n = commands.size();
    std::string tag;
    {
        std::lock_guard lock(mu_);
        tag = "pds" + std::to_string(++next_tag_);
    }
    Value msg = dynsec_message(std::move(commands), tag);
    if (auto st = publish_(kDynsecTopic, msg.dump()); !st) return st.error();
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, tuning::join::kDynsecReplyWait,
                      [&] { return answers_.count(tag) > 0; })) {
        return make_error(Errc::timeout,
                          "the broker's dynamic security plugin did not answer (" + what + ")");
    }
    Value responses = std::move(answers_[tag]);
    answers_.erase(tag);
    lock.unlock();
    std::vector<Value> out(n, Value::object());
    for (auto& r : responses) {
        std::string c = r.value("correlationData", "");
        auto colon = c.rfind(':');
        if (colon == std::string::npos) continue;
        std::size_t i = std::strtoul(c.c_str() + colon + 1, nullptr, 10);
        if (i < n) out[i] = std::move(r);
    }
    return out;
}

void JoinService::on_connected() {
    // What the server's own account holds: its rights and its client id binding.
    bool has_rights = false;
    std::string bound_id;
    if (auto me = run({commands_.get_client(settings_.server_user)}, "own account"); me) {
        const Value& c = (*me)[0].contains("data")
                             ? (*me)[0]["data"].value("client", Value::object())
                             : Value::object();
        bound_id = c.value("clientid", "");
        for (const auto& r : c.value("roles", Value::array()))
            if (r.value("rolename", "") == "pdsync-server") has_rights = true;
    } else {
        spdlog::error("join: {}", me.error().message);
        return;
    }
    auto cmds = commands_.shared_roles();
    auto claim = commands_.claim_account(state_.code->code.id);
    cmds.insert(cmds.end(), claim.begin(), claim.end());
    if (!settings_.inspector_password.empty()) {
        auto insp = commands_.inspector_account(settings_.inspector_password);
        cmds.insert(cmds.end(), insp.begin(), insp.end());
    }
    auto answers = run(cmds, "set-up");
    if (!answers) {
        spdlog::error("join: broker rights set-up failed: {}", answers.error().message);
        return;
    }
    for (std::size_t i = 0; i < cmds.size(); ++i) {
        const std::string err = error_of((*answers)[i]);
        const std::string what = cmds[i].value("command", "") + " " +
                                 cmds[i].value("rolename", "") + cmds[i].value("username", "");
        // "already exists" is expected on every start after the first.
        if (err.empty()) {
            spdlog::info("join: {}: done", what);
        } else {
            spdlog::debug("join: {}: {}", what, err);
        }
    }
    // Accounts that existed keep their passwords unless they are not the current ones
    // (setting one disconnects whoever uses the account right now).
    std::vector<Value> pw;
    if (state_.claim_password_id != state_.code->code.id)
        pw.push_back(commands_.set_password(kClaimAccount, state_.code->code.id));
    if (!settings_.inspector_password.empty() && !state_.inspector_password_set)
        pw.push_back(commands_.set_password(kInspectorAccount, settings_.inspector_password));
    if (!pw.empty()) {
        if (auto r = run(pw, "passwords"); r) {
            state_.claim_password_id = state_.code->code.id;
            state_.inspector_password_set = !settings_.inspector_password.empty();
            if (auto st = save(); !st) spdlog::error("join: {}", st.error().message);
        } else {
            spdlog::error("join: {}", r.error().message);
        }
    }
    ready_ = has_rights && bound_id == settings_.server_client_id;
    if (ready_) spdlog::info("join: broker rights in place");
    if (!has_rights || bound_id != settings_.server_client_id) {
        // The first start on a plugin set up by `mosquitto_ctrl dynsec init`: take the
        // server's rights and bind its client id. The plugin disconnects this server for
        // it (so no answer comes back); the link reconnects at once and this runs again,
        // finding everything in place.
        spdlog::warn(
            "join: taking the server's broker rights; the broker reconnects this server once");
        Value msg = dynsec_message(
            commands_.own_account(settings_.server_user, settings_.server_client_id), "self");
        if (auto st = publish_(kDynsecTopic, msg.dump()); !st)
            spdlog::error("join: {}", st.error().message);
    }
}

void JoinService::reply_claim(const std::string& nonce, const ClaimReply& r) {
    if (!r.accepted) {
        spdlog::warn("join: claim {} refused: {} ({})", nonce, errc_name(r.reason), r.message);
    }
    if (auto st = publish_(topics_.claim_response(nonce),
                           encode_msgpack_unchecked(claim_reply_to_value(r)));
        !st) {
        spdlog::warn("join: could not answer claim {}: {}", nonce, st.error().message);
    }
}

void JoinService::on_claim(const Inbound& msg) {
    const std::string nonce = topics_.claim_nonce_of_request(msg.topic);
    ClaimReply r;
    auto refuse = [&](Errc code, std::string why) {
        r.accepted = false;
        r.reason = code;
        r.message = std::move(why);
        reply_claim(nonce, r);
    };
    auto value = decode_msgpack(msg.payload);
    if (!value) return refuse(value.code(), value.error().message);
    auto req = claim_request_from_value(*value);
    if (!req) return refuse(req.code(), req.error().message);
    if (req->nonce != nonce) return refuse(Errc::malformed, "the nonce does not match the topic");
    const StoredJoinCode& code = *state_.code;
    // One answer for a wrong id and a wrong proof: neither tells a guesser which part was
    // right. The log says which, for the administrator.
    if (req->code_id != code.code.id || !claim_proof_valid(code.code.secret, *req)) {
        spdlog::warn("join: claim for device '{}' has {}", req->device_id,
                     req->code_id != code.code.id ? "a code that is not the current one"
                                                  : "a proof that does not match the code");
        return refuse(Errc::bad_join_code,
                      "the join code is wrong or was replaced (pdsync join-code on the server "
                      "prints the current one)");
    }
    const int64_t now = now_ms();
    if (code.expires_at != 0 && now >= code.expires_at)
        return refuse(Errc::join_code_expired, "the join code has expired");
    if (code.uses_left == 0)
        return refuse(Errc::join_code_expired, "the join code has been used up");
    const int64_t skew = std::chrono::milliseconds(tuning::join::kClaimClockSkew).count();
    if (req->at_ms < now - skew || req->at_ms > now + skew)
        return refuse(Errc::invalid_argument, "the device's clock is too far from the server's");
    if (state_.denied.count(req->device_id))
        return refuse(Errc::denied, "an administrator denied this machine");

    const std::string password = new_password();
    auto cmds = commands_.create_device(req->device_id, password);
    auto answers = run(cmds, "claim of " + req->device_id);
    if (!answers) return refuse(Errc::io, answers.error().message);
    const std::string err = error_of(answers->back());
    if (err == "Client already exists") {
        return refuse(Errc::device_id_taken,
                      "the fleet already has a machine called '" + req->device_id +
                          "' (pdsync machines remove it first, or choose another device id)");
    }
    if (!err.empty()) return refuse(Errc::io, "the broker refused the account: " + err);
    if (state_.code->uses_left > 0) --state_.code->uses_left;
    state_.roles[req->device_id] = "candidate";
    if (auto st = save(); !st) spdlog::error("join: {}", st.error().message);

    ClaimGrant g;
    g.username = req->device_id;
    g.password = password;
    if (settings_.fleet_key) {
        g.fleet_key = *settings_.fleet_key;
        g.has_fleet_key = true;
    }
    r.accepted = true;
    r.sealed = seal_grant(g, req->public_key);
    spdlog::info("join: device '{}' claimed an account (candidate until it joins)", req->device_id);
    reply_claim(nonce, r);
}

Errc JoinService::admission(const std::string& device_id, const Hello& hello) {
    if (state_.denied.count(device_id)) return Errc::denied;
    if (!settings_.manual_approval || state_.approved.count(device_id)) return Errc::ok;
    if (!state_.pending.count(device_id)) {
        state_.pending[device_id] = {now_ms(), hello.product, hello.firmware, hello.location};
        if (auto st = save(); !st) spdlog::error("join: {}", st.error().message);
        spdlog::info("join: machine '{}' waits for approval (pdsync machines approve {})",
                     device_id, device_id);
    }
    return Errc::pending_approval;
}

void JoinService::apply(const std::vector<JoinDecision>& decisions) {
    bool changed = false;
    for (const auto& d : decisions) {
        const std::string want = d.accepted ? "member" : "candidate";
        auto it = state_.roles.find(d.device_id);
        const std::string have = it == state_.roles.end() ? "candidate" : it->second;
        // `approved` stays: the core asks again only for a machine it has no row for.
        if (d.accepted && state_.pending.erase(d.device_id)) changed = true;
        if (have == want) continue;
        auto cmds = d.accepted ? commands_.promote(d.device_id) : commands_.demote(d.device_id);
        auto answers = run(cmds, want + " " + d.device_id);
        if (!answers) {
            spdlog::error("join: could not make '{}' a {}: {}", d.device_id, want,
                          answers.error().message);
            continue;
        }
        const std::string err = error_of(answers->front());
        if (err == "Client not found") {
            // An account the plugin does not hold (a device of another broker set-up).
            spdlog::warn("join: device '{}' has no account in the broker", d.device_id);
            continue;
        }
        // The device is disconnected by the change and reconnects under its new rights;
        // the hello it sends then is answered without another change.
        spdlog::info("join: device '{}' is now a {} on the broker", d.device_id, want);
        state_.roles[d.device_id] = want;
        changed = true;
    }
    if (changed) {
        if (auto st = save(); !st) spdlog::error("join: {}", st.error().message);
    }
}

void JoinService::forget(const std::string& device_id) {
    auto answers = run(commands_.remove_device(device_id), "remove " + device_id);
    if (!answers) {
        spdlog::error("join: could not delete the account of '{}': {}", device_id,
                      answers.error().message);
    } else if (const std::string err = error_of(answers->front()); !err.empty()) {
        spdlog::warn("join: deleting the account of '{}': {}", device_id, err);
    } else {
        spdlog::info("join: deleted the broker account of '{}' (its session ended)", device_id);
    }
    state_.roles.erase(device_id);
    state_.pending.erase(device_id);
    state_.approved.erase(device_id);
    if (auto st = save(); !st) spdlog::error("join: {}", st.error().message);
}

bool JoinService::handles_admin(const std::string& cmd) const {
    return cmd == "join-code" || cmd == "machines-pending" || cmd == "machines-approve" ||
           cmd == "machines-deny" || cmd == "machines-provision";
}

Value JoinService::join_code_info(bool with_code) const {
    const auto& c = *state_.code;
    Value v = {{"ok", true},
               {"created_at", c.created_at},
               {"expires_at", c.expires_at},
               {"uses_left", c.uses_left},
               {"ca_sha256_prefix", ca_pin_hex(c.code.ca_pin)}};
    if (with_code) v["join_code"] = format_join_code(c.code);
    v["broker_ready"] = ready_;
    const int64_t now = now_ms();
    v["valid"] = (c.expires_at == 0 || now < c.expires_at) && c.uses_left != 0;
    return v;
}

Value JoinService::rotate(const Value& request) {
    StoredJoinCode next{JoinCode::generate(pin_), now_ms(), 0, -1};
    if (request.contains("expires") && request["expires"].is_string()) {
        const int64_t ms = duration_ms(request["expires"].get<std::string>());
        if (ms <= 0)
            return fail(Errc::invalid_argument,
                        "--expires takes a duration such as 90s, 30m, 24h or 7d");
        next.expires_at = next.created_at + ms;
    }
    if (request.contains("uses")) {
        if (!request["uses"].is_number_integer() || request["uses"].get<int64_t>() < 1)
            return fail(Errc::invalid_argument, "--uses takes a count of at least 1");
        next.uses_left = request["uses"].get<int64_t>();
    }
    auto answers = run({commands_.set_password(kClaimAccount, next.code.id)}, "rotate");
    if (!answers) return fail(answers.code(), answers.error().message);
    if (const std::string err = error_of(answers->front()); !err.empty())
        return fail(Errc::io, "the broker refused the new claim password: " + err);
    state_.code = next;
    state_.claim_password_id = next.code.id;
    if (auto st = save(); !st) return fail(st.code(), st.error().message);
    spdlog::info("join: the join code was replaced; the old one no longer works");
    return join_code_info(true);
}

Value JoinService::admin(const Value& request) {
    const std::string cmd = request.value("cmd", "");
    const std::string id = request.value("device_id", "");
    if (cmd == "join-code") {
        if (request.value("rotate", false) || request.contains("expires") ||
            request.contains("uses"))
            return rotate(request);
        return join_code_info(true);
    }
    if (cmd == "machines-pending") {
        Value list = Value::array();
        for (const auto& [dev, m] : state_.pending) {
            list.push_back({{"device_id", dev},
                            {"since", m.since},
                            {"product", m.product},
                            {"firmware", m.firmware},
                            {"location", m.location}});
        }
        return {{"ok", true},
                {"pending", list},
                {"approval", settings_.manual_approval ? "manual" : "auto"}};
    }
    if (cmd == "machines-approve") {
        if (!state_.pending.count(id))
            return fail(Errc::not_found, "no machine '" + id + "' waits for approval");
        state_.pending.erase(id);
        state_.approved.insert(id);
        if (auto st = save(); !st) return fail(st.code(), st.error().message);
        // Promote at once: the device is disconnected, reconnects as a member, and its
        // hello is accepted now rather than at its next retry (up to 30 s away).
        apply({JoinDecision{id, true, Errc::ok, ""}});
        return {{"ok", true}, {"device_id", id}, {"message", "approved; it joins now"}};
    }
    if (cmd == "machines-deny") {
        const bool was_pending = state_.pending.erase(id) > 0;
        if (!was_pending && !state_.roles.count(id))
            return fail(Errc::not_found, "no machine '" + id + "' is known to the broker");
        state_.denied.insert(id);
        state_.approved.erase(id);
        if (auto st = save(); !st) return fail(st.code(), st.error().message);
        return {{"ok", true}, {"device_id", id}, {"message", "denied; it stays a candidate"}};
    }
    if (cmd == "machines-provision") {
        // enroll-device.sh: an account made in advance, handed over with the device's
        // bundle instead of through a claim.
        if (auto st = validate_device_id(id); !st) return fail(st.code(), st.error().message);
        const std::string password = new_password();
        auto answers = run(commands_.create_device(id, password), "provision " + id);
        if (!answers) return fail(answers.code(), answers.error().message);
        const std::string err = error_of(answers->back());
        if (err == "Client already exists")
            return fail(Errc::device_id_taken,
                        "the fleet already has a machine called '" + id + "'");
        if (!err.empty()) return fail(Errc::io, "the broker refused the account: " + err);
        state_.roles[id] = "candidate";
        if (auto st = save(); !st) return fail(st.code(), st.error().message);
        return {{"ok", true}, {"device_id", id}, {"username", id}, {"password", password}};
    }
    return fail(Errc::invalid_argument, "unknown command");
}

Value JoinService::status() const {
    Value pending = Value::array();
    for (const auto& [dev, m] : state_.pending) {
        pending.push_back({{"device_id", dev}, {"since", m.since}, {"product", m.product}});
    }
    Value info = join_code_info(false);
    info.erase("ok");
    return {{"pending", pending},
            {"approval", settings_.manual_approval ? "manual" : "auto"},
            {"join_code", info}};
}

}  // namespace pdsync::server
