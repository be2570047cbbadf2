// A device's local store, behind a small interface (SQLite implementation in
// sqlite_client_store.cpp). It holds:
//  - documents: the last version the server sent (origin "server"), or data made before
//    this device ever joined (origin "local", registered with the server at first merge);
//  - the outbox: change sets not yet acknowledged, in sequence order, surviving kill -9;
//  - device-specific items ("Device-Specific (Not Shared)"): never published, but stored
//    durably, so unlike the reference product they survive a crash;
//  - a few settings (epoch, current user, join state).
//
// Ownership and threads: owned by the client node's worker thread; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shared/document.hpp"
#include "shared/messages.hpp"

namespace pdsync::client {

enum class Origin : uint8_t { server, local };

struct StoredVersion {
    uint64_t version = 0;
    Origin origin = Origin::server;
};

struct StoredDoc {
    Document doc;
    Origin origin = Origin::server;
};

struct OutboxRow {
    uint64_t seq = 0;
    std::string user;
    Category category = Category::addressbook;
    bool registers = false;
    std::vector<ChangeOp> ops;
    int64_t created_at = 0;
    bool acked = false;  // the server applied it; kept until its document arrives
    uint64_t acked_version = 0;
    DocKey key() const { return DocKey{user, category}; }
};

// What a transaction's commit promises. `full` syncs to disk (the outbox, device items,
// settings: what the user typed). `cache` only for copies of server documents, which the
// server sends again: a power cut may roll such a commit back, never tear it, and a later
// `full` commit syncs it along with its own.
enum class Durability : uint8_t { full, cache };

struct DeviceItem {
    std::string id;
    Value fields = Value::object();
};

class ClientStore {
  public:
    virtual ~ClientStore() = default;

    class Transaction {
      public:
        virtual ~Transaction() = default;
        virtual void commit() = 0;
    };
    virtual std::unique_ptr<Transaction> begin(Durability durability = Durability::full) = 0;

    virtual std::optional<StoredDoc> load(const DocKey& key) = 0;
    // The stored bytes of a server copy (not decoded); nullopt for none or a local document.
    virtual std::optional<std::string> load_encoded(const DocKey& key) = 0;
    // The stored document's version and origin, without decoding it.
    virtual std::optional<StoredVersion> version_of(const DocKey& key) = 0;
    virtual void save(const Document& doc, Origin origin) = 0;
    // Saves a document already encoded (`body` decodes to a document of `key` at
    // `version`): the bytes the server sent, stored as they came.
    virtual void save_encoded(const DocKey& key, uint64_t version, Origin origin,
                              std::string_view body) = 0;
    virtual void remove(const DocKey& key) = 0;
    virtual void remove_user(const std::string& user) = 0;  // documents, outbox rows, device items
    virtual std::vector<StoredDoc> documents(std::optional<Origin> origin = std::nullopt) = 0;
    // Keys only, so a caller can walk many large documents one at a time.
    virtual std::vector<DocKey> document_keys(Origin origin) = 0;
    virtual std::vector<std::string> cached_users() = 0;

    // Appends a change set to the outbox, assigning the next sequence number.
    virtual uint64_t append_outbox(OutboxRow row) = 0;
    virtual std::vector<OutboxRow> outbox() = 0;  // in sequence order
    // At most `limit` rows not yet acked, from `from_seq` on, in sequence order: what the
    // sender needs, without reading a large outbox (first merge) on every ack.
    virtual std::vector<OutboxRow> unacked_from(uint64_t from_seq, std::size_t limit) = 0;
    // The first sequence number not yet acked (the next one to be assigned if none).
    virtual uint64_t first_unacked_seq() = 0;
    // Drops rows not yet acked up to `seq`: the server applied them but the acks were lost.
    virtual void drop_unacked_upto(uint64_t seq) = 0;
    virtual std::vector<OutboxRow> outbox_for(const DocKey& key) = 0;
    virtual void mark_acked(uint64_t seq, uint64_t version) = 0;
    virtual void drop_outbox(uint64_t seq) = 0;
    // Drops acked rows of `key` that the document at `version` already contains.
    virtual void drop_acked_upto(const DocKey& key, uint64_t version) = 0;
    virtual std::size_t outbox_size() = 0;

    virtual std::vector<DeviceItem> device_items(const DocKey& key) = 0;
    virtual std::vector<std::pair<DocKey, DeviceItem>> all_device_items() = 0;

    virtual void put_device_item(const DocKey& key, const DeviceItem& item,
                                 std::optional<std::string> after) = 0;
    virtual bool remove_device_item(const DocKey& key, const std::string& id) = 0;

    virtual std::optional<std::string> setting(const std::string& key) = 0;
    virtual void set_setting(const std::string& key, const std::string& value) = 0;
};

std::unique_ptr<ClientStore> open_sqlite_client_store(const std::string& path);

}  // namespace pdsync::client
