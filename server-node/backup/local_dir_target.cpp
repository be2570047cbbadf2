// Local-directory backup target (see local_dir_target.hpp).
#include "server-node/backup/local_dir_target.hpp"

#include "server-node/backup/file_util.hpp"

#include <unistd.h>

#include <cerrno>

namespace pdsync::backup {

namespace fs = std::filesystem;

Status LocalDirTarget::put(const fs::path& local_file, const std::string& name) {
    if (auto st = validate_name(name); !st) return st;
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) return errno_error(ec.value(), "creating backup directory " + dir_.string());
    return detail::copy_file_durably(local_file, dir_ / name);
}

Result<std::vector<std::string>> LocalDirTarget::list() {
    std::vector<std::string> names;
    std::error_code ec;
    if (!fs::exists(dir_, ec)) return names;
    fs::directory_iterator it(dir_, ec);
    if (ec) return errno_error(ec.value(), "listing " + dir_.string());
    // increment(ec) rather than a range-for: the range-for's ++ throws on I/O errors.
    for (; it != fs::directory_iterator(); it.increment(ec)) {
        if (ec) return errno_error(ec.value(), "listing " + dir_.string());
        std::string name = it->path().filename().string();
        if (name.empty() || name.front() == '.') continue;  // in-progress uploads
        std::error_code type_ec;
        if (!it->is_regular_file(type_ec)) continue;
        names.push_back(std::move(name));
    }
    if (ec) return errno_error(ec.value(), "listing " + dir_.string());
    return names;
}

Status LocalDirTarget::get(const std::string& name, const fs::path& local_file,
                           const ProgressFn& progress) {
    if (auto st = validate_name(name); !st) return st;
    const fs::path from = dir_ / name;
    std::error_code ec;
    if (!fs::is_regular_file(from, ec)) {
        return make_error(Errc::not_found, "no file " + name + " in " + dir_.string());
    }
    return detail::copy_file_durably(from, local_file, progress);
}

Status LocalDirTarget::remove(const std::string& name) {
    if (auto st = validate_name(name); !st) return st;
    const fs::path path = dir_ / name;
    if (::unlink(path.c_str()) != 0) {
        if (errno == ENOENT)
            return make_error(Errc::not_found, "no file " + name + " in " + dir_.string());
        return errno_error(errno, "deleting " + path.string());
    }
    return fsync_dir(dir_);
}

}  // namespace pdsync::backup
