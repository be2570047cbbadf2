// The MessagePack codec: bytes <-> Value with hard bounds (docs/protocol.md §6).
// Decoding never trusts its input: size, nesting depth, string, binary, array and map
// lengths are capped before anything is allocated, and every failure is an Error value.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "shared/base/result.hpp"
#include "shared/base/tuning.hpp"

namespace pdsync {

// The dynamic value every payload decodes to: maps with string keys, arrays, strings,
// binary, integers, floats, booleans, nil. nlohmann::json also gives us the JSON view
// for people (CLI, MQTT Explorer) for free.
using Value = nlohmann::json;

struct DecodeLimits {
    std::size_t max_bytes = tuning::codec::kMaxPayloadBytes;
    std::size_t max_depth = tuning::codec::kMaxDepth;
    std::size_t max_string = tuning::codec::kMaxStringBytes;
    std::size_t max_array = tuning::codec::kMaxArrayItems;
    std::size_t max_map = tuning::codec::kMaxMapItems;
    std::size_t max_items = tuning::codec::kMaxDecodedItems;  // all values of the payload together
};

// Decodes exactly one MessagePack value filling all of `bytes`. Map keys must be strings;
// extension types are refused. Errc::too_large for a bound, Errc::malformed otherwise.
[[nodiscard]] Result<Value> decode_msgpack(std::string_view bytes, const DecodeLimits& limits = {});

// Encodes a Value; Errc::too_large if the result would exceed limits.max_bytes.
[[nodiscard]] Result<std::string> encode_msgpack(const Value& value,
                                                 const DecodeLimits& limits = {});

// Encodes with no bound; for values the caller built itself and already bounded.
std::string encode_msgpack_unchecked(const Value& value);

}  // namespace pdsync
