// The progress callback of long operations (backup, restore, import, first merge).
#pragma once

#include <cstdint>
#include <functional>

namespace pdsync {

// `done` of `total` units (pages for a snapshot, bytes for a copy; total 0 when not
// known). Called on the thread doing the work; must not throw. terminal::ProgressBar
// draws one; the control socket forwards them as progress lines.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

}  // namespace pdsync
