// A local control socket: a Unix domain socket speaking one JSON object per line, request
// then answer; a long operation may send progress lines ({"progress": {...}}) before its
// answer. The device daemon serves its UI and `pdsync device` on one; the server serves
// `pdsync` administration on another. The socket file's permissions (0660) decide who may.
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
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "shared/base/result.hpp"
#include "shared/codec.hpp"

namespace pdsync::net {

class ControlServer {
  public:
    // Sends an intermediate progress line to the caller; safe to call from the handler.
    using Progress = std::function<void(const Value&)>;
    using Handler = std::function<Value(const Value&, const Progress&)>;
    // Called once an answer has been written, with its request: the place for actions
    // that would cut the answer off if the handler took them itself, like stopping.
    using AfterAnswer = std::function<void(const Value& request, const Value& answer)>;
    ControlServer(std::string path, Handler handler, AfterAnswer after_answer = {});
    ~ControlServer();
    // A request that turns its connection into a stream (a panel watching events): a
    // request whose "cmd" is `cmd` goes to `streamer` instead of the handler, which writes
    // lines with `write` (false once the peer is gone) while `open()` holds, and returns;
    // then the connection closes. Set before start().
    using LineWriter = std::function<bool(const Value&)>;
    using Streamer = std::function<void(const Value& request, const LineWriter& write,
                                        const std::function<bool()>& open)>;
    void set_streamer(std::string cmd, Streamer streamer);
    [[nodiscard]] Status start();
    void stop();

  private:
    void accept_loop();
    void serve(int fd);
    void serve_stream(int fd, const Value& request);

    std::string path_;
    Handler handler_;
    AfterAnswer after_answer_;
    std::string stream_cmd_;
    Streamer streamer_;
    int listen_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread acceptor_;
    std::mutex mu_;
    // One thread per connection; finished ones are joined by the accept loop, so a
    // long-running daemon does not accumulate them.
    struct Connection {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    std::list<Connection> connections_;
    std::list<int> open_fds_;
};

// One request/answer over the socket. Errc::io if the daemon is not there.
// `on_progress` receives the progress lines; `timeout` applies between lines.
[[nodiscard]] Result<Value> control_call(const std::string& path, const Value& request,
                                         std::chrono::milliseconds timeout,
                                         const std::function<void(const Value&)>& on_progress = {});

// A streaming request: sends `request`, then hands every line that comes back to
// `on_line` until it returns false, `keep_going()` turns false (checked at least every
// 200 ms), or the daemon closes the connection. Errc::io if the daemon is not there.
[[nodiscard]] Status control_stream(const std::string& path, const Value& request,
                                    const std::function<bool(const Value&)>& on_line,
                                    const std::function<bool()>& keep_going);

}  // namespace pdsync::net
