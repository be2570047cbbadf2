// Bounded MessagePack decoding with msgpack-cxx (its unpack_limit caps lengths and depth
// before allocation), converted into Value; encoding through nlohmann's MessagePack writer.
#include "shared/codec.hpp"

#include <msgpack.hpp>

namespace pdsync {
namespace {

Result<Value> to_value(const msgpack::object& o, std::size_t depth, const DecodeLimits& limits) {
    if (depth > limits.max_depth)
        return make_error(Errc::too_large,
                          "nesting deeper than " + std::to_string(limits.max_depth));
    switch (o.type) {
        case msgpack::type::NIL:
            return Value(nullptr);
        case msgpack::type::BOOLEAN:
            return Value(o.via.boolean);
        case msgpack::type::POSITIVE_INTEGER:
            return Value(o.via.u64);
        case msgpack::type::NEGATIVE_INTEGER:
            return Value(o.via.i64);
        case msgpack::type::FLOAT32:
        case msgpack::type::FLOAT64:
            return Value(o.via.f64);
        case msgpack::type::STR:
            return Value(std::string(o.via.str.ptr, o.via.str.size));
        case msgpack::type::BIN: {
            const auto* p = reinterpret_cast<const std::uint8_t*>(o.via.bin.ptr);
            return Value::binary(std::vector<std::uint8_t>(p, p + o.via.bin.size));
        }
        case msgpack::type::ARRAY: {
            Value arr = Value::array();
            arr.get_ref<Value::array_t&>().reserve(o.via.array.size);
            for (uint32_t i = 0; i < o.via.array.size; ++i) {
                auto item = to_value(o.via.array.ptr[i], depth + 1, limits);
                if (!item) return item.error();
                arr.push_back(std::move(item).value());
            }
            return arr;
        }
        case msgpack::type::MAP: {
            Value map = Value::object();
            for (uint32_t i = 0; i < o.via.map.size; ++i) {
                const auto& kv = o.via.map.ptr[i];
                if (kv.key.type != msgpack::type::STR)
                    return make_error(Errc::malformed, "map key is not a string");
                auto item = to_value(kv.val, depth + 1, limits);
                if (!item) return item.error();
                map[std::string(kv.key.via.str.ptr, kv.key.via.str.size)] = std::move(item).value();
            }
            return map;
        }
        case msgpack::type::EXT:
            return make_error(Errc::malformed, "MessagePack extension types are not accepted");
    }
    return make_error(Errc::malformed, "unknown MessagePack type");
}

// Counts the values in a MessagePack stream by walking its headers, allocating nothing:
// msgpack-cxx's own limits bound each array and map, not their sum, so without this a
// 4 MiB payload of nested nil arrays would decode into millions of values (hundreds of
// MiB) before any bound applied. Stops counting past `max_items`; a truncated stream is
// left to the real decoder to report.
std::size_t count_items(std::string_view b, std::size_t max_items) {
    std::size_t items = 0;
    std::size_t i = 0;
    auto be = [&](std::size_t at, int n) {
        std::size_t v = 0;
        for (int k = 0; k < n; ++k) v = (v << 8) | static_cast<unsigned char>(b[at + k]);
        return v;
    };
    while (i < b.size() && items <= max_items) {
        auto t = static_cast<unsigned char>(b[i]);
        ++items;
        std::size_t skip = 0;  // bytes after the type byte
        if (t <= 0x7f || t >= 0xe0 || (t >= 0x80 && t <= 0x9f) || t == 0xc0 || t == 0xc2 ||
            t == 0xc3) {
            skip = 0;  // fixint, fixmap, fixarray, nil, bool: children follow inline
        } else if (t >= 0xa0 && t <= 0xbf) {
            skip = t & 0x1f;
        } else {
            auto need = [&](std::size_t n) { return i + 1 + n <= b.size(); };
            switch (t) {
                case 0xcc:
                case 0xd0:
                    skip = 1;
                    break;
                case 0xcd:
                case 0xd1:
                    skip = 2;
                    break;
                case 0xca:
                case 0xce:
                case 0xd2:
                    skip = 4;
                    break;
                case 0xcb:
                case 0xcf:
                case 0xd3:
                    skip = 8;
                    break;
                case 0xd4:
                    skip = 2;
                    break;
                case 0xd5:
                    skip = 3;
                    break;
                case 0xd6:
                    skip = 5;
                    break;
                case 0xd7:
                    skip = 9;
                    break;
                case 0xd8:
                    skip = 17;
                    break;
                case 0xc4:
                case 0xd9:
                    if (!need(1)) return items;
                    skip = 1 + be(i + 1, 1);
                    break;
                case 0xc5:
                case 0xda:
                    if (!need(2)) return items;
                    skip = 2 + be(i + 1, 2);
                    break;
                case 0xc6:
                case 0xdb:
                    if (!need(4)) return items;
                    skip = 4 + be(i + 1, 4);
                    break;
                case 0xc7:
                    if (!need(1)) return items;
                    skip = 2 + be(i + 1, 1);
                    break;
                case 0xc8:
                    if (!need(2)) return items;
                    skip = 3 + be(i + 1, 2);
                    break;
                case 0xc9:
                    if (!need(4)) return items;
                    skip = 5 + be(i + 1, 4);
                    break;
                case 0xdc:
                case 0xde:
                    skip = 2;
                    break;  // array16 / map16 headers
                case 0xdd:
                case 0xdf:
                    skip = 4;
                    break;  // array32 / map32 headers
                default:
                    return items;  // 0xc1 (never used): the decoder refuses it
            }
        }
        if (skip > b.size() - i - 1) return items;
        i += 1 + skip;
    }
    return items;
}

}  // namespace

Result<Value> decode_msgpack(std::string_view bytes, const DecodeLimits& limits) {
    if (bytes.empty()) return make_error(Errc::malformed, "empty payload");
    if (bytes.size() > limits.max_bytes) {
        return make_error(Errc::too_large, "payload of " + std::to_string(bytes.size()) +
                                               " bytes exceeds " +
                                               std::to_string(limits.max_bytes));
    }
    if (count_items(bytes, limits.max_items) > limits.max_items) {
        return make_error(Errc::too_large, "more than " + std::to_string(limits.max_items) +
                                               " values in one payload");
    }
    // Extension types get the string bound here so that they reach to_value(), which
    // refuses them as malformed (a 0 bound would report them as too_large).
    msgpack::unpack_limit limit(limits.max_array, limits.max_map, limits.max_string,
                                limits.max_string, limits.max_string, limits.max_depth);
    try {
        std::size_t offset = 0;
        msgpack::object_handle handle =
            msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
        if (offset != bytes.size())
            return make_error(Errc::malformed, "trailing bytes after the MessagePack value");
        return to_value(handle.get(), 0, limits);
    } catch (const msgpack::size_overflow& e) {
        return make_error(Errc::too_large, std::string("MessagePack bound exceeded: ") + e.what());
    } catch (const msgpack::insufficient_bytes&) {
        return make_error(Errc::malformed, "truncated MessagePack");
    } catch (const std::bad_alloc&) {
        return make_error(Errc::too_large, "MessagePack value too large to allocate");
    } catch (const std::exception& e) {
        return make_error(Errc::malformed, std::string("invalid MessagePack: ") + e.what());
    }
}

std::string encode_msgpack_unchecked(const Value& value) {
    std::string out;
    Value::to_msgpack(value, nlohmann::detail::output_adapter<char>(out));
    return out;
}

Result<std::string> encode_msgpack(const Value& value, const DecodeLimits& limits) {
    std::string out = encode_msgpack_unchecked(value);
    if (out.size() > limits.max_bytes) {
        return make_error(Errc::too_large, "encoded document of " + std::to_string(out.size()) +
                                               " bytes exceeds " +
                                               std::to_string(limits.max_bytes));
    }
    return out;
}

}  // namespace pdsync
