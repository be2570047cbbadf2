// The wall clock (see clock.hpp).
#include "shared/clock.hpp"

#include <chrono>
#include <cstdlib>

namespace pdsync {

namespace {
// Fault injection for the tests (PDSYNC_CLOCK_SKEW_MS=N): this process's wall clock runs
// N ms off, as on a device whose clock was never set. Nothing in a merge depends on it.
int64_t clock_skew_ms() {
    static const int64_t skew = [] {
        const char* v = std::getenv("PDSYNC_CLOCK_SKEW_MS");
        return v ? std::strtoll(v, nullptr, 10) : 0;
    }();
    return skew;
}
}  // namespace

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() +
           clock_skew_ms();
}

}  // namespace pdsync
