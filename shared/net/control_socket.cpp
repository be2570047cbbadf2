// Unix-domain control socket: server and client.
#include "shared/net/control_socket.hpp"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shared/base/durable_file.hpp"
#include "shared/base/tuning.hpp"
#include "shared/reply.hpp"

namespace pdsync::net {
namespace {

Result<sockaddr_un> address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path))
        return make_error(Errc::invalid_argument, "socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

bool send_line(int fd, const Value& v) {
    return write_all(fd, v.dump(-1, ' ', false, Value::error_handler_t::replace) + "\n",
                     "the control socket")
        .ok();
}

enum class ReadResult { line, idle, closed };

// Reads one line, waiting at most `timeout_ms` for more bytes. `closed` on EOF, error or
// an over-long line; `idle` when nothing came in time.
ReadResult read_line(int fd, std::string& buffer, std::string& line, int timeout_ms) {
    while (true) {
        auto nl = buffer.find('\n');
        if (nl != std::string::npos) {
            line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            return ReadResult::line;
        }
        if (buffer.size() > tuning::control::kMaxRequestBytes) return ReadResult::closed;
        pollfd p{fd, POLLIN, 0};
        int pr = ::poll(&p, 1, timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return ReadResult::closed;
        if (pr == 0) return ReadResult::idle;
        char chunk[65536];
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return ReadResult::closed;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
}

}  // namespace

ControlServer::ControlServer(std::string path, Handler handler, AfterAnswer after_answer)
    : path_(std::move(path)),
      handler_(std::move(handler)),
      after_answer_(std::move(after_answer)) {}

ControlServer::~ControlServer() {
    stop();
}

void ControlServer::set_streamer(std::string cmd, Streamer streamer) {
    stream_cmd_ = std::move(cmd);
    streamer_ = std::move(streamer);
}

Status ControlServer::start() {
    auto addr = address(path_);
    if (!addr) return addr.error();
    ::unlink(path_.c_str());  // a stale socket from a crashed daemon
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return make_error(Errc::io, std::string("socket: ") + std::strerror(errno));
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0 ||
        ::listen(listen_fd_, 16) != 0) {
        std::string why = std::strerror(errno);
        ::close(listen_fd_);
        listen_fd_ = -1;
        return make_error(Errc::io, "cannot listen on " + path_ + ": " + why);
    }
    ::chmod(path_.c_str(), 0660);
    acceptor_ = std::thread([this] { accept_loop(); });
    return Ok{};
}

void ControlServer::stop() {
    if (stopping_.exchange(true)) return;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    {
        std::lock_guard lock(mu_);
        for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& c : connections_) {
        if (c.thread.joinable()) c.thread.join();
    }
    connections_.clear();
    ::unlink(path_.c_str());
}

void ControlServer::accept_loop() {
    while (!stopping_) {
        pollfd p{listen_fd_, POLLIN, 0};
        int pr = ::poll(&p, 1, 200);
        std::erase_if(connections_, [](Connection& c) {
            if (!c.done->load()) return false;
            c.thread.join();
            return true;
        });
        if (pr <= 0) continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        std::lock_guard lock(mu_);
        open_fds_.push_back(fd);
        auto done = std::make_shared<std::atomic<bool>>(false);
        connections_.push_back({std::thread([this, fd, done] {
                                    serve(fd);
                                    done->store(true);
                                }),
                                done});
    }
}

void ControlServer::serve(int fd) {
    std::string buffer;
    std::string line;
    // Polled in short steps so stop() is never held up by an idle connection.
    while (!stopping_) {
        auto r = read_line(fd, buffer, line, 200);
        if (r == ReadResult::closed) break;
        if (r == ReadResult::idle) continue;
        Value request;
        Value answer;
        if (streamer_) {
            try {
                request = Value::parse(line);
            } catch (const std::exception&) {
                request = Value();
            }
            if (request.is_object() && request.value("cmd", "") == stream_cmd_) {
                serve_stream(fd, request);
                break;
            }
        }
        try {
            Progress progress = [fd](const Value& p) {
                (void)send_line(fd, Value{{"progress", p}});
            };
            request = Value::parse(line);
            answer = handler_(request, progress);
        } catch (const std::exception& e) {
            answer = error_reply(Errc::invalid_argument, std::string("bad request: ") + e.what());
        }
        if (!send_line(fd, answer)) break;
        if (after_answer_) after_answer_(request, answer);
    }
    std::lock_guard lock(mu_);
    open_fds_.remove(fd);
    ::close(fd);
}

void ControlServer::serve_stream(int fd, const Value& request) {
    LineWriter write = [fd](const Value& v) { return send_line(fd, v); };
    // The peer is still there while reading would block; EOF or an error ends the stream.
    std::function<bool()> open = [this, fd] {
        if (stopping_) return false;
        pollfd p{fd, POLLIN | POLLRDHUP, 0};
        if (::poll(&p, 1, 0) <= 0) return true;
        if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return false;
        char c;
        ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) return false;
        if (n > 0) {
            char sink[4096];  // a streaming peer has nothing more to say: drop it
            (void)::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        }
        return true;
    };
    try {
        streamer_(request, write, open);
    } catch (const std::exception& e) {
        spdlog::warn("control stream ended: {}", e.what());
    }
}

Status control_stream(const std::string& path, const Value& request,
                      const std::function<bool(const Value&)>& on_line,
                      const std::function<bool()>& keep_going) {
    auto addr = address(path);
    if (!addr) return addr.error();
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::io, std::string("socket: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0) {
        return make_error(Errc::io,
                          "the daemon is not running (" + path + ": " + std::strerror(errno) + ")");
    }
    if (!send_line(fd, request)) return make_error(Errc::io, "cannot send the request");
    std::string buffer;
    std::string line;
    while (keep_going()) {
        auto r = read_line(fd, buffer, line, 200);
        if (r == ReadResult::closed) return Ok{};
        if (r == ReadResult::idle) continue;
        Value v;
        try {
            v = Value::parse(line);
        } catch (const std::exception& e) {
            return make_error(Errc::malformed,
                              std::string("bad line from the daemon: ") + e.what());
        }
        if (!on_line(v)) return Ok{};
    }
    return Ok{};
}

Result<Value> control_call(const std::string& path, const Value& request,
                           std::chrono::milliseconds timeout,
                           const std::function<void(const Value&)>& on_progress) {
    auto addr = address(path);
    if (!addr) return addr.error();
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::io, std::string("socket: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(sockaddr_un)) != 0) {
        return make_error(Errc::io,
                          "the daemon is not running (" + path + ": " + std::strerror(errno) + ")");
    }
    if (!send_line(fd, request)) return make_error(Errc::io, "cannot send the request");
    std::string buffer;
    std::string line;
    while (true) {
        if (read_line(fd, buffer, line, static_cast<int>(timeout.count())) != ReadResult::line) {
            return make_error(Errc::timeout, "no answer from the daemon");
        }
        Value v;
        try {
            v = Value::parse(line);
        } catch (const std::exception& e) {
            return make_error(Errc::malformed,
                              std::string("bad answer from the daemon: ") + e.what());
        }
        if (v.is_object() && v.size() == 1 && v.contains("progress")) {
            if (on_progress) on_progress(v["progress"]);
            continue;
        }
        return v;
    }
}

}  // namespace pdsync::net
