// The join state file: JSON, 0600, replaced atomically.
#include "server-node/join/join_state.hpp"

#include "shared/base/durable_file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pdsync::server {
namespace {

template <std::size_t N>
std::string to_hex(const std::array<unsigned char, N>& a) {
    std::string hex(N * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), a.data(), N);
    hex.pop_back();
    return hex;
}

template <std::size_t N>
bool from_hex(const std::string& hex, std::array<unsigned char, N>& out) {
    std::size_t len = 0;
    return hex.size() == N * 2 &&
           sodium_hex2bin(out.data(), N, hex.c_str(), hex.size(), nullptr, &len, nullptr) == 0 &&
           len == N;
}

}  // namespace

Value JoinState::to_value() const {
    Value v = {{"schema", "pds.join-state/1"}};
    if (code) {
        v["code"] = {{"id", code->code.id},
                     {"secret", to_hex(code->code.secret)},
                     {"ca_pin", to_hex(code->code.ca_pin)},
                     {"created_at", code->created_at},
                     {"expires_at", code->expires_at},
                     {"uses_left", code->uses_left}};
    }
    Value p = Value::object();
    for (const auto& [id, m] : pending) {
        p[id] = {{"since", m.since},
                 {"product", m.product},
                 {"firmware", m.firmware},
                 {"location", m.location}};
    }
    v["pending"] = std::move(p);
    v["approved"] = approved;
    v["denied"] = denied;
    v["roles"] = roles;
    v["claim_password_id"] = claim_password_id;
    v["inspector_password_set"] = inspector_password_set;
    return v;
}

Result<JoinState> JoinState::from_value(const Value& v) {
    if (!v.is_object() || v.value("schema", "") != "pds.join-state/1")
        return make_error(Errc::bad_schema, "not a pds.join-state/1 file");
    JoinState s;
    try {
        if (v.contains("code") && v["code"].is_object()) {
            const Value& c = v["code"];
            StoredJoinCode sc;
            sc.code.id = c.at("id").get<std::string>();
            if (!from_hex(c.at("secret").get<std::string>(), sc.code.secret) ||
                !from_hex(c.at("ca_pin").get<std::string>(), sc.code.ca_pin))
                return make_error(Errc::malformed, "the stored join code is damaged");
            sc.created_at = c.value("created_at", int64_t{0});
            sc.expires_at = c.value("expires_at", int64_t{0});
            sc.uses_left = c.value("uses_left", int64_t{-1});
            s.code = sc;
        }
        if (v.contains("pending")) {
            for (auto it = v["pending"].begin(); it != v["pending"].end(); ++it) {
                s.pending[it.key()] = {
                    it.value().value("since", int64_t{0}), it.value().value("product", ""),
                    it.value().value("firmware", ""), it.value().value("location", "")};
            }
        }
        if (v.contains("approved")) s.approved = v["approved"].get<std::set<std::string>>();
        if (v.contains("denied")) s.denied = v["denied"].get<std::set<std::string>>();
        if (v.contains("roles")) s.roles = v["roles"].get<std::map<std::string, std::string>>();
        s.claim_password_id = v.value("claim_password_id", "");
        s.inspector_password_set = v.value("inspector_password_set", false);
    } catch (const std::exception& e) {
        return make_error(Errc::malformed, std::string("the join state is damaged: ") + e.what());
    }
    return s;
}

Result<JoinState> load_join_state(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return JoinState{};
        return make_error(Errc::io, "cannot read " + path + ": " + std::strerror(errno));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    Value v = Value::parse(ss.str(), nullptr, false);
    if (v.is_discarded()) return make_error(Errc::malformed, path + " is not JSON");
    return JoinState::from_value(v);
}

Status save_join_state(const std::string& path, const JoinState& state) {
    return write_file_durably(path, state.to_value().dump(2) + "\n", 0600);
}

}  // namespace pdsync::server
