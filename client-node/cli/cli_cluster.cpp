// `pdsync cluster init | add | remove | transfer | status`: raft cluster administration,
// sent to a pdsync-server's admin socket (docs/failover.md). add, remove and transfer go to
// the leader's socket; status and init to any member's. `pdsync cluster secret` works
// locally: it writes a new cluster secret for --cluster-secret-file.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "client-node/cli/cli_admin.hpp"
#include "client-node/cli/cli_common.hpp"
#include "shared/base/hex.hpp"

namespace pdsync::cli {
namespace {

// A new secret in a file only its owner can read; an existing file is never overwritten
// (a member holding another secret could no longer reach the cluster).
int write_new_secret(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        std::cerr << "pdsync: cannot create " << path << ": " << std::strerror(errno) << "\n";
        return 1;
    }
    std::string text = random_hex(32) + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fsync(fd) == 0;
    ok = (::close(fd) == 0) && ok;
    if (!ok) {
        std::cerr << "pdsync: cannot write " << path << ": " << std::strerror(errno) << "\n";
        ::unlink(path.c_str());
        return 1;
    }
    std::cout << "wrote a new cluster secret to " << path
              << "; copy it (mode 600) to every member and start each with "
                 "--cluster-secret-file\n";
    return 0;
}

void print_cluster(const Value& v) {
    std::cout << "member       " << v.value("id", 0) << " at " << v.value("address", "") << " ("
              << v.value("state", "?") << (v.value("serving", false) ? ", serving" : "") << ")\n";
    std::cout << "term         " << v.value("term", 0) << "\n";
    std::cout << "leader       " << v.value("leader_id", 0) << " at "
              << v.value("leader_address", "") << "\n";
    std::cout << "log          committed " << v.value("commit_index", 0) << ", applied "
              << v.value("last_applied", 0) << ", last " << v.value("last_index", 0) << "\n";
    for (const auto& m : v.value("members", Value::array())) {
        std::cout << "  " << m.value("id", 0) << "  " << m.value("address", "") << "  "
                  << m.value("role", "") << "\n";
    }
}

}  // namespace

void add_cluster_command(CLI::App& app, int& exit_code) {
    static Common c;
    c.socket = env_or("PDSYNC_SERVER_SOCKET", "/run/pdsync/server.sock");
    static uint64_t id = 0;
    static std::string address, role = "voter";
    auto* cluster = app.add_subcommand("cluster", "The raft cluster of pdsync-servers");
    cluster->require_subcommand(1);
    auto common = [&](CLI::App* sub) { add_server_socket_options(sub, c); };
    common(cluster);
    // Copied into each callback: they run after this function has returned.
    auto send = [&exit_code](const Value& request) {
        if (auto r = call(c, request, exit_code)) {
            if (c.json) {
                std::cout << r->dump() << "\n";
            } else if (request["cmd"] == "cluster-status") {
                print_cluster(*r);
            } else {
                std::cout << r->value("message", std::string("done")) << "\n";
            }
        }
    };
    auto* init = cluster->add_subcommand(
        "init", "Start a cluster of one voter from this server and its data");
    common(init);
    init->callback([send] { send({{"cmd", "cluster-init"}}); });

    auto* add = cluster->add_subcommand("add", "Add a member (ask the leader)");
    common(add);
    add->add_option("--id", id, "The new member's --cluster-id")->required();
    add->add_option("--address", address, "Its --cluster-advertise (or --cluster-listen)")
        ->required();
    add->add_option("--role", role,
                    "voter (counts for the majority), standby (a copy that does not vote, "
                    "promoted with `pdsync server promote`) or spare")
        ->capture_default_str();
    add->callback([send] {
        send({{"cmd", "cluster-add"}, {"id", id}, {"address", address}, {"role", role}});
    });

    auto* remove = cluster->add_subcommand("remove", "Remove a member (ask the leader)");
    common(remove);
    remove->add_option("--id", id, "The member's --cluster-id")->required();
    remove->callback([send] { send({{"cmd", "cluster-remove"}, {"id", id}}); });

    auto* transfer = cluster->add_subcommand("transfer", "Hand leadership to another voter");
    common(transfer);
    transfer->add_option("--id", id, "The voter to lead (default: any)");
    transfer->callback([send] { send({{"cmd", "cluster-transfer"}, {"id", id}}); });

    static std::string secret_out;
    auto* secret = cluster->add_subcommand(
        "secret", "Write a new cluster secret (for --cluster-secret-file) to a new file");
    secret->add_option("--out", secret_out, "The file to create (mode 600)")->required();
    secret->callback([&exit_code] { exit_code = write_new_secret(secret_out); });

    auto* status = cluster->add_subcommand("status", "This member's view of the cluster");
    common(status);
    status->callback([send] { send({{"cmd", "cluster-status"}}); });
}

}  // namespace pdsync::cli
