// Invariant checks for the fuzz targets. A failed check prints what broke and aborts, so
// libFuzzer records the input as a crash (assert() would vanish under NDEBUG).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace pdsync::fuzz {

[[noreturn]] inline void fail(const char* check, const std::string& detail, const char* file,
                              int line) {
    std::fprintf(stderr, "\n=== fuzz invariant failed at %s:%d\n    %s\n    %s\n", file, line,
                 check, detail.c_str());
    std::fflush(stderr);
    std::abort();
}

}  // namespace pdsync::fuzz

// PDS_FUZZ_CHECK(cond, detail): `detail` (a std::string expression) is only evaluated on
// failure.
#define PDS_FUZZ_CHECK(cond, detail)                                            \
    do {                                                                        \
        if (!(cond)) ::pdsync::fuzz::fail(#cond, (detail), __FILE__, __LINE__); \
    } while (0)
