// SHA-256 of a file through OpenSSL's EVP interface (see sha256.hpp).
#include "server-node/backup/sha256.hpp"

#include "server-node/backup/file_util.hpp"
#include "shared/base/tuning.hpp"

#include <openssl/evp.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

namespace pdsync::backup {

namespace {
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
}  // namespace

Result<FileDigest> digest_file(const std::filesystem::path& file, const ProgressFn& progress) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error(errno, "opening " + file.string());

    MdCtx ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
        return make_error(Errc::io, "OpenSSL could not start a SHA-256 digest");
    }
    FileDigest out;
    std::vector<unsigned char> buf(tuning::backup::kCopyChunkBytes);
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error(errno, "reading " + file.string());
        }
        if (n == 0) break;
        if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n)) != 1) {
            return make_error(Errc::io, "OpenSSL SHA-256 update failed");
        }
        out.size += static_cast<std::uint64_t>(n);
        if (progress) progress(out.size, 0);
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), md, &md_len) != 1) {
        return make_error(Errc::io, "OpenSSL SHA-256 final failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    out.sha256.reserve(std::size_t{md_len} * 2);
    for (unsigned int i = 0; i < md_len; ++i) {
        out.sha256.push_back(kHex[md[i] >> 4]);
        out.sha256.push_back(kHex[md[i] & 0xf]);
    }
    return out;
}

}  // namespace pdsync::backup
