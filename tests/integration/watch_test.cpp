// The control socket's event stream (docs/control-protocol.md, "watch"), against a real
// broker, server and daemon: a panel that sends {"cmd":"watch"} is told when the
// logged-in user's document changes, when the user is removed, and when the connection
// and sync state change, without polling.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "shared/net/control_socket.hpp"
#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

Value add(const std::string& id) {
    return Value{{"op", "add"}, {"id", id}, {"fields", {{"name", id}}}};
}

// A panel: one connection that reads the stream on its own thread.
class Panel {
  public:
    explicit Panel(const std::string& socket) {
        reader_ = std::thread([this, socket] {
            auto st = net::control_stream(
                socket, {{"cmd", "watch"}},
                [this](const Value& line) {
                    std::lock_guard lock(mu_);
                    lines_.push_back(line);
                    return true;
                },
                [this] { return !stop_; });
            std::lock_guard lock(mu_);
            ended_ = true;
            if (!st) error_ = st.error().message;
        });
    }
    ~Panel() {
        stop_ = true;
        reader_.join();
    }
    // Waits for a line that `pred` accepts among those not consumed yet; consumes up to it.
    bool wait_for(const std::function<bool(const Value&)>& pred,
                  std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
        return wait_until(
            [&] {
                std::lock_guard lock(mu_);
                for (; seen_ < lines_.size(); ++seen_) {
                    if (pred(lines_[seen_])) {
                        ++seen_;
                        return true;
                    }
                }
                return false;
            },
            timeout);
    }
    std::string dump() {
        std::lock_guard lock(mu_);
        std::string s = error_.empty() ? "" : "error: " + error_ + "\n";
        for (const auto& l : lines_) s += l.dump() + "\n";
        return s;
    }

  private:
    std::mutex mu_;
    std::vector<Value> lines_;
    std::size_t seen_ = 0;
    bool ended_ = false;
    std::string error_;
    std::atomic<bool> stop_{false};
    std::thread reader_;
};

bool is_event(const Value& v, const std::string& name) {
    return v.is_object() && v.value("event", "") == name;
}

}  // namespace

TEST(Watch, PanelIsToldOfDocumentChangesRemovalAndConnectionWithoutPolling) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    Device b(dir, {broker.uri()}, "dev-b");
    ASSERT_TRUE(a.wait_joined());
    ASSERT_TRUE(b.wait_joined());
    ASSERT_TRUE(a.login("alice").value("ok", false));

    Panel panel(a.socket());
    // First the status, as "status" answers it, then the current state.
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return v.value("ok", false) && v.value("watching", false) && v["user"] == "alice";
    })) << panel.dump();
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "state") && v["state"] == "joined" && v["connected"] == true;
    })) << panel.dump();

    // Alice edits her address book on another device: this one's panel hears of it.
    ASSERT_TRUE(b.login("alice").value("ok", false));
    ASSERT_EQ(b.edit("addressbook", add("from-b")).value("state", ""), "acked");
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "document") && v["user"] == "alice" && v["category"] == "addressbook" &&
               v["origin"] == "server" && v.value("version", 0) >= 1;
    })) << panel.dump();

    // An edit made here: the document changes at once, then the ack settles it.
    ASSERT_EQ(a.edit("addressbook", add("from-a")).value("state", ""), "acked");
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "document") && v["origin"] == "local";
    })) << panel.dump();
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "edit") && v["state"] == "acked";
    })) << panel.dump();

    // Other requests go on while a panel watches.
    EXPECT_EQ(a.show("addressbook").size(), 2u);

    // The administrator deletes alice: the device drops her data and says so.
    Value del = server.admin({{"cmd", "users-delete"}, {"user", "alice"}});
    ASSERT_TRUE(del.value("ok", false)) << del.dump();
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "user_removed") && v["user"] == "alice";
    })) << panel.dump();

    // The broker goes away: the panel sees the connection drop.
    broker.stop();
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "state") && v["connected"] == false && v["state"] == "offline";
    })) << panel.dump();
    broker.start();
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "state") && v["state"] == "joined";
    })) << panel.dump();
}

TEST(Watch, TurningSyncOffIsAStateEvent) {
    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()});
    Device a(dir, {broker.uri()}, "dev-a");
    ASSERT_TRUE(a.wait_joined());
    Panel panel(a.socket());
    ASSERT_TRUE(panel.wait_for([](const Value& v) { return v.value("watching", false); }))
        << panel.dump();
    ASSERT_TRUE(a.call({{"cmd", "sync"}, {"enabled", false}}).value("ok", false));
    ASSERT_TRUE(panel.wait_for([](const Value& v) {
        return is_event(v, "state") && v["state"] == "sync off" && v["sync"] == false;
    })) << panel.dump();
}
