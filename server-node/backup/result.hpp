// Error values for the backup library. Nothing in pdsync::backup throws across its API:
// every fallible call returns a BackupResult<T> (a value or a BackupError) or a
// BackupStatus. The error code is a short stable string from `errc` below, so the server
// can put it in a log line or a status field and the CLI can map it to an exit message.
//
//   auto id = manager.run("/var/lib/pdsync/server.db", target, "nightly");
//   if (!id) { spdlog::error("backup failed: {} ({})", id.error().message, id.error().code); }
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <variant>

namespace pdsync::backup {

// Progress of a long operation: `done` of `total` units (pages for a snapshot, bytes for a
// copy; total 0 when not known). Called on the thread doing the work; must not throw.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Error codes. They are what callers compare against and what ends up in status output:
// append new ones, never rename.
namespace errc {
inline constexpr char kInvalidArgument[] = "invalid_argument";  // bad name, id, URL or option
inline constexpr char kNotFound[] = "not_found";   // source database, backup or remote file missing
inline constexpr char kIo[] = "io";                // local file-system error
inline constexpr char kNoSpace[] = "no_space";     // ENOSPC locally or on the share
inline constexpr char kSqlite[] = "sqlite";        // SQLite failed while copying or checking
inline constexpr char kIntegrity[] = "integrity";  // PRAGMA integrity_check did not say "ok"
inline constexpr char kChecksum[] = "checksum";    // size or SHA-256 differs from the manifest
inline constexpr char kBadManifest[] = "bad_manifest";
inline constexpr char kBusy[] = "busy";                   // the store is in use (the server runs)
inline constexpr char kAuth[] = "auth";                   // the SMB server refused the login
inline constexpr char kAccessDenied[] = "access_denied";  // logged in, but no right to do that
inline constexpr char kUnreachable[] = "unreachable";     // no SMB server at that address/port
inline constexpr char kSmb[] = "smb";                     // any other SMB failure
}  // namespace errc

struct BackupError {
    std::string code;     // one of errc::k*
    std::string message;  // for a human: what failed, on which file, and what to do
};

// A value or a BackupError. [[nodiscard]] so a dropped error is a warning, and under
// -Werror a build failure.
template <typename T>
class [[nodiscard]] BackupResult {
  public:
    BackupResult(T value) : v_(std::move(value)) {}            // NOLINT: implicit by design
    BackupResult(BackupError error) : v_(std::move(error)) {}  // NOLINT

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const BackupError& error() const { return std::get<1>(v_); }
    // "" when ok, so tests and callers can compare codes without checking ok() first.
    std::string code() const { return ok() ? std::string() : error().code; }

  private:
    std::variant<T, BackupError> v_;
};

// Result of calls that return nothing but success.
struct Done {};
using BackupStatus = BackupResult<Done>;

inline BackupError make_error(std::string code, std::string message) {
    return BackupError{std::move(code), std::move(message)};
}

}  // namespace pdsync::backup
