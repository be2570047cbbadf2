// Hex text and random ids (see hex.hpp).
#include "shared/base/hex.hpp"

#include <sodium.h>

#include <vector>

namespace pdsync {

std::string to_hex(std::string_view bytes) {
    std::string hex(bytes.size() * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                   bytes.size());
    hex.pop_back();
    return hex;
}

std::string random_hex(std::size_t bytes) {
    static const bool ready = sodium_init() >= 0;
    (void)ready;
    std::vector<unsigned char> buf(bytes);
    randombytes_buf(buf.data(), buf.size());
    return to_hex(std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()));
}

}  // namespace pdsync
