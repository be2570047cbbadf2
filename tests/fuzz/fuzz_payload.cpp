// libFuzzer target: every decoder that reads a payload off the network. The first input
// byte picks the decoder (modulo kDecoders); the rest is the payload as the broker would
// deliver it. Besides "never crash, never throw", it checks what the decoders promise:
//  - decode_msgpack keeps its bounds (depth, string, array and map sizes), also with tight
//    limits, and fails only with malformed or too_large;
//  - what decodes re-encodes to a canonical form that decodes again to the same bytes;
//  - a message that decodes survives to_value -> from_value unchanged (idempotence of the
//    normalized form), so a node never emits something its peers refuse;
//  - the merge rules applied to a decoded change set leave a valid document;
//  - the byte-level walk (split_document) never reads past its input, agrees with the
//    codec on what encode_document writes, and a delta made from those bytes applied to
//    the document's older copy gives the same bytes again.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "shared/codec.hpp"
#include "shared/document.hpp"
#include "shared/document_bytes.hpp"
#include "shared/document_delta.hpp"
#include "shared/merge.hpp"
#include "shared/messages.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace pdsync;

namespace {

enum Decoder : uint8_t {
    kCodecOnly,
    kDocument,
    kChangeSet,
    kHello,
    kEvent,
    kPresence,
    kReply,
    kDecoders
};

std::string hex_prefix(std::string_view bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < bytes.size() && i < 64; ++i) {
        auto c = static_cast<unsigned char>(bytes[i]);
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
    return out;
}

// Walks a decoded value and checks it keeps `limits`: the root is at depth 0 and no
// value sits deeper than max_depth.
void check_bounds(const Value& v, const DecodeLimits& limits, std::size_t depth) {
    PDS_FUZZ_CHECK(depth <= limits.max_depth, "depth " + std::to_string(depth));
    if (v.is_string()) {
        PDS_FUZZ_CHECK(v.get_ref<const std::string&>().size() <= limits.max_string,
                       "string of " + std::to_string(v.get_ref<const std::string&>().size()));
    } else if (v.is_binary()) {
        PDS_FUZZ_CHECK(v.get_binary().size() <= limits.max_string,
                       "binary of " + std::to_string(v.get_binary().size()));
    } else if (v.is_array()) {
        PDS_FUZZ_CHECK(v.size() <= limits.max_array, "array of " + std::to_string(v.size()));
        for (const auto& item : v) check_bounds(item, limits, depth + 1);
    } else if (v.is_object()) {
        PDS_FUZZ_CHECK(v.size() <= limits.max_map, "map of " + std::to_string(v.size()));
        for (auto it = v.begin(); it != v.end(); ++it) {
            PDS_FUZZ_CHECK(it.key().size() <= limits.max_string, "key too long");
            check_bounds(it.value(), limits, depth + 1);
        }
    }
}

void check_error(const Error& e, std::string_view bytes) {
    PDS_FUZZ_CHECK(e.code == Errc::malformed || e.code == Errc::too_large,
                   std::string("decode_msgpack failed with ") + std::string(errc_name(e.code)) +
                       " for " + hex_prefix(bytes));
    PDS_FUZZ_CHECK(!e.message.empty(), "an error without a message");
}

// The codec: bounds and canonical re-encoding. Returns the decoded value, if any.
Result<Value> check_codec(std::string_view bytes) {
    // Tight limits: a small input must not slip past them.
    DecodeLimits tight;
    tight.max_bytes = 512;
    tight.max_depth = 3;
    tight.max_string = 8;
    tight.max_array = 4;
    tight.max_map = 4;
    auto small = decode_msgpack(bytes, tight);
    if (small) {
        check_bounds(*small, tight, 0);
    } else {
        check_error(small.error(), bytes);
    }

    auto v = decode_msgpack(bytes);
    if (!v) {
        check_error(v.error(), bytes);
        PDS_FUZZ_CHECK(!small,
                       "tight limits accepted what default limits refused: " + hex_prefix(bytes));
        return v;
    }
    check_bounds(*v, DecodeLimits{}, 0);
    std::string once = encode_msgpack_unchecked(*v);
    if (once.size() <= tuning::codec::kMaxPayloadBytes) {
        auto again = decode_msgpack(once);
        PDS_FUZZ_CHECK(again.ok(), "the re-encoded value does not decode: " +
                                       (again ? std::string() : again.error().message));
        PDS_FUZZ_CHECK(encode_msgpack_unchecked(*again) == once,
                       "re-encoding is not canonical for " + hex_prefix(bytes));
    }
    return v;
}

std::string bytes_of(const Value& v) {
    return encode_msgpack_unchecked(v);
}

// from_value(to_value(from_value(v))) must succeed and give the same normalized value.
template <typename T, typename From, typename To>
void check_message(const Value& v, From from, To to, const char* what) {
    Result<T> first = from(v);
    if (!first) {
        PDS_FUZZ_CHECK(first.code() != Errc::ok, std::string(what) + ": error with code ok");
        return;
    }
    Value normal = to(*first);
    Result<T> second = from(normal);
    PDS_FUZZ_CHECK(second.ok(), std::string(what) + ": its own encoding is refused: " +
                                    (second ? std::string() : second.error().message));
    PDS_FUZZ_CHECK(bytes_of(to(*second)) == bytes_of(normal),
                   std::string(what) + ": to_value/from_value is not idempotent");
}

// split_document and assemble_document against the codec, and a delta from version 0:
// the older copy holds the entries at rev 0, the delta every other one.
void check_document_bytes(const Document& doc, const std::string& wire) {
    auto split = split_document(wire);
    PDS_FUZZ_CHECK(split.ok(), "encode_document output does not split: " +
                                   (split ? std::string() : split.error().message));
    PDS_FUZZ_CHECK(split->entries.size() == doc.entries.size(), "split lost entries");
    std::vector<std::string_view> entries;
    for (const auto& e : split->entries) entries.push_back(e.bytes);
    PDS_FUZZ_CHECK(assemble_document(document_head_to_value(doc), entries) == wire,
                   "assemble_document differs from encode_document");
    if (doc.version == 0) return;
    Document older = doc;
    older.version = 0;
    std::erase_if(older.entries, [](const Entry& e) { return e.rev > 0; });
    auto delta = make_delta(wire, 0, SIZE_MAX);
    const bool past_version = std::any_of(doc.entries.begin(), doc.entries.end(),
                                          [&](const Entry& e) { return e.rev > doc.version; });
    if (past_version) {
        PDS_FUZZ_CHECK(!delta.ok(), "a delta from a document with an entry past its version");
        return;
    }
    PDS_FUZZ_CHECK(delta.ok() && delta->has_value(), "no delta from version 0");
    auto applied = apply_delta(encode_document(older), **delta, doc.key());
    PDS_FUZZ_CHECK(applied.ok(), "a delta does not apply to its own older copy: " +
                                     (applied ? std::string() : applied.error().message));
    PDS_FUZZ_CHECK(*applied == wire, "a delta applied gives other bytes");
}

void check_document(const Value& v) {
    check_message<Document>(v, document_from_value, document_to_value, "document");
    auto doc = document_from_value(v);
    if (!doc) return;
    // The wire form (what the server stores and publishes) decodes with the codec bounds.
    std::string wire = encode_document(*doc);
    if (wire.size() <= tuning::codec::kMaxPayloadBytes) {
        auto back = decode_document(wire);
        PDS_FUZZ_CHECK(back.ok(), "encode_document output does not decode: " +
                                      (back ? std::string() : back.error().message));
        check_document_bytes(*doc, wire);
    }
}

void check_change_set(const Value& v) {
    check_message<ChangeSet>(v, change_set_from_value, change_set_to_value, "change set");
    auto cs = change_set_from_value(v);
    if (!cs) return;
    PDS_FUZZ_CHECK(cs->seq >= 1, "seq 0 accepted");
    PDS_FUZZ_CHECK(!cs->epoch.empty(), "empty epoch accepted");
    for (const auto& op : cs->ops) {
        PDS_FUZZ_CHECK(validate_entry_id(op.id).ok(), "op with an invalid entry id accepted");
    }
    // What the server does with it: the merged document must still be a valid document
    // (unique entry ids, valid ids), once fresh and once applied twice.
    Document doc;
    doc.user = cs->user;
    doc.category = cs->category;
    (void)apply_ops(doc, cs->ops, 1);
    (void)apply_ops(doc, cs->ops, 2);
    doc.version = 2;
    prune_tombstones(doc, 2);
    auto back = document_from_value(document_to_value(doc));
    PDS_FUZZ_CHECK(back.ok(), "a merged document is refused: " +
                                  (back ? std::string() : back.error().message));
    Document reg = document_from_registration(*cs, 1, 0);
    auto reg_back = document_from_value(document_to_value(reg));
    PDS_FUZZ_CHECK(reg_back.ok(), "a registered document is refused: " +
                                      (reg_back ? std::string() : reg_back.error().message));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    auto which = static_cast<Decoder>(data[0] % kDecoders);
    std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    (void)split_document(bytes);  // any bytes: refused or split, never read past
    auto v = check_codec(bytes);
    if (!v) return 0;
    switch (which) {
        case kCodecOnly:
        case kDecoders:
            break;
        case kDocument:
            check_document(*v);
            break;
        case kChangeSet:
            check_change_set(*v);
            break;
        case kHello:
            check_message<Hello>(*v, hello_from_value, hello_to_value, "hello");
            break;
        case kEvent:
            check_message<DeviceEvent>(*v, event_from_value, event_to_value, "event");
            break;
        case kPresence:
            check_message<Presence>(*v, presence_from_value, presence_to_value, "presence");
            break;
        case kReply:
            check_message<Reply>(*v, reply_from_value, reply_to_value, "reply");
            break;
    }
    return 0;
}
