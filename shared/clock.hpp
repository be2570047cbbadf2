// The wall clock. Merge results never depend on these clocks (versions and revs
// come from the server's counter); timestamps are for people and for LRU order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "shared/base/hex.hpp"

namespace pdsync {

int64_t now_ms();  // milliseconds since the Unix epoch

// The wall clock and random source a core uses, passed in so a unit test can fix them
// (ClientCore, ServerCore). The defaults are the real ones: now_ms() and random_hex()
// (shared/base/hex.hpp).
struct Environment {
    std::function<int64_t()> wall_ms = [] { return now_ms(); };
    std::function<std::string(std::size_t bytes)> random_hex = [](std::size_t n) {
        return pdsync::random_hex(n);
    };
};

}  // namespace pdsync
