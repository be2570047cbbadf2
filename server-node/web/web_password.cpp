// Argon2id password hashes for the web admin account (libsodium crypto_pwhash_str).
#include "server-node/web/web_password.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace pdsync::server::web {

Result<std::string> hash_password(std::string_view password) {
    if (sodium_init() < 0) return make_error(Errc::io, "libsodium did not initialize");
    if (password.empty()) return make_error(Errc::invalid_argument, "the password is empty");
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        return make_error(Errc::io, "out of memory while hashing the password");
    }
    return std::string(out);
}

bool verify_password(const std::string& hash, std::string_view password) {
    if (sodium_init() < 0 || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

Result<std::string> read_password_hash_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return make_error(Errc::not_found,
                          "cannot read the web admin password hash '" + path + "'");
    if ((st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) != 0) {
        return make_error(Errc::forbidden, "the web admin password hash '" + path +
                                               "' may be read or written by others: chmod 0600 it");
    }
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.rfind("$argon2", 0) != 0 || line.size() >= crypto_pwhash_STRBYTES) {
        return make_error(Errc::invalid_argument,
                          "'" + path +
                              "' does not hold an Argon2 password hash (make one with "
                              "pdsync-server --web-hash-password < password-file)");
    }
    return line;
}

}  // namespace pdsync::server::web
