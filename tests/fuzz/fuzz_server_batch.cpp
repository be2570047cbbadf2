// libFuzzer target: arbitrary batches of (topic, payload) into ServerCore::handle_batch,
// over an in-memory SQLite store, as the server's worker would feed them from the broker.
// The input format is in batch_format.hpp. Checks:
//  - handle_batch never throws out, whatever arrives;
//  - with a healthy (in-memory) store nothing is answered with Errc::storage: that code
//    means "the store failed, nothing was applied", so seeing it here means an exception
//    from bad input rolled back the whole batch, every other device's changes included;
//  - everything the server publishes is on a topic the contract parses, and readable by
//    the devices: documents decode (with the codec's bounds) and match their topic, inbox
//    replies decode, status is MessagePack;
//  - after the batches, a restarted core over the same store republishes only documents
//    that decode.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "server-node/server_core.hpp"
#include "server-node/server_store.hpp"
#include "shared/base/tuning.hpp"
#include "shared/messages.hpp"
#include "tests/fuzz/batch_format.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace pdsync;
using namespace pdsync::server;

namespace {

const Topics kTopics("pds/v1");

std::string hello_payload(const std::string& device_id, const std::string& epoch,
                          const std::string& digest) {
    Hello h;
    h.device_id = device_id;
    h.protocol = tuning::protocol::kProtocolVersion;
    h.categories = CategorySet::all();
    h.auth_digest = digest;
    h.epoch = epoch;
    return encode_msgpack_unchecked(hello_to_value(h));
}

void check_published(const std::vector<Outbound>& out, const char* when) {
    for (const auto& o : out) {
        if (o.topic == kTopics.server_sessions()) {
            // The session table for the broker's plugin: lines of grant/revoke DEVICE UID, or
            // reset.
            std::istringstream lines(o.payload);
            for (std::string line; std::getline(lines, line);) {
                PDS_FUZZ_CHECK(
                    line == "reset" || line.rfind("grant ", 0) == 0 ||
                        line.rfind("revoke ", 0) == 0,
                    std::string(when) +
                        ": a session-table line the plugin cannot read: " + line.substr(0, 200));
            }
            continue;
        }
        auto t = kTopics.parse(o.topic);
        PDS_FUZZ_CHECK(t.ok(), std::string(when) + ": published on a topic outside the contract: " +
                                   o.topic.substr(0, 200));
        switch (t->kind) {
            case TopicKind::user_doc:
            case TopicKind::shared_doc: {
                PDS_FUZZ_CHECK(o.retained, "a document published without retain: " + o.topic);
                if (o.payload.empty()) break;  // a deletion
                auto doc = decode_document(o.payload);
                PDS_FUZZ_CHECK(doc.ok(), std::string(when) + ": published a document devices " +
                                             "cannot decode on " + o.topic + ": " +
                                             (doc ? std::string() : doc.error().message));
                PDS_FUZZ_CHECK(doc->category == t->category && doc->user == t->user,
                               "document does not match its topic " + o.topic);
                break;
            }
            case TopicKind::device_inbox: {
                auto v = decode_msgpack(o.payload);
                PDS_FUZZ_CHECK(v.ok(), "an inbox reply that is not MessagePack");
                auto r = reply_from_value(*v);
                PDS_FUZZ_CHECK(r.ok(), "an inbox reply devices cannot decode: " +
                                           (r ? std::string() : r.error().message));
                for (const auto& one : flatten_reply(*r)) {
                    const auto* ack = std::get_if<AckReply>(&one);
                    if (!ack) continue;
                    PDS_FUZZ_CHECK(ack->ok || ack->reason != Errc::ok, "a refusal without reason");
                    PDS_FUZZ_CHECK(ack->reason != Errc::storage,
                                   std::string(when) +
                                       ": a healthy store answered 'storage' (a batch was rolled "
                                       "back by an exception): " +
                                       ack->message);
                }
                break;
            }
            case TopicKind::server_status:
                PDS_FUZZ_CHECK(decode_msgpack(o.payload).ok(), "status is not MessagePack");
                break;
            default:
                fuzz::fail("published on a device's own topic", o.topic, __FILE__, __LINE__);
        }
    }
}

std::vector<Outbound> run_batch(ServerCore& core, const std::vector<Inbound>& batch) {
    std::vector<Outbound> early;
    std::vector<Outbound> out;
    try {
        out = core.handle_batch(batch, [&](std::vector<Outbound>&& e) {
            for (auto& o : e) early.push_back(std::move(o));
        });
    } catch (const std::exception& e) {
        fuzz::fail("handle_batch threw", e.what(), __FILE__, __LINE__);
    } catch (...) {
        fuzz::fail("handle_batch threw", "a non-std exception", __FILE__, __LINE__);
    }
    check_published(early, "early replies");
    check_published(out, "after commit");
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);  // the server logs every rejection
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    fuzz::batch::Input in = fuzz::batch::parse(data, size);

    AuthProfile profile;
    ServerSettings settings;
    settings.auth_digest = profile.digest();
    settings.user_limit = in.user_limit();
    if (in.flags & fuzz::batch::kFewCategories) {
        settings.categories = CategorySet{};
        settings.categories.insert(Category::addressbook);
        settings.categories.insert(Category::keychain);
        settings.categories.insert(Category::guest_home);
    }
    if (in.flags & fuzz::batch::kMachineLimit2) settings.machine_limit = 2;

    std::unique_ptr<ServerStore> store = open_sqlite_server_store(":memory:");
    {
        ServerCore core(*store, kTopics, settings);
        std::vector<Inbound> joins;
        if (in.flags & fuzz::batch::kJoinDev1) {
            joins.push_back({kTopics.device("dev-1", TopicKind::device_hello),
                             hello_payload("dev-1", "e1", settings.auth_digest), false});
        }
        if (in.flags & fuzz::batch::kJoinDev2) {
            joins.push_back({kTopics.device("dev-2", TopicKind::device_hello),
                             hello_payload("dev-2", "e2", settings.auth_digest), false});
        }
        if (!joins.empty()) (void)run_batch(core, joins);
        for (const auto& messages : in.batches) {
            std::vector<Inbound> batch;
            batch.reserve(messages.size());
            for (const auto& m : messages) batch.push_back({m.topic, m.payload, m.retained});
            (void)run_batch(core, batch);
        }
        (void)core.status_message();
    }
    // A restart over the same store: the start-up republish must be readable.
    ServerCore restarted(*store, kTopics, settings);
    check_published(restarted.all_documents(), "start-up republish");
    check_published({restarted.status_message()}, "status after restart");
    return 0;
}
