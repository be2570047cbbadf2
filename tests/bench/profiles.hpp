// The users the benchmark stores: documents of realistic shape and size for the six
// personal categories, built deterministically from the user's index so any phase can
// rebuild the same bytes without keeping them.
//
//  - realistic: 200 address-book entries (mixed e-mail, fax and file-server destinations,
//    ~1 KiB each, as tuning.hpp assumes), 20 personal buttons, 20 shortcuts, 10 keychain
//    entries, a home screen of 24 tiles and 25 preferences: ~0.2 MiB per user.
//  - light: the same categories with a handful of entries (~3 KiB per user): the bulk of a
//    100,000-user store, where most users have personalized little.
//
//   auto docs = user_documents(user_id(7), Profile::realistic, 1, now_ms());
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shared/document.hpp"
#include "shared/messages.hpp"

namespace pdsync::bench {

enum class Profile { realistic, light };

// "u000007@corp.example": the '@' is percent-encoded in topics, as real logins would be.
std::string user_id(std::size_t index);

// The user's six personal documents at `version` (entries at rev `version`).
std::vector<Document> user_documents(const std::string& user, Profile profile, uint64_t version,
                                     int64_t updated_at);

// Fields of one address-book entry (~1 KiB); `variant` changes the content, not the size.
Value address_fields(std::size_t index, uint64_t variant);
// Fields of one preference entry; `variant` changes the value.
Value pref_fields(std::size_t index, uint64_t variant);

// Id of the address-book / preference entry an edit touches (they exist in every profile).
std::string address_id(std::size_t index);
std::string pref_id(std::size_t index);

// A one-op edit that rewrites an existing entry of `category` (addressbook or prefs):
// what one change from a device UI looks like.
ChangeOp edit_op(Category category, std::size_t entry, uint64_t variant);

// The wire bytes of a one-op change set from a simulated device: the raw baselines' payload.
std::string change_set_bytes(const std::string& user, Category c, std::size_t entry);

// The register change set a device that holds `docs` from before its first join sends.
ChangeSet registration(const Document& doc, const std::string& device_id, const std::string& epoch,
                       uint64_t seq);

}  // namespace pdsync::bench
