// split_document and assemble_document: a bounds-checked walk over MessagePack headers.
// It only steps over values (no allocation per value), which is what makes a stale
// login's delta and the server's re-encode cost what changed rather than the document.
#include "shared/document_bytes.hpp"

#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "shared/document.hpp"

namespace pdsync {
namespace {

Error bad(const char* what) {
    return make_error(Errc::malformed, std::string("document bytes: ") + what);
}

// A cursor over MessagePack bytes; every read checks the end first.
class Reader {
  public:
    explicit Reader(std::string_view b) : b_(b) {}
    std::size_t pos() const { return pos_; }
    bool done() const { return pos_ == b_.size(); }
    std::string_view slice(std::size_t from) const { return b_.substr(from, pos_ - from); }

    bool take(std::size_t n) {
        if (b_.size() - pos_ < n) return false;
        pos_ += n;
        return true;
    }
    bool uint_be(std::size_t n, uint64_t& out) {
        if (b_.size() - pos_ < n) return false;
        out = 0;
        for (std::size_t i = 0; i < n; ++i)
            out = (out << 8) | static_cast<unsigned char>(b_[pos_ + i]);
        pos_ += n;
        return true;
    }
    bool byte(uint8_t& out) {
        if (done()) return false;
        out = static_cast<uint8_t>(b_[pos_++]);
        return true;
    }
    // A map's or array's item count, when the next value is one.
    bool container(bool map, uint64_t& n) {
        uint8_t t = 0;
        if (!byte(t)) return false;
        if (map && (t & 0xF0) == 0x80) return n = t & 0x0F, true;
        if (!map && (t & 0xF0) == 0x90) return n = t & 0x0F, true;
        if (t == (map ? 0xDE : 0xDC)) return uint_be(2, n);
        if (t == (map ? 0xDF : 0xDD)) return uint_be(4, n);
        return false;
    }
    bool str(std::string_view& out) {
        uint8_t t = 0;
        uint64_t n = 0;
        if (!byte(t)) return false;
        if ((t & 0xE0) == 0xA0) {
            n = t & 0x1F;
        } else if (t == 0xD9 || t == 0xDA || t == 0xDB) {
            if (!uint_be(t == 0xD9 ? 1 : t == 0xDA ? 2 : 4, n)) return false;
        } else {
            return false;
        }
        if (b_.size() - pos_ < n) return false;
        out = b_.substr(pos_, n);
        pos_ += n;
        return true;
    }
    bool unsigned_int(uint64_t& out) {
        uint8_t t = 0;
        if (!byte(t)) return false;
        if (t <= 0x7F) return out = t, true;
        if (t >= 0xCC && t <= 0xCF) return uint_be(std::size_t{1} << (t - 0xCC), out);
        if (t >= 0xD0 && t <= 0xD3) {  // a signed form holding a value >= 0
            std::size_t n = std::size_t{1} << (t - 0xD0);
            if (!uint_be(n, out)) return false;
            return (out >> (n * 8 - 1)) == 0;
        }
        return false;
    }
    // Steps over one whole value, nested ones included, without recursion.
    bool skip() {
        uint64_t pending = 1;
        while (pending > 0) {
            --pending;
            uint8_t t = 0;
            uint64_t n = 0;
            if (!byte(t)) return false;
            if (t <= 0x7F || t >= 0xE0 || (t >= 0xC0 && t <= 0xC3 && t != 0xC1)) continue;
            if ((t & 0xF0) == 0x80) {
                pending += 2 * static_cast<uint64_t>(t & 0x0F);
            } else if ((t & 0xF0) == 0x90) {
                pending += t & 0x0F;
            } else if ((t & 0xE0) == 0xA0) {
                if (!take(t & 0x1F)) return false;
            } else if (t == 0xC4 || t == 0xD9) {
                if (!uint_be(1, n) || !take(n)) return false;
            } else if (t == 0xC5 || t == 0xDA) {
                if (!uint_be(2, n) || !take(n)) return false;
            } else if (t == 0xC6 || t == 0xDB) {
                if (!uint_be(4, n) || !take(n)) return false;
            } else if (t == 0xCA) {
                if (!take(4)) return false;
            } else if (t == 0xCB) {
                if (!take(8)) return false;
            } else if (t >= 0xCC && t <= 0xCF) {
                if (!take(std::size_t{1} << (t - 0xCC))) return false;
            } else if (t >= 0xD0 && t <= 0xD3) {
                if (!take(std::size_t{1} << (t - 0xD0))) return false;
            } else if (t == 0xDC || t == 0xDE) {
                if (!uint_be(2, n)) return false;
                pending += t == 0xDE ? 2 * n : n;
            } else if (t == 0xDD || t == 0xDF) {
                if (!uint_be(4, n)) return false;
                pending += t == 0xDF ? 2 * n : n;
            } else {
                return false;  // 0xC1 and the extension types, which documents never hold
            }
            // Every item takes at least one byte: a count beyond what is left is a lie.
            if (pending > b_.size() - pos_) return false;
        }
        return true;
    }

  private:
    std::string_view b_;
    std::size_t pos_ = 0;
};

Result<EntryBytes> read_entry(Reader& r) {
    EntryBytes e;
    const std::size_t start = r.pos();
    uint64_t keys = 0;
    if (!r.container(true, keys)) return bad("an entry is not a map");
    bool has_id = false;
    for (uint64_t k = 0; k < keys; ++k) {
        std::string_view key;
        if (!r.str(key)) return bad("an entry key is not a string");
        if (key == "id") {
            if (!r.str(e.id)) return bad("an entry id is not a string");
            has_id = true;
        } else if (key == "rev") {
            if (!r.unsigned_int(e.rev)) return bad("an entry rev is not an unsigned integer");
        } else if (!r.skip()) {
            return bad("an entry value is cut short");
        }
    }
    if (!has_id) return bad("an entry has no id");
    e.bytes = r.slice(start);
    return e;
}

// MessagePack container headers exactly as nlohmann::json writes them: the fix form up to
// 15 items, then the 16- and 32-bit forms, big-endian.
void put_header(std::string& out, std::size_t n, uint8_t fix, uint8_t code16, uint8_t code32) {
    if (n <= 15) {
        out.push_back(static_cast<char>(fix | n));
    } else if (n <= 0xFFFF) {
        out.push_back(static_cast<char>(code16));
        out.push_back(static_cast<char>((n >> 8) & 0xFF));
        out.push_back(static_cast<char>(n & 0xFF));
    } else {
        out.push_back(static_cast<char>(code32));
        for (int shift = 24; shift >= 0; shift -= 8)
            out.push_back(static_cast<char>((n >> shift) & 0xFF));
    }
}

}  // namespace

Result<SplitDocument> split_document(std::string_view bytes) {
    Reader r(bytes);
    SplitDocument out;
    uint64_t keys = 0;
    if (!r.container(true, keys)) return bad("not a map");
    for (uint64_t k = 0; k < keys; ++k) {
        std::string_view key;
        if (!r.str(key)) return bad("a key is not a string");
        if (key != "entries") {
            const std::size_t start = r.pos();
            if (!r.skip()) return bad("a value is cut short");
            out.head.emplace_back(key, r.slice(start));
            continue;
        }
        uint64_t n = 0;
        if (!r.container(false, n)) return bad("'entries' is not an array");
        if (n > bytes.size()) return bad("'entries' counts more items than there are bytes");
        out.entries.reserve(n);
        for (uint64_t i = 0; i < n; ++i) {
            PDS_TRY(EntryBytes e, read_entry(r));
            out.entries.push_back(e);
        }
    }
    if (!r.done()) return bad("bytes after the document");
    return out;
}

Result<Value> head_value(const SplitDocument& split) {
    Value head = Value::object();
    for (const auto& [key, value] : split.head) {
        PDS_TRY(Value v, decode_msgpack(value));
        head[std::string(key)] = std::move(v);
    }
    return head;
}

Result<DocumentHead> check_document_bytes(std::string_view bytes, std::string_view checked) {
    if (bytes.size() > tuning::codec::kMaxPayloadBytes)
        return make_error(Errc::too_large, "document bytes: over the payload bound");
    PDS_TRY(SplitDocument split, split_document(bytes));
    if (split.entries.size() > tuning::codec::kMaxArrayItems)
        return make_error(Errc::too_large, "document bytes: too many entries");
    // The head's rules are document_from_value's, on the head with no entries.
    PDS_TRY(Value head, head_value(split));
    head["entries"] = Value::array();
    PDS_TRY(Document doc, document_from_value(head));

    std::unordered_map<std::string_view, std::string_view> known;
    if (auto before = split_document(checked)) {
        known.reserve(before->entries.size());
        for (const auto& e : before->entries) known.emplace(e.id, e.bytes);
    }
    // An entry sits two levels below the document: decoded alone, it keeps that depth.
    DecodeLimits entry_limits;
    entry_limits.max_depth = tuning::codec::kMaxDepth - 2;
    std::unordered_set<std::string_view> seen;
    seen.reserve(split.entries.size());
    for (const auto& e : split.entries) {
        if (!seen.insert(e.id).second)
            return make_error(Errc::bad_entry, "duplicate entry id '" + std::string(e.id) + "'");
        if (auto k = known.find(e.id); k != known.end() && k->second == e.bytes) continue;
        PDS_TRY(Entry checked_entry, decode_entry(e.bytes, entry_limits));
        (void)checked_entry;
    }
    return DocumentHead{doc.user, doc.category, doc.version};
}

std::string assemble_document(const Value& head, const std::vector<std::string_view>& entries) {
    std::size_t total = 256;
    for (auto e : entries) total += e.size();
    Value keys = head;
    keys["entries"] = nullptr;  // its place in the key order; the value is written below
    std::string out;
    out.reserve(total);
    put_header(out, keys.size(), 0x80, 0xDE, 0xDF);
    for (auto it = keys.begin(); it != keys.end(); ++it) {
        out += encode_msgpack_unchecked(Value(it.key()));
        if (it.key() != "entries") {
            out += encode_msgpack_unchecked(it.value());
            continue;
        }
        put_header(out, entries.size(), 0x90, 0xDC, 0xDD);
        for (auto e : entries) out.append(e.data(), e.size());
    }
    return out;
}

}  // namespace pdsync
