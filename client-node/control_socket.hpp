// The device's local control socket: a Unix domain socket speaking one JSON object per
// line, request then answer. The device UI (and the `pdsync device` CLI) use it; the
// socket file's permissions (0660) decide who may.
//
//   ControlServer server("/run/pdsync/client.sock", [&](const Value& req) { return
//   node.request(req); }); auto answer = control_call("/run/pdsync/client.sock", {{"cmd",
//   "status"}}, 5000ms);
//
// Ownership and threads: ControlServer runs an accept thread and one thread per
// connection; the handler is called from those threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <thread>

#include "shared/codec.hpp"
#include "shared/result.hpp"

namespace pdsync::client {

class ControlServer {
  public:
    using Handler = std::function<Value(const Value&)>;
    ControlServer(std::string path, Handler handler);
    ~ControlServer();
    [[nodiscard]] Status start();
    void stop();

  private:
    void accept_loop();
    void serve(int fd);

    std::string path_;
    Handler handler_;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::mutex mu_;
    std::list<std::thread> connections_;
    std::list<int> open_fds_;
};

// One request/answer over the socket. Errc::io if the daemon is not there.
[[nodiscard]] Result<Value> control_call(const std::string& path, const Value& request,
                                         std::chrono::milliseconds timeout);

}  // namespace pdsync::client
