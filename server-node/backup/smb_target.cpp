// SMB backup target over libsmbclient (see smb_target.hpp).
#include "server-node/backup/smb_target.hpp"

#include "server-node/backup/file_util.hpp"
#include "shared/base/hex.hpp"
#include "shared/base/tuning.hpp"

#include <libsmbclient.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace pdsync::backup {

namespace fs = std::filesystem;

namespace {

struct ContextDeleter {
    // shutdown_ctx=1: close the cached server connections even if files are still open.
    void operator()(SMBCCTX* ctx) const { smbc_free_context(ctx, 1); }
};
using Context = std::unique_ptr<SMBCCTX, ContextDeleter>;

// An open remote file or directory, closed with its context's close function.
class SmbHandle {
  public:
    enum class Kind { file, dir };
    SmbHandle(SMBCCTX* ctx, SMBCFILE* handle, Kind kind) : ctx_(ctx), h_(handle), kind_(kind) {}
    SmbHandle(const SmbHandle&) = delete;
    SmbHandle& operator=(const SmbHandle&) = delete;
    ~SmbHandle() { (void)close(); }

    SMBCFILE* get() const { return h_; }
    explicit operator bool() const { return h_ != nullptr; }
    // 0 or -1 with errno; for a file being written, the close is where the server reports
    // a failed flush, so callers check it.
    int close() {
        if (!h_) return 0;
        SMBCFILE* h = h_;
        h_ = nullptr;
        return kind_ == Kind::file ? smbc_getFunctionClose(ctx_)(ctx_, h)
                                   : smbc_getFunctionClosedir(ctx_)(ctx_, h);
    }

  private:
    SMBCCTX* ctx_;
    SMBCFILE* h_;
    Kind kind_;
};

struct ParsedUrl {
    std::string host;
    std::uint16_t port = 0;  // 0: libsmbclient's default (445)
    std::string share;
    std::vector<std::string> dirs;
};

Result<ParsedUrl> parse_url(std::string_view url) {
    constexpr std::string_view kScheme = "smb://";
    auto bad = [&](const std::string& why) {
        return make_error(Errc::invalid_argument,
                          "bad SMB URL '" + std::string(url) + "': " + why +
                              " (expected smb://host[:port]/share[/folder])");
    };
    if (url.substr(0, kScheme.size()) != kScheme) return bad("does not start with smb://");
    std::string_view rest = url.substr(kScheme.size());
    const auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view path =
        slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (authority.find('@') != std::string_view::npos) {
        return bad("credentials belong in the user and password settings, not in the URL");
    }
    ParsedUrl out;
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
        std::string_view digits = authority.substr(colon + 1);
        unsigned port = 0;
        for (char c : digits) {
            if (c < '0' || c > '9' || port > 65535) return bad("port is not a number");
            port = port * 10 + static_cast<unsigned>(c - '0');
        }
        if (digits.empty() || port == 0 || port > 65535) return bad("port out of range");
        out.port = static_cast<std::uint16_t>(port);
        authority = authority.substr(0, colon);
    }
    if (authority.empty()) return bad("no host");
    out.host = std::string(authority);
    std::size_t pos = 0;
    while (pos < path.size()) {
        auto next = path.find('/', pos);
        if (next == std::string_view::npos) next = path.size();
        std::string_view part = path.substr(pos, next - pos);
        if (part == "." || part == "..") return bad("'.' and '..' are not allowed");
        if (!part.empty()) {
            if (out.share.empty()) {
                out.share = std::string(part);
            } else {
                out.dirs.emplace_back(part);
            }
        }
        pos = next + 1;
    }
    if (out.share.empty()) return bad("no share");
    return out;
}

// errno from libsmbclient -> code. EACCES during the login is reported as auth by
// connect(); here it means the share refused one operation.
Errc code_for(int err) {
    switch (err) {
        case EACCES:
        case EPERM:
            return Errc::access_denied;
        case ECONNREFUSED:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case EHOSTDOWN:
        case ETIMEDOUT:
            return Errc::unreachable;
        case ENOENT:
        case ENOTDIR:
            return Errc::not_found;
        case ENOSPC:
        case EDQUOT:
            return Errc::no_space;
        default:
            return Errc::smb;
    }
}

Error smb_error(int err, const std::string& what) {
    return make_error(code_for(err),
                      what + ": " + (err ? std::strerror(err) : "unknown SMB error"));
}

void copy_field(char* out, int len, const std::string& value) {
    if (len > 0) std::snprintf(out, static_cast<std::size_t>(len), "%s", value.c_str());
}

}  // namespace

struct SmbTarget::Impl {
    std::string url;
    std::string user;
    std::string password;
    std::string workgroup;
    std::optional<Error> url_error;
    ParsedUrl parsed;
    std::string share_url;  // smb://host/share
    std::string base_url;   // smb://host/share/folder...
    Context ctx;
    bool connected = false;
    bool dir_ready = false;

    // libsmbclient asks for credentials through this callback; the Impl reaches it as the
    // context's user data, so several targets with different accounts can coexist.
    static void auth(SMBCCTX* c, const char* /*server*/, const char* /*share*/, char* wg, int wglen,
                     char* un, int unlen, char* pw, int pwlen) {
        const auto* self = static_cast<const Impl*>(smbc_getOptionUserData(c));
        copy_field(wg, wglen, self->workgroup);
        copy_field(un, unlen, self->user);
        copy_field(pw, pwlen, self->password);
    }

    std::string where() const {
        // Built with append: GCC 12 at -O2 reports a false -Wrestrict for `":" + to_string()`
        // (GCC bug 105651).
        std::string out = parsed.host;
        if (parsed.port) out.append(":").append(std::to_string(parsed.port));
        return out;
    }

    std::string file_url(const std::string& name) const { return base_url + "/" + name; }

    Result<SMBCCTX*> context() {
        if (url_error) return *url_error;
        if (!ctx) {
            Context c(smbc_new_context());
            if (!c) return smb_error(errno, "creating an SMB client context");
            smbc_setOptionUserData(c.get(), this);
            smbc_setFunctionAuthDataWithContext(c.get(), &Impl::auth);
            // Without this a refused login silently retries as guest, and a share that
            // allows guests would take backups under the wrong account.
            smbc_setOptionNoAutoAnonymousLogin(c.get(), 1);
            smbc_setOptionUseKerberos(c.get(), 0);
            smbc_setOptionFallbackAfterKerberos(c.get(), 1);
            smbc_setOptionUseCCache(c.get(), 0);
            smbc_setTimeout(c.get(), tuning::backup::kSmbTimeoutMs);
            smbc_setDebug(c.get(), 0);
            if (parsed.port) smbc_setPort(c.get(), parsed.port);
            if (!smbc_init_context(c.get())) return smb_error(errno, "initializing the SMB client");
            ctx = std::move(c);
        }
        return ctx.get();
    }

    // Logs in to the share once per context. The first contact is where libsmbclient
    // reports a refused login (as EACCES), so it is told apart from later per-file denials.
    Result<SMBCCTX*> connect() {
        auto c = context();
        if (!c || connected) return c;
        SmbHandle dir(*c, smbc_getFunctionOpendir(*c)(*c, share_url.c_str()), SmbHandle::Kind::dir);
        if (!dir) {
            const int err = errno;
            if (err == EACCES || err == EPERM) {
                return make_error(Errc::auth, "the SMB server at " + where() + " refused user '" +
                                                  user + "' on share '" + parsed.share +
                                                  "' (wrong user, password or workgroup, or the "
                                                  "user is not allowed on the share)");
            }
            if (err == ENOENT) {
                return make_error(Errc::not_found, "no share '" + parsed.share +
                                                       "' on the SMB server at " + where());
            }
            return smb_error(err, "connecting to the SMB server at " + where());
        }
        connected = true;
        return c;
    }

    Status ensure_dir(SMBCCTX* c) {
        if (dir_ready) return Ok{};
        std::string url = share_url;
        for (const auto& d : parsed.dirs) {
            url += "/" + d;
            if (smbc_getFunctionMkdir(c)(c, url.c_str(), 0755) != 0 && errno != EEXIST) {
                return smb_error(errno, "creating folder " + url);
            }
        }
        dir_ready = true;
        return Ok{};
    }

    void unlink_quietly(SMBCCTX* c, const std::string& url) {
        if (smbc_getFunctionUnlink(c)(c, url.c_str()) != 0 && errno != ENOENT) {
            spdlog::warn("backup: could not delete {} on the share: {}", url, std::strerror(errno));
        }
    }

    Status upload(SMBCCTX* c, const fs::path& local_file, const std::string& tmp_url) {
        UniqueFd in(::open(local_file.c_str(), O_RDONLY | O_CLOEXEC));
        if (!in) return errno_error(errno, "opening " + local_file.string());
        struct stat st {};
        if (::fstat(in.get(), &st) != 0) return errno_error(errno, "stat " + local_file.string());

        SmbHandle out(
            c, smbc_getFunctionOpen(c)(c, tmp_url.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644),
            SmbHandle::Kind::file);
        if (!out) return smb_error(errno, "creating " + tmp_url);
        std::vector<char> buf(tuning::backup::kCopyChunkBytes);
        std::uint64_t sent = 0;
        for (;;) {
            ssize_t n = ::read(in.get(), buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno_error(errno, "reading " + local_file.string());
            }
            if (n == 0) break;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = smbc_getFunctionWrite(c)(c, out.get(), buf.data() + off,
                                                     static_cast<std::size_t>(n - off));
                if (w <= 0) return smb_error(errno, "writing " + tmp_url);
                off += w;
            }
            sent += static_cast<std::uint64_t>(n);
        }
        if (out.close() != 0) return smb_error(errno, "closing " + tmp_url);
        // Read the size back from the server: a short write that slipped through would
        // otherwise only show up at restore time.
        struct stat remote {};
        if (smbc_getFunctionStat(c)(c, tmp_url.c_str(), &remote) != 0) {
            return smb_error(errno, "checking " + tmp_url);
        }
        if (static_cast<std::uint64_t>(remote.st_size) != sent ||
            sent != static_cast<std::uint64_t>(st.st_size)) {
            return make_error(Errc::smb, "upload of " + local_file.string() + " to " + tmp_url +
                                             " is incomplete: " + std::to_string(remote.st_size) +
                                             " of " + std::to_string(st.st_size) + " bytes");
        }
        return Ok{};
    }
};

SmbTarget::SmbTarget(std::string url, std::string user, std::string password, std::string workgroup)
    : impl_(std::make_unique<Impl>()) {
    impl_->url = std::move(url);
    impl_->user = std::move(user);
    impl_->password = std::move(password);
    impl_->workgroup = std::move(workgroup);
    // A bad URL is reported by every call rather than thrown from here (no exceptions
    // across this API).
    auto parsed = parse_url(impl_->url);
    if (!parsed) {
        impl_->url_error = parsed.error();
        return;
    }
    impl_->parsed = std::move(parsed).value();
    impl_->share_url = "smb://" + impl_->parsed.host + "/" + impl_->parsed.share;
    impl_->base_url = impl_->share_url;
    for (const auto& d : impl_->parsed.dirs) impl_->base_url += "/" + d;
}

SmbTarget::~SmbTarget() = default;

std::string SmbTarget::describe() const {
    if (impl_->url_error) return impl_->url;
    std::string out = "smb://" + impl_->user + "@" + impl_->where() + "/" + impl_->parsed.share;
    for (const auto& d : impl_->parsed.dirs) out += "/" + d;
    return out;
}

Status SmbTarget::probe() {
    auto c = impl_->connect();
    if (!c) return c.error();
    return Ok{};
}

Status SmbTarget::put(const fs::path& local_file, const std::string& name) {
    if (auto st = validate_name(name); !st) return st;
    auto c = impl_->connect();
    if (!c) return c.error();
    if (auto st = impl_->ensure_dir(*c); !st) return st;

    const std::string tmp_url = impl_->file_url("." + name + ".part-" + random_hex(4));
    const std::string final_url = impl_->file_url(name);
    if (auto st = impl_->upload(*c, local_file, tmp_url); !st) {
        impl_->unlink_quietly(*c, tmp_url);
        return st;
    }
    if (smbc_getFunctionRename(*c)(*c, tmp_url.c_str(), *c, final_url.c_str()) != 0) {
        int err = errno;
        // Some servers refuse to rename over an existing file; replace it explicitly.
        if (err == EEXIST) {
            impl_->unlink_quietly(*c, final_url);
            if (smbc_getFunctionRename(*c)(*c, tmp_url.c_str(), *c, final_url.c_str()) == 0) {
                return Ok{};
            }
            err = errno;
        }
        impl_->unlink_quietly(*c, tmp_url);
        return smb_error(err, "renaming " + tmp_url + " to " + final_url);
    }
    return Ok{};
}

Result<std::vector<std::string>> SmbTarget::list() {
    auto c = impl_->connect();
    if (!c) return c.error();
    std::vector<std::string> names;
    SmbHandle dir(*c, smbc_getFunctionOpendir(*c)(*c, impl_->base_url.c_str()),
                  SmbHandle::Kind::dir);
    if (!dir) {
        if (errno == ENOENT) return names;  // folder not created yet: no backups
        return smb_error(errno, "listing " + impl_->base_url);
    }
    while (const smbc_dirent* e = smbc_getFunctionReaddir(*c)(*c, dir.get())) {
        if (e->smbc_type != SMBC_FILE || e->name[0] == '.' || e->name[0] == '\0') continue;
        names.emplace_back(e->name);
    }
    return names;
}

Status SmbTarget::get(const std::string& name, const fs::path& local_file,
                      const ProgressFn& progress) {
    if (auto st = validate_name(name); !st) return st;
    auto c = impl_->connect();
    if (!c) return c.error();
    const std::string url = impl_->file_url(name);
    SmbHandle in(*c, smbc_getFunctionOpen(*c)(*c, url.c_str(), O_RDONLY, 0), SmbHandle::Kind::file);
    if (!in) {
        if (errno == ENOENT)
            return make_error(Errc::not_found, "no file " + name + " in " + describe());
        return smb_error(errno, "opening " + url);
    }
    detail::TempPath tmp(detail::temp_sibling(local_file, "download"));
    UniqueFd out(::open(tmp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return errno_error(errno, "creating " + tmp.path().string());
    std::vector<char> buf(tuning::backup::kCopyChunkBytes);
    std::uint64_t received = 0;
    for (;;) {
        ssize_t n = smbc_getFunctionRead(*c)(*c, in.get(), buf.data(), buf.size());
        if (n < 0) return smb_error(errno, "reading " + url);
        if (n == 0) break;
        if (auto st = write_all(out.get(), buf.data(), static_cast<std::size_t>(n), tmp.path());
            !st) {
            return st;
        }
        received += static_cast<std::uint64_t>(n);
        if (progress) progress(received, 0);
    }
    (void)in.close();  // read-only: nothing to flush, nothing to report
    if (::fsync(out.get()) != 0) return errno_error(errno, "fsync " + tmp.path().string());
    if (auto st = out.close(tmp.path()); !st) return st;
    if (auto st = rename_durably(tmp.path(), local_file); !st) return st;
    tmp.keep();
    return Ok{};
}

Status SmbTarget::remove(const std::string& name) {
    if (auto st = validate_name(name); !st) return st;
    auto c = impl_->connect();
    if (!c) return c.error();
    const std::string url = impl_->file_url(name);
    if (smbc_getFunctionUnlink(*c)(*c, url.c_str()) != 0) {
        if (errno == ENOENT)
            return make_error(Errc::not_found, "no file " + name + " in " + describe());
        return smb_error(errno, "deleting " + url);
    }
    return Ok{};
}

}  // namespace pdsync::backup
