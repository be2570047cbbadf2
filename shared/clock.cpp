// Wall clock and random ids.
#include "shared/clock.hpp"

#include <sodium.h>

#include <chrono>
#include <vector>

namespace pdsync {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string random_hex(std::size_t bytes) {
    static const bool ready = sodium_init() >= 0;
    (void)ready;
    std::vector<unsigned char> buf(bytes);
    randombytes_buf(buf.data(), buf.size());
    std::string hex(bytes * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), buf.data(), buf.size());
    hex.pop_back();
    return hex;
}

}  // namespace pdsync
