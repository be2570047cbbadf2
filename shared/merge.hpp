// The merge rules (docs/protocol.md §5.3 and §5.5), as pure functions over documents. The server
// runs them to apply a change set; a device runs the same functions to show its pending
// (unacknowledged) edits on top of the last document the server sent, so both sides
// agree by construction.
//
// Rules:
//  - Ops apply in order; each touches one entry. Entries not named are untouched, so
//    concurrent edits of different entries from different devices both survive.
//  - The same entry edited twice: the later op in the server's order wins.
//  - remove leaves a tombstone. A put naming an entry deleted at a rev newer than the
//    put's base_rev is a conflict and is skipped: a late edit does not resurrect it.
//  - Positions: `after` names the entry to follow ("" = first). An anchor that is missing
//    or deleted puts the entry last, deterministically.
#pragma once

#include <string>
#include <vector>

#include "shared/document.hpp"
#include "shared/messages.hpp"

namespace pdsync {

struct MergeOutcome {
    bool changed = false;                // something in the document differs
    std::vector<std::string> conflicts;  // ids of ops skipped as conflicts
};

// Applies `ops` to `doc`, stamping changed entries with `rev`. Does not touch
// doc.version; the caller (the server) sets it to `rev` when `changed`.
MergeOutcome apply_ops(Document& doc, const std::vector<ChangeOp>& ops, uint64_t rev);

// First merge: builds the document a registering device brings (its puts, in order).
Document document_from_registration(const ChangeSet& cs, uint64_t rev, int64_t now_ms);

// Drops the oldest tombstones beyond `keep`, so deleted entries do not grow a document
// without bound. Returns how many were dropped.
std::size_t prune_tombstones(Document& doc, std::size_t keep);

}  // namespace pdsync
