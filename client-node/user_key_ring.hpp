// The keys this device holds for sealed fields (docs/security.md "Sealed fields"): its own
// box key pair, which it gives in its hello, and the keys of the users who logged in here,
// which the server sends sealed to that key pair with each accepted login. Kept in the
// device's store (0600) beside the cached documents, so a user who logged in here once can
// still read and edit their secrets offline; a user evicted or gone from the server loses
// theirs with their documents.
//
// Ownership and threads: owned by ClientCore, on the worker thread.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "client-node/client_store.hpp"
#include "shared/user_keys.hpp"

namespace pdsync::client {

class UserKeyRing {
  public:
    // Loads the device's box key pair from `store`, making and keeping one the first time.
    explicit UserKeyRing(ClientStore& store);

    // The 32-byte public key, as the hello carries it.
    std::string public_key() const;

    // Opens a user key sealed to this device and keeps it as that user's newest (a server
    // with another user-key file, after a failover, gives another; the older ones still
    // open what they sealed). A key that does not open is refused and nothing changes.
    Status accept(const std::string& user, std::string_view sealed);

    // The key that seals the user's new secrets: the newest, or none.
    const UserKey* sealing_key(const std::string& user) const;
    // Every key that may open the user's sealed fields, newest first.
    std::vector<const FleetKey*> opening_keys(const std::string& user) const;

    void forget(const std::string& user);

  private:
    std::vector<UserKey>& load(const std::string& user) const;
    void save(const std::string& user);

    ClientStore& store_;
    BoxKeyPair box_;
    mutable std::map<std::string, std::vector<UserKey>> users_;  // loaded on first use
};

}  // namespace pdsync::client
