// Error replies of the local JSON sockets (see reply.hpp).
#include "shared/reply.hpp"

namespace pdsync {

Value error_reply(Errc code, const std::string& message) {
    return {{"ok", false}, {"error", std::string(errc_name(code))}, {"message", message}};
}

}  // namespace pdsync
