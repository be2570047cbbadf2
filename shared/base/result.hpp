// The one error type of pdsync, used by every library: a fallible function returns a
// Result<T> carrying either a value or an Error with a domain code from Errc. Nothing
// throws across a library's API; each boundary turns an Error into its own form once: a
// reason code on the wire, a JSON error reply (shared/reply.hpp), or a CLI exit status.
//
//   Result<Document> d = decode_document(bytes);
//   if (!d) spdlog::warn("rejected: {} ({})", d.error().message, errc_name(d.code()));
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace pdsync {

// Reason codes. Their names (errc_name) are what travels in inbox replies, so they are
// part of the protocol: append new ones, never rename.
enum class Errc {
    ok = 0,
    malformed,          // bytes are not valid MessagePack, or not the expected shape
    too_large,          // payload, string, array, map or nesting beyond a hard bound
    bad_schema,         // missing or unknown `schema` field
    bad_user_id,        // empty or over-long user id, or an invalid percent-encoding
    bad_device_id,      // device id outside [A-Za-z0-9._-]{1,64}
    unknown_category,   // a category name pdsync does not know
    category_disabled,  // known, but not synchronized by this server or not supported by the device
    unknown_topic,      // topic outside the v1 contract
    bad_entry,          // an entry id or op that does not parse
    conflict_deleted,   // an edit to an entry deleted since the editor saw it
    not_found,          // no such document, entry, user or device
    exists,             // first merge: the server already holds this document
    auth_profile_mismatch,
    protocol_unsupported,
    machine_limit,
    not_joined,    // a device that has not been accepted (or was removed)
    out_of_order,  // a change set arrived ahead of an earlier one from the same device
    storage,       // the store failed (disk full, I/O error); nothing was applied
    busy,          // refused now (sync active, operation in progress); try later
    timeout,
    io,  // socket, file or process error outside the store
    invalid_argument,
    user_limit,  // a change for a user the server cannot register
    // Files, stores and backups (server-node/backup and the durable-file helpers).
    no_space,       // ENOSPC locally or on an SMB share
    sqlite,         // SQLite failed while copying or checking a store
    integrity,      // PRAGMA integrity_check did not say "ok"
    checksum,       // size or SHA-256 differs from the backup's manifest
    bad_manifest,   // a backup manifest that does not parse
    auth,           // the SMB server refused the login
    access_denied,  // logged in, but no right to do that
    unreachable,    // no server at that address or port
    smb,            // any other SMB failure
    // Web admin page (server-node/web/):
    unauthenticated,  // no valid session, or a wrong password (HTTP 401)
    forbidden,        // a session without the right CSRF token, or a cross-site request (403)
    rate_limited,     // too many failed logins from this address: wait and retry (429)
    // Joining by code (shared/join_code.hpp).
    bad_join_code,      // the code does not parse, or its proof does not match the current code
    join_code_expired,  // past its --expires, or its --uses are spent
    pending_approval,   // --join-approval manual: waiting for `pdsync machines approve`
    denied,             // an administrator denied this machine
    device_id_taken,    // a claim for a device id that already has an account
    ca_mismatch,        // the broker's CA does not match the join code's pin
    not_enabled,        // the client function was never enabled (pdsync device enable)
    // Compromised-device bounds (docs/security.md).
    no_session,  // a user's change set or read from a device where that user has no session
    bad_text,    // a string with control characters or bidirectional overrides, or not UTF-8
};

std::string_view errc_name(Errc code);
Errc errc_from_name(std::string_view name);
// Prints the code's name, so test failures and log lines say "no_space", not "24".
std::ostream& operator<<(std::ostream& os, Errc code);

struct Error {
    Errc code = Errc::ok;
    std::string message;
};

// A value or an Error. Small on purpose: just what the core needs, [[nodiscard]] so a
// dropped error is a compile warning (and so an error in CI).
template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : v_(std::move(error)) {}  // NOLINT

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const { return std::get<1>(v_); }
    Errc code() const { return ok() ? Errc::ok : error().code; }

  private:
    std::variant<T, Error> v_;
};

// Result for functions with nothing to return but success.
struct Ok {};
using Status = Result<Ok>;

inline Error make_error(Errc code, std::string message) {
    return Error{code, std::move(message)};
}

}  // namespace pdsync

// PDS_TRY(lhs, expr): evaluates a Result expression; on error returns that error from the
// enclosing function, otherwise moves the value into `lhs` (a declaration or a variable).
#define PDS_CAT_INNER(a, b) a##b
#define PDS_CAT(a, b) PDS_CAT_INNER(a, b)
#define PDS_TRY(lhs, expr)                                                        \
    auto PDS_CAT(pds_try_, __LINE__) = (expr);                                    \
    if (!PDS_CAT(pds_try_, __LINE__)) return PDS_CAT(pds_try_, __LINE__).error(); \
    lhs = std::move(PDS_CAT(pds_try_, __LINE__)).value()
// PDS_CHECK(status_expr): returns its error from the enclosing function if it failed.
#define PDS_CHECK(expr)                             \
    do {                                            \
        auto pds_check_ = (expr);                   \
        if (!pds_check_) return pds_check_.error(); \
    } while (0)
