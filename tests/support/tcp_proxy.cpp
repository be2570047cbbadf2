// A cuttable TCP proxy for partition tests, optionally raft-aware.
#include "tests/support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace pdsync::test {
namespace {

// Reads exactly n bytes within the deadline.
bool read_exact(int fd, char* buf, std::size_t n, std::chrono::steady_clock::time_point until) {
    std::size_t got = 0;
    while (got < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        until - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
        ssize_t r = ::recv(fd, buf + got, n - got, 0);
        if (r <= 0) return false;
        got += static_cast<std::size_t>(r);
    }
    return true;
}

bool write_all(int fd, const char* buf, std::size_t n) {
    std::size_t off = 0;
    while (off < n) {
        ssize_t w = ::send(fd, buf + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) return false;
        off += static_cast<std::size_t>(w);
    }
    return true;
}

constexpr std::size_t kRaftPreamble = 24;

}  // namespace

TcpProxy::TcpProxy(int target_port, Mode mode) : target_port_(target_port), mode_(mode) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
        throw std::runtime_error("proxy cannot listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    {
        std::lock_guard lock(mu_);
        for (auto& l : links_) {
            ::shutdown(l.client, SHUT_RDWR);
            ::shutdown(l.upstream, SHUT_RDWR);
        }
    }
    for (auto& t : threads_) t.join();
}

bool TcpProxy::refused(uint64_t from) {
    std::lock_guard lock(mu_);
    return cut_ || stopping_ || blocked_.count(from) > 0;
}

void TcpProxy::cut() {
    std::lock_guard lock(mu_);
    cut_ = true;
    for (auto& l : links_) {
        ::shutdown(l.client, SHUT_RDWR);
        ::shutdown(l.upstream, SHUT_RDWR);
    }
}

void TcpProxy::block(uint64_t from) {
    std::lock_guard lock(mu_);
    blocked_.insert(from);
    for (auto& l : links_) {
        if (l.from != from) continue;
        ::shutdown(l.client, SHUT_RDWR);
        ::shutdown(l.upstream, SHUT_RDWR);
    }
}

void TcpProxy::heal() {
    std::lock_guard lock(mu_);
    cut_ = false;
    blocked_.clear();
}

void TcpProxy::accept_loop() {
    while (!stopping_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        if (cut_) {
            ::close(client);
            continue;
        }
        std::lock_guard lock(mu_);
        threads_.emplace_back([this, client] { serve(client); });
    }
}

void TcpProxy::serve(int client) {
    char preamble[kRaftPreamble];
    uint64_t from = 0;
    if (mode_ == Mode::raft_member) {
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        if (!read_exact(client, preamble, sizeof preamble, until)) {
            ::close(client);
            return;
        }
        for (int i = 7; i >= 0; --i)
            from = (from << 8) | static_cast<unsigned char>(preamble[8 + i]);
    }
    int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (refused(from) ||
        ::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        (mode_ == Mode::raft_member && !write_all(upstream, preamble, sizeof preamble))) {
        ::close(client);
        ::close(upstream);
        return;
    }
    std::list<Link>::iterator self;
    {
        std::lock_guard lock(mu_);
        self = links_.insert(links_.end(), Link{client, upstream, from});
        if (cut_ || blocked_.count(from)) {  // cut while connecting
            ::shutdown(client, SHUT_RDWR);
            ::shutdown(upstream, SHUT_RDWR);
        }
    }
    pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    char buf[65536];
    bool done = false;
    while (!stopping_ && !done) {
        if (::poll(p, 2, 100) < 0) break;
        for (int i = 0; i < 2 && !done; ++i) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
            if (n <= 0 || refused(from)) {
                done = true;
                break;
            }
            if (i == 1) to_clients_ += static_cast<uint64_t>(n);
            if (!write_all(p[1 - i].fd, buf, static_cast<std::size_t>(n))) done = true;
        }
    }
    std::lock_guard lock(mu_);
    links_.erase(self);
    ::close(client);
    ::close(upstream);
}

}  // namespace pdsync::test
