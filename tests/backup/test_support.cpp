// Helpers shared by the backup tests (see test_support.hpp).
#include "tests/backup/test_support.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pdsync::backup::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "pdsync-backup-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

SQLite::Database open_store(const fs::path& path, int schema_version) {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, 5000);
    db.exec("PRAGMA journal_mode = WAL");
    // NORMAL keeps the writer thread fast; durability is not what these tests check.
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec(
        "CREATE TABLE IF NOT EXISTS t(txn INTEGER NOT NULL, part INTEGER NOT NULL, payload BLOB)");
    db.exec("PRAGMA user_version = " + std::to_string(schema_version));
    return db;
}

void insert_pairs(SQLite::Database& db, int first, int count, int payload_bytes) {
    SQLite::Statement ins(db, "INSERT INTO t(txn, part, payload) VALUES (?, ?, randomblob(?))");
    for (int txn = first; txn < first + count; ++txn) {
        SQLite::Transaction tx(db);
        for (int part = 0; part < 2; ++part) {
            ins.bind(1, txn);
            ins.bind(2, part);
            ins.bind(3, payload_bytes);
            ins.exec();
            ins.reset();
        }
        tx.commit();
    }
}

std::vector<std::string> rows_of(const fs::path& db_path) {
    SQLite::Database db(db_path.string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT txn, part FROM t ORDER BY txn, part");
    std::vector<std::string> out;
    while (q.executeStep()) {
        out.push_back(std::to_string(q.getColumn(0).getInt()) + ":" +
                      std::to_string(q.getColumn(1).getInt()));
    }
    return out;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return condition();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

int run_command(const std::vector<std::string>& argv, const std::string& input,
                std::string* output) {
    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) return -1;
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        ::close(in_pipe[0]);
        ::close(in_pipe[1]);
        return -1;
    }
    // Built before fork: the child may only call async-signal-safe functions.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in_pipe[0], STDIN_FILENO);
        ::dup2(out_pipe[1], STDOUT_FILENO);
        ::dup2(out_pipe[1], STDERR_FILENO);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    if (pid < 0) {
        ::close(in_pipe[1]);
        ::close(out_pipe[0]);
        return -1;
    }
    // Inputs here are a few bytes, far below the pipe buffer: write all, then read.
    (void)!::write(in_pipe[1], input.data(), input.size());
    ::close(in_pipe[1]);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(out_pipe[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out_pipe[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (output) *output = std::move(out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace pdsync::backup::test
