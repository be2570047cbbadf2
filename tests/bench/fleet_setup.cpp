// Fleets, device pools and login loops shared by the phases (see fleet_setup.hpp).
#include "tests/bench/fleet_setup.hpp"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"
#include "shared/net/mqtt_link.hpp"
#include "shared/net/node_options.hpp"
#include "tests/bench/profiles.hpp"

namespace pdsync::bench {
namespace {

// Time allowed for a server to republish its store at start-up (100,000 users is ~600,000
// documents).
constexpr auto kReconcileWait = std::chrono::minutes(15);

// Watches {root}/server/status for the first live (not retained) status message.
class StatusProbe {
  public:
    StatusProbe(const std::string& uri, const Topics& topics) : topic_(topics.server_status()) {
        net::MqttSettings s;
        s.servers = {uri};
        s.client_id = "bench-status-" + random_hex(4);
        net::MqttLink::Handlers h;
        h.on_message = [this](net::Received m) { on_message(m); };
        link_ = std::make_unique<net::MqttLink>(std::move(s), std::move(h));
        // A retained marker on a topic of our own proves the subscription is in place.
        marker_ = topic_ + "-bench-marker-" + random_hex(4);
        link_->subscribe({topic_, marker_});
        link_->start();
        if (!link_->wait_connected(std::chrono::seconds(10)))
            throw std::runtime_error("status probe could not connect");
        (void)link_->publish(marker_, "x", true);
        std::unique_lock lock(mu_);
        if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return marked_; }))
            throw std::runtime_error("status probe: subscription not confirmed");
    }
    ~StatusProbe() { link_->stop(std::chrono::milliseconds(0)); }

    std::optional<Clock::time_point> wait_live_status(Clock::time_point deadline) {
        std::unique_lock lock(mu_);
        if (!cv_.wait_until(lock, deadline, [&] { return live_.has_value(); })) return std::nullopt;
        return live_;
    }

  private:
    void on_message(const net::Received& m) {
        auto at = Clock::now();
        {
            std::lock_guard lock(mu_);
            if (m.topic == marker_) marked_ = true;
            if (m.topic == topic_ && !m.retained && !live_) live_ = at;
        }
        cv_.notify_all();
    }

    std::string topic_;
    std::string marker_;
    std::unique_ptr<net::MqttLink> link_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool marked_ = false;
    std::optional<Clock::time_point> live_;
};

}  // namespace

void pace(std::chrono::milliseconds gap) {
    std::this_thread::sleep_for(gap);
}

Fleet::Fleet(const test::TempDir& dir, std::size_t users, std::size_t realistic, int machine_limit,
             std::size_t user_limit)
    : store_(dir.file("server.db")),
      populated_(populate_server_store(store_, users, realistic)),
      broker_(dir) {
    StatusProbe probe(broker_.uri(), topics());
    ServerOptions o;
    o.store = store_;
    o.root = kRoot;
    o.machine_limit = machine_limit;
    o.user_limit = static_cast<int>(std::max({users * 2, user_limit, std::size_t{1000}}));
    server_ = std::make_unique<BenchServer>(dir, broker_.uri(), o);
    auto live = probe.wait_live_status(Clock::now() + kReconcileWait);
    if (!live) throw std::runtime_error("the server did not finish its start-up republish");
    reconcile_ms_ = ms_between(server_->started_at(), *live);
    double logged = log_line_time(server_->log_file(), "reconcile: republishing");
    double started =
        std::chrono::duration<double>(server_->started_wall().time_since_epoch()).count();
    reconcile_log_ms_ = logged > 0 ? (logged - started) * 1000 : -1;
}

SimPool::SimPool(const std::string& uri, const Topics& topics, const std::string& prefix,
                 std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        char id[64];
        std::snprintf(id, sizeof id, "%s-%04zu", prefix.c_str(), i);
        devices_.push_back(std::make_unique<SimDevice>(uri, topics, id));
    }
}

double SimPool::connect_and_join(Clock::time_point deadline) {
    auto t0 = Clock::now();
    for (auto& d : devices_) d->start();
    for (auto& d : devices_) {
        if (!d->wait_connected(deadline))
            throw std::runtime_error(d->id() + " could not connect to the broker");
    }
    for (auto& d : devices_) d->send_hello();
    for (auto& d : devices_) {
        if (!d->wait_joined(deadline))
            throw std::runtime_error(d->id() + " did not join: " + d->refusal());
    }
    return ms_between(t0, Clock::now());
}

MachineHolders::MachineHolders(const test::TempDir& dir, const std::string& uri,
                               std::size_t machines, std::size_t per_process)
    : started_(Clock::now()) {
    for (std::size_t first = 0, i = 0; first < machines; first += per_process, ++i) {
        std::size_t n = std::min(per_process, machines - first);
        std::string prefix = "held" + std::to_string(i);
        helpers_.emplace_back(
            std::vector<std::string>{"/proc/self/exe", "--hold-machines", std::to_string(n),
                                     "--hold-prefix", prefix, "--hold-broker", uri},
            dir.file(prefix + ".log"));
    }
}

double MachineHolders::wait_ready(Clock::time_point deadline) {
    for (auto& h : helpers_) {
        bool ready = test::wait_until(
            [&] { return h.log().find("ready") != std::string::npos; },
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
        if (!ready) throw std::runtime_error("machine holder did not get ready: " + h.log());
    }
    return ms_between(started_, Clock::now());
}

void hold_machines(const std::string& uri, const std::string& prefix, std::size_t n) {
    net::wait_for_stop_signal_blocking_setup();
    SimPool pool(uri, Topics(kRoot), prefix, n);
    double ms = pool.connect_and_join(Clock::now() + std::chrono::minutes(5));
    std::cout << "ready " << ms << " ms" << std::endl;
    net::wait_for_stop_signal();
    std::_Exit(0);  // the broker sees the connections drop; no orderly teardown needed
}

LoginRun daemon_logins(BenchDaemon& daemon, const std::vector<std::string>& users,
                       std::chrono::milliseconds gap, std::size_t rss_mark) {
    LoginRun run;
    for (std::size_t i = 0; i < users.size(); ++i) {
        daemon.call({{"cmd", "logout"}});
        pace(gap);
        auto t0 = Clock::now();
        Value r = daemon.call({{"cmd", "login"}, {"user", users[i]}, {"wait_ms", 15000}});
        run.latency.add(ms_between(t0, Clock::now()));
        if (!r.value("ok", false) || r.value("source", "") != "server") ++run.not_from_server;
        run.daemon_reported.add(r.value("ms", 0.0));
        if (i + 1 == rss_mark) run.rss_kib_after_mark = rss_kib(daemon.pid());
    }
    daemon.call({{"cmd", "logout"}});
    return run;
}

Samples sim_logins(SimPool& pool, const std::vector<std::string>& users,
                   std::chrono::milliseconds gap, std::size_t* failures, LoginPacing pacing) {
    Samples samples;
    for (std::size_t i = 0; i < users.size(); ++i) {
        SimDevice& d = pool[i % pool.size()];
        d.logout();
        pace(pacing == LoginPacing::idle ? gap : std::chrono::milliseconds(0));
        if (auto ms = d.login(users[i], std::chrono::seconds(10))) {
            samples.add(*ms);
        } else if (failures) {
            ++*failures;
        }
        if (pacing == LoginPacing::after_logout) pace(gap);
    }
    for (std::size_t i = 0; i < pool.size(); ++i) pool[i].logout();
    return samples;
}

std::vector<std::string> pick_users(std::size_t count, std::size_t n, std::size_t random_over) {
    std::vector<std::string> out;
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < count; ++i) {
        out.push_back(user_id(random_over > 0 ? rng() % random_over : i % n));
    }
    return out;
}

std::vector<std::string> user_filters(const Topics& topics, const std::vector<std::string>& users) {
    std::vector<std::string> out;
    for (const auto& u : users) out.push_back(topics.user_docs_filter(u));
    return out;
}

double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(stat.substr(close + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i) fields >> skip;  // fields 3..13
    double utime = 0;
    double stime = 0;
    fields >> utime >> stime;
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace pdsync::bench
