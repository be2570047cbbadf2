// Wall-clock and id helpers. Merge results never depend on these clocks (versions and revs
// come from the server's counter); timestamps are for people and for LRU order.
#pragma once

#include <cstdint>
#include <string>

namespace pdsync {

int64_t now_ms();                           // milliseconds since the Unix epoch
std::string random_hex(std::size_t bytes);  // from libsodium's CSPRNG

}  // namespace pdsync
