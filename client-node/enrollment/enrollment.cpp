// Claiming an account with a join code, and keeping it.
#include "client-node/enrollment/enrollment.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "client-node/enrollment/ca_pin.hpp"
#include "shared/base/durable_file.hpp"
#include "shared/base/hex.hpp"
#include "shared/base/tuning.hpp"
#include "shared/clock.hpp"

namespace pdsync::client {
namespace {

constexpr const char* kClaimAccount = "pdsync-claim";  // server-node/join/dynsec_commands.hpp

struct HostPort {
    std::string host;
    int port = kDefaultTlsPort;
};

Result<HostPort> split_server(const std::string& s) {
    HostPort hp;
    std::string rest;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string::npos)
            return make_error(Errc::invalid_argument, "bad --server '" + s + "'");
        hp.host = s.substr(1, close - 1);
        rest = s.substr(close + 1);
    } else if (auto colon = s.rfind(':'); colon != std::string::npos && s.find(':') == colon) {
        hp.host = s.substr(0, colon);
        rest = s.substr(colon);
    } else {
        hp.host = s;
    }
    if (!rest.empty()) {
        if (rest.front() != ':' || rest.size() < 2 ||
            rest.find_first_not_of("0123456789", 1) != std::string::npos)
            return make_error(Errc::invalid_argument, "bad port in --server '" + s + "'");
        hp.port = std::stoi(rest.substr(1));
    }
    if (hp.host.empty() || hp.port < 1 || hp.port > 65535)
        return make_error(Errc::invalid_argument, "bad --server '" + s + "' (HOST or HOST:PORT)");
    return hp;
}

std::string uri_of(const HostPort& hp) {
    const bool v6 = hp.host.find(':') != std::string::npos;
    return "mqtts://" + (v6 ? "[" + hp.host + "]" : hp.host) + ":" + std::to_string(hp.port);
}

Status write_private(const std::string& path, const std::string& text) {
    return write_file_durably(path, text, 0600);
}

// One claim over one connection of the claim account.
class ClaimSession {
  public:
    ClaimSession(const std::string& uri, const std::string& ca_file, const std::string& password,
                 const std::string& response_topic) {
        net::MqttSettings s;
        s.servers = {uri};
        s.client_id = kClaimAccount;  // the account is bound to it
        s.username = kClaimAccount;
        s.password = password;
        s.ca_file = ca_file;
        net::MqttLink::Handlers h;
        h.on_message = [this](net::Received m) {
            {
                std::lock_guard lock(mu_);
                reply_ = std::move(m.payload);
            }
            cv_.notify_all();
        };
        link_ = std::make_unique<net::MqttLink>(std::move(s), std::move(h));
        link_->subscribe({response_topic});
        link_->start();
    }
    ~ClaimSession() { link_->stop(std::chrono::milliseconds(0)); }
    net::MqttLink& link() { return *link_; }
    std::optional<std::string> wait_reply(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, timeout, [&] { return reply_.has_value(); });
        return reply_;
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::optional<std::string> reply_;
    std::unique_ptr<net::MqttLink> link_;
};

}  // namespace

std::string ca_path_of(const std::string& credentials_path) {
    return credentials_path + ".ca.pem";
}

Result<Credentials> enroll(const EnableRequest& request, const Topics& topics) {
    if (sodium_init() < 0) return make_error(Errc::io, "libsodium did not initialize");
    PDS_TRY(JoinCode code, parse_join_code(request.join_code));
    PDS_TRY(HostPort hp, split_server(request.server));
    // 1. The CA, pinned by the code, before any MQTT byte (and so any secret) is sent.
    PDS_TRY(std::string ca_pem, fetch_pinned_ca(hp.host, hp.port, code.ca_pin));
    const std::string ca_tmp = "/tmp/pdsync-claim-ca." + random_hex(8) + ".pem";
    PDS_CHECK(write_private(ca_tmp, ca_pem));
    struct Unlink {
        std::string p;
        ~Unlink() { std::remove(p.c_str()); }
    } unlink_ca{ca_tmp};

    // 2. A key pair of the device's own: the grant is sealed to it.
    BoxPublicKey pk{};
    BoxSecretKey sk{};
    crypto_box_keypair(pk.data(), sk.data());
    struct Wipe {
        BoxSecretKey& k;
        ~Wipe() { sodium_memzero(k.data(), k.size()); }
    } wipe{sk};

    // 3. The claim, proven with an HMAC keyed by the code's secret.
    Error last = make_error(Errc::timeout, "the server did not answer the claim");
    for (int attempt = 0; attempt < tuning::join::kClaimAttempts; ++attempt) {
        if (attempt > 0) {
            // Claims share one session: a device claiming at the same moment cut this one
            // off. Wait a random moment so the two do not collide again.
            std::this_thread::sleep_for(std::chrono::milliseconds(200 + randombytes_uniform(800)));
        }
        ClaimRequest req;
        req.device_id = request.device_id;
        req.public_key = pk;
        req.nonce = random_hex(16);
        req.at_ms = now_ms();
        req.code_id = code.id;
        req.proof = claim_proof(code.secret, req);
        ClaimSession session(uri_of(hp), ca_tmp, code.id, topics.claim_response(req.nonce));
        if (!session.link().wait_connected(tuning::join::kClaimReplyWait)) {
            // The CA matched, so this broker is the fleet's: it refuses the code's claim
            // password, which only a wrong or replaced code has. Trying again cannot help.
            return make_error(
                Errc::bad_join_code,
                "the broker refused the claim account: the join code is wrong or "
                "was replaced (pdsync join-code on the server prints the current one)");
        }
        if (auto st = session.link().publish(topics.claim_request(req.nonce),
                                             encode_msgpack_unchecked(claim_request_to_value(req)),
                                             false);
            !st) {
            last = st.error();
            continue;
        }
        auto payload = session.wait_reply(tuning::join::kClaimReplyWait);
        if (!payload) continue;
        auto value = decode_msgpack(*payload);
        if (!value) return value.error();
        PDS_TRY(ClaimReply reply, claim_reply_from_value(*value));
        if (!reply.accepted) return make_error(reply.reason, reply.message);
        PDS_TRY(ClaimGrant grant, open_grant(reply.sealed, pk, sk));
        Credentials c;
        c.broker = uri_of(hp);
        c.username = grant.username;
        c.password = grant.password;
        c.ca_pem = ca_pem;
        if (grant.has_fleet_key) c.fleet_key = grant.fleet_key;
        return c;
    }
    return last;
}

Result<std::optional<Credentials>> load_credentials(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return std::optional<Credentials>{};
        return make_error(Errc::io, "cannot read " + path + ": " + std::strerror(errno));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    Value v = Value::parse(ss.str(), nullptr, false);
    if (v.is_discarded() || !v.is_object() || v.value("schema", "") != "pds.credentials/1")
        return make_error(Errc::malformed, path + " is not a pdsync credentials file");
    Credentials c;
    c.broker = v.value("broker", "");
    c.username = v.value("username", "");
    c.password = v.value("password", "");
    std::ifstream ca(ca_path_of(path));
    std::stringstream cs;
    cs << ca.rdbuf();
    c.ca_pem = cs.str();
    if (v.contains("fleet_key") && v["fleet_key"].is_string()) {
        FleetKey k{};
        std::size_t len = 0;
        const std::string hex = v["fleet_key"].get<std::string>();
        if (sodium_hex2bin(k.data(), k.size(), hex.c_str(), hex.size(), nullptr, &len, nullptr) ==
                0 &&
            len == k.size())
            c.fleet_key = k;
    }
    if (c.broker.empty() || c.username.empty() || c.password.empty() || c.ca_pem.empty())
        return make_error(Errc::malformed, path + " is incomplete; run pdsync device enable again");
    return std::optional<Credentials>(std::move(c));
}

Status save_credentials(const std::string& path, const Credentials& c) {
    Value v = {{"schema", "pds.credentials/1"},
               {"broker", c.broker},
               {"username", c.username},
               {"password", c.password}};
    if (c.fleet_key) {
        std::string hex(c.fleet_key->size() * 2 + 1, '\0');
        sodium_bin2hex(hex.data(), hex.size(), c.fleet_key->data(), c.fleet_key->size());
        hex.pop_back();
        v["fleet_key"] = hex;
    }
    // The CA first: a credentials file is only ever there with its CA.
    PDS_CHECK(write_private(ca_path_of(path), c.ca_pem));
    return write_private(path, v.dump(2) + "\n");
}

void forget_credentials(const std::string& path) {
    std::remove(path.c_str());
    std::remove(ca_path_of(path).c_str());
}

net::MqttSettings mqtt_settings_of(const Credentials& c, const std::string& credentials_path,
                                   const std::string& client_id) {
    net::MqttSettings s;
    s.servers = {c.broker};
    s.client_id = client_id;
    s.username = c.username;
    s.password = c.password;
    s.ca_file = ca_path_of(credentials_path);
    return s;
}

}  // namespace pdsync::client
