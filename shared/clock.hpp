// The wall clock. Merge results never depend on these clocks (versions and revs
// come from the server's counter); timestamps are for people and for LRU order.
#pragma once

#include <cstdint>

namespace pdsync {

int64_t now_ms();  // milliseconds since the Unix epoch

}  // namespace pdsync
