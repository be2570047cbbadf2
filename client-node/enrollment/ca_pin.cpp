// A TLS handshake (OpenSSL), no MQTT: find the pinned CA in the broker's chain.
#include "client-node/enrollment/ca_pin.hpp"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "shared/base/tuning.hpp"

namespace pdsync::client {
namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

Result<int> tcp_connect(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0)
        return make_error(Errc::io, "cannot resolve '" + host + "': " + gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, ::freeaddrinfo);
    const timeval tv{static_cast<time_t>(tuning::mqtt::kConnectTimeout.count()), 0};
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
        ::close(fd);
    }
    return make_error(Errc::io, "cannot reach the server at " + host + ":" + service);
}

std::string der_of(X509* cert) {
    int len = i2d_X509(cert, nullptr);
    if (len <= 0) return "";
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(cert, &p);
    return der;
}

}  // namespace

Result<std::string> fetch_pinned_ca(const std::string& host, int port, const CaPin& pin) {
    PDS_TRY(int raw, tcp_connect(host, port));
    Fd fd{raw};
    std::unique_ptr<SSL_CTX, decltype(&::SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                            ::SSL_CTX_free);
    if (!ctx) return make_error(Errc::io, "TLS: cannot make a context");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    // Verified below against the pinned CA only, not against any system store.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    std::unique_ptr<SSL, decltype(&::SSL_free)> ssl(SSL_new(ctx.get()), ::SSL_free);
    SSL_set_fd(ssl.get(), fd.fd);
    SSL_set_tlsext_host_name(ssl.get(), host.c_str());
    if (SSL_connect(ssl.get()) != 1) {
        char buf[256];
        ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
        return make_error(Errc::io, "TLS handshake with " + host + ":" + std::to_string(port) +
                                        " failed (is it the broker's TLS port?): " + buf);
    }
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
    X509* leaf = SSL_get1_peer_certificate(ssl.get());
    std::unique_ptr<X509, decltype(&::X509_free)> leaf_guard(leaf, ::X509_free);
    X509* ca = nullptr;
    for (int i = 0; chain && i < sk_X509_num(chain); ++i) {
        X509* c = sk_X509_value(chain, i);
        if (ca_pin_of_der(der_of(c)) == pin) ca = c;
    }
    SSL_shutdown(ssl.get());
    if (!ca || !leaf) {
        return make_error(Errc::ca_mismatch,
                          "the broker at " + host + ":" + std::to_string(port) +
                              " does not present the fleet CA the join code names (sha256 " +
                              ca_pin_hex(pin) + "...): nothing was sent to it");
    }
    // The broker's own certificate must be signed by the pinned CA.
    std::unique_ptr<X509_STORE, decltype(&::X509_STORE_free)> store(X509_STORE_new(),
                                                                    ::X509_STORE_free);
    X509_STORE_add_cert(store.get(), ca);
    std::unique_ptr<X509_STORE_CTX, decltype(&::X509_STORE_CTX_free)> vctx(X509_STORE_CTX_new(),
                                                                           ::X509_STORE_CTX_free);
    X509_STORE_CTX_init(vctx.get(), store.get(), leaf, nullptr);
    if (X509_verify_cert(vctx.get()) != 1) {
        return make_error(Errc::ca_mismatch,
                          "the broker's certificate is not signed by the fleet CA the join code "
                          "names: nothing was sent to it");
    }
    std::unique_ptr<BIO, decltype(&::BIO_free)> bio(BIO_new(BIO_s_mem()), ::BIO_free);
    PEM_write_bio_X509(bio.get(), ca);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace pdsync::client
