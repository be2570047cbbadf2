// Replies of the local JSON sockets (the device daemon's control socket and the server's
// admin socket, docs/control-protocol.md): the one helper that turns an Error into the
// reply a client reads, so every refusal has the same shape everywhere.
#pragma once

#include <string>

#include "shared/base/result.hpp"
#include "shared/codec.hpp"

namespace pdsync {

// {"ok": false, "error": "<reason code>", "message": "<text for a person>"}
//   error_reply(Errc::busy, "the server is stopping")
Value error_reply(Errc code, const std::string& message);
inline Value error_reply(const Error& error) {
    return error_reply(error.code, error.message);
}

}  // namespace pdsync
