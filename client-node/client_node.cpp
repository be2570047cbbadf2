// Client node: the worker thread that feeds ClientCore and carries out what it returns.
#include "client-node/client_node.hpp"

#include <malloc.h>

#include <spdlog/spdlog.h>

#include "shared/reply.hpp"

namespace pdsync::client {

// ---- EventQueue -------------------------------------------------------------------------

void EventQueue::push(const Value& event) {
    {
        std::lock_guard lock(mu_);
        if (closed_) return;
        if (events_.size() >= capacity_) {
            ++dropped_;
            return;
        }
        if (dropped_ > 0) {
            events_.push_back({{"event", "overflow"}, {"dropped", dropped_}});
            dropped_ = 0;
        }
        events_.push_back(event);
    }
    cv_.notify_one();
}

std::optional<Value> EventQueue::pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return closed_ || !events_.empty(); })) return {};
    if (events_.empty()) return {};
    Value v = std::move(events_.front());
    events_.pop_front();
    return v;
}

void EventQueue::close() {
    {
        std::lock_guard lock(mu_);
        closed_ = true;
    }
    cv_.notify_all();
}

// ---- ClientNode -------------------------------------------------------------------------

ClientNode::ClientNode(std::unique_ptr<ClientStore> store, Topics topics, ClientSettings settings,
                       net::MqttSettings mqtt, CoreEnv env)
    : store_(std::move(store)) {
    core_ = std::make_unique<ClientCore>(*store_, std::move(topics), std::move(settings),
                                         std::move(env), mqtt.servers.size(), Clock::now());
    Publish will = core_->presence(false, false);
    mqtt.will = net::MqttSettings::Will{will.topic, will.payload, true};
    net::MqttLink::Handlers h;
    h.on_message = [this](net::Received m) { post(std::move(m)); };
    h.on_connected = [this] { post(Connected{}); };
    h.on_lost = [this](const std::string&) { post(Lost{}); };
    link_ = std::make_unique<net::MqttLink>(std::move(mqtt), std::move(h));
}

ClientNode::~ClientNode() {
    stop();
}

void ClientNode::start() {
    // Before the worker exists, so this thread is still the only one touching the core.
    carry_out(core_->start(Clock::now()));
    worker_ = std::thread([this] { worker_loop(); });
}

void ClientNode::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (link_->connected()) {
        Publish p = core_->presence(false);
        (void)link_->publish(p.topic, p.payload, p.retained);
    }
    link_->stop();
    std::lock_guard lock(watchers_mu_);
    for (auto& q : watchers_) q->close();
    watchers_.clear();
}

void ClientNode::post(Event e) {
    {
        std::lock_guard lock(mu_);
        events_.push_back(std::move(e));
    }
    cv_.notify_one();
}

Value ClientNode::request(const Value& req) {
    auto reply = std::make_shared<std::promise<Value>>();
    auto fut = reply->get_future();
    {
        std::lock_guard lock(mu_);
        if (stopping_) return error_reply(Errc::busy, "the daemon is stopping");
    }
    post(Request{req, reply});
    int64_t wait_ms =
        req.is_object() && req.contains("wait_ms") && req["wait_ms"].is_number_integer()
            ? req["wait_ms"].get<int64_t>()
            : 10000;
    if (fut.wait_for(std::chrono::milliseconds(std::max<int64_t>(wait_ms, 0) + 5000)) !=
        std::future_status::ready) {
        return error_reply(Errc::timeout, "the daemon did not answer in time");
    }
    return fut.get();
}

std::shared_ptr<EventQueue> ClientNode::watch() {
    auto q = std::make_shared<EventQueue>(tuning::control::kWatchQueueEvents);
    std::lock_guard lock(watchers_mu_);
    if (!last_state_.is_null()) q->push(last_state_);
    watchers_.push_back(q);
    return q;
}

void ClientNode::unwatch(const std::shared_ptr<EventQueue>& queue) {
    queue->close();
    std::lock_guard lock(watchers_mu_);
    std::erase(watchers_, queue);
}

void ClientNode::worker_loop() {
    while (true) {
        std::deque<Event> batch;
        {
            std::unique_lock lock(mu_);
            // A first merge in progress goes on at once after whatever came in.
            cv_.wait_for(lock,
                         core_->has_more_work() ? std::chrono::milliseconds(0)
                                                : std::chrono::milliseconds(100),
                         [&] { return stopping_ || !events_.empty(); });
            if (stopping_) break;
            batch.swap(events_);
        }
        for (auto& e : batch) handle(e);
        carry_out(core_->on_tick(Clock::now()));
    }
    // Answer whoever still waits.
    carry_out(core_->on_stop());
    std::lock_guard lock(mu_);
    for (auto& e : events_) {
        if (auto* r = std::get_if<Request>(&e))
            r->reply->set_value(error_reply(Errc::busy, "the daemon is stopping"));
    }
}

void ClientNode::handle(Event& e) {
    auto now = Clock::now();
    if (auto* m = std::get_if<net::Received>(&e)) return carry_out(core_->on_message(*m, now));
    if (std::holds_alternative<Connected>(e)) return carry_out(core_->on_connected(now));
    if (std::holds_alternative<Lost>(e)) return carry_out(core_->on_lost(now));
    if (auto* r = std::get_if<Request>(&e)) {
        RequestId id = next_request_++;
        waiting_[id] = r->reply;
        carry_out(core_->on_request(id, r->body, now));
    }
}

void ClientNode::carry_out(Output out) {
    const std::string& device = core_->settings().device_id;
    for (auto& action : out.link) {
        if (auto* p = std::get_if<Publish>(&action)) {
            // A change set not sent is sent again by the core's resend timer, or after
            // the reconnect that follows.
            if (auto st = link_->publish(p->topic, p->payload, p->retained); !st)
                spdlog::warn("device={} not sent on {}: {}", device, p->topic, st.error().message);
        } else if (auto* s = std::get_if<Subscribe>(&action)) {
            link_->subscribe(s->filters, s->send_retained);
        } else if (auto* u = std::get_if<Unsubscribe>(&action)) {
            link_->unsubscribe(u->filters);
        } else if (std::holds_alternative<StartLink>(action)) {
            link_->start();
        } else if (std::holds_alternative<StopLink>(action)) {
            link_->stop();
        } else if (auto* m = std::get_if<MoveToNextServer>(&action)) {
            link_->move_to_next_server(m->why);
        }
    }
    for (auto& a : out.answers) {
        auto w = waiting_.find(a.id);
        if (w == waiting_.end()) continue;
        w->second->set_value(std::move(a.body));
        waiting_.erase(w);
    }
    if (!out.events.empty()) {
        std::lock_guard lock(watchers_mu_);
        for (const auto& ev : out.events) {
            if (ev.value("event", "") == "state") last_state_ = ev;
            for (auto& q : watchers_) q->push(ev);
        }
    }
    // The user is served; now hand back what decoding their documents took from the heap.
    if (out.trim_heap) ::malloc_trim(0);
}

}  // namespace pdsync::client
