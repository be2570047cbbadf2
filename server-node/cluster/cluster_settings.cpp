// Parsing of the cluster options.
#include "server-node/cluster/cluster_settings.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <stdexcept>

#include "shared/secrets.hpp"

namespace pdsync::server::cluster {

const char* role_name(Role r) {
    switch (r) {
        case Role::voter:
            return "voter";
        case Role::standby:
            return "standby";
        case Role::spare:
            return "spare";
    }
    return "?";
}

Result<Role> role_from_name(const std::string& name) {
    if (name == "voter") return Role::voter;
    if (name == "standby") return Role::standby;
    if (name == "spare") return Role::spare;
    return Error{Errc::invalid_argument,
                 "unknown cluster role '" + name + "' (voter, standby or spare)"};
}

Result<ClusterSecret> load_cluster_secret(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return Error{Errc::io, "cannot read the cluster secret " + path +
                                   " (make one with `pdsync cluster secret --out FILE`)"};
    if (!S_ISREG(st.st_mode)) return Error{Errc::invalid_argument, path + " is not a file"};
    if ((st.st_mode & 077) != 0)
        return Error{
            Errc::invalid_argument,
            "the cluster secret " + path + " may be read or written by other users (chmod 600 it)"};
    if (st.st_uid != ::geteuid())
        return Error{Errc::invalid_argument,
                     "the cluster secret " + path + " belongs to another user"};
    auto key = load_fleet_key(path);  // the same form: 64 hex digits
    if (!key)
        return Error{Errc::invalid_argument,
                     "the cluster secret in " + path + " is not 64 hex digits"};
    ClusterSecret out{};
    std::copy(key->begin(), key->end(), out.begin());
    return out;
}

Result<std::vector<Member>> parse_peers(const std::string& text) {
    std::vector<Member> out;
    std::set<uint64_t> ids;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(start, end - start);
        start = end + 1;
        if (item.empty()) continue;
        auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
            return Error{Errc::invalid_argument, "cluster peer '" + item + "' is not ID=HOST:PORT"};
        }
        Member m;
        try {
            std::size_t used = 0;
            m.id = std::stoull(item.substr(0, eq), &used);
            if (used != eq || m.id == 0) throw std::invalid_argument("id");
        } catch (const std::exception&) {
            return Error{Errc::invalid_argument,
                         "cluster peer '" + item + "': the id must be a number above 0"};
        }
        m.address = item.substr(eq + 1);
        if (m.address.find(':') == std::string::npos) {
            return Error{Errc::invalid_argument,
                         "cluster peer '" + item + "': the address must be HOST:PORT"};
        }
        if (!ids.insert(m.id).second) {
            return Error{Errc::invalid_argument,
                         "cluster peer id " + std::to_string(m.id) + " is listed twice"};
        }
        out.push_back(std::move(m));
        if (end == text.size()) break;
    }
    return out;
}

}  // namespace pdsync::server::cluster
