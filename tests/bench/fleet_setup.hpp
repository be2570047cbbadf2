// Building blocks the phases share: a fleet (broker, populated server store, server, with
// the start-up reconcile timed), a pool of simulated devices, and the login loops that
// drive real daemons and simulated devices.
//
//   Fleet fleet(dir, 1000, 1000, 2000);   // 1,000 realistic users, reconciled
//   SimPool sims(fleet.uri(), fleet.topics(), "sim", 8);
//   sims.connect_and_join(Clock::now() + std::chrono::seconds(60));
//   Samples ms = sim_logins(sims, pick_users(300, 1000), std::chrono::milliseconds(20), nullptr);
//
// Ownership and threads: owned by one phase and used from its thread (SimPool's devices
// may then be handed to one thread each).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/bench/bench_fleet.hpp"
#include "tests/bench/bench_stats.hpp"
#include "tests/bench/populate.hpp"
#include "tests/bench/sim_device.hpp"
#include "topics/topics.hpp"

namespace pdsync::bench {

inline constexpr const char* kRoot = "pds/v1";

// An arrival schedule, not a wait for some state: the next login or edit comes `gap` later,
// as actions at separate machines do, so each meets an idle server.
void pace(std::chrono::milliseconds gap);

class Fleet {
  public:
    // Populates a fresh store with `users` users (the first `realistic` realistic), starts a
    // broker and the server, and waits until the server has republished every document.
    // The user limit is at least the reference 1,000 and never evicts a stored user.
    Fleet(const test::TempDir& dir, std::size_t users, std::size_t realistic, int machine_limit,
          std::size_t user_limit = 1000);

    std::string uri() const { return broker_.uri(); }
    Topics topics() const { return Topics(kRoot); }
    BenchBroker& broker() { return broker_; }
    BenchServer& server() { return *server_; }
    const std::string& store() const { return store_; }
    const Populated& populated() const { return populated_; }
    // Server start → the first live status it publishes, which follows the republish of
    // every stored document (ServerNode::worker_loop) on the same connection.
    double reconcile_ms() const { return reconcile_ms_; }
    // Server start → its "reconcile: republishing" log line (connected, republish begins).
    double reconcile_log_ms() const { return reconcile_log_ms_; }

  private:
    std::string store_;
    Populated populated_;
    BenchBroker broker_;
    std::unique_ptr<BenchServer> server_;
    double reconcile_ms_ = 0;
    double reconcile_log_ms_ = 0;
};

class SimPool {
  public:
    SimPool(const std::string& uri, const Topics& topics, const std::string& prefix, std::size_t n);
    // Connects every device, then joins them all; returns the time for both (ms). Throws
    // if one is refused or the deadline passes.
    double connect_and_join(Clock::time_point deadline);
    SimDevice& operator[](std::size_t i) { return *devices_[i]; }
    std::size_t size() const { return devices_.size(); }

  private:
    std::vector<std::unique_ptr<SimDevice>> devices_;
};

// Machines held by helper processes (this binary run with --hold-machines): connected and
// joined, then idle. Paho C runs all of a process's connections on one receive thread
// whose work per message grows with their number, so a thousand connections in the
// measuring process would slow the measurement itself; the measured devices stay here.
class MachineHolders {
  public:
    MachineHolders(const test::TempDir& dir, const std::string& uri, std::size_t machines,
                   std::size_t per_process);
    // Waits until every helper reports its machines joined; returns the time (ms) from
    // the first helper's start. Throws at the deadline.
    double wait_ready(Clock::time_point deadline);

  private:
    Clock::time_point started_;
    std::vector<test::Process> helpers_;
};

// The helper's side: holds `n` joined simulated machines until SIGTERM (never returns).
[[noreturn]] void hold_machines(const std::string& uri, const std::string& prefix, std::size_t n);

struct LoginRun {
    Samples latency;          // control call → ready answer, as the UI sees it
    Samples daemon_reported;  // the daemon's own "ms" (login start → ready)
    std::size_t not_from_server = 0;
    long rss_kib_after_mark = 0;  // daemon RSS after `rss_mark` logins
};

// How a login follows the logout before it.
enum class LoginPacing {
    idle,         // logout, `gap`, login: the server has committed everything (the figure)
    after_logout  // logout then login at once: the login waits behind the logout's commit
};

// Logs each user in on the daemon (logout, then a timed login).
LoginRun daemon_logins(BenchDaemon& daemon, const std::vector<std::string>& users,
                       std::chrono::milliseconds gap, std::size_t rss_mark = 0);

// Logs the users in round-robin over the pool's devices (each logs out its previous user).
Samples sim_logins(SimPool& pool, const std::vector<std::string>& users,
                   std::chrono::milliseconds gap, std::size_t* failures,
                   LoginPacing pacing = LoginPacing::idle);

// Users 0..n-1 cycled to `count` entries; `random_over` > 0 draws uniformly from it instead.
std::vector<std::string> pick_users(std::size_t count, std::size_t n, std::size_t random_over = 0);

// The subscription filters of those users' documents (for the raw baseline).
std::vector<std::string> user_filters(const Topics& topics, const std::vector<std::string>& users);

// CPU seconds (user + system) a process has used.
double cpu_seconds(pid_t pid);

}  // namespace pdsync::bench
