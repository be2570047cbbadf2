// A real fleet set up by deploy/fleet-init.sh (dynamic security plugin), and a raw client.
#include "tests/join/join_fleet.hpp"

#include <mqtt/async_client.h>

#include <condition_variable>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "shared/net/control_socket.hpp"
#include "shared/net/mqtt_link.hpp"

namespace pdsync::test {
namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// The test's own account that may read everything: the plugin's file before the broker
// first starts, with a copy of the server's password hash (the account is this test's).
void add_observer(const std::string& dynsec_file) {
    Value v = Value::parse(read_file(dynsec_file));
    Value admin = v["clients"][0];
    Value observer = {{"username", "observer"},
                      {"password", admin["password"]},
                      {"salt", admin["salt"]},
                      {"iterations", admin["iterations"]},
                      {"roles", {{{"rolename", "observer"}}}}};
    v["clients"].push_back(observer);
    v["roles"].push_back(
        {{"rolename", "observer"},
         {"acls",
          {{{"acltype", "subscribePattern"}, {"topic", "#"}, {"allow", true}},
           {{"acltype", "publishClientReceive"}, {"topic", "#"}, {"allow", true}}}}});
    std::ofstream(dynsec_file) << v.dump(2);
}

}  // namespace

JoinFleet::JoinFleet(const TempDir& dir, JoinFleetOptions options, const std::string& name)
    : dir_(dir), name_(name), fleet_(dir.file(name)), options_(std::move(options)) {
    tls_port_ = free_port();
    std::vector<std::string> argv = {
        "bash", std::string(PDSYNC_SOURCE_DIR) + "/deploy/fleet-init.sh", fleet_, "--tls-port",
        std::to_string(tls_port_), "--tls-addr", "127.0.0.1", "--server-host", "localhost",
        "--run-user", "root", "--server-device-id", "srv", "--data-dir", dir.file(name + "-data"),
        // No web page: parallel fleets would all bind its port.
        "--web-listen", "off"};
    argv.insert(argv.end(), options_.fleet_init_args.begin(), options_.fleet_init_args.end());
    // The session plugin this build made, loaded after dynamic security as a fleet's is.
    std::string cmd = std::string("PDSYNC_SESSIONS_PLUGIN='") + PDSYNC_SESSIONS_PLUGIN + "' ";
    for (const auto& a : argv) cmd += "'" + a + "' ";
    const std::string log = dir.file(name + "-init.log");
    if (std::system((cmd + ">" + log + " 2>&1 </dev/null").c_str()) != 0)
        throw std::runtime_error("fleet-init.sh failed: " + read_file(log));
    ca_file_ = fleet_ + "/tls/ca.crt";
    if (options_.observer) add_observer(dir.file(name + "-data") + "/broker/dynamic-security.json");
    broker_ = Process({PDSYNC_MOSQUITTO_BIN, "-c", fleet_ + "/mosquitto.conf"},
                      dir.file(name + "-broker.log"));
    if (!wait_until([&] { return port_open(tls_port_); }, std::chrono::seconds(10)))
        throw std::runtime_error("mosquitto did not start: " + broker_.log());
    if (options_.start_server) start_server();
}

JoinFleet::~JoinFleet() {
    server_.reset();
    broker_.stop();
}

void JoinFleet::start_server(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--config", fleet_ + "/pdsync-server.conf"};
    args.insert(args.end(), options_.server_args.begin(), options_.server_args.end());
    args.insert(args.end(), extra.begin(), extra.end());
    server_ =
        std::make_unique<Server>(dir_, std::vector<std::string>{uri()}, args, name_ + "-server");
    // Ready for devices once its broker rights are set up (the claim account exists).
    if (!wait_until(
            [&] {
                return server_->log().find("join: broker rights in place") != std::string::npos;
            },
            std::chrono::seconds(15)))
        throw std::runtime_error("the server did not set up the broker's rights: " +
                                 server_->log());
}

std::string JoinFleet::server_password() const {
    return secret("pdsync-server.password");
}

std::string JoinFleet::secret(const std::string& file) const {
    return trim(read_file(fleet_ + "/secrets/" + file));
}

std::string JoinFleet::join_code(const Value& options) {
    Value req = options;
    req["cmd"] = "join-code";
    Value r = server_->admin(req);
    if (!r.value("ok", false)) throw std::runtime_error("join-code refused: " + r.dump());
    return r["join_code"].get<std::string>();
}

std::unique_ptr<Device> JoinFleet::device(const std::string& id, std::vector<std::string> args) {
    return std::make_unique<Device>(dir_, std::vector<std::string>{}, id, std::move(args));
}

Value JoinFleet::enable(Device& d, const std::string& code, const std::string& server) {
    return d.call({{"cmd", "enable"},
                   {"server", server.empty() ? server_address() : server},
                   {"join_code", code}},
                  60000);
}

DeviceAccount account_of(const Device& d) {
    Value v = Value::parse(read_file(d.store() + ".credentials"));
    return {v["username"].get<std::string>(), v["password"].get<std::string>()};
}

// ---- RawClient -----------------------------------------------------------------------------

struct RawClient::State : public mqtt::callback {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<std::string, std::string>> messages;
    bool connected = false;
    void message_arrived(mqtt::const_message_ptr m) override {
        {
            std::lock_guard lock(mu);
            messages.emplace_back(m->get_topic(), m->get_payload_str());
        }
        cv.notify_all();
    }
    void connection_lost(const std::string&) override {
        {
            std::lock_guard lock(mu);
            connected = false;
        }
        cv.notify_all();
    }
};

RawClient::RawClient(const std::string& uri, const std::string& ca_file, std::string client_id)
    : state_(std::make_unique<State>()), ca_file_(ca_file) {
    pdsync::net::keep_paho_initialized();
    client_ =
        std::make_unique<mqtt::async_client>(uri, client_id, mqtt::create_options(MQTTVERSION_5));
    client_->set_callback(*state_);
    client_->set_disconnected_handler(
        [this](const mqtt::properties&, mqtt::ReasonCode) { state_->connection_lost(""); });
}

RawClient::~RawClient() {
    try {
        if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
    } catch (...) {
    }
}

int RawClient::connect(const std::string& user, const std::string& password) {
    auto ssl = mqtt::ssl_options_builder().trust_store(ca_file_).verify(true).finalize();
    auto opts = mqtt::connect_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .clean_start(true)
                    .user_name(user)
                    .password(password)
                    .connect_timeout(std::chrono::seconds(5))
                    .ssl(ssl)
                    .finalize();
    try {
        client_->connect(opts)->wait();
        std::lock_guard lock(state_->mu);
        state_->connected = true;
        return 0;
    } catch (const mqtt::exception& e) {
        int rc = static_cast<int>(e.get_reason_code());
        return rc != 0 ? rc : -1;
    }
}

bool RawClient::connected() const {
    std::lock_guard lock(state_->mu);
    return state_->connected;
}

int RawClient::publish(const std::string& topic, const std::string& payload, bool retained) {
    try {
        auto tok = client_->publish(topic, payload.data(), payload.size(), 1, retained);
        tok->wait();
        return static_cast<int>(tok->get_reason_code());
    } catch (const mqtt::exception& e) {
        int rc = static_cast<int>(e.get_reason_code());
        return rc != 0 ? rc : -1;
    }
}

std::vector<int> RawClient::subscribe(const std::vector<std::string>& filters) {
    // One SUBSCRIBE per filter, in order: Paho fails a whole multi-filter token when one
    // filter is refused, hiding the others' codes. The broker answers each before it reads
    // the next, so retained messages of an earlier filter arrive before a later one's.
    std::vector<int> out;
    for (const auto& f : filters) {
        try {
            auto tok = client_->subscribe(f, 1);
            tok->wait();
            const auto response = tok->get_subscribe_response();
            const auto codes = response.get_reason_codes();
            out.push_back(codes.empty() ? 0 : static_cast<int>(codes.front()));
        } catch (const mqtt::exception& e) {
            out.push_back(static_cast<int>(e.get_reason_code()));
        }
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> RawClient::received() {
    std::lock_guard lock(state_->mu);
    return state_->messages;
}

bool RawClient::wait_for(const std::string& topic, std::chrono::milliseconds timeout) {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, timeout, [&] {
        for (const auto& [t, p] : state_->messages)
            if (t == topic) return true;
        return false;
    });
}

bool RawClient::wait_disconnected(std::chrono::milliseconds timeout) {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, timeout, [&] { return !state_->connected; });
}

}  // namespace pdsync::test
