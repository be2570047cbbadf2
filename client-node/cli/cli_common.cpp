// pdsync CLI shared helpers.
#include "client-node/cli/cli_common.hpp"

#include "shared/text.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "shared/net/control_socket.hpp"
#include "shared/terminal/progress_bar.hpp"

namespace pdsync::cli {
namespace {

bool is_json_path(const std::string& path) {
    return path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
}

}  // namespace

Value inert(const Value& v) {
    if (v.is_string()) return escape_for_display(v.get_ref<const std::string&>());
    if (v.is_array()) {
        Value out = Value::array();
        for (const auto& item : v) out.push_back(inert(item));
        return out;
    }
    if (v.is_object()) {
        Value out = Value::object();
        for (auto it = v.begin(); it != v.end(); ++it)
            out[escape_for_display(it.key())] = inert(it.value());
        return out;
    }
    return v;
}

std::string local_time(int64_t ms, const char* none) {
    if (ms <= 0) return none;
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    std::ostringstream os;
    os << std::put_time(&tm, "%Y-%m-%d %H:%M:%S");
    return os.str();
}

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

int fail(const std::string& code, const std::string& message, bool json) {
    if (json)
        std::cout << Value{{"ok", false}, {"error", code}, {"message", message}}.dump() << "\n";
    std::cerr << "pdsync: " << message << (code.empty() ? "" : " [" + code + "]") << "\n";
    return code == "io" ? 3 : 1;
}

std::optional<Value> call(const Common& c, const Value& request, int& exit_code,
                          const std::string& progress_label) {
    std::unique_ptr<terminal::ProgressBar> bar;
    if (!progress_label.empty()) {
        terminal::ProgressBar::Options o;
        o.json = c.json;
        bar = std::make_unique<terminal::ProgressBar>(progress_label, o);
    }
    auto r = net::control_call(
        c.socket, request, std::chrono::milliseconds(c.timeout_ms), [&](const Value& p) {
            if (bar && p.contains("done") && p.contains("total"))
                bar->update(p["done"].get<uint64_t>(), p["total"].get<uint64_t>());
        });
    if (bar) bar->finish();
    if (!r) {
        exit_code =
            fail(std::string(errc_name(r.code())), r.error().message + " at " + c.socket, c.json);
        return std::nullopt;
    }
    if (!r->value("ok", false)) {
        exit_code = fail(r->value("error", "error"), r->value("message", "failed"), c.json);
        return std::nullopt;
    }
    exit_code = 0;
    return *r;
}

std::optional<Value> import_in_chunks(
    const Common& c, const Value& documents,
    const std::function<Value(Value chunk, bool last)>& request_for, int& exit_code) {
    constexpr std::size_t kChunk = 200;  // a few MiB of realistic documents per request
    const std::size_t total = documents.is_array() ? documents.size() : 0;
    terminal::ProgressBar::Options o;
    o.json = c.json;
    terminal::ProgressBar bar("import", o);
    Value sum = {{"ok", true}};
    std::size_t done = 0;
    do {
        std::size_t n = std::min(kChunk, total - done);
        Value chunk = Value::array();
        for (std::size_t i = done; i < done + n; ++i) chunk.push_back(documents[i]);
        const bool last = done + n == total;
        auto r = net::control_call(c.socket, request_for(std::move(chunk), last),
                                   std::chrono::milliseconds(c.timeout_ms));
        std::string code, message;
        if (!r) {
            code = errc_name(r.code());
            message = r.error().message + " at " + c.socket;
        } else if (!r->value("ok", false)) {
            code = r->value("error", "error");
            message = r->value("message", "failed");
        }
        if (!code.empty()) {
            bar.finish();
            if (done > 0)
                message += " (after " + std::to_string(done) + " of " + std::to_string(total) +
                           " documents went in; importing the file again is safe)";
            exit_code = fail(code, message, c.json);
            return std::nullopt;
        }
        for (auto it = r->begin(); it != r->end(); ++it) {
            if (it->is_number_unsigned())
                sum[it.key()] = sum.value(it.key(), uint64_t{0}) + it->get<uint64_t>();
        }
        done += n;
        bar.update(done, total);
    } while (done < total);
    bar.finish();
    exit_code = 0;
    return sum;
}

Result<Value> read_export_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(Errc::io, "cannot read " + path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string bytes = ss.str();
    if (is_json_path(path)) {
        try {
            return Value::parse(bytes);
        } catch (const std::exception& e) {
            return make_error(Errc::malformed, path + " is not valid JSON: " + e.what());
        }
    }
    DecodeLimits limits;
    limits.max_bytes = 1024ull * 1024 * 1024;  // a whole fleet's export, read from a trusted file
    limits.max_array = 10'000'000;
    return decode_msgpack(bytes, limits);
}

Status write_export_file(const std::string& path, const Value& value) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return make_error(Errc::io, "cannot write " + path);
        if (is_json_path(path)) {
            out << value.dump(2, ' ', false, Value::error_handler_t::replace) << "\n";
        } else {
            out << encode_msgpack_unchecked(value);
        }
        if (!out.flush()) return make_error(Errc::io, "cannot write " + path);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        return make_error(Errc::io, "cannot write " + path);
    return Ok{};
}

}  // namespace pdsync::cli
