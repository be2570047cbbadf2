// Real broker, server and daemon processes for the benchmark, and /proc readings.
#include "tests/bench/bench_fleet.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "shared/net/control_socket.hpp"

namespace pdsync::bench {
namespace {

std::string write_broker_config(const test::TempDir& dir, const std::string& name, int port) {
    std::string conf = dir.file(name + ".conf");
    std::ofstream c(conf);
    c << "# written by pdsync_bench\n"
      << "user root\n"
      << "listener " << port << " 127.0.0.1\n"
      << "allow_anonymous true\n"
      << "set_tcp_nodelay true\n"
      << "max_inflight_messages 20\n"
      << "max_queued_messages 0\n"  // 0: no limit, nothing silently dropped
      << "persistence false\n"
      << "connection_messages false\n"
      << "log_dest stderr\n"
      << "log_type error\n"
      << "log_type warning\n";
    return conf;
}

long proc_status_kib(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return 0;
}

std::string first_line_with(const std::string& file, const std::string& prefix) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(prefix, 0) == 0) return line;
    }
    return "";
}

// The program's full path (Process uses execv, which does not search PATH).
std::string on_path(const std::string& program) {
    std::istringstream dirs(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        std::string candidate = dir + "/" + program;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return program;
}

// A profiler to run a daemon under, from the environment: PDSYNC_BENCH_WRAP_SERVER or
// PDSYNC_BENCH_WRAP_CLIENT, e.g. "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p".
std::vector<std::string> wrapped(const char* variable, std::vector<std::string> argv) {
    const char* wrapper = std::getenv(variable);
    if (!wrapper || !*wrapper) return argv;
    std::vector<std::string> out;
    std::istringstream words(wrapper);
    for (std::string w; words >> w;) out.push_back(w);
    if (!out.empty() && out[0].find('/') == std::string::npos) out[0] = on_path(out[0]);
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

}  // namespace

BenchBroker::BenchBroker(const test::TempDir& dir, const std::string& name)
    : port_(test::free_port()) {
    std::string conf = write_broker_config(dir, name, port_);
    process_ = test::Process({PDSYNC_MOSQUITTO_BIN, "-c", conf}, dir.file(name + ".log"));
    if (!test::wait_until([&] { return test::port_open(port_); }, std::chrono::seconds(10)))
        throw std::runtime_error("mosquitto did not start: " + process_.log());
}

BenchServer::BenchServer(const test::TempDir& dir, const std::string& broker_uri, ServerOptions o) {
    std::string id = "pdsync-server-" + std::to_string(test::free_port());
    std::vector<std::string> argv = {PDSYNC_SERVER_BIN,
                                     "--broker",
                                     broker_uri,
                                     "--store",
                                     o.store,
                                     "--server-id",
                                     id,
                                     "--root",
                                     o.root,
                                     "--log-level",
                                     o.log_level,
                                     "--machine-limit",
                                     std::to_string(o.machine_limit),
                                     "--user-limit",
                                     std::to_string(o.user_limit)};
    argv.insert(argv.end(), o.extra.begin(), o.extra.end());
    started_wall_ = std::chrono::system_clock::now();
    started_at_ = std::chrono::steady_clock::now();
    process_ = test::Process(wrapped("PDSYNC_BENCH_WRAP_SERVER", argv), dir.file(id + ".log"));
}

BenchDaemon::BenchDaemon(const test::TempDir& dir, const std::string& broker_uri,
                         std::string device_id, const std::string& root, const std::string& store)
    : id_(std::move(device_id)),
      socket_(dir.file(id_ + ".sock")),
      store_(store.empty() ? dir.file(id_ + ".db") : store) {
    std::vector<std::string> argv = {
        PDSYNC_CLIENT_BIN, "--broker", broker_uri, "--device-id", id_,           "--store", store_,
        "--socket",        socket_,    "--root",   root,          "--log-level", "info"};
    process_ = test::Process(wrapped("PDSYNC_BENCH_WRAP_CLIENT", argv), dir.file(id_ + ".log"));
    bool up = test::wait_until(
        [&] {
            return net::control_call(socket_, {{"cmd", "status"}}, std::chrono::milliseconds(500))
                .ok();
        },
        std::chrono::seconds(20));
    if (!up) throw std::runtime_error("pdsync-client " + id_ + " did not start: " + process_.log());
}

Value BenchDaemon::call(const Value& request, std::chrono::milliseconds timeout) {
    auto r = net::control_call(socket_, request, timeout);
    if (!r) throw std::runtime_error("control call to " + id_ + " failed: " + r.error().message);
    return *r;
}

bool BenchDaemon::wait_joined(std::chrono::milliseconds timeout) {
    return test::wait_until(
        [&] {
            return call({{"cmd", "status"}}).value("joined", false);
        },
        timeout);
}

IdleClient::IdleClient(const test::TempDir& dir, const std::string& broker_uri) {
    process_ =
        test::Process({PDSYNC_BENCH_IDLE_CLIENT_BIN, broker_uri}, dir.file("idle-client.log"));
}

long rss_kib(pid_t pid) {
    return proc_status_kib(pid, "VmRSS");
}

long peak_rss_kib(pid_t pid) {
    return proc_status_kib(pid, "VmHWM");
}

long anon_rss_kib(pid_t pid) {
    return proc_status_kib(pid, "RssAnon");
}

MemoryUse memory_use(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
    MemoryUse m;
    std::string line;
    std::getline(in, line);  // the "[rollup]" mapping header
    std::string key;
    long kib = 0;
    std::string unit;
    while (in >> key >> kib >> unit) {
        if (key == "Rss:") m.rss = kib;
        if (key == "Pss:") m.pss = kib;
        if (key == "Private_Clean:" || key == "Private_Dirty:") m.private_kib += kib;
        if (key == "Shared_Clean:" || key == "Shared_Dirty:") m.shared_kib += kib;
    }
    return m;
}

std::string top_shared_mappings(pid_t pid, std::size_t n) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
    std::map<std::string, long> shared;  // file name -> shared KiB
    std::string line;
    std::string current;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string first;
        fields >> first;
        if (!first.empty() && first.back() != ':') {
            // A mapping's header: "start-end perms offset dev inode [path]".
            std::string skip, path;
            for (int i = 0; i < 4; ++i) fields >> skip;
            fields >> path;
            current = path.empty() ? "[anonymous]" : path.substr(path.rfind('/') + 1);
            continue;
        }
        long kib = 0;
        if (first == "Shared_Clean:" || first == "Shared_Dirty:") {
            fields >> kib;
            shared[current] += kib;
        }
    }
    std::vector<std::pair<long, std::string>> ranked;
    for (const auto& [name, kib] : shared)
        if (kib > 0) ranked.emplace_back(kib, name);
    std::sort(ranked.rbegin(), ranked.rend());
    std::string out;
    for (std::size_t i = 0; i < ranked.size() && i < n; ++i) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s%s %.1f MiB", i ? ", " : "", ranked[i].second.c_str(),
                      static_cast<double>(ranked[i].first) / 1024);
        out += buf;
    }
    return out;
}

SocketBytes socket_bytes(pid_t pid) {
    SocketBytes total;
    FILE* ss = popen("ss -tinpH state established 2>/dev/null", "r");
    if (!ss) return total;
    std::string needle = "pid=" + std::to_string(pid) + ",";
    bool mine = false;
    char buf[4096];
    auto counter = [](const std::string& line, const char* key) -> uint64_t {
        auto at = line.find(key);
        return at == std::string::npos
                   ? 0
                   : std::strtoull(line.c_str() + at + std::strlen(key), nullptr, 10);
    };
    while (std::fgets(buf, sizeof buf, ss)) {
        std::string line(buf);
        if (line[0] != '\t' && line[0] != ' ') {
            mine = line.find(needle) != std::string::npos;  // a socket's first line
            continue;
        }
        if (!mine) continue;
        total.sent += counter(line, "bytes_sent:");
        total.received += counter(line, "bytes_received:");
    }
    pclose(ss);
    return total;
}

std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

uint64_t store_bytes(const std::string& path) {
    uint64_t total = 0;
    for (const char* suffix : {"", "-wal", "-shm"}) {
        std::error_code ec;
        auto n = std::filesystem::file_size(path + suffix, ec);
        if (!ec) total += n;
    }
    return total;
}

std::string machine_description() {
    std::string cpu = first_line_with("/proc/cpuinfo", "model name");
    if (auto colon = cpu.find(':'); colon != std::string::npos) cpu = cpu.substr(colon + 2);
    long mem_kib = 0;
    {
        std::istringstream line(first_line_with("/proc/meminfo", "MemTotal:").substr(9));
        line >> mem_kib;
    }
    utsname u{};
    uname(&u);
    std::ostringstream out;
    out << std::thread::hardware_concurrency() << " × " << cpu << ", "
        << (static_cast<double>(mem_kib) / 1024.0 / 1024.0) << " GiB RAM, " << u.sysname << " "
        << u.release;
    return out.str();
}

double log_line_time(const std::string& log_file, const std::string& needle) {
    std::ifstream in(log_file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.find(needle) == std::string::npos || line.size() < 23) continue;
        std::tm tm{};
        if (!strptime(line.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) continue;
        tm.tm_isdst = -1;
        double ms = std::stod(line.substr(20, 3));
        return static_cast<double>(std::mktime(&tm)) + ms / 1000.0;
    }
    return -1;
}

}  // namespace pdsync::bench
