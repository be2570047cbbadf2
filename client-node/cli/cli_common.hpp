// Shared pieces of the pdsync CLI: how it reaches a daemon, how it reports errors
// (stderr, non-zero exit, or a JSON error object with --json), reading and writing
// export files (JSON or MessagePack, chosen by extension), and progress bars.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "shared/codec.hpp"

namespace pdsync::cli {

struct Common {
    std::string socket;  // the daemon's control socket
    bool json = false;
    int timeout_ms = 15000;
};

// Prints the error (stderr; also stdout as JSON with --json) and returns the exit code:
// 3 when the daemon is unreachable, 1 otherwise.
int fail(const std::string& code, const std::string& message, bool json);

// Sends one request; on failure prints it and sets exit_code. Progress lines drive a
// terminal progress bar labelled `progress_label` (quiet under --json or without a TTY).
std::optional<Value> call(const Common& c, const Value& request, int& exit_code,
                          const std::string& progress_label = "");

// Imports `documents` in requests of a few hundred documents, each built by
// `request_for(chunk, last)` and committed by the daemon as one transaction, so a bar
// with counts and rate follows a large import and the daemon's worker is never held for
// long. Answers the counts of every chunk's answer summed. A failure names how many
// documents went in before it; running the import again is safe (imports replace).
std::optional<Value> import_in_chunks(
    const Common& c, const Value& documents,
    const std::function<Value(Value chunk, bool last)>& request_for, int& exit_code);

// Export files: ".json" is JSON for people, anything else (".msgpack", ".mpk") MessagePack.
[[nodiscard]] Result<Value> read_export_file(const std::string& path);
[[nodiscard]] Status write_export_file(const std::string& path, const Value& value);

std::string env_or(const char* name, const char* fallback);

// A wall-clock stamp in ms as local "YYYY-MM-DD HH:MM:SS"; `none` for 0 or less (never).
std::string local_time(int64_t ms, const char* none);

// A copy of `v` with every string and key escaped for a terminal (shared/text.hpp): what
// the CLI prints came from the network, and a user id or a product name holding ESC[2J or
// a newline must print as inert text. Every readable printer gets its answer through it.
Value inert(const Value& v);

}  // namespace pdsync::cli
