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

}  // namespace

Result<Value> decode_msgpack(std::string_view bytes, const DecodeLimits& limits) {
    if (bytes.empty()) return make_error(Errc::malformed, "empty payload");
    if (bytes.size() > limits.max_bytes) {
        return make_error(Errc::too_large, "payload of " + std::to_string(bytes.size()) +
                                               " bytes exceeds " +
                                               std::to_string(limits.max_bytes));
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
