// Real broker, server and device processes for integration tests.
#include "tests/support/fleet.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"
#include "shared/net/control_socket.hpp"

namespace pdsync::test {
namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
    return out;
}

}  // namespace

Broker::Broker(const TempDir& dir, BrokerOptions options, std::string name)
    : conf_(dir.file(name + ".conf")), log_(dir.file(name + ".log")), port_(free_port()) {
    std::filesystem::create_directories(dir.path() / (name + "-data"));
    std::ofstream c(conf_);
    c << "# written by the test fixture\n"
      << "user root\n"
      << "listener " << port_ << " 127.0.0.1\n"
      << "set_tcp_nodelay true\n"
      << "max_inflight_messages 20\n"
      << "max_queued_messages 100000\n"
      << "allow_anonymous " << (options.anonymous ? "true" : "false") << "\n";
    if (!options.password_file.empty()) c << "password_file " << options.password_file << "\n";
    if (!options.acl_file.empty()) c << "acl_file " << options.acl_file << "\n";
    c << options.extra;
    if (options.persistence) {
        c << "persistence true\npersistence_location " << (dir.path() / (name + "-data")).string()
          << "/\n"
          << "autosave_interval 1\n";
    } else {
        c << "persistence false\n";
    }
    c.close();
    start();
}

void Broker::start() {
    process_ = Process({PDSYNC_MOSQUITTO_BIN, "-c", conf_}, log_);
    if (!wait_until([&] { return port_open(port_); }, std::chrono::seconds(10))) {
        throw std::runtime_error("mosquitto did not start on port " + std::to_string(port_) + ": " +
                                 process_.log());
    }
}

Server::Server(const TempDir& dir, std::vector<std::string> brokers,
               std::vector<std::string> extra_args, std::string name)
    : store_(dir.file(name + ".db")), log_(dir.file(name + ".log")) {
    args_ = {PDSYNC_SERVER_BIN,
             "--broker",
             join(brokers, ","),
             "--store",
             store_,
             "--server-id",
             name,
             "--admin-socket",
             dir.file(name + ".sock"),
             "--log-level",
             "debug"};
    admin_socket_ = dir.file(name + ".sock");
    // A test may put the store elsewhere (a small tmpfs, say) with its own --store.
    for (std::size_t i = 0; i + 1 < extra_args.size(); ++i) {
        if (extra_args[i] == "--store") {
            store_ = extra_args[i + 1];
            args_[4] = store_;
            extra_args.erase(extra_args.begin() + static_cast<std::ptrdiff_t>(i),
                             extra_args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
            break;
        }
    }

    args_.insert(args_.end(), extra_args.begin(), extra_args.end());
    start();
}

void Server::start(const std::vector<std::string>& env) {
    process_ = Process(args_, log_, env);
    // Ready for administration once its admin socket answers (the broker may still be
    // connecting; devices wait for their join on their own).
    wait_until(
        [&] {
            return !process_.running() || net::control_call(admin_socket_, {{"cmd", "status"}},
                                                            std::chrono::milliseconds(500))
                                              .ok();
        },
        std::chrono::seconds(10));
}

Device::Device(const TempDir& dir, std::vector<std::string> brokers, std::string device_id,
               std::vector<std::string> extra_args)
    : id_(std::move(device_id)),
      socket_(dir.file(id_ + ".sock")),
      store_(dir.file(id_ + ".db")),
      log_(dir.file(id_ + ".log")) {
    args_ = {
        PDSYNC_CLIENT_BIN, "--broker", join(brokers, ","), "--device-id", id_, "--store", store_,
        "--socket",        socket_,    "--log-level",      "debug"};
    // No broker: a device that joins by code (pdsync device enable), as shipped.
    if (brokers.empty()) args_.erase(args_.begin() + 1, args_.begin() + 3);
    args_.insert(args_.end(), extra_args.begin(), extra_args.end());
    start();
}

void Device::start(const std::vector<std::string>& env) {
    std::filesystem::remove(socket_);
    process_ = Process(args_, log_, env);

    bool up = wait_until(
        [&] {
            return net::control_call(socket_, {{"cmd", "status"}}, std::chrono::milliseconds(500))
                .ok();
        },
        std::chrono::seconds(10));
    if (!up) throw std::runtime_error("pdsync-client " + id_ + " did not start: " + process_.log());
}

Value Device::call(const Value& request, int timeout_ms) {
    auto r = net::control_call(socket_, request, std::chrono::milliseconds(timeout_ms));
    if (!r) throw std::runtime_error("control call to " + id_ + " failed: " + r.error().message);
    return *r;
}

Value Device::edit(const std::string& category, const Value& ops, int wait_ms,
                   const std::string& user) {
    // nlohmann reads a one-element brace list `{op}` as a copy of op, not as [op].
    Value list = ops.is_object() ? Value::array({ops}) : ops;
    Value req = {{"cmd", "edit"}, {"category", category}, {"ops", list}, {"wait_ms", wait_ms}};

    if (!user.empty()) req["user"] = user;
    return call(req, wait_ms + 10000);
}

Value Device::show(const std::string& category, const std::string& user) {
    Value req = {{"cmd", "show"}, {"category", category}};
    if (!user.empty()) req["user"] = user;
    Value r = call(req);
    // A refused request is a failure of the test, never "no entries": an assertion that the
    // data is gone must not pass because the device could not be asked.
    if (!r.value("ok", false)) throw std::runtime_error("show on " + id_ + " failed: " + r.dump());
    if (r["documents"].empty()) return Value::array();
    return r["documents"][0]["entries"];
}

bool Device::wait_joined(std::chrono::milliseconds timeout) {
    return wait_until([&] { return status().value("joined", false); }, timeout);
}

CliResult run_cli(const std::vector<std::string>& args) {
    TempDir tmp;
    std::string out = tmp.file("out");
    std::string err = tmp.file("err");
    // `pdsync backup restore` runs pdsync-server, which sits in another folder of the build tree.
    std::string cmd =
        "PDSYNC_SERVER_BIN='" + std::string(PDSYNC_SERVER_BIN) + "' " + PDSYNC_CLI_BIN;
    for (const auto& a : args) {
        std::string q = "'";
        for (char ch : a) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
        cmd += " " + q + "'";
    }
    cmd += " >" + out + " 2>" + err + " </dev/null";
    int st = std::system(cmd.c_str());
    CliResult r;
    r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    std::ifstream o(out), e(err);
    std::stringstream so, se;
    so << o.rdbuf();
    se << e.rdbuf();
    r.out = so.str();
    r.err = se.str();
    return r;
}

MqttProbe::MqttProbe(const std::string& broker_uri, const std::vector<std::string>& filters,
                     std::string client_id, std::string username, std::string password) {
    net::MqttSettings s;
    s.servers = {broker_uri};
    s.client_id = client_id.empty() ? "probe-" + random_hex(4) : client_id;
    s.username = std::move(username);
    s.password = std::move(password);
    net::MqttLink::Handlers h;
    h.on_message = [this](net::Received m) {
        std::lock_guard lock(mu_);
        last_[m.topic] = std::move(m.payload);
        ++count_;
    };
    link_ = std::make_unique<net::MqttLink>(s, h);
    link_->subscribe(filters);
    link_->start();
    if (!link_->wait_connected(std::chrono::seconds(10)))
        throw std::runtime_error("probe could not connect");
}

MqttProbe::~MqttProbe() {
    link_->stop(std::chrono::milliseconds(0));
}

std::optional<std::string> MqttProbe::last(const std::string& topic) {
    std::lock_guard lock(mu_);
    auto it = last_.find(topic);
    if (it == last_.end()) return std::nullopt;
    return it->second;
}

std::map<std::string, std::string> MqttProbe::all() {
    std::lock_guard lock(mu_);
    return last_;
}

std::size_t MqttProbe::count() {
    std::lock_guard lock(mu_);
    return count_;
}

bool MqttProbe::wait_for(const std::string& topic,
                         const std::function<bool(const std::string&)>& pred,
                         std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
            auto v = last(topic);
            return v && pred(*v);
        },
        timeout);
}

}  // namespace pdsync::test

namespace pdsync::test {

Value Server::admin(const Value& request, int timeout_ms) {
    Result<Value> r = make_error(Errc::io, "not tried");
    wait_until([&] {
        r = net::control_call(admin_socket_, request, std::chrono::milliseconds(timeout_ms));
        return r.ok();
    });
    if (!r) throw std::runtime_error("admin call failed: " + r.error().message);
    return *r;
}

}  // namespace pdsync::test
