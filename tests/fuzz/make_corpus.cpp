// Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): a few valid
// encodings of every message, made with the project's own encoders, and hostile ones
// (truncated, too deep, huge declared lengths, non-string keys, extension types, bad ids).
// Deterministic, so regenerating changes nothing unless the encoders change:
//
//   build-fuzz/tests/fuzz/fuzz_make_corpus tests/fuzz/corpus
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "shared/base/tuning.hpp"
#include "shared/codec.hpp"
#include "shared/document.hpp"
#include "shared/messages.hpp"
#include "tests/fuzz/batch_format.hpp"

using namespace pdsync;
namespace fs = std::filesystem;
using namespace std::string_literals;
namespace batch = pdsync::fuzz::batch;

namespace {

// Selectors of fuzz_payload (its first byte).
enum : uint8_t { kCodec, kDocument, kChangeSet, kHello, kEvent, kPresence, kReply };

class Writer {
  public:
    explicit Writer(fs::path dir) : dir_(std::move(dir)) {
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void put(const std::string& name, const std::string& bytes) {
        std::ofstream(dir_ / name, std::ios::binary) << bytes;
        ++count_;
        bytes_ += bytes.size();
    }
    std::size_t count() const { return count_; }
    std::size_t bytes() const { return bytes_; }

  private:
    fs::path dir_;
    std::size_t count_ = 0;
    std::size_t bytes_ = 0;
};

std::string mp(const Value& v) {
    return encode_msgpack_unchecked(v);
}

std::string sel(uint8_t s, const std::string& payload) {
    return std::string(1, static_cast<char>(s)) + payload;
}

std::string be16(uint16_t n) {
    return {static_cast<char>(n >> 8), static_cast<char>(n & 0xFF)};
}

std::string be32(uint32_t n) {
    return {static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xFF),
            static_cast<char>((n >> 8) & 0xFF), static_cast<char>(n & 0xFF)};
}

Document sample_document() {
    Document d;
    d.user = "alice";
    d.category = Category::keychain;
    d.version = 7;
    d.updated_at = 1700000000000;
    d.entries.push_back({"k1", 3, false, {{"host", "files"}, {"port", 445}}, Value::object()});
    d.entries.push_back({"k2", 5, true, Value::object(), Value::object()});
    d.entries.push_back(
        {"k3", 7, false, {{"host", "scan"}, {"tags", {"a", "b"}}}, {{"future", true}}});
    d.extra = {{"layout", "grid"}};
    return d;
}

ChangeSet sample_change_set(const std::string& device, const std::string& epoch, uint64_t seq,
                            const std::string& user, Category c) {
    ChangeSet cs;
    cs.device_id = device;
    cs.epoch = epoch;
    cs.seq = seq;
    cs.user = user;
    cs.category = c;
    cs.created_at = 1700000000000;
    cs.ops.push_back({OpKind::put, "bob", {{"name", "Bob"}, {"fax", "+1-555"}}, 0, std::nullopt});
    cs.ops.push_back({OpKind::put, "carol", {{"name", "Carol"}}, 0, std::string("")});
    cs.ops.push_back({OpKind::move, "bob", Value::object(), 1, std::string("carol")});
    cs.ops.push_back({OpKind::remove, "carol", Value::object(), 1, std::nullopt});
    return cs;
}

Hello sample_hello(const std::string& device, const std::string& epoch) {
    Hello h;
    h.device_id = device;
    h.product = "MFP 9000";
    h.firmware = "2.4.1";
    h.location = "floor 2";
    h.protocol = tuning::protocol::kProtocolVersion;
    h.categories = CategorySet::all();
    h.auth_digest = AuthProfile{}.digest();
    h.epoch = epoch;
    h.next_seq = 1;
    h.cached_users = {"alice", "j\xC3\xB6rg"};
    return h;
}

std::string nested_arrays(int depth) {
    return std::string(static_cast<std::size_t>(depth), '\x91') + '\xC0';
}

std::string nested_maps(int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += "\x81\xA1k";
    return s + '\xC0';
}

void payload_corpus(Writer& w) {
    Document doc = sample_document();
    std::string doc_bytes = encode_document(doc);
    Document shared;
    shared.category = Category::guest_home;
    shared.version = 1;
    shared.entries.push_back({"tile-1", 1, false, {{"app", "copy"}}, Value::object()});
    ChangeSet cs = sample_change_set("dev-1", "e1", 1, "alice", Category::addressbook);
    std::string cs_bytes = mp(change_set_to_value(cs));
    ChangeSet reg = cs;
    reg.registers = true;
    reg.ops.resize(2);
    Hello hello = sample_hello("dev-1", "e1");
    std::string hello_bytes = mp(hello_to_value(hello));

    // Valid messages.
    w.put("doc-valid", sel(kDocument, doc_bytes));
    w.put("doc-shared", sel(kDocument, encode_document(shared)));
    w.put("doc-empty", sel(kDocument, encode_document(Document{
                                          "bob", Category::home, 1, 0, {}, Value::object()})));
    w.put("changes-valid", sel(kChangeSet, cs_bytes));
    w.put("changes-register", sel(kChangeSet, mp(change_set_to_value(reg))));
    w.put("hello-valid", sel(kHello, hello_bytes));
    w.put("event-login",
          sel(kEvent, mp(event_to_value({"dev-1", EventKind::login, "alice", 5, {}}))));
    w.put("event-logout",
          sel(kEvent, mp(event_to_value({"dev-1", EventKind::logout, "alice", 6, {}}))));
    w.put("presence-online", sel(kPresence, mp(presence_to_value({"dev-1", true, 7}))));
    JoinReply join{true, Errc::ok, "", CategorySet::all(), {"gone"}, 3};
    AckReply ack;
    ack.seq = 4;
    ack.ok = false;
    ack.reason = Errc::out_of_order;
    ack.user = "alice";
    ack.expected_seq = 2;
    ack.conflicts = {"x"};
    LoginReply login;
    login.user = "alice";
    login.known = true;
    login.versions = {{Category::addressbook, 3}, {Category::home, 1}};
    w.put("reply-join", sel(kReply, mp(reply_to_value(join))));
    w.put("reply-ack", sel(kReply, mp(reply_to_value(ack))));
    w.put("reply-login", sel(kReply, mp(reply_to_value(login))));
    w.put("reply-evict", sel(kReply, mp(reply_to_value(EvictNotice{{"bob", "carol"}}))));

    // Hostile encodings.
    w.put("doc-truncated", sel(kDocument, doc_bytes.substr(0, doc_bytes.size() / 2)));
    w.put("changes-truncated", sel(kChangeSet, cs_bytes.substr(0, cs_bytes.size() - 3)));
    w.put("hello-trailing", sel(kHello, hello_bytes + "\xC0"));
    w.put("codec-deep-arrays", sel(kCodec, nested_arrays(40)));
    w.put("codec-depth-at-limit", sel(kCodec, nested_arrays(tuning::codec::kMaxDepth)));
    w.put("codec-depth-over-limit", sel(kCodec, nested_arrays(tuning::codec::kMaxDepth + 1)));
    w.put("doc-deep-fields", sel(kDocument,
                                 "\x83\xA6schema\xA9pds.doc/1\xA8"
                                 "category\xAAguest-home\xA7"
                                 "entries"
                                 "\x91\x82\xA2id\xA1x\xA6"
                                 "fields\x81\xA1k" +
                                     nested_maps(20)));
    w.put("codec-str32-huge", sel(kCodec, "\xDB" + be32(0xFFFFFFFF) + "abc"));
    w.put("codec-bin32-huge", sel(kCodec, "\xC6" + be32(0x7FFFFFFF) + "abc"));
    w.put("codec-array32-huge", sel(kCodec, "\xDD" + be32(0xFFFFFFFF) + "\xC0"));
    w.put("codec-map32-huge", sel(kCodec, "\xDF" + be32(0xFFFFFFFF) + "\xA1k\xC0"));
    w.put("codec-array16-over-limit", sel(kCodec, "\xDC" + be16(20001) + "\xC0\xC0"));
    w.put("codec-map16-over-limit", sel(kCodec, "\xDE" + be16(4097) + "\xA1k\xC0"));
    w.put("codec-int-key", sel(kCodec, "\x81\x01\xA1x"));
    w.put("codec-nil-key", sel(kDocument, "\x82\xA6schema\xA9pds.doc/1\xC0\xC0"));
    w.put("codec-array-key", sel(kCodec, "\x81\x91\x01\x02"));
    w.put("codec-fixext1", sel(kCodec, "\xD4\x01\x00"s));
    w.put("codec-ext8", sel(kCodec, std::string("\xC7\x03\x05xyz")));
    w.put("codec-timestamp-ext", sel(kCodec, "\xD6\xFF" + be32(1700000000)));
    w.put("codec-never-used", sel(kCodec, "\xC1"));
    w.put("codec-empty", sel(kCodec, ""));
    // NaN as float32 and float64, and -0.0 (the literal holds NUL bytes: "..."s).
    w.put("codec-floats", sel(kCodec,
                              "\x93\xCA\x7F\xC0\x00\x00\xCB\x7F\xF8\x00\x00\x00\x00\x00"
                              "\x00\xCB\x80\x00\x00\x00\x00\x00\x00\x00"s));
    w.put("codec-invalid-utf8", sel(kCodec, "\x81\xA2\xFF\xFE\xA3\xC3\x28\xA0"));

    // Valid MessagePack, invalid messages.
    Value bad_doc = document_to_value(doc);
    bad_doc["entries"][1]["id"] = "k1";
    w.put("doc-duplicate-id", sel(kDocument, mp(bad_doc)));
    bad_doc = document_to_value(doc);
    bad_doc["entries"][0]["id"] = std::string(129, 'x');
    w.put("doc-long-id", sel(kDocument, mp(bad_doc)));
    bad_doc["entries"][0]["id"] =
        "a\x01"
        "b";
    w.put("doc-control-id", sel(kDocument, mp(bad_doc)));
    bad_doc = document_to_value(doc);
    bad_doc["category"] = "wallpaper";
    w.put("doc-unknown-category", sel(kDocument, mp(bad_doc)));
    bad_doc = document_to_value(doc);  // decodes, but no delta may be made from it
    bad_doc["entries"][0]["rev"] = doc.version + 1;
    w.put("doc-rev-past-version", sel(kDocument, mp(bad_doc)));
    Value bad_cs = change_set_to_value(cs);
    bad_cs["user"] = "\xC3\x28";
    w.put("changes-bad-utf8-user", sel(kChangeSet, mp(bad_cs)));
    bad_cs = change_set_to_value(cs);
    bad_cs["user"] = "";
    w.put("changes-empty-user", sel(kChangeSet, mp(bad_cs)));
    bad_cs = change_set_to_value(cs);
    bad_cs["seq"] = -1;
    w.put("changes-negative-seq", sel(kChangeSet, mp(bad_cs)));
    bad_cs["seq"] = 1.5;
    w.put("changes-float-seq", sel(kChangeSet, mp(bad_cs)));
    bad_cs = change_set_to_value(cs);
    bad_cs["ops"][0]["op"] = "explode";
    w.put("changes-unknown-op", sel(kChangeSet, mp(bad_cs)));
    bad_cs = change_set_to_value(cs);
    bad_cs["ops"][2].erase("after");
    w.put("changes-move-no-after", sel(kChangeSet, mp(bad_cs)));
    bad_cs = change_set_to_value(cs);
    bad_cs["device_id"] = "dev/1";
    w.put("changes-bad-device", sel(kChangeSet, mp(bad_cs)));
    Value bad_hello = hello_to_value(hello);
    bad_hello["protocol"] = 99;
    bad_hello["categories"] = {"addressbook", "hologram"};
    w.put("hello-future", sel(kHello, mp(bad_hello)));
    bad_hello["cached_users"] = {1, 2};
    w.put("hello-bad-users", sel(kHello, mp(bad_hello)));
    w.put("reply-unknown-reason", sel(kReply, mp({{"schema", kReplySchema},
                                                  {"kind", "join"},
                                                  {"accepted", false},
                                                  {"reason", "solar_flare"}})));
    w.put("reply-login-versions", sel(kReply, mp({{"schema", kReplySchema},
                                                  {"kind", "login"},
                                                  {"user", "alice"},
                                                  {"known", true},
                                                  {"versions", {{"home", -1}, {"nope", 3}}}})));
}

void topic_corpus(Writer& w) {
    const std::vector<std::pair<std::string, std::string>> topics = {
        {"user-doc", "pds/v1/users/alice/addressbook"},
        {"user-doc-escaped", "pds/v1/users/j%C3%B6rg/keychain"},
        {"user-doc-slash", "pds/v1/users/a%2Fb%2B%23/home"},
        {"shared-doc", "pds/v1/shared/guest-home"},
        {"hello", "pds/v1/devices/mfp-3/hello"},
        {"changes", "pds/v1/devices/mfp-3/changes"},
        {"events", "pds/v1/devices/mfp_3.x/events"},
        {"presence", "pds/v1/devices/mfp-3/presence"},
        {"inbox", "pds/v1/devices/mfp-3/inbox"},
        {"status", "pds/v1/server/status"},
        {"other-root", "fleet-b/pds/v1/devices/mfp-3/hello"},
        {"bad-escape", "pds/v1/users/a%2/home"},
        {"needless-escape", "pds/v1/users/%41lice/home"},
        {"nul-escape", "pds/v1/users/a%00b/home"},
        {"bad-utf8-escape", "pds/v1/users/%C3%28/home"},
        {"shared-under-users", "pds/v1/users/alice/guest-home"},
        {"personal-under-shared", "pds/v1/shared/addressbook"},
        {"wildcards", "pds/v1/devices/+/hello"},
        {"hash", "pds/v1/users/#"},
        {"empty-levels", "pds/v1//devices//hello"},
        {"trailing-slash", "pds/v1/server/status/"},
        {"root-only", "pds/v1/"},
        {"long-device", "pds/v1/devices/" + std::string(65, 'd') + "/hello"},
        {"long-user", "pds/v1/users/" + std::string(300, 'u') + "/home"},
        {"control", std::string("pds/v1/devices/a\x01/hello")},
    };
    for (const auto& [name, topic] : topics) w.put(name, topic);
}

std::string hello_bytes(const std::string& device, const std::string& epoch) {
    return mp(hello_to_value(sample_hello(device, epoch)));
}

void batch_corpus(Writer& w) {
    const uint8_t join1 = batch::kJoinDev1;
    const uint8_t both = batch::kJoinDev1 | batch::kJoinDev2;
    auto flags = [](uint8_t f) { return std::string(1, static_cast<char>(f)); };
    auto changes = [](const std::string& device, const std::string& epoch, uint64_t seq,
                      const std::string& user, Category c) {
        return mp(change_set_to_value(sample_change_set(device, epoch, seq, user, c)));
    };
    // Topic selectors: index into batch::kTopics.
    const uint8_t hello1 = 0, changes1 = 1, events1 = 2, presence1 = 3, hello2 = 4, changes2 = 5;

    {  // A device joins by itself, edits, logs in, goes offline.
        std::string in = flags(0);
        batch::append(in, hello1, hello_bytes("dev-1", "e1"));
        batch::append(in, presence1, mp(presence_to_value({"dev-1", true, 1})));
        batch::append(in, batch::kNewBatch | changes1,
                      changes("dev-1", "e1", 1, "alice", Category::addressbook));
        batch::append(in, events1, mp(event_to_value({"dev-1", EventKind::login, "alice", 2, {}})));
        batch::append(in, batch::kNewBatch | presence1, mp(presence_to_value({"dev-1", false, 3})));
        w.put("join-edit-login", in);
    }
    {  // Two devices edit the same document in one batch; a resend and a gap.
        std::string in = flags(both);
        batch::append(in, changes1, changes("dev-1", "e1", 1, "alice", Category::keychain));
        batch::append(in, changes2, changes("dev-2", "e2", 1, "alice", Category::keychain));
        batch::append(in, changes1, changes("dev-1", "e1", 1, "alice", Category::keychain));
        batch::append(in, changes2, changes("dev-2", "e2", 3, "alice", Category::keychain));
        w.put("two-devices", in);
    }
    {  // User limit 1: a second user evicts the first.
        std::string in = flags(join1 | (1 << batch::kUserLimitShift));
        batch::append(in, changes1, changes("dev-1", "e1", 1, "alice", Category::home));
        batch::append(in, batch::kNewBatch | changes1,
                      changes("dev-1", "e1", 2, "bob", Category::home));
        batch::append(in, changes1, changes("dev-1", "e1", 3, "carol", Category::prefs));
        w.put("user-limit-evicts", in);
    }
    {  // First merge: registration, then a second registration of the same document.
        std::string in = flags(both);
        ChangeSet reg = sample_change_set("dev-1", "e1", 1, "", Category::guest_home);
        reg.registers = true;
        reg.ops.resize(2);
        batch::append(in, changes1, mp(change_set_to_value(reg)));
        reg.device_id = "dev-2";
        reg.epoch = "e2";
        batch::append(in, batch::kNewBatch | changes2, mp(change_set_to_value(reg)));
        w.put("register-twice", in);
    }
    {  // Disabled category, machine limit, a re-join with a new epoch.
        std::string in = flags(batch::kFewCategories | batch::kMachineLimit2);
        batch::append(in, hello1, hello_bytes("dev-1", "e1"));
        batch::append(in, hello2, hello_bytes("dev-2", "e2"));
        batch::append(in, changes1, changes("dev-1", "e1", 1, "alice", Category::shortcuts));
        batch::append(in, batch::kNewBatch | hello1, hello_bytes("dev-1", "e9"));
        batch::append(in, changes1, changes("dev-1", "e9", 1, "alice", Category::addressbook));
        w.put("limits-and-epochs", in);
    }
    {  // Hostile payloads from a joined device.
        std::string in = flags(join1);
        batch::append(in, changes1, "\xC1");
        batch::append(in, changes1, nested_arrays(40));
        batch::append(in, changes1, "\xDB" + be32(0xFFFFFFFF) + "abc");
        batch::append(in, changes1, "\xD4\x01\x00"s);
        batch::append(in, changes1, "\x81\x01\xA1x");
        Value bad = change_set_to_value(
            sample_change_set("dev-1", "e1", 1, "alice", Category::addressbook));
        bad["category"] = "wallpaper";
        batch::append(in, changes1, mp(bad));
        bad["category"] = "addressbook";
        bad["user"] = "\xC3\x28";
        batch::append(in, changes1, mp(bad));
        bad["user"] = "alice";
        bad["ops"][0]["id"] = "";
        batch::append(in, changes1, mp(bad));
        bad["ops"][0]["id"] = "bob";
        bad["device_id"] = "dev-2";
        batch::append(in, changes1, mp(bad));
        Value h = hello_to_value(sample_hello("dev-1", "e1"));
        h["protocol"] = 2;
        batch::append(in, hello1, mp(h));
        h["protocol"] = 1;
        h["auth_digest"] = "00";
        batch::append(in, hello1, mp(h));
        batch::append(in, changes1, changes("dev-1", "e1", 1, "alice", Category::addressbook));
        w.put("hostile-payloads", in);
    }
    {  // Unknown and server-owned topics, retained, empty payloads.
        std::string in = flags(join1);
        batch::append(in, 8, encode_document(sample_document()));
        batch::append(in, batch::kRetained | 9, "");
        batch::append(in, 10, mp(reply_to_value(EvictNotice{{"alice"}})));
        batch::append(in, 11, "\x80");
        batch::append(in, batch::kRetained | presence1, "");
        batch::append_raw(in, 0, "pds/v1/devices/dev-9/changes",
                          changes("dev-9", "e9", 1, "alice", Category::addressbook));
        batch::append_raw(in, 0, "pds/v1/devices/../changes", "\x80");
        batch::append_raw(in, 0, "other/root/x", "\x80");
        w.put("odd-topics", in);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " CORPUS_DIR (tests/fuzz/corpus)\n";
        return 2;
    }
    fs::path root = argv[1];
    Writer payload(root / "fuzz_payload");
    payload_corpus(payload);
    Writer topic(root / "fuzz_topic");
    topic_corpus(topic);
    Writer server(root / "fuzz_server_batch");
    batch_corpus(server);
    for (const auto* w : {&payload, &topic, &server}) {
        std::cout << w->count() << " files, " << w->bytes() << " bytes\n";
    }
    return 0;
}
