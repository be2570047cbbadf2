// Store population through the real store implementations (see populate.hpp).
#include "tests/bench/populate.hpp"

#include <SQLiteCpp/SQLiteCpp.h>

#include "client-node/client_store.hpp"
#include "server-node/server_store.hpp"
#include "shared/clock.hpp"
#include "shared/store/sqlite_db.hpp"
#include "tests/bench/bench_stats.hpp"
#include "tests/bench/profiles.hpp"
#include "topics/topics.hpp"

namespace pdsync::bench {
namespace {

constexpr std::size_t kUsersPerTransaction = 1000;

}  // namespace

Populated populate_server_store(const std::string& path, std::size_t users, std::size_t realistic) {
    auto t0 = Clock::now();
    auto store = server::open_sqlite_server_store(path);
    Populated out;
    int64_t base = now_ms() - static_cast<int64_t>(users) - 1000;
    for (std::size_t first = 0; first < users; first += kUsersPerTransaction) {
        auto txn = store->begin();
        for (std::size_t i = first; i < std::min(users, first + kUsersPerTransaction); ++i) {
            std::string user = user_id(i);
            int64_t at = base + static_cast<int64_t>(i);
            store->save_user(server::UserRow{user, at, at});
            auto profile = i < realistic ? Profile::realistic : Profile::light;
            for (const auto& doc : user_documents(user, profile, 1, at)) {
                store->save_document(doc);
                out.document_bytes += encode_document(doc).size();
                ++out.documents;
            }
        }
        txn->commit();
    }
    out.users = users;
    out.seconds = ms_between(t0, Clock::now()) / 1000;
    return out;
}

Populated populate_client_store(const std::string& path, std::size_t first, std::size_t users) {
    auto t0 = Clock::now();
    auto store = client::open_sqlite_client_store(path);
    Populated out;
    auto txn = store->begin();
    for (std::size_t i = first; i < first + users; ++i) {
        for (auto& doc : user_documents(user_id(i), Profile::realistic, 0, now_ms())) {
            out.document_bytes += encode_document(doc).size();
            store->save(doc, client::Origin::local);
            ++out.documents;
        }
    }
    txn->commit();
    out.users = users;
    out.seconds = ms_between(t0, Clock::now()) / 1000;
    return out;
}

std::vector<StoredPayload> read_server_documents(const std::string& path, const std::string& root,
                                                 std::size_t stride) {
    SQLite::Database db(path, SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT body FROM documents ORDER BY user, category");
    Topics topics(root);
    std::vector<StoredPayload> out;
    for (std::size_t row = 0; q.executeStep(); ++row) {
        if (row % stride != 0) continue;
        std::string body = store::blob(q.getColumn(0));
        auto doc = decode_document(body);
        if (!doc) continue;
        out.push_back({topics.user_doc(doc->user, doc->category), std::move(body)});
    }
    return out;
}

}  // namespace pdsync::bench
