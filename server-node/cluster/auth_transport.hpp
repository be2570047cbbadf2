// The raft transport of a cluster member: libraft's own TCP transport with a mutual
// challenge-response on every new connection, so only a peer holding the cluster secret
// is ever handed to raft (docs/failover.md "Who may speak raft").
//
// After libraft's TCP handshake (the dialer's id and address), on each connection:
//   acceptor -> dialer: nonce_a                                   (32 random bytes)
//   dialer -> acceptor: nonce_d, HMAC(secret, "dial"   | id | nonce_a | nonce_d)
//   acceptor -> dialer:          HMAC(secret, "accept" | id | nonce_a | nonce_d)
// (HMAC-SHA-256, libsodium's crypto_auth_hmacsha256; id = the dialer's raft id.) A wrong
// answer, a connection that does not answer within tuning::cluster::kHandshakeTimeout, or
// one past tuning::cluster::kMaxPendingHandshakes is closed before raft reads a byte of it.
// What it does not give: secrecy or integrity of the raft messages that follow; an attacker
// on the path could still read them or inject into an established connection.
//
// Ownership and threads: a member of RaftNode::Impl, used on the raft thread only.
#pragma once

#include <uv.h>
extern "C" {  // libraft's headers declare C functions without extern "C"
#include <raft.h>
#include <raft/uv.h>
}

#include <memory>

#include "server-node/cluster/cluster_settings.hpp"

namespace pdsync::server::cluster {

class AuthTransport {
  public:
    AuthTransport(uv_loop_t* loop, const ClusterSecret& secret);
    ~AuthTransport();
    AuthTransport(const AuthTransport&) = delete;
    AuthTransport& operator=(const AuthTransport&) = delete;

    // Initialises libraft's TCP transport; 0 or a libraft error code.
    int init();
    int set_bind_address(const char* address);
    // What raft_uv_init() takes: the authenticating transport.
    raft_uv_transport* transport() { return &outer_; }
    // After raft_uv_close(): releases libraft's TCP transport.
    void release();

    struct Impl;

  private:
    raft_uv_transport outer_{};
    std::unique_ptr<Impl> impl_;
};

}  // namespace pdsync::server::cluster
