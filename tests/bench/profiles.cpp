// Deterministic user documents of realistic shape (see profiles.hpp).
#include "tests/bench/profiles.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <functional>

#include "shared/clock.hpp"
#include "shared/codec.hpp"

namespace pdsync::bench {
namespace {

// splitmix64: a tiny deterministic generator, so every run builds the same bytes.
class Rng {
  public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    template <std::size_t N>
    const char* pick(const std::array<const char*, N>& words) {
        return words[below(N)];
    }
    std::string digits(std::size_t n) {
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + below(10)));
        return s;
    }
    std::string base64(std::size_t n) {
        static constexpr char kAlphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s.push_back(kAlphabet[below(64)]);
        return s;
    }
    std::string hex(std::size_t n) {
        static constexpr char kHex[] = "0123456789abcdef";
        std::string s;
        for (std::size_t i = 0; i < n; ++i) s.push_back(kHex[below(16)]);
        return s;
    }

  private:
    uint64_t state_;
};

constexpr std::array<const char*, 12> kSurnames = {"Yamada",    "Suzuki",    "Tanaka", "Watanabe",
                                                   "Schneider", "Martin",    "Garcia", "Rossi",
                                                   "Nakamura",  "Kobayashi", "Okafor", "Lindqvist"};
constexpr std::array<const char*, 10> kGiven = {"Taro",  "Hanako", "Kenji", "Yuki",  "Anna",
                                                "Lukas", "Chloe",  "Marco", "Amara", "Erik"};
constexpr std::array<const char*, 8> kReadings = {
    "ヤマダ タロウ",   "スズキ ハナコ",   "タナカ ケンジ",     "ワタナベ ユキ",
    "ナカムラ アンナ", "コバヤシ エリク", "オカフォー アマラ", "リンドクヴィスト"};
constexpr std::array<const char*, 6> kCompanies = {"Example Trading Co., Ltd. Osaka Branch",
                                                   "Northwind Logistics GmbH",
                                                   "Contoso Engineering K.K.",
                                                   "Fabrikam Medical Supplies",
                                                   "Tailspin Architects & Partners LLP",
                                                   "Wide World Importers (Asia Pacific)"};
constexpr std::array<const char*, 6> kDepartments = {
    "Procurement Section 3", "Accounts Payable", "Design Office East",
    "Quality Assurance",     "General Affairs",  "Legal and Compliance"};
constexpr std::array<const char*, 8> kWords = {"invoices", "please",    "scan",      "monthly",
                                               "contract", "originals", "reception", "weekday"};

std::string sized_note(Rng& rng, std::size_t bytes) {
    std::string s;
    while (s.size() < bytes) {
        if (!s.empty()) s.push_back(' ');
        s += rng.pick(kWords);
    }
    s.resize(bytes);
    return s;
}

std::string numbered(const char* prefix, std::size_t index) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%04zu", prefix, index);
    return buf;
}

uint64_t seed_of(const std::string& user, int category, std::size_t index, uint64_t variant) {
    return std::hash<std::string>{}(user) ^ (static_cast<uint64_t>(category) << 56) ^
           (index * 0x100000001B3ull) ^ (variant * 0xC2B2AE3D27D4EB4Full);
}

Value button_fields(Rng& rng, std::size_t i) {
    return {{"label", numbered("Scan to my folder ", i)},
            {"function", i % 3 == 0 ? "copy" : (i % 3 == 1 ? "scan-send" : "fax")},
            {"icon", numbered("icon-", rng.below(40))},
            {"settings",
             {{"color_mode", "auto"},
              {"resolution", "300x300"},
              {"duplex", "long-edge"},
              {"file_format", "pdf"},
              {"compact", true},
              {"ocr", rng.below(2) == 1},
              {"file_name", "scan_{date}_{n}"},
              {"destinations", {address_id(i), address_id(i + 1)}},
              {"density", static_cast<int>(rng.below(9)) - 4},
              {"original_type", "text-photo"},
              {"size", "auto"}}}};
}

Value shortcut_fields(Rng& rng, std::size_t i) {
    return {{"label", numbered("Expense form ", i)},
            {"app", i % 2 == 0 ? "web-browser" : "print"},
            {"target", "https://intranet.corp.example/forms/expense-" + rng.digits(6)},
            {"options", {{"copies", 1}, {"n_up", "2in1"}, {"staple", "top-left"}}}};
}

Value keychain_fields(Rng& rng, std::size_t i) {
    return {{"label", numbered("File server ", i)},
            {"protocol", i % 3 == 0 ? "webdav" : "smb"},
            {"host", "fs" + rng.digits(2) + ".corp.example"},
            {"port", i % 3 == 0 ? 443 : 445},
            {"domain", "CORP"},
            {"user", rng.pick(kSurnames)},
            {"password", rng.base64(64)},
            {"verify_cert", true}};
}

Value tile_fields(std::size_t i) {
    constexpr std::array<const char*, 6> kApps = {"copy",  "scan-send", "fax",
                                                  "print", "box",       "web-browser"};
    return {{"app", kApps[i % kApps.size()]},
            {"page", static_cast<int>(i / 12) + 1},
            {"row", static_cast<int>(i % 12) / 4},
            {"col", static_cast<int>(i % 4)},
            {"size", "1x1"},
            {"label", ""}};
}

constexpr std::array<const char*, 25> kPrefNames = {
    "language",   "keyboard_layout", "default_function", "copy.color",      "copy.duplex",
    "copy.n_up",  "scan.resolution", "scan.format",      "scan.color",      "fax.resolution",
    "fax.ecm",    "print.hold",      "display.contrast", "display.timeout", "sound.keys",
    "sound.done", "units",           "date_format",      "time_format",     "home.page",
    "recent.max", "notify.email",    "accessibility",    "quick_menu",      "energy_saver"};

using FieldsFn = std::function<Value(Rng&, std::size_t)>;

Document make_document(const std::string& user, Category c, std::size_t n, uint64_t version,
                       int64_t updated_at, const std::function<std::string(std::size_t)>& id,
                       const FieldsFn& fields) {
    Document doc;
    doc.user = user;
    doc.category = c;
    doc.version = version;
    doc.updated_at = updated_at;
    doc.entries.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        Rng rng(seed_of(user, static_cast<int>(c), i, 0));
        doc.entries.push_back(Entry{id(i), version, false, fields(rng, i), Value::object()});
    }
    return doc;
}

}  // namespace

std::string user_id(std::size_t index) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "u%06zu@corp.example", index);
    return buf;
}

std::string address_id(std::size_t index) {
    return numbered("ab-", index);
}

std::string pref_id(std::size_t index) {
    return std::string("pref-") + kPrefNames[index % kPrefNames.size()];
}

Value address_fields(std::size_t index, uint64_t variant) {
    Rng rng(seed_of("address", 0, index, variant));
    std::string surname = rng.pick(kSurnames);
    std::string given = rng.pick(kGiven);
    std::string lower = given + "." + surname + "." + rng.digits(4);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    static constexpr std::array<const char*, 3> kTypes = {"email", "fax", "file"};
    return {{"type", kTypes[index % kTypes.size()]},
            {"name", surname + " " + given},
            {"reading", rng.pick(kReadings)},
            {"index_key", surname.substr(0, 2)},
            {"company", rng.pick(kCompanies)},
            {"department", rng.pick(kDepartments)},
            {"title", "Assistant Manager"},
            {"email", lower + "@partner-example.co.jp"},
            {"phone", "+81-6-5555-" + rng.digits(4)},
            {"mobile", "+81-90-" + rng.digits(4) + "-" + rng.digits(4)},
            {"fax",
             {{"number", "+81-6-5555-" + rng.digits(4)},
              {"ecm", true},
              {"speed", "33.6k"},
              {"subaddress", ""},
              {"line", 1}}},
            {"file",
             {{"protocol", "smb"},
              {"host", "fs" + rng.digits(2) + ".branch.corp.example"},
              {"path", "\\\\fs03\\scan\\" + surname + "\\" + rng.digits(6)},
              {"user", "CORP\\" + surname},
              {"password", rng.base64(64)},
              {"port", 445}}},
            {"certificate_sha256", rng.hex(64)},
            {"access_number", static_cast<int>(rng.below(10000))},
            {"favorite", rng.below(5) == 0},
            {"created_by", "mfp-3f-east"},
            {"note", sized_note(rng, 240)}};
}

Value pref_fields(std::size_t index, uint64_t variant) {
    Rng rng(seed_of("pref", 0, index, variant));
    return {{"key", kPrefNames[index % kPrefNames.size()]},
            {"value", std::string(rng.pick(kWords)) + "-" + rng.digits(3)}};
}

std::vector<Document> user_documents(const std::string& user, Profile profile, uint64_t version,
                                     int64_t updated_at) {
    bool full = profile == Profile::realistic;
    auto counted = [&](const char* prefix) {
        return [prefix](std::size_t i) { return numbered(prefix, i); };
    };
    std::vector<Document> docs;
    docs.push_back(make_document(user, Category::addressbook, full ? 200 : 3, version, updated_at,
                                 address_id,
                                 [](Rng&, std::size_t i) { return address_fields(i, 0); }));
    docs.push_back(make_document(user, Category::buttons, full ? 20 : 2, version, updated_at,
                                 counted("btn-"), button_fields));
    docs.push_back(make_document(user, Category::shortcuts, full ? 20 : 1, version, updated_at,
                                 counted("sc-"), shortcut_fields));
    docs.push_back(make_document(user, Category::keychain, full ? 10 : 1, version, updated_at,
                                 counted("key-"), keychain_fields));
    docs.push_back(make_document(user, Category::home, full ? 24 : 6, version, updated_at,
                                 counted("tile-"),
                                 [](Rng&, std::size_t i) { return tile_fields(i); }));
    docs.push_back(make_document(user, Category::prefs, full ? 25 : 5, version, updated_at, pref_id,
                                 [](Rng&, std::size_t i) { return pref_fields(i, 0); }));
    return docs;
}

ChangeOp edit_op(Category category, std::size_t entry, uint64_t variant) {
    ChangeOp op;
    op.kind = OpKind::put;
    if (category == Category::prefs) {
        op.id = pref_id(entry);
        op.fields = pref_fields(entry, variant);
    } else {
        op.id = address_id(entry);
        op.fields = address_fields(entry, variant);
    }
    return op;
}

ChangeSet registration(const Document& doc, const std::string& device_id, const std::string& epoch,
                       uint64_t seq) {
    ChangeSet cs;
    cs.device_id = device_id;
    cs.epoch = epoch;
    cs.seq = seq;
    cs.user = doc.user;
    cs.category = doc.category;
    cs.registers = true;
    for (const auto* e : doc.live_entries())
        cs.ops.push_back(ChangeOp{OpKind::put, e->id, e->fields, 0, std::nullopt});
    return cs;
}

std::string change_set_bytes(const std::string& user, Category c, std::size_t entry) {
    ChangeSet cs;
    cs.device_id = "sim-0000";
    cs.epoch = "0123456789abcdef";
    cs.seq = 1;
    cs.user = user;
    cs.category = c;
    cs.created_at = now_ms();
    cs.ops = {edit_op(c, entry, 1)};
    return encode_msgpack_unchecked(change_set_to_value(cs));
}

}  // namespace pdsync::bench
