// ClientCore without a broker or a thread: join and back-off, the outbox window, resend
// after out_of_order and after the resend delay, the login manifest and its timeout,
// logins on a refused device and logins again, edits while offline, the event stream,
// and the rebase of pending edits (client_view). Time is a value the test moves; ids come
// from a counter; the store is SQLite in memory.
#include <gtest/gtest.h>

#include "client-node/client_core.hpp"
#include "client-node/client_view.hpp"
#include "shared/secrets.hpp"
#include "shared/user_keys.hpp"

using namespace pdsync;
using namespace pdsync::client;
using namespace std::chrono_literals;

namespace {

class ClientCoreTest : public ::testing::Test {
  protected:
    void SetUp() override { settings.device_id = "dev-a"; }

    void make(std::size_t brokers = 1) {
        core = std::make_unique<ClientCore>(*store, topics, settings, env, brokers, now);
        out = core->start(now);
    }
    void take(Output o) { out = std::move(o); }

    // ---- Events in ----
    void connect() { take(core->on_connected(now)); }
    void lose() { take(core->on_lost(now)); }
    void tick_at(std::chrono::milliseconds since_start) {
        now = start + since_start;
        take(core->on_tick(now));
    }
    void advance(std::chrono::milliseconds by) {
        now += by;
        take(core->on_tick(now));
    }
    void inbox(const Reply& r) {
        take(core->on_message({topics.device("dev-a", TopicKind::device_inbox),
                               encode_msgpack_unchecked(reply_to_value(r)), false},
                              now));
    }
    void accept(CategorySet cats = CategorySet::all(), uint64_t last_seq = 0) {
        JoinReply j;
        j.accepted = true;
        j.categories = cats;
        j.last_seq = last_seq;
        inbox(j);
    }
    void refuse() {
        JoinReply j;
        j.accepted = false;
        j.reason = Errc::auth_profile_mismatch;
        j.message = "the auth profile differs";
        inbox(j);
    }
    void server_online() {
        take(core->on_message(
            {topics.server_status(),
             encode_msgpack_unchecked({{"server_online", true}, {"boot_id", "b1"}}), true},
            now));
    }
    void document(const Document& d) {
        take(
            core->on_message({topics.user_doc(d.user, d.category), encode_document(d), true}, now));
    }
    // A request; returns its answer if it came out in the same step.
    std::optional<Value> request(const Value& body) {
        RequestId id = next_id++;
        take(core->on_request(id, body, now));
        return answer_to(id);
    }
    std::optional<Value> answer_to(RequestId id) const {
        for (const auto& a : out.answers)
            if (a.id == id) return a.body;
        return std::nullopt;
    }
    RequestId last_id() const { return next_id - 1; }
    Value status() { return request({{"cmd", "status"}}).value(); }
    std::optional<Value> edit(const std::string& id, int64_t wait_ms = 0) {
        return request({{"cmd", "edit"},
                        {"category", "addressbook"},
                        {"user", "alice"},
                        {"wait_ms", wait_ms},
                        {"ops", {{{"op", "add"}, {"id", id}, {"fields", {{"name", id}}}}}}});
    }

    // ---- What came out ----
    std::vector<Publish> published(TopicKind kind) const {
        std::vector<Publish> r;
        for (const auto& a : out.link) {
            auto* p = std::get_if<Publish>(&a);
            if (p && p->topic == topics.device("dev-a", kind)) r.push_back(*p);
        }
        return r;
    }
    std::vector<uint64_t> sent_seqs() const {
        std::vector<uint64_t> r;
        for (const auto& p : published(TopicKind::device_changes))
            r.push_back(change_set_from_value(decode_msgpack(p.payload).value()).value().seq);
        return r;
    }
    std::size_t hellos() const { return published(TopicKind::device_hello).size(); }
    std::vector<DeviceEvent> device_events() const {
        std::vector<DeviceEvent> r;
        for (const auto& p : published(TopicKind::device_events))
            r.push_back(event_from_value(decode_msgpack(p.payload).value()).value());
        return r;
    }
    std::vector<Value> events(const std::string& name) const {
        std::vector<Value> r;
        for (const auto& e : out.events)
            if (e.value("event", "") == name) r.push_back(e);
        return r;
    }
    static AckReply ack(uint64_t seq, uint64_t version) {
        AckReply a;
        a.seq = seq;
        a.ok = true;
        a.user = "alice";
        a.category = Category::addressbook;
        a.version = version;
        return a;
    }
    static Document doc(uint64_t version, std::vector<std::string> ids) {
        Document d{"alice", Category::addressbook, version, 0, {}, Value::object()};
        for (auto& id : ids) d.entries.push_back(Entry{id, version, false, {{"name", id}}, {}});
        return d;
    }
    // A device that has joined the fleet before and is joined now, alice logged in.
    void joined_with_alice() {
        make();
        connect();
        server_online();
        accept();
        ASSERT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
        RequestId login = last_id();
        LoginReply m;  // alice has nothing on the server yet
        m.user = "alice";
        m.known = true;
        inbox(m);
        ASSERT_TRUE(answer_to(login).value_or(Value::object()).value("ready", false));
    }

    std::unique_ptr<ClientStore> store = open_sqlite_client_store(":memory:");
    Topics topics;
    ClientSettings settings;
    int64_t wall = 1'700'000'000'000;
    int ids = 0;
    CoreEnv env{[this] { return wall; },
                [this](std::size_t n) {
                    std::string s = "id" + std::to_string(++ids);
                    return s + std::string(2 * n > s.size() ? 2 * n - s.size() : 0, '0');
                }};
    ClientCore::TimePoint start = ClientCore::TimePoint{} + 1h;
    ClientCore::TimePoint now = start;
    std::unique_ptr<ClientCore> core;
    Output out;
    RequestId next_id = 1;
};

// ---- Join and back-off ------------------------------------------------------------------

TEST_F(ClientCoreTest, StartSubscribesAndStartsTheLinkWithAnEpochFromTheRandomSource) {
    make();
    ASSERT_GE(out.link.size(), 2u);
    auto* sub = std::get_if<Subscribe>(&out.link[0]);
    ASSERT_NE(sub, nullptr);
    EXPECT_NE(std::find(sub->filters.begin(), sub->filters.end(),
                        topics.device("dev-a", TopicKind::device_inbox)),
              sub->filters.end());
    EXPECT_TRUE(std::holds_alternative<StartLink>(out.link.back()));
    EXPECT_EQ(store->setting("epoch").value(), "id10000000000000");
}

TEST_F(ClientCoreTest, ConnectingAnnouncesPresenceAndSendsHello) {
    make();
    connect();
    ASSERT_EQ(published(TopicKind::device_presence).size(), 1u);
    auto p = presence_from_value(
        decode_msgpack(published(TopicKind::device_presence)[0].payload).value());
    EXPECT_TRUE(p->online);
    EXPECT_EQ(p->at, wall) << "stamped with the injected wall clock";
    ASSERT_EQ(hellos(), 1u);
    auto h =
        hello_from_value(decode_msgpack(published(TopicKind::device_hello)[0].payload).value());
    EXPECT_EQ(h->epoch, store->setting("epoch").value());
    EXPECT_EQ(h->next_seq, 1u);
    EXPECT_EQ(status()["state"], "joining");
}

TEST_F(ClientCoreTest, RefusedDeviceRetriesWithDoublingBackOffUpToTheMaximum) {
    make();
    connect();  // hello 1; the next one no sooner than 500 ms later
    refuse();
    EXPECT_EQ(status()["state"], "refused");
    EXPECT_NE(status()["last_error"].get<std::string>().find("auth_profile_mismatch"),
              std::string::npos);
    tick_at(499ms);
    EXPECT_EQ(hellos(), 0u);
    tick_at(500ms);
    EXPECT_EQ(hellos(), 1u);  // hello 2; the next 1,000 ms later
    tick_at(1499ms);
    EXPECT_EQ(hellos(), 0u);
    tick_at(1500ms);
    EXPECT_EQ(hellos(), 1u);  // hello 3; the next 2,000 ms later
    tick_at(3499ms);
    EXPECT_EQ(hellos(), 0u);
    tick_at(3500ms);
    EXPECT_EQ(hellos(), 1u);
    EXPECT_EQ(status()["join_attempts"], 4);
    for (int i = 0; i < 12; ++i) advance(tuning::client::kJoinRetryMax);
    EXPECT_EQ(status()["join_retry_ms"].get<int64_t>(), tuning::client::kJoinRetryMax.count())
        << "the back-off stops growing at its maximum";
}

TEST_F(ClientCoreTest, AcceptedJoinStopsHellosAndResetsTheBackOff) {
    make();
    connect();
    refuse();
    tick_at(500ms);
    accept();
    EXPECT_EQ(status()["state"], "joined");
    EXPECT_EQ(status()["last_error"], "");
    EXPECT_EQ(status()["join_retry_ms"].get<int64_t>(), tuning::client::kJoinRetryMin.count());
    advance(60s);
    EXPECT_EQ(hellos(), 0u);
}

TEST_F(ClientCoreTest, ServerRestartAsksToJoinAgainAtOnce) {
    make();
    connect();
    server_online();
    accept();
    take(core->on_message(
        {topics.server_status(),
         encode_msgpack_unchecked({{"server_online", true}, {"boot_id", "b2"}}), true},
        now));
    EXPECT_EQ(hellos(), 1u);
}

// ---- Outbox -----------------------------------------------------------------------------

TEST_F(ClientCoreTest, OutboxKeepsAtMostItsWindowInFlight) {
    joined_with_alice();
    const int window = tuning::client::kOutboxWindow;
    std::vector<uint64_t> sent;
    for (int i = 1; i <= window + 4; ++i) {
        auto a = edit("e" + std::to_string(i));
        ASSERT_TRUE(a) << "wait_ms 0: answered at once";
        EXPECT_EQ(a->value("state", ""), "pending");
        for (auto s : sent_seqs()) sent.push_back(s);
    }
    ASSERT_EQ(sent.size(), static_cast<std::size_t>(window));
    EXPECT_EQ(sent.front(), 1u);
    EXPECT_EQ(sent.back(), static_cast<uint64_t>(window));
    inbox(AckBatch{{ack(1, 1), ack(2, 2)}});
    EXPECT_EQ(sent_seqs(), (std::vector<uint64_t>{17, 18})) << "two acked, two more sent";
    EXPECT_EQ(status()["pending"], window + 4 - 2) << "pending counts what is not acked";
}

TEST_F(ClientCoreTest, OutOfOrderAnswerResendsFromTheSeqTheServerExpects) {
    joined_with_alice();
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(edit("e" + std::to_string(i)));
    AckReply ooo;
    ooo.seq = 2;
    ooo.ok = false;
    ooo.reason = Errc::out_of_order;
    ooo.expected_seq = 1;
    inbox(ooo);
    EXPECT_EQ(sent_seqs(), (std::vector<uint64_t>{1, 2, 3}));
}

TEST_F(ClientCoreTest, UnackedChangeSetsAreSentAgainAfterTheResendDelay) {
    joined_with_alice();
    ASSERT_TRUE(edit("e1"));
    ASSERT_EQ(sent_seqs(), (std::vector<uint64_t>{1}));
    advance(tuning::client::kResendAfter - 1ms);
    EXPECT_TRUE(sent_seqs().empty());
    advance(1ms);
    EXPECT_EQ(sent_seqs(), (std::vector<uint64_t>{1}));
}

TEST_F(ClientCoreTest, JoinReplyDropsChangeSetsTheServerAlreadyApplied) {
    joined_with_alice();
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(edit("e" + std::to_string(i)));
    lose();
    connect();
    accept(CategorySet::all(), /*last_seq=*/2);
    EXPECT_EQ(sent_seqs(), (std::vector<uint64_t>{3}));
}

// ---- Edits and their answers (issue: offline edits answered at once) --------------------

TEST_F(ClientCoreTest, EditWhileOfflineIsAnsweredAtOnce) {
    joined_with_alice();
    lose();
    auto a = edit("offline-1", 14000);
    ASSERT_TRUE(a) << "offline, nothing can ack it: no wait";
    EXPECT_EQ(a->value("state", ""), "pending");
    EXPECT_EQ(a->value("waited_ms", -1), 0);
    EXPECT_NE(a->value("message", "").find("offline"), std::string::npos) << a->dump();
    EXPECT_TRUE(sent_seqs().empty());
}

TEST_F(ClientCoreTest, EditWhileConnectedWaitsForItsAckWithinTheStatedBound) {
    joined_with_alice();
    ASSERT_FALSE(edit("e1", 2000));
    RequestId id = last_id();
    advance(1999ms);
    EXPECT_FALSE(answer_to(id));
    advance(1ms);
    auto a = answer_to(id);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value("state", ""), "pending");
    EXPECT_EQ(a->value("waited_ms", 0), 2000);
    EXPECT_NE(a->value("message", "").find("2000 ms"), std::string::npos) << a->dump();
}

TEST_F(ClientCoreTest, EditIsAnsweredByItsAck) {
    joined_with_alice();
    ASSERT_FALSE(edit("e1", 5000));
    RequestId id = last_id();
    inbox(ack(1, 7));
    auto a = answer_to(id);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value("state", ""), "acked");
    EXPECT_EQ(a->value("version", 0), 7);
    EXPECT_EQ((*a)["ids"], Value::array({"e1"}));
}

TEST_F(ClientCoreTest, ConnectionLostWhileAnEditWaitsAnswersItAtOnce) {
    joined_with_alice();
    ASSERT_FALSE(edit("e1", 10000));
    RequestId id = last_id();
    lose();
    auto a = answer_to(id);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value("state", ""), "pending");
    EXPECT_NE(a->value("message", "").find("offline"), std::string::npos);
}

TEST_F(ClientCoreTest, EditOnRefusedDeviceIsAnsweredAtOnce) {
    make();
    connect();
    accept();  // joined once
    lose();
    connect();
    refuse();
    auto a = edit("e1", 10000);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value("state", ""), "pending");
    EXPECT_NE(a->value("message", "").find("refused"), std::string::npos) << a->dump();
}

TEST_F(ClientCoreTest, NewEntryIdsComeFromTheInjectedRandomSource) {
    joined_with_alice();
    auto a = request({{"cmd", "edit"},
                      {"category", "addressbook"},
                      {"wait_ms", 0},
                      {"ops", {{{"op", "add"}, {"fields", {{"name", "x"}}}}}}});
    ASSERT_TRUE(a);
    EXPECT_EQ((*a)["ids"][0], "id20000000000000") << a->dump();
}

// ---- Login ------------------------------------------------------------------------------

TEST_F(ClientCoreTest, LoginWaitsForTheManifestAndEveryDocumentItLists) {
    make();
    connect();
    server_online();
    accept();
    ASSERT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
    RequestId id = last_id();
    ASSERT_EQ(device_events().size(), 1u);
    EXPECT_EQ(device_events()[0].user, "alice");
    EXPECT_EQ(device_events()[0].at, wall);
    LoginReply m;
    m.user = "alice";
    m.known = true;
    m.versions = {{Category::addressbook, 3}};
    inbox(m);
    EXPECT_FALSE(answer_to(id)) << "the listed document has not come yet";
    now += 7ms;
    document(doc(3, {"bob"}));
    auto a = answer_to(id);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value("source", ""), "server");
    EXPECT_DOUBLE_EQ(a->value("ms", 0.0), 7.0) << "timed by the time passed in";
    EXPECT_EQ(store->version_of({"alice", Category::addressbook})->version, 3u);
    ASSERT_EQ(events("login").size(), 1u);
}

// Issue 14: a cached category is subscribed without its retained copy; the manifest says
// whether the cache is current; a stale one is subscribed again for the retained copy.
TEST_F(ClientCoreTest, WarmLoginSkipsRetainedCopiesOfCachedCategoriesAndFetchesStaleOnes) {
    make();
    connect();
    server_online();
    accept();
    const std::string book = topics.user_doc("alice", Category::addressbook);
    auto subscriptions = [&] {
        std::vector<std::pair<std::string, bool>> r;  // (filter, send_retained)
        for (const auto& a : out.link)
            if (auto* s = std::get_if<Subscribe>(&a))
                for (const auto& f : s->filters) r.emplace_back(f, s->send_retained);
        return r;
    };
    auto login = [&](uint64_t version) {
        EXPECT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
        RequestId id = last_id();
        auto subs = subscriptions();
        LoginReply m;
        m.user = "alice";
        m.known = true;
        m.versions = {{Category::addressbook, version}};
        inbox(m);
        return std::make_pair(id, subs);
    };
    // Cold: nothing cached. Before the server's reply the broker would refuse the user's
    // retained copies (no grant yet), so none is asked for; the reply's manifest fetches
    // what it lists.
    auto [cold, cold_subs] = login(1);
    for (const auto& [f, retained] : cold_subs) EXPECT_FALSE(retained) << f;
    auto cold_fetch = subscriptions();
    ASSERT_EQ(cold_fetch.size(), 1u);
    EXPECT_EQ(cold_fetch[0], std::make_pair(book, true));
    document(doc(1, {"bob"}));
    ASSERT_TRUE(answer_to(cold));
    request({{"cmd", "logout"}});

    // Warm: the address book is cached at the manifest's version; ready with no document.
    auto [warm, warm_subs] = login(1);
    EXPECT_TRUE(std::count(warm_subs.begin(), warm_subs.end(), std::make_pair(book, false)));
    auto a = answer_to(warm);
    ASSERT_TRUE(a) << "a current cache needs no document";
    EXPECT_EQ(a->value("source", ""), "server");
    request({{"cmd", "logout"}});

    // Stale: the manifest lists version 2; the address book is subscribed again, retained.
    auto [stale, stale_subs] = login(2);
    EXPECT_TRUE(std::count(stale_subs.begin(), stale_subs.end(), std::make_pair(book, false)));
    EXPECT_FALSE(answer_to(stale));
    auto fetched = subscriptions();
    ASSERT_EQ(fetched.size(), 1u);
    EXPECT_EQ(fetched[0], std::make_pair(book, true));
    document(doc(2, {"bob", "carol"}));
    ASSERT_TRUE(answer_to(stale));
    EXPECT_EQ(store->version_of({"alice", Category::addressbook})->version, 2u);
}

TEST_F(ClientCoreTest, LoginFallsBackToTheCacheWhenNoManifestComesInTime) {
    make();
    connect();
    server_online();
    accept();
    ASSERT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
    RequestId id = last_id();
    advance(tuning::client::kLoginServerWait - 1ms);
    EXPECT_FALSE(answer_to(id));
    advance(1ms);
    auto a = answer_to(id);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value("source", ""), "cache");
    EXPECT_NE(a->value("why", "").find("did not answer"), std::string::npos) << a->dump();
}

TEST_F(ClientCoreTest, LoginOnRefusedDeviceAnswersAtOnceWithTheReasonAndWhatIsCached) {
    store->save(doc(4, {"bob"}), Origin::server);
    make();
    connect();
    server_online();
    refuse();
    auto a = request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}});
    ASSERT_TRUE(a) << "no 5 s wait for a manifest that a refused device never gets";
    EXPECT_EQ(a->value("source", ""), "cache");
    EXPECT_NE(a->value("why", "").find("auth_profile_mismatch"), std::string::npos) << a->dump();
    EXPECT_EQ((*a)["cached"], Value::array({"addressbook"}));
    EXPECT_TRUE(device_events().empty()) << "the server ignores a refused device's events";
}

TEST_F(ClientCoreTest, LoginOfTheUserAlreadyLoggedInSendsTheLoginEventAgain) {
    make();
    connect();
    server_online();
    accept();
    ASSERT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
    LoginReply m;
    m.user = "alice";
    m.known = true;
    inbox(m);
    wall += 60000;
    auto again = request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}});
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->value("again", false));
    EXPECT_EQ(again->value("use", ""), "sent");
    ASSERT_EQ(device_events().size(), 1u) << "a login is a use: the server moves alice's last use";
    EXPECT_EQ(device_events()[0].kind, EventKind::login);
    EXPECT_EQ(device_events()[0].at, wall);
}

TEST_F(ClientCoreTest, LoginWaitingForTheServerIsServedFromTheCacheWhenTheConnectionDrops) {
    make();
    connect();
    server_online();
    accept();
    ASSERT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
    RequestId id = last_id();
    lose();
    auto a = answer_to(id);
    ASSERT_TRUE(a) << "no wait for the login deadline";
    EXPECT_EQ(a->value("source", ""), "cache");
    EXPECT_NE(a->value("why", "").find("offline"), std::string::npos) << a->dump();
}

TEST_F(ClientCoreTest, OfflineLoginIsServedFromTheCacheAtOnceAndAnnouncedAtTheNextJoin) {
    make();
    auto a = request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value("source", ""), "cache");
    EXPECT_NE(a->value("why", "").find("offline"), std::string::npos);
    connect();
    accept();
    ASSERT_EQ(device_events().size(), 1u);
    EXPECT_EQ(device_events()[0].user, "alice");
}

// ---- Event stream ---------------------------------------------------------------------

TEST_F(ClientCoreTest, EmitsStateChangesAndTheLoggedInUsersDocuments) {
    joined_with_alice();
    lose();
    ASSERT_EQ(events("state").size(), 1u);
    EXPECT_EQ(events("state")[0]["state"], "offline");
    EXPECT_EQ(events("state")[0]["connected"], false);
    connect();
    accept();
    document(doc(5, {"bob"}));
    ASSERT_EQ(events("document").size(), 1u);
    EXPECT_EQ(events("document")[0]["version"], 5);
    EXPECT_EQ(events("document")[0]["category"], "addressbook");
    Document other = doc(2, {"x"});
    other.user = "carol";
    document(other);
    EXPECT_TRUE(events("document").empty()) << "only the logged-in user's documents";
    inbox(EvictNotice{{"alice"}});
    ASSERT_EQ(events("user_removed").size(), 1u);
    EXPECT_EQ(events("user_removed")[0]["user"], "alice");
}

// ---- Rebase of pending edits (client_view) -------------------------------------------

OutboxRow row(uint64_t seq, std::vector<ChangeOp> ops, bool acked = false, uint64_t version = 0) {
    OutboxRow r;
    r.seq = seq;
    r.user = "alice";
    r.ops = std::move(ops);
    r.acked = acked;
    r.acked_version = version;
    return r;
}
ChangeOp put(const std::string& id, const std::string& name, uint64_t base_rev = 0) {
    return ChangeOp{OpKind::put, id, {{"name", name}}, base_rev, std::nullopt};
}

TEST(Rebase, ReplaysPendingEditsOnTheServerDocument) {
    Document base{"alice", Category::addressbook, 3, 0, {}, Value::object()};
    base.entries.push_back(Entry{"bob", 3, false, {{"name", "Bob"}}, {}});
    Document v = rebase(base, {row(1, {put("carol", "Carol")}), row(2, {put("bob", "Robert", 3)})});
    ASSERT_EQ(v.live_count(), 2u);
    EXPECT_EQ(v.find("bob")->fields["name"], "Robert");
    EXPECT_EQ(v.find("carol")->fields["name"], "Carol");
    EXPECT_EQ(v.version, 3u) << "the server's version: pending edits have none yet";
}

TEST(Rebase, SkipsAckedEditsTheServerDocumentAlreadyHolds) {
    Document base{"alice", Category::addressbook, 5, 0, {}, Value::object()};
    base.entries.push_back(Entry{"bob", 5, false, {{"name", "Server"}}, {}});
    // Acked at version 4: version 5 holds it, and whatever came after it on the server.
    Document v = rebase(base, {row(1, {put("bob", "Old edit")}, true, 4)});
    EXPECT_EQ(v.find("bob")->fields["name"], "Server");
}

TEST(Rebase, ReplaysAckedEditsNewerThanTheServerDocument) {
    Document base{"alice", Category::addressbook, 5, 0, {}, Value::object()};
    // Acked at version 6, whose document has not arrived yet: still shown.
    Document v = rebase(base, {row(1, {put("dave", "Dave")}, true, 6)});
    ASSERT_NE(v.find("dave"), nullptr);
    EXPECT_EQ(v.find("dave")->fields["name"], "Dave");
}

TEST(Rebase, ALaterPendingEditOfTheSameEntryWins) {
    Document base{"alice", Category::addressbook, 2, 0, {}, Value::object()};
    Document v = rebase(base, {row(1, {put("e", "first")}), row(2, {put("e", "second", 3)})});
    EXPECT_EQ(v.find("e")->fields["name"], "second");
}

TEST(Rebase, PendingDeleteHidesTheEntry) {
    Document base{"alice", Category::addressbook, 2, 0, {}, Value::object()};
    base.entries.push_back(Entry{"bob", 2, false, {{"name", "Bob"}}, {}});
    Document v =
        rebase(base, {row(1, {ChangeOp{OpKind::remove, "bob", Value::object(), 2, std::nullopt}})});
    EXPECT_EQ(v.live_count(), 0u);
}

TEST_F(ClientCoreTest, ShowRebasesPendingEditsOnTheCachedDocument) {
    joined_with_alice();
    document(doc(2, {"bob"}));
    ASSERT_TRUE(edit("carol"));
    auto a = request({{"cmd", "show"}, {"category", "addressbook"}});
    ASSERT_TRUE(a);
    const auto& d = (*a)["documents"][0];
    EXPECT_EQ(d["version"], 2);
    EXPECT_EQ(d["pending"], 1);
    ASSERT_EQ(d["entries"].size(), 2u);
    EXPECT_EQ(d["entries"][1]["id"], "carol");
}

}  // namespace

// ---- Sessions and user keys (docs/security.md) ------------------------------------------

TEST_F(ClientCoreTest, JoinAnnouncesTheLoggedInUserBeforeItsPendingChangeSets) {
    joined_with_alice();
    lose();
    ASSERT_TRUE(edit("e1"));  // offline: kept in the outbox
    connect();
    accept();
    int login_at = -1, change_at = -1;
    for (int i = 0; i < static_cast<int>(out.link.size()); ++i) {
        auto* p = std::get_if<Publish>(&out.link[i]);
        if (!p) continue;
        if (p->topic == topics.device("dev-a", TopicKind::device_events) && login_at < 0)
            login_at = i;
        if (p->topic == topics.device("dev-a", TopicKind::device_changes) && change_at < 0)
            change_at = i;
    }
    ASSERT_GE(login_at, 0);
    ASSERT_GE(change_at, 0);
    EXPECT_LT(login_at, change_at) << "the server takes alice's edits only within her session";
}

TEST_F(ClientCoreTest, PendingEditOfAUserWhoLoggedOutAnnouncesThatUserAgainFirst) {
    joined_with_alice();
    lose();
    ASSERT_TRUE(edit("e1"));
    request({{"cmd", "logout"}});
    connect();
    accept();
    auto ev = device_events();
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kind, EventKind::login);
    EXPECT_EQ(ev[0].user, "alice");
    EXPECT_EQ(sent_seqs().size(), 1u);
}

TEST_F(ClientCoreTest, SecretsAreSealedWithTheUsersKeyFromTheLoginReplyNotTheFleetKey) {
    FleetKey fleet{};
    fleet.fill(7);
    settings.fleet_key = fleet;
    make();
    connect();
    auto hello =
        hello_from_value(decode_msgpack(published(TopicKind::device_hello)[0].payload).value());
    ASSERT_EQ(hello->box_pk.size(), 32u) << "the hello carries the device's box key";
    BoxPublicKey pk{};
    std::copy(hello->box_pk.begin(), hello->box_pk.end(), pk.begin());
    server_online();
    accept();

    ASSERT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
    const Value secret_edit = {
        {"cmd", "edit"},
        {"category", "keychain"},
        {"wait_ms", 0},
        {"ops",
         {{{"op", "add"}, {"id", "nas"}, {"fields", {{"host", "nas"}, {"password", "hunter2"}}}}}}};
    // No reply yet, so no key of alice's: a secret cannot be sealed for her.
    auto early = request(secret_edit);
    ASSERT_TRUE(early);
    EXPECT_EQ(early->value("error", ""), "no_session") << early->dump();

    FleetKey server_secret{};
    server_secret.fill(9);
    UserKey alice_key = derive_user_key(server_secret, "alice");
    LoginReply m;
    m.user = "alice";
    m.known = true;
    m.sealed_key = seal_user_key(alice_key, pk);
    inbox(m);

    auto r = request(secret_edit);
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->value("ok", false)) << r->dump();
    auto changes = published(TopicKind::device_changes);
    ASSERT_EQ(changes.size(), 1u);
    auto cs = change_set_from_value(decode_msgpack(changes[0].payload).value()).value();
    const Value& sealed = cs.ops.at(0).fields["password"];
    ASSERT_TRUE(is_sealed(sealed)) << "never in clear on the wire";
    EXPECT_TRUE(is_sealed(open_secrets(cs.ops[0].fields, &fleet)["password"]))
        << "the fleet key must not open a user's secret";
    EXPECT_EQ(open_secrets(cs.ops[0].fields, &alice_key)["password"], "hunter2");
    // The key is kept with the cache: a new core on the same store opens it offline.
    core.reset();
    make();
    auto shown = request({{"cmd", "show"}, {"user", "alice"}, {"category", "keychain"}});
    ASSERT_TRUE(shown);
    EXPECT_EQ(shown->dump().find("hunter2") != std::string::npos, true) << shown->dump();
}

TEST_F(ClientCoreTest, StaleLoginWithADeltaIsReadyWithoutTheRetainedDocument) {
    make();
    connect();
    server_online();
    accept();
    const DocKey key{"alice", Category::addressbook};
    auto fetches = [&] {
        std::size_t n = 0;
        for (const auto& a : out.link)
            if (auto* s = std::get_if<Subscribe>(&a); s && s->send_retained) n += s->filters.size();
        return n;
    };
    auto login = [&](uint64_t version, std::optional<DocumentDelta> delta) {
        EXPECT_FALSE(request({{"cmd", "login"}, {"user", "alice"}, {"wait_ms", 10000}}));
        RequestId id = last_id();
        auto sent = device_events();
        EXPECT_EQ(sent.size(), 1u);
        LoginReply m;
        m.user = "alice";
        m.known = true;
        m.versions = {{Category::addressbook, version}};
        if (delta) m.deltas[Category::addressbook] = *delta;
        inbox(m);
        return std::make_pair(id, sent.empty() ? DeviceEvent{} : sent[0]);
    };
    // Cold, to cache version 1.
    auto [cold, cold_event] = login(1, std::nullopt);
    EXPECT_TRUE(cold_event.have.empty());
    document(doc(1, {"bob", "carol"}));
    ASSERT_TRUE(answer_to(cold));
    request({{"cmd", "logout"}});

    // The server's version 2: carol changed, dave added.
    Document v2 = doc(1, {"bob", "carol"});
    v2.version = 2;
    v2.entries[1] = Entry{"carol", 2, false, {{"name", "Carol B."}}, {}};
    v2.entries.push_back(Entry{"dave", 2, false, {{"name", "dave"}}, {}});
    const std::string v2_bytes = encode_document(v2);
    DocumentDelta delta = **make_delta(v2_bytes, 1, v2_bytes.size() * 2);
    ASSERT_EQ(delta.entries.size(), 2u);

    // The login event says which version the cache holds; the delta makes it current.
    auto [stale, stale_event] = login(2, delta);
    EXPECT_EQ(stale_event.have, (std::map<Category, uint64_t>{{Category::addressbook, 1}}));
    EXPECT_EQ(fetches(), 0u) << "the delta replaces the retained document";
    auto a = answer_to(stale);
    ASSERT_TRUE(a) << "ready from the delta";
    EXPECT_EQ(a->value("source", ""), "server");
    EXPECT_EQ(store->load_encoded(key), v2_bytes);
    request({{"cmd", "logout"}});

    // A delta that does not fit the cache (a digest that differs) is dropped: the retained
    // copy is fetched, and the login waits for it.
    Document v3 = v2;
    v3.version = 3;
    v3.entries[0] = Entry{"bob", 3, false, {{"name", "Bob B."}}, {}};
    const std::string v3_bytes = encode_document(v3);
    DocumentDelta bad = **make_delta(v3_bytes, 2, v3_bytes.size() * 2);
    bad.digest[0] = static_cast<char>(bad.digest[0] ^ 1);
    auto [refit, refit_event] = login(3, bad);
    EXPECT_EQ(fetches(), 1u);
    EXPECT_FALSE(answer_to(refit));
    document(v3);
    ASSERT_TRUE(answer_to(refit));
    EXPECT_EQ(store->load_encoded(key), v3_bytes);
}

TEST_F(ClientCoreTest, AnEditSeesTheEntriesItNamesAsTheWholeViewWouldPendingEditsIncluded) {
    joined_with_alice();
    document(doc(1, {"bob", "carol", "dave"}));
    auto edit_op = [&](const std::string& op, const std::string& id) {
        return request({{"cmd", "edit"},
                        {"category", "addressbook"},
                        {"wait_ms", 0},
                        {"ops", {{{"op", op}, {"id", id}, {"fields", {{"name", "x"}}}}}}});
    };
    ASSERT_TRUE(edit_op("delete", "carol").value().value("ok", false));  // pending, not acked
    auto again = edit_op("update", "carol");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->value("error", ""), "not_found") << again->dump();
    ASSERT_TRUE(edit_op("update", "bob").value().value("ok", false));
    auto sets = published(TopicKind::device_changes);
    ASSERT_FALSE(sets.empty());
    auto cs = change_set_from_value(decode_msgpack(sets.back().payload).value()).value();
    ASSERT_EQ(cs.ops.size(), 1u);
    EXPECT_EQ(cs.ops[0].id, "bob");
    EXPECT_EQ(cs.ops[0].base_rev, 1u);  // the server's rev of bob, not a pending one
    EXPECT_EQ(edit_op("update", "nobody")->value("error", ""), "not_found");
}
