// The real processes a benchmark phase runs: a mosquitto with the bench's own config, the
// real pdsync-server and real pdsync-client daemons, each started by PID through the test
// support's Process and stopped by its destructor. Plus what the bench reads about them:
// resident memory from /proc, the machine it runs on, file sizes.
//
//   BenchBroker broker(dir);
//   BenchServer server(dir, broker.uri(), {.store = dir.file("s.db"), .machine_limit = 2000});
//   BenchDaemon device(dir, broker.uri(), "mfp-a", "info");
//   device.call({{"cmd", "login"}, {"user", "u000001@corp.example"}});
//
// To profile a daemon while the bench drives it, set PDSYNC_BENCH_WRAP_SERVER or
// PDSYNC_BENCH_WRAP_CLIENT to a command prefix ("valgrind --tool=callgrind ...").
//
// Ownership and threads: each object owns its child process; use from one thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "shared/codec.hpp"
#include "tests/support/process.hpp"

namespace pdsync::bench {

// mosquitto on a free loopback port: TCP_NODELAY, receive maximum 20, no queue limit,
// no persistence, only errors and warnings logged.
class BenchBroker {
  public:
    explicit BenchBroker(const test::TempDir& dir, const std::string& name = "broker");
    std::string uri() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }
    int port() const { return port_; }
    pid_t pid() const { return process_.pid(); }

  private:
    int port_;
    test::Process process_;
};

struct ServerOptions {
    std::string store;
    std::string root = "pds/v1";
    int machine_limit = 2000;
    int user_limit = 200000;
    std::string log_level = "info";  // the daemon's default
    std::vector<std::string> extra;  // further options (the cluster phase's --cluster-*)
};

class BenchServer {
  public:
    BenchServer(const test::TempDir& dir, const std::string& broker_uri, ServerOptions options);
    pid_t pid() const { return process_.pid(); }
    const std::string& log_file() const { return process_.log_file(); }
    // The wall-clock moment it was started, to compare with its log's timestamps.
    std::chrono::system_clock::time_point started_wall() const { return started_wall_; }
    std::chrono::steady_clock::time_point started_at() const { return started_at_; }
    int stop() { return process_.stop(); }

  private:
    test::Process process_;
    std::chrono::system_clock::time_point started_wall_;
    std::chrono::steady_clock::time_point started_at_;
};

class BenchDaemon {
  public:
    BenchDaemon(const test::TempDir& dir, const std::string& broker_uri, std::string device_id,
                const std::string& root, const std::string& store = "");
    pid_t pid() const { return process_.pid(); }
    const std::string& store() const { return store_; }
    const std::string& id() const { return id_; }
    // One control request; throws std::runtime_error when the daemon does not answer.
    Value call(const Value& request, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Waits (polling its status) until it has joined the fleet.
    bool wait_joined(std::chrono::milliseconds timeout);

  private:
    std::string id_;
    std::string socket_;
    std::string store_;
    test::Process process_;
};

// A bare MQTT client process (pdsync::net over Paho, nothing else): the raw baseline of
// the daemon's memory.
class IdleClient {
  public:
    IdleClient(const test::TempDir& dir, const std::string& broker_uri);
    pid_t pid() const { return process_.pid(); }

  private:
    test::Process process_;
};

// VmRSS / VmHWM / RssAnon (private memory, without mapped files) of a process in KiB (0 if
// unreadable).
long rss_kib(pid_t pid);
long peak_rss_kib(pid_t pid);
long anon_rss_kib(pid_t pid);

// A process's memory from /proc/PID/smaps_rollup (KiB): what is its own (private) and
// what it shares with other processes mapping the same files (libraries).
struct MemoryUse {
    long rss = 0;
    long pss = 0;
    long private_kib = 0;  // Private_Clean + Private_Dirty
    long shared_kib = 0;   // Shared_Clean + Shared_Dirty
};
MemoryUse memory_use(pid_t pid);
// The `n` mappings with the most resident pages shared with other processes, as
// "libcrypto.so.3 3.1 MiB, ..." (from /proc/PID/smaps).
std::string top_shared_mappings(pid_t pid, std::size_t n);

// Bytes a process's TCP connections sent and received so far (the kernel's per-socket
// tcp_info counters, read with `ss -tinp`): what crossed the wire, MQTT framing included.
struct SocketBytes {
    uint64_t sent = 0;
    uint64_t received = 0;
};
SocketBytes socket_bytes(pid_t pid);

// Size of a SQLite store with its -wal and -shm files, in bytes.
uint64_t store_bytes(const std::string& path);

// "2 × Intel(R) Xeon(R) Processor, 23.5 GiB RAM, Linux 6.1 ..."
std::string machine_description();
// /proc/loadavg's first three fields: other work on the machine skews every figure.
std::string load_average();

// Seconds since the epoch of the first server log line containing `needle` (the log's
// local-time stamp "YYYY-MM-DDTHH:MM:SS.mmm"); negative when absent.
double log_line_time(const std::string& log_file, const std::string& needle);

}  // namespace pdsync::bench
