// The wall clock and random source a core uses, passed in so that a unit test can fix
// them: ClientCore and ServerCore read time and randomness only through an Environment.
// The defaults are the real ones, now_ms() (shared/clock.hpp) and random_hex()
// (shared/base/hex.hpp).
//
//   Environment fixed{[] { return int64_t{1'700'000'000'000}; },
//                     [](std::size_t n) { return std::string(2 * n, 'a'); }};
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "shared/base/hex.hpp"
#include "shared/clock.hpp"

namespace pdsync {

struct Environment {
    std::function<int64_t()> wall_ms = [] { return now_ms(); };
    std::function<std::string(std::size_t bytes)> random_hex = [](std::size_t n) {
        return pdsync::random_hex(n);
    };
};

}  // namespace pdsync
