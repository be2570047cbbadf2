// Small typed readers over a decoded map. Decoders use them so a field of the wrong type
// is an Errc::malformed error naming the field, never an exception or a silent default.
#pragma once

#include <cstdint>
#include <string>

#include "shared/base/result.hpp"
#include "shared/codec.hpp"

namespace pdsync::field {

[[nodiscard]] Result<std::string> str(const Value& map, const char* key);
[[nodiscard]] Result<uint64_t> u64(const Value& map, const char* key);
[[nodiscard]] Result<int64_t> i64(const Value& map, const char* key);
[[nodiscard]] Result<bool> boolean(const Value& map, const char* key);
// Optional variants: the default when absent (or nil), an error when present but wrong.
[[nodiscard]] Result<std::string> str_or(const Value& map, const char* key, std::string dflt);
[[nodiscard]] Result<uint64_t> u64_or(const Value& map, const char* key, uint64_t dflt);
[[nodiscard]] Result<int64_t> i64_or(const Value& map, const char* key, int64_t dflt);
[[nodiscard]] Result<bool> boolean_or(const Value& map, const char* key, bool dflt);
// Checks `schema` equals the expected value.
[[nodiscard]] Status schema(const Value& map, std::string_view expected);

}  // namespace pdsync::field
