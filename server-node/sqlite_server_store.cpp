// SQLite implementation of ServerStore. Documents are stored whole, as their MessagePack
// wire form, because the server republishes the whole document on every change anyway;
// version and updated_at are columns so status and reconcile need not decode.
#include <SQLiteCpp/SQLiteCpp.h>

#include "server-node/server_store.hpp"
#include "shared/base/tuning.hpp"
#include "shared/store/sqlite_db.hpp"

namespace pdsync::server {
namespace {

const store::Migrations kMigrations = {
    R"sql(
    CREATE TABLE documents (
        user TEXT NOT NULL,          -- '' for shared categories
        category TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        body BLOB NOT NULL,          -- pds.doc/1 MessagePack
        PRIMARY KEY (user, category)
    ) WITHOUT ROWID;
    CREATE TABLE users (
        user TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX users_by_last_use ON users(last_used_at, user);
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        product TEXT NOT NULL DEFAULT '',
        firmware TEXT NOT NULL DEFAULT '',
        location TEXT NOT NULL DEFAULT '',
        supported TEXT NOT NULL DEFAULT '',   -- space-separated category names
        joined_at INTEGER NOT NULL DEFAULT 0,
        last_seen_at INTEGER NOT NULL DEFAULT 0,
        last_sync_at INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT '',
        epoch TEXT NOT NULL DEFAULT '',
        last_seq INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE applied (
        device_id TEXT NOT NULL,
        epoch TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        reason TEXT NOT NULL,
        message TEXT NOT NULL,
        version INTEGER NOT NULL,
        conflicts TEXT NOT NULL,     -- newline-separated entry ids
        PRIMARY KEY (device_id, epoch, seq)
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    )sql",
    // Documents move to a rowid table. In a WITHOUT ROWID table the whole row is the key of
    // its B-tree, so finding one document compared against whole neighbouring rows and read
    // their bodies' overflow pages (a 190 KiB address book each); now the key's index holds
    // (user, category) and the body is read only when asked for (docs/decisions.md 98).
    R"sql(
    CREATE TABLE documents_by_rowid (
        user TEXT NOT NULL,          -- '' for shared categories
        category TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        body BLOB NOT NULL,          -- pds.doc/1 MessagePack
        PRIMARY KEY (user, category)
    );
    INSERT INTO documents_by_rowid SELECT user, category, version, updated_at, body FROM documents;
    DROP TABLE documents;
    ALTER TABLE documents_by_rowid RENAME TO documents;
    )sql",
};

std::string join_lines(const std::vector<std::string>& items, char sep) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out.push_back(sep);
        out += s;
    }
    return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < s.size()) {
        auto end = s.find(sep, start);
        if (end == std::string::npos) end = s.size();
        if (end > start) out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

CategorySet categories_from_text(const std::string& s) {
    CategorySet set;
    for (const auto& name : split(s, ' ')) {
        if (auto c = category_from_name(name)) set.insert(*c);
    }
    return set;
}

// An applied row from five result columns starting at `first`: ok, reason, message,
// version, conflicts.
AppliedRow applied_row(SQLite::Statement& q, int first) {
    AppliedRow r;
    r.ok = q.getColumn(first).getInt() != 0;
    r.reason = errc_from_name(q.getColumn(first + 1).getString());
    r.message = q.getColumn(first + 2).getString();
    r.version = static_cast<uint64_t>(q.getColumn(first + 3).getInt64());
    r.conflicts = split(q.getColumn(first + 4).getString(), '\n');
    return r;
}

// The smallest string greater than every string starting with `prefix` (byte-wise, as
// SQLite's BINARY collation compares), or none when every such string is unbounded above
// (an empty prefix, or one of 0xFF bytes only).
std::optional<std::string> prefix_upper_bound(std::string prefix) {
    while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xFF) prefix.pop_back();
    if (prefix.empty()) return std::nullopt;
    prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
    return prefix;
}

class SqliteTransaction final : public StoreTransaction {
  public:
    explicit SqliteTransaction(SQLite::Database& db) : txn_(db) {}
    void commit() override { txn_.commit(); }

  private:
    SQLite::Transaction txn_;
};

using store::StatementUse;

class SqliteServerStore final : public ServerStore {
  public:
    explicit SqliteServerStore(const std::string& path)
        : db_(store::open_database(path, kMigrations)),
          load_doc_(*db_, "SELECT body FROM documents WHERE user=? AND category=?"),
          save_doc_(
              *db_,
              "INSERT INTO documents(user,category,version,updated_at,body) VALUES(?,?,?,?,?) "
              "ON CONFLICT(user,category) DO UPDATE SET version=excluded.version, "
              "updated_at=excluded.updated_at, body=excluded.body"),
          find_user_(*db_, "SELECT user,created_at,last_used_at FROM users WHERE user=?"),
          save_user_(
              *db_,
              "INSERT INTO users(user,created_at,last_used_at) VALUES(?,?,?) ON CONFLICT(user) DO "
              "UPDATE SET created_at=excluded.created_at, last_used_at=excluded.last_used_at"),
          find_applied_(*db_,
                        "SELECT ok,reason,message,version,conflicts FROM applied WHERE device_id=? "
                        "AND epoch=? "
                        "AND seq=?"),
          record_applied_(*db_, "INSERT OR REPLACE INTO applied VALUES(?,?,?,?,?,?,?,?)"),
          prune_applied_(*db_, "DELETE FROM applied WHERE device_id=? AND seq<?") {}

    std::unique_ptr<StoreTransaction> begin() override {
        if (factory_) return factory_();
        return std::make_unique<SqliteTransaction>(*db_);
    }
    sqlite3* sqlite_handle() override { return db_->getHandle(); }
    void set_transaction_factory(TransactionFactory factory) override {
        factory_ = std::move(factory);
    }

    std::optional<Document> load_document(const DocKey& key) override {
        StatementUse use(load_doc_);
        load_doc_.bind(1, key.user);
        load_doc_.bind(2, std::string(category_name(key.category)));
        if (!load_doc_.executeStep()) return std::nullopt;
        auto doc = decode_document(store::blob(load_doc_.getColumn(0)));
        if (!doc) throw std::runtime_error("corrupt document in store: " + doc.error().message);
        return std::move(doc).value();
    }

    std::optional<std::string> load_encoded_document(const DocKey& key) override {
        StatementUse use(load_doc_);
        load_doc_.bind(1, key.user);
        load_doc_.bind(2, std::string(category_name(key.category)));
        if (!load_doc_.executeStep()) return std::nullopt;
        return std::string(store::blob(load_doc_.getColumn(0)));
    }

    void save_document(const Document& doc) override {
        save_encoded_document(doc, encode_document(doc));
    }

    void save_encoded_document(const Document& doc, std::string_view body) override {
        StatementUse use(save_doc_);
        save_doc_.bind(1, doc.user);
        save_doc_.bind(2, std::string(category_name(doc.category)));
        save_doc_.bind(3, static_cast<int64_t>(doc.version));
        save_doc_.bind(4, doc.updated_at);
        save_doc_.bindNoCopy(5, body.data(), static_cast<int>(body.size()));
        save_doc_.exec();
    }

    void delete_document(const DocKey& key) override {
        SQLite::Statement q(*db_, "DELETE FROM documents WHERE user=? AND category=?");
        q.bind(1, key.user);
        q.bind(2, std::string(category_name(key.category)));
        q.exec();
    }

    std::map<Category, uint64_t> document_versions(const std::string& user) override {
        SQLite::Statement q(*db_, "SELECT category, version FROM documents WHERE user=?");
        q.bind(1, user);
        std::map<Category, uint64_t> out;
        while (q.executeStep()) {
            if (auto c = category_from_name(q.getColumn(0).getString())) {
                out[*c] = static_cast<uint64_t>(q.getColumn(1).getInt64());
            }
        }
        return out;
    }

    void for_each_document(const std::function<void(const Document&)>& fn) override {
        SQLite::Statement q(*db_, "SELECT body FROM documents ORDER BY user, category");
        while (q.executeStep()) {
            auto doc = decode_document(store::blob(q.getColumn(0)));
            if (doc) fn(*doc);
        }
    }

    void for_each_encoded_document(
        const std::function<void(const DocKey&, std::string_view body)>& fn) override {
        SQLite::Statement q(*db_,
                            "SELECT user, category, body FROM documents ORDER BY user, category");
        while (q.executeStep()) {
            auto c = category_from_name(q.getColumn(1).getString());
            if (!c) continue;
            const auto& body = q.getColumn(2);
            fn(DocKey{q.getColumn(0).getString(), *c},
               std::string_view(static_cast<const char*>(body.getBlob()),
                                static_cast<std::size_t>(body.getBytes())));
        }
    }

    std::size_t document_bytes(const DocKey& key) override {
        SQLite::Statement q(*db_, "SELECT length(body) FROM documents WHERE user=? AND category=?");
        q.bind(1, key.user);
        q.bind(2, std::string(category_name(key.category)));
        return q.executeStep() ? static_cast<std::size_t>(q.getColumn(0).getInt64()) : 0;
    }

    std::size_t count_documents() override {
        return static_cast<std::size_t>(
            db_->execAndGet("SELECT count(*) FROM documents").getInt64());
    }

    std::optional<UserRow> find_user(const std::string& user) override {
        StatementUse use(find_user_);
        find_user_.bind(1, user);
        if (!find_user_.executeStep()) return std::nullopt;
        return UserRow{find_user_.getColumn(0).getString(), find_user_.getColumn(1).getInt64(),
                       find_user_.getColumn(2).getInt64()};
    }

    void save_user(const UserRow& row) override {
        StatementUse use(save_user_);
        save_user_.bind(1, row.user);
        save_user_.bind(2, row.created_at);
        save_user_.bind(3, row.last_used_at);
        save_user_.exec();
    }

    void delete_user(const std::string& user) override {
        SQLite::Statement docs(*db_, "DELETE FROM documents WHERE user=?");
        docs.bind(1, user);
        docs.exec();
        SQLite::Statement u(*db_, "DELETE FROM users WHERE user=?");
        u.bind(1, user);
        u.exec();
    }

    std::size_t count_users() override {
        return static_cast<std::size_t>(db_->execAndGet("SELECT count(*) FROM users").getInt64());
    }

    std::optional<UserRow> least_recent_user(const std::string& except) override {
        SQLite::Statement q(*db_,
                            "SELECT user,created_at,last_used_at FROM users WHERE user<>? "
                            "ORDER BY last_used_at, user LIMIT 1");
        q.bind(1, except);
        if (!q.executeStep()) return std::nullopt;
        return UserRow{q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                       q.getColumn(2).getInt64()};
    }

    std::vector<UserRow> list_users() override {
        SQLite::Statement q(*db_, "SELECT user,created_at,last_used_at FROM users ORDER BY user");
        std::vector<UserRow> out;
        while (q.executeStep()) {
            out.push_back(
                {q.getColumn(0).getString(), q.getColumn(1).getInt64(), q.getColumn(2).getInt64()});
        }
        return out;
    }

    std::vector<UserRow> list_users_page(const std::string& prefix, const std::string& after,
                                         std::size_t limit) override {
        auto upper = prefix_upper_bound(prefix);
        SQLite::Statement q(*db_, upper
                                      ? "SELECT user,created_at,last_used_at FROM users "
                                        "WHERE user>=? AND user>? AND user<? ORDER BY user LIMIT ?"
                                      : "SELECT user,created_at,last_used_at FROM users "
                                        "WHERE user>=? AND user>? ORDER BY user LIMIT ?");
        q.bind(1, prefix);
        q.bind(2, after);
        int next = 3;
        if (upper) q.bind(next++, *upper);
        q.bind(next, static_cast<int64_t>(limit));
        std::vector<UserRow> out;
        while (q.executeStep()) {
            out.push_back(
                {q.getColumn(0).getString(), q.getColumn(1).getInt64(), q.getColumn(2).getInt64()});
        }
        return out;
    }

    std::size_t count_users_with_prefix(const std::string& prefix) override {
        if (prefix.empty()) return count_users();
        auto upper = prefix_upper_bound(prefix);
        SQLite::Statement q(*db_, upper ? "SELECT count(*) FROM users WHERE user>=? AND user<?"
                                        : "SELECT count(*) FROM users WHERE user>=?");
        q.bind(1, prefix);
        if (upper) q.bind(2, *upper);
        q.executeStep();
        return static_cast<std::size_t>(q.getColumn(0).getInt64());
    }

    std::optional<DeviceRow> find_device(const std::string& device_id) override {
        SQLite::Statement q(*db_, std::string(kDeviceSelect) + " WHERE device_id=?");
        q.bind(1, device_id);
        if (!q.executeStep()) return std::nullopt;
        return device_from(q);
    }

    void save_device(const DeviceRow& d) override {
        SQLite::Statement q(*db_, "INSERT OR REPLACE INTO devices VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
        q.bind(1, d.device_id);
        q.bind(2, d.product);
        q.bind(3, d.firmware);
        q.bind(4, d.location);
        q.bind(5, join_lines(d.supported.names(), ' '));
        q.bind(6, d.joined_at);
        q.bind(7, d.last_seen_at);
        q.bind(8, d.last_sync_at);
        q.bind(9, d.last_error);
        q.bind(10, d.epoch);
        q.bind(11, static_cast<int64_t>(d.last_seq));
        q.bind(12, d.removed ? 1 : 0);
        q.exec();
    }

    std::vector<DeviceRow> list_devices() override {
        SQLite::Statement q(*db_, std::string(kDeviceSelect) + " ORDER BY device_id");
        std::vector<DeviceRow> out;
        while (q.executeStep()) out.push_back(device_from(q));
        return out;
    }

    std::optional<AppliedRow> find_applied(const std::string& device_id, const std::string& epoch,
                                           uint64_t seq) override {
        StatementUse use(find_applied_);
        find_applied_.bind(1, device_id);
        find_applied_.bind(2, epoch);
        find_applied_.bind(3, static_cast<int64_t>(seq));
        if (!find_applied_.executeStep()) return std::nullopt;
        return applied_row(find_applied_, 0);
    }

    void record_applied(const std::string& device_id, const std::string& epoch, uint64_t seq,
                        const AppliedRow& row) override {
        {
            StatementUse use(record_applied_);
            record_applied_.bind(1, device_id);
            record_applied_.bind(2, epoch);
            record_applied_.bind(3, static_cast<int64_t>(seq));
            record_applied_.bind(4, row.ok ? 1 : 0);
            record_applied_.bind(5, std::string(errc_name(row.reason)));
            record_applied_.bind(6, row.message);
            record_applied_.bind(7, static_cast<int64_t>(row.version));
            record_applied_.bind(8, join_lines(row.conflicts, '\n'));
            record_applied_.exec();
        }
        if (seq > static_cast<uint64_t>(tuning::server::kAppliedOpsKeptPerDevice) &&
            seq % 64 == 0) {  // prune now and then, not on every change set
            StatementUse use(prune_applied_);
            prune_applied_.bind(1, device_id);
            prune_applied_.bind(
                2, static_cast<int64_t>(seq - tuning::server::kAppliedOpsKeptPerDevice));
            prune_applied_.exec();
        }
    }

    std::optional<std::string> meta(const std::string& key) override {
        SQLite::Statement q(*db_, "SELECT value FROM meta WHERE key=?");
        q.bind(1, key);
        if (!q.executeStep()) return std::nullopt;
        return q.getColumn(0).getString();
    }

    void set_meta(const std::string& key, const std::string& value) override {
        SQLite::Statement q(*db_, "INSERT OR REPLACE INTO meta VALUES(?,?)");
        q.bind(1, key);
        q.bind(2, value);
        q.exec();
    }

  private:
    static constexpr const char* kDeviceSelect =
        "SELECT device_id,product,firmware,location,supported,joined_at,last_seen_at,last_sync_at,"
        "last_error,epoch,last_seq,removed FROM devices";

    static DeviceRow device_from(SQLite::Statement& q) {
        DeviceRow d;
        d.device_id = q.getColumn(0).getString();
        d.product = q.getColumn(1).getString();
        d.firmware = q.getColumn(2).getString();
        d.location = q.getColumn(3).getString();
        d.supported = categories_from_text(q.getColumn(4).getString());
        d.joined_at = q.getColumn(5).getInt64();
        d.last_seen_at = q.getColumn(6).getInt64();
        d.last_sync_at = q.getColumn(7).getInt64();
        d.last_error = q.getColumn(8).getString();
        d.epoch = q.getColumn(9).getString();
        d.last_seq = static_cast<uint64_t>(q.getColumn(10).getInt64());
        d.removed = q.getColumn(11).getInt() != 0;
        return d;
    }

    std::unique_ptr<SQLite::Database> db_;
    TransactionFactory factory_;  // cluster mode: commits go through the raft log
    SQLite::Statement load_doc_;
    SQLite::Statement save_doc_;
    SQLite::Statement find_user_;
    SQLite::Statement save_user_;
    SQLite::Statement find_applied_;
    SQLite::Statement record_applied_;
    SQLite::Statement prune_applied_;
};

}  // namespace

std::unique_ptr<ServerStore> open_sqlite_server_store(const std::string& path) {
    return std::make_unique<SqliteServerStore>(path);
}

}  // namespace pdsync::server
