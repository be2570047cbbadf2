// A cuttable TCP proxy for partition tests.
#include "tests/support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace pdsync::test {

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
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
        for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : pumps_) t.join();
}

void TcpProxy::cut() {
    cut_ = true;
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

void TcpProxy::heal() {
    cut_ = false;
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
        int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<uint16_t>(target_port_));
        if (::connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(client);
            ::close(upstream);
            continue;
        }
        std::lock_guard lock(mu_);
        fds_.push_back(client);
        fds_.push_back(upstream);
        pumps_.emplace_back([this, client, upstream] { pump(client, upstream); });
    }
}

void TcpProxy::pump(int client, int upstream) {
    pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    char buf[65536];
    while (!stopping_) {
        if (::poll(p, 2, 100) < 0) break;
        bool done = false;
        for (int i = 0; i < 2 && !done; ++i) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = ::recv(p[i].fd, buf, sizeof buf, 0);
            if (n <= 0 || cut_) {
                done = true;
                break;
            }
            int to = p[1 - i].fd;
            if (i == 1) to_clients_ += static_cast<uint64_t>(n);
            ssize_t off = 0;
            while (off < n) {
                ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
                if (w <= 0) {
                    done = true;
                    break;
                }
                off += w;
            }
        }
        if (done) break;
    }
    std::lock_guard lock(mu_);
    fds_.remove(client);
    fds_.remove(upstream);
    ::close(client);
    ::close(upstream);
}

}  // namespace pdsync::test
