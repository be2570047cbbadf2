// Merge rules: apply ops to a document.
#include "shared/merge.hpp"

#include <algorithm>

namespace pdsync {
namespace {

using Entries = std::vector<Entry>;

// Index where an entry placed after `anchor` goes, in `entries` (with the entry removed).
std::size_t insert_index(const Entries& entries, const std::string& anchor) {
    if (anchor.empty()) return 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].id == anchor && !entries[i].deleted) return i + 1;
    }
    return entries.size();
}

std::size_t index_of(const Entries& entries, const std::string& id) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].id == id) return i;
    }
    return entries.size();
}

void place(Entries& entries, Entry e, const std::optional<std::string>& after) {
    std::size_t at = after ? insert_index(entries, *after) : entries.size();
    entries.insert(entries.begin() + static_cast<std::ptrdiff_t>(at), std::move(e));
}

}  // namespace

MergeOutcome apply_ops(Document& doc, const std::vector<ChangeOp>& ops, uint64_t rev) {
    MergeOutcome out;
    for (const auto& op : ops) {
        std::size_t i = index_of(doc.entries, op.id);
        bool exists = i < doc.entries.size();
        switch (op.kind) {
            case OpKind::put: {
                if (exists && doc.entries[i].deleted && op.base_rev < doc.entries[i].rev) {
                    out.conflicts.push_back(op.id);
                    break;
                }
                Entry e;
                if (exists) {
                    e = std::move(doc.entries[i]);
                    doc.entries.erase(doc.entries.begin() + static_cast<std::ptrdiff_t>(i));
                } else {
                    e.id = op.id;
                }
                bool reposition = !exists || op.after.has_value() || e.deleted;
                e.deleted = false;
                e.fields = op.fields;
                e.rev = rev;
                if (reposition) {
                    place(doc.entries, std::move(e), op.after);
                } else {
                    doc.entries.insert(doc.entries.begin() + static_cast<std::ptrdiff_t>(i),
                                       std::move(e));
                }
                out.changed = true;
                break;
            }
            case OpKind::remove: {
                if (!exists || doc.entries[i].deleted) break;  // already gone: nothing to do
                auto& e = doc.entries[i];
                e.deleted = true;
                e.fields = Value::object();
                e.rev = rev;
                out.changed = true;
                break;
            }
            case OpKind::move: {
                if (!exists || doc.entries[i].deleted) {
                    out.conflicts.push_back(op.id);
                    break;
                }
                if (op.after && *op.after == op.id) break;  // after itself: stays put
                Entry e = std::move(doc.entries[i]);
                doc.entries.erase(doc.entries.begin() + static_cast<std::ptrdiff_t>(i));
                e.rev = rev;
                place(doc.entries, std::move(e), op.after);
                out.changed = true;
                break;
            }
        }
    }
    return out;
}

Document document_from_registration(const ChangeSet& cs, uint64_t rev, int64_t now_ms) {
    Document doc;
    doc.user = cs.user;
    doc.category = cs.category;
    apply_ops(doc, cs.ops, rev);
    doc.version = rev;
    doc.updated_at = now_ms;
    return doc;
}

std::size_t prune_tombstones(Document& doc, std::size_t keep) {
    std::vector<uint64_t> revs;
    for (const auto& e : doc.entries) {
        if (e.deleted) revs.push_back(e.rev);
    }
    if (revs.size() <= keep) return 0;
    std::size_t drop = revs.size() - keep;
    std::nth_element(revs.begin(), revs.begin() + static_cast<std::ptrdiff_t>(drop - 1),
                     revs.end());
    uint64_t cutoff = revs[drop - 1];
    std::size_t dropped = 0;
    std::erase_if(doc.entries, [&](const Entry& e) {
        if (e.deleted && e.rev <= cutoff && dropped < drop) {
            ++dropped;
            return true;
        }
        return false;
    });
    return dropped;
}

}  // namespace pdsync
