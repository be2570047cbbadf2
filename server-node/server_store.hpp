// The server's authoritative store, behind a small interface (the SQLite implementation
// is sqlite_server_store.*). It holds documents, users (with their last-use time for the
// least-recently-used eviction), joined devices, and the results of applied change sets
// (so a re-sent change set gets its original answer).
//
// Ownership and threads: owned by the server's worker thread; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/base/result.hpp"
#include "shared/category.hpp"
#include "shared/document.hpp"

struct sqlite3;

namespace pdsync::server {

struct UserRow {
    std::string user;
    int64_t created_at = 0;
    int64_t last_used_at = 0;  // last login event, or registration
};

struct DeviceRow {
    std::string device_id;
    std::string product;
    std::string firmware;
    std::string location;
    CategorySet supported;  // what its firmware declared
    int64_t joined_at = 0;
    int64_t last_seen_at = 0;
    int64_t last_sync_at = 0;  // last change set applied or login served
    std::string last_error;
    std::string epoch;      // its outbox epoch
    uint64_t last_seq = 0;  // last change set applied from that epoch
    bool removed = false;   // removed by an administrator: refused if it comes back
};

struct AppliedRow {
    bool ok = false;
    Errc reason = Errc::ok;
    std::string message;
    uint64_t version = 0;
    std::vector<std::string> conflicts;
};

// An open write transaction. Destroying it without commit() rolls back.
class StoreTransaction {
  public:
    virtual ~StoreTransaction() = default;
    virtual void commit() = 0;
};

// Every method may throw SQLite::Exception (or std::runtime_error) on an I/O failure; the
// server catches it around the whole batch, rolls back and answers Errc::storage.
class ServerStore {
  public:
    virtual ~ServerStore() = default;

    virtual std::unique_ptr<StoreTransaction> begin() = 0;

    virtual std::optional<Document> load_document(const DocKey& key) = 0;
    // The stored bytes (the retained payload), not decoded.
    virtual std::optional<std::string> load_encoded_document(const DocKey& key) = 0;
    virtual void save_document(const Document& doc) = 0;
    // Saves `doc` whose encoding is already at hand (`body` == encode_document(doc)): the
    // server encodes a changed document once, for the store and the broker alike.
    virtual void save_encoded_document(const Document& doc, std::string_view body) = 0;
    virtual void delete_document(const DocKey& key) = 0;
    // Versions of one user's documents (empty user: the shared documents).
    virtual std::map<Category, uint64_t> document_versions(const std::string& user) = 0;
    virtual void for_each_document(const std::function<void(const Document&)>& fn) = 0;
    // Every stored document as its stored bytes (the retained payload), not decoded.
    virtual void for_each_encoded_document(
        const std::function<void(const DocKey&, std::string_view body)>& fn) = 0;
    virtual std::size_t count_documents() = 0;
    // Encoded size of a stored document (0 if none), without loading it.
    virtual std::size_t document_bytes(const DocKey& key) = 0;

    virtual std::optional<UserRow> find_user(const std::string& user) = 0;
    virtual void save_user(const UserRow& row) = 0;
    // Deletes the user and all their documents.
    virtual void delete_user(const std::string& user) = 0;
    virtual std::size_t count_users() = 0;
    // The least recently used user, other than `except`.
    virtual std::optional<UserRow> least_recent_user(const std::string& except) = 0;
    virtual std::vector<UserRow> list_users() = 0;
    // One page of the users whose id starts with `prefix` (byte-wise), in id order, after
    // `after` (keyset paging: "" starts at the first), at most `limit`. Both this and
    // count_users_with_prefix() are range scans of the users' primary key, so a page costs
    // the same at 100,000 users as at 100 (the web admin page's users table).
    virtual std::vector<UserRow> list_users_page(const std::string& prefix,
                                                 const std::string& after, std::size_t limit) = 0;
    virtual std::size_t count_users_with_prefix(const std::string& prefix) = 0;

    virtual std::optional<DeviceRow> find_device(const std::string& device_id) = 0;
    virtual void save_device(const DeviceRow& row) = 0;
    virtual std::vector<DeviceRow> list_devices() = 0;

    virtual std::optional<AppliedRow> find_applied(const std::string& device_id,
                                                   const std::string& epoch, uint64_t seq) = 0;
    virtual void record_applied(const std::string& device_id, const std::string& epoch,
                                uint64_t seq, const AppliedRow& row) = 0;

    virtual std::optional<std::string> meta(const std::string& key) = 0;
    virtual void set_meta(const std::string& key, const std::string& value) = 0;

    // Cluster mode (server-node/cluster/): the SQLite connection under the store, and a
    // replacement for begin() whose transactions commit through the raft log.
    virtual sqlite3* sqlite_handle() { return nullptr; }
    using TransactionFactory = std::function<std::unique_ptr<StoreTransaction>()>;
    virtual void set_transaction_factory(TransactionFactory factory) { (void)factory; }
};

// Opens the SQLite store at `path` (":memory:" for unit tests). Throws on failure.
std::unique_ptr<ServerStore> open_sqlite_server_store(const std::string& path);

}  // namespace pdsync::server
