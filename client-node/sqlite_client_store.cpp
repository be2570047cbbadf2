// SQLite implementation of ClientStore.
#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <optional>

#include "client-node/client_store.hpp"
#include "shared/base/tuning.hpp"
#include "shared/store/sqlite_db.hpp"

namespace pdsync::client {
namespace {

const store::Migrations kMigrations = {
    R"sql(
    CREATE TABLE documents (
        user TEXT NOT NULL,
        category TEXT NOT NULL,
        version INTEGER NOT NULL,
        origin TEXT NOT NULL,        -- 'server' | 'local'
        body BLOB NOT NULL,
        PRIMARY KEY (user, category)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        user TEXT NOT NULL,
        category TEXT NOT NULL,
        registers INTEGER NOT NULL,
        ops BLOB NOT NULL,           -- MessagePack array of ops, as in pds.changes/1
        created_at INTEGER NOT NULL,
        acked INTEGER NOT NULL DEFAULT 0,
        acked_version INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbox_by_doc ON outbox(user, category, seq);
    CREATE TABLE device_items (
        user TEXT NOT NULL,
        category TEXT NOT NULL,
        id TEXT NOT NULL,
        pos REAL NOT NULL,           -- display order among the device's own items
        fields BLOB NOT NULL,
        PRIMARY KEY (user, category, id)
    ) WITHOUT ROWID;
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    )sql",
    // Documents move to a rowid table: in a WITHOUT ROWID table the whole row is the key of
    // its B-tree, so each lookup read neighbouring documents' bodies (docs/decisions.md 98).
    R"sql(
    CREATE TABLE documents_by_rowid (
        user TEXT NOT NULL,
        category TEXT NOT NULL,
        version INTEGER NOT NULL,
        origin TEXT NOT NULL,        -- 'server' | 'local'
        body BLOB NOT NULL,
        PRIMARY KEY (user, category)
    );
    INSERT INTO documents_by_rowid SELECT user, category, version, origin, body FROM documents;
    DROP TABLE documents;
    ALTER TABLE documents_by_rowid RENAME TO documents;
    )sql",
};

std::string cat(Category c) {
    return std::string(category_name(c));
}

std::string ops_blob(const std::vector<ChangeOp>& ops) {
    ChangeSet cs;
    cs.ops = ops;
    return encode_msgpack_unchecked(change_set_to_value(cs)["ops"]);
}

std::vector<ChangeOp> ops_from_blob(const std::string& blob, const std::string& user, Category c) {
    Value v = change_set_to_value(ChangeSet{"x", "x", 1, user, c, false, 0, {}});
    v["ops"] = decode_msgpack(blob).value();
    auto cs = change_set_from_value(v);
    if (!cs) throw std::runtime_error("corrupt outbox row: " + cs.error().message);
    return std::move(cs->ops);
}

class SqliteTxn final : public ClientStore::Transaction {
  public:
    SqliteTxn(SQLite::Database& db, Durability durability)
        : db_(db), relaxed_(durability == Durability::cache) {
        // The pragma cannot change inside a transaction, so it is set before BEGIN.
        if (relaxed_) db_.exec("PRAGMA synchronous=NORMAL");  // WAL: no fsync at commit
        txn_.emplace(db_);
    }
    ~SqliteTxn() override {
        txn_.reset();  // rolls back unless committed
        if (!relaxed_) return;
        try {
            db_.exec("PRAGMA synchronous=FULL");
        } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): the next open sets it
        }
    }
    void commit() override { txn_->commit(); }

  private:
    SQLite::Database& db_;
    bool relaxed_;
    std::optional<SQLite::Transaction> txn_;
};

class SqliteClientStore final : public ClientStore {
  public:
    explicit SqliteClientStore(const std::string& path)
        : db_(store::open_database(path, kMigrations)) {
        // A smaller page cache than SQLite's 2 MiB default: the daemon's private memory
        // budget (docs/performance.md, g) has no room for it, and the OS page cache holds
        // the file anyway.
        db_->exec("PRAGMA cache_size=-" + std::to_string(tuning::client::kSqliteCacheKiB));
    }

    std::unique_ptr<Transaction> begin(Durability durability) override {
        return std::make_unique<SqliteTxn>(*db_, durability);
    }

    std::optional<StoredDoc> load(const DocKey& key) override {
        auto use =
            statements_.use("SELECT body, origin FROM documents WHERE user=? AND category=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        if (!q.executeStep()) return std::nullopt;
        return stored(q);
    }

    std::optional<std::string> load_encoded(const DocKey& key) override {
        auto use = statements_.use(
            "SELECT body FROM documents WHERE user=? AND category=? AND "
            "origin='server'");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        if (!q.executeStep()) return std::nullopt;
        return store::blob(q.getColumn(0));
    }

    std::optional<StoredVersion> version_of(const DocKey& key) override {
        auto use =
            statements_.use("SELECT version, origin FROM documents WHERE user=? AND category=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        if (!q.executeStep()) return std::nullopt;
        return StoredVersion{
            static_cast<uint64_t>(q.getColumn(0).getInt64()),
            q.getColumn(1).getString() == "local" ? Origin::local : Origin::server};
    }

    void save(const Document& doc, Origin origin) override {
        save_encoded(doc.key(), doc.version, origin, encode_document(doc));
    }

    void save_encoded(const DocKey& key, uint64_t version, Origin origin,
                      std::string_view body) override {
        auto use = statements_.use("INSERT OR REPLACE INTO documents VALUES(?,?,?,?,?)");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        q.bind(3, static_cast<int64_t>(version));
        q.bind(4, origin == Origin::server ? "server" : "local");
        q.bindNoCopy(5, body.data(), static_cast<int>(body.size()));
        q.exec();
    }

    void remove(const DocKey& key) override {
        auto use = statements_.use("DELETE FROM documents WHERE user=? AND category=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        q.exec();
    }

    void remove_user(const std::string& user) override {
        for (const char* table : {"documents", "outbox", "device_items"}) {
            auto use = statements_.use(std::string("DELETE FROM ") + table + " WHERE user=?");
            SQLite::Statement& q = use.stmt;
            q.bind(1, user);
            q.exec();
        }
    }

    std::vector<StoredDoc> documents(std::optional<Origin> origin) override {
        std::string sql = "SELECT body, origin FROM documents";
        if (origin)
            sql += *origin == Origin::server ? " WHERE origin='server'" : " WHERE origin='local'";
        auto use = statements_.use(sql + " ORDER BY user, category");
        SQLite::Statement& q = use.stmt;
        std::vector<StoredDoc> out;
        while (q.executeStep()) out.push_back(stored(q));
        return out;
    }

    std::vector<DocKey> document_keys(Origin origin) override {
        auto use = statements_.use(
            "SELECT user, category FROM documents WHERE origin=? "
            "ORDER BY user, category");
        SQLite::Statement& q = use.stmt;
        q.bind(1, origin == Origin::server ? "server" : "local");
        std::vector<DocKey> out;
        while (q.executeStep()) {
            if (auto c = category_from_name(q.getColumn(1).getString()))
                out.push_back(DocKey{q.getColumn(0).getString(), *c});
        }
        return out;
    }

    std::vector<std::string> cached_users() override {
        auto use = statements_.use(
            "SELECT DISTINCT user FROM documents WHERE user<>'' AND origin='server' ORDER BY user");
        SQLite::Statement& q = use.stmt;
        std::vector<std::string> out;
        while (q.executeStep()) out.push_back(q.getColumn(0).getString());
        return out;
    }

    uint64_t append_outbox(OutboxRow row) override {
        // The sequence lives in settings, not in rowid, so it never goes backwards even
        // when the outbox is empty.
        uint64_t seq = std::stoull(setting("next_seq").value_or("1"));
        auto use = statements_.use(
            "INSERT INTO outbox(seq,user,category,registers,ops,created_at) VALUES(?,?,?,?,?,?)");
        SQLite::Statement& q = use.stmt;
        std::string ops = ops_blob(row.ops);
        q.bind(1, static_cast<int64_t>(seq));
        q.bind(2, row.user);
        q.bind(3, cat(row.category));
        q.bind(4, row.registers ? 1 : 0);
        q.bind(5, ops.data(), static_cast<int>(ops.size()));
        q.bind(6, row.created_at);
        q.exec();
        set_setting("next_seq", std::to_string(seq + 1));
        return seq;
    }

    std::vector<OutboxRow> outbox() override { return outbox_query("", {}); }

    std::vector<OutboxRow> unacked_from(uint64_t from_seq, std::size_t limit) override {
        // The text argument takes the seq column's integer affinity in the comparison.
        return outbox_query(" WHERE acked=0 AND seq>=?", {std::to_string(from_seq)},
                            " LIMIT " + std::to_string(limit));
    }

    uint64_t first_unacked_seq() override {
        auto use = statements_.use("SELECT min(seq) FROM outbox WHERE acked=0");
        SQLite::Statement& q = use.stmt;
        if (q.executeStep() && !q.getColumn(0).isNull())
            return static_cast<uint64_t>(q.getColumn(0).getInt64());
        return std::stoull(setting("next_seq").value_or("1"));
    }

    void drop_unacked_upto(uint64_t seq) override {
        auto use = statements_.use("DELETE FROM outbox WHERE acked=0 AND seq<=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, static_cast<int64_t>(seq));
        q.exec();
    }

    std::vector<OutboxRow> outbox_for(const DocKey& key) override {
        return outbox_query(" WHERE user=? AND category=?", {key.user, cat(key.category)});
    }

    void mark_acked(uint64_t seq, uint64_t version) override {
        auto use = statements_.use("UPDATE outbox SET acked=1, acked_version=? WHERE seq=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, static_cast<int64_t>(version));
        q.bind(2, static_cast<int64_t>(seq));
        q.exec();
    }

    void drop_outbox(uint64_t seq) override {
        auto use = statements_.use("DELETE FROM outbox WHERE seq=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, static_cast<int64_t>(seq));
        q.exec();
    }

    void drop_acked_upto(const DocKey& key, uint64_t version) override {
        auto use = statements_.use(
            "DELETE FROM outbox WHERE acked=1 AND user=? AND category=? AND acked_version<=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        q.bind(3, static_cast<int64_t>(version));
        q.exec();
    }

    std::size_t outbox_size() override {
        return static_cast<std::size_t>(
            db_->execAndGet("SELECT count(*) FROM outbox WHERE acked=0").getInt64());
    }

    std::vector<DeviceItem> device_items(const DocKey& key) override {
        auto use = statements_.use(
            "SELECT id, fields FROM device_items WHERE user=? AND category=? ORDER BY pos, id");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        std::vector<DeviceItem> out;
        while (q.executeStep()) {
            auto fields = decode_msgpack(store::blob(q.getColumn(1)));
            out.push_back({q.getColumn(0).getString(), fields ? *fields : Value::object()});
        }
        return out;
    }

    std::vector<std::pair<DocKey, DeviceItem>> all_device_items() override {
        auto use = statements_.use(
            "SELECT user, category, id, fields FROM device_items ORDER BY user, category, pos, id");
        SQLite::Statement& q = use.stmt;
        std::vector<std::pair<DocKey, DeviceItem>> out;
        while (q.executeStep()) {
            auto c = category_from_name(q.getColumn(1).getString());
            if (!c) continue;
            auto fields = decode_msgpack(store::blob(q.getColumn(3)));
            out.push_back(
                {DocKey{q.getColumn(0).getString(), *c},
                 DeviceItem{q.getColumn(2).getString(), fields ? *fields : Value::object()}});
        }
        return out;
    }

    void put_device_item(const DocKey& key, const DeviceItem& item,
                         std::optional<std::string> after) override {
        // Device items are few: recompute the whole order and renumber, which is simple
        // and keeps positions exact.
        auto items = device_items(key);
        auto it = std::find_if(items.begin(), items.end(),
                               [&](const DeviceItem& d) { return d.id == item.id; });
        std::size_t at = items.size();
        if (it != items.end()) {
            at = static_cast<std::size_t>(it - items.begin());
            items.erase(it);
        }
        if (after) {
            at = items.size();
            if (after->empty()) {
                at = 0;
            } else {
                for (std::size_t i = 0; i < items.size(); ++i) {
                    if (items[i].id == *after) at = i + 1;
                }
            }
        }
        items.insert(items.begin() + static_cast<std::ptrdiff_t>(std::min(at, items.size())), item);
        auto use = statements_.use("INSERT OR REPLACE INTO device_items VALUES(?,?,?,?,?)");
        SQLite::Statement& q = use.stmt;
        for (std::size_t i = 0; i < items.size(); ++i) {
            std::string fields = encode_msgpack_unchecked(items[i].fields);
            q.bind(1, key.user);
            q.bind(2, cat(key.category));
            q.bind(3, items[i].id);
            q.bind(4, static_cast<double>(i + 1));
            q.bind(5, fields.data(), static_cast<int>(fields.size()));
            q.exec();
            q.reset();
        }
    }

    bool remove_device_item(const DocKey& key, const std::string& id) override {
        auto use = statements_.use("DELETE FROM device_items WHERE user=? AND category=? AND id=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key.user);
        q.bind(2, cat(key.category));
        q.bind(3, id);
        return q.exec() > 0;
    }

    std::optional<std::string> setting(const std::string& key) override {
        auto use = statements_.use("SELECT value FROM settings WHERE key=?");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key);
        if (!q.executeStep()) return std::nullopt;
        return q.getColumn(0).getString();
    }

    void set_setting(const std::string& key, const std::string& value) override {
        auto use = statements_.use("INSERT OR REPLACE INTO settings VALUES(?,?)");
        SQLite::Statement& q = use.stmt;
        q.bind(1, key);
        q.bind(2, value);
        q.exec();
    }

  private:
    static StoredDoc stored(SQLite::Statement& q) {
        auto doc = decode_document(store::blob(q.getColumn(0)));
        if (!doc)
            throw std::runtime_error("corrupt document in local store: " + doc.error().message);
        return StoredDoc{std::move(doc).value(),
                         q.getColumn(1).getString() == "local" ? Origin::local : Origin::server};
    }

    std::vector<OutboxRow> outbox_query(const std::string& where,
                                        const std::vector<std::string>& args,
                                        const std::string& limit = "") {
        auto use = statements_.use(
            "SELECT seq,user,category,registers,ops,created_at,acked,acked_version FROM outbox" +
            where + " ORDER BY seq" + limit);
        SQLite::Statement& q = use.stmt;
        for (std::size_t i = 0; i < args.size(); ++i) q.bind(static_cast<int>(i + 1), args[i]);
        std::vector<OutboxRow> out;
        while (q.executeStep()) {
            OutboxRow r;
            r.seq = static_cast<uint64_t>(q.getColumn(0).getInt64());
            r.user = q.getColumn(1).getString();
            auto c = category_from_name(q.getColumn(2).getString());
            if (!c) continue;
            r.category = *c;
            r.registers = q.getColumn(3).getInt() != 0;
            r.ops = ops_from_blob(store::blob(q.getColumn(4)), r.user, r.category);
            r.created_at = q.getColumn(5).getInt64();
            r.acked = q.getColumn(6).getInt() != 0;
            r.acked_version = static_cast<uint64_t>(q.getColumn(7).getInt64());
            out.push_back(std::move(r));
        }
        return out;
    }

    std::unique_ptr<SQLite::Database> db_;
    store::StatementCache statements_{*db_};  // after db_: finalized before it closes
};

}  // namespace

std::unique_ptr<ClientStore> open_sqlite_client_store(const std::string& path) {
    return std::make_unique<SqliteClientStore>(path);
}

}  // namespace pdsync::client
