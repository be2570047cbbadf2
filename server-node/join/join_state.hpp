// What the server remembers about joining, beside its store: the current join code and
// its bounds, machines held for approval or denied, and the broker role each device
// account holds (so a role change, which disconnects the device, is sent only on a real
// change). One JSON file, 0600, replaced atomically (write, fsync, rename).
//
// Ownership and threads: owned by JoinService, on the server's worker thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include "shared/codec.hpp"
#include "shared/join_code.hpp"

namespace pdsync::server {

struct StoredJoinCode {
    JoinCode code;
    int64_t created_at = 0;
    int64_t expires_at = 0;  // 0: never
    int64_t uses_left = -1;  // -1: unbounded
};

struct PendingMachine {
    int64_t since = 0;
    std::string product, firmware, location;
};

struct JoinState {
    std::optional<StoredJoinCode> code;
    std::map<std::string, PendingMachine> pending;
    std::set<std::string> approved;  // approved while pending; kept so a restart honours it
    std::set<std::string> denied;
    std::map<std::string, std::string> roles;  // device id -> "candidate" | "member"
    std::string claim_password_id;  // the code id last set as the claim account's password
    bool inspector_password_set = false;

    Value to_value() const;
    static Result<JoinState> from_value(const Value& v);
};

// Errc::io on a file error; a missing file is an empty state.
[[nodiscard]] Result<JoinState> load_join_state(const std::string& path);
[[nodiscard]] Status save_join_state(const std::string& path, const JoinState& state);

}  // namespace pdsync::server
