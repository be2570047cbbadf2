// SQLite session capture of one transaction, handed to raft instead of committed.
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>

#include "server-node/cluster/change_capture.hpp"

#include <stdexcept>

namespace pdsync::server::cluster {
namespace {

class CapturedTransaction final : public StoreTransaction {
  public:
    CapturedTransaction(sqlite3* db, const SubmitChangeset& submit) : db_(db), submit_(submit) {
        if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("begin: ") + sqlite3_errmsg(db_));
        if (sqlite3session_create(db_, "main", &session_) != SQLITE_OK ||
            sqlite3session_attach(session_, nullptr) != SQLITE_OK) {
            std::string why = sqlite3_errmsg(db_);
            end();
            throw std::runtime_error("change capture: " + why);
        }
    }
    ~CapturedTransaction() override { end(); }

    void commit() override {
        int size = 0;
        void* bytes = nullptr;
        int rc = sqlite3session_changeset(session_, &size, &bytes);
        std::string changeset;
        if (rc == SQLITE_OK && bytes) changeset.assign(static_cast<const char*>(bytes), size);
        sqlite3_free(bytes);
        // Rolled back here, applied again by the state machine once the log holds it.
        end();
        if (rc != SQLITE_OK) throw std::runtime_error("change capture failed");
        if (!changeset.empty()) submit_(std::move(changeset));
    }

  private:
    void end() {
        if (session_) sqlite3session_delete(session_);
        session_ = nullptr;
        if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        open_ = false;
    }

    sqlite3* db_;
    SubmitChangeset submit_;
    sqlite3_session* session_ = nullptr;
    bool open_ = true;
};

}  // namespace

std::unique_ptr<StoreTransaction> begin_captured(sqlite3* db, const SubmitChangeset& submit) {
    return std::make_unique<CapturedTransaction>(db, submit);
}

}  // namespace pdsync::server::cluster
