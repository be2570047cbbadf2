// Every `pdsync` command example in README.md and docs/*.md runs (issue 12, item 2), against
// a real broker, server and devices this test starts: the fleet the docs are written for.
// A synopsis (`pdsync device show [--category C]`) or an example excluded by a marker is
// checked against the CLI's own help instead: its subcommands and options must exist.
// tests/integration/doc_examples.hpp says how examples are found and how to exclude one.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "tests/integration/doc_examples.hpp"
#include "tests/support/fleet.hpp"

using namespace pdsync;
using namespace pdsync::test;

namespace {

std::vector<std::string> markdown_files(const std::filesystem::path& root) {
    std::vector<std::string> files = {"README.md"};
    std::vector<std::string> docs;
    for (const auto& f : std::filesystem::directory_iterator(root / "docs")) {
        if (f.path().extension() == ".md") docs.push_back("docs/" + f.path().filename().string());
    }
    std::sort(docs.begin(), docs.end());
    files.insert(files.end(), docs.begin(), docs.end());
    return files;
}

struct Shell {
    std::string work_dir;
    std::vector<std::string> env;  // NAME=value, exported before the command
    int status = 0;
    std::string out;
    std::string err;

    // Runs `command` as written in the docs, with `pdsync` on PATH.
    int run(const std::string& command) {
        std::string script = work_dir + "/example.sh";
        {
            std::ofstream s(script);
            s << "set -u\ncd '" << work_dir << "'\n";
            s << "export PATH='" << std::filesystem::path(PDSYNC_CLI_BIN).parent_path().string()
              << "':\"$PATH\"\n";
            for (const auto& e : env) s << "export '" << e << "'\n";
            s << command << "\n";
        }
        // A bound, so an example that never ends (a watch) fails instead of hanging.
        std::string cmd = "timeout 30 bash '" + script + "' >'" + work_dir + "/out' 2>'" +
                          work_dir + "/err' </dev/null";
        int st = std::system(cmd.c_str());
        status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        out = read_file(work_dir + "/out");
        err = read_file(work_dir + "/err");
        return status;
    }
};

// The leading words of a synopsis that name its (sub)commands and positional arguments.
std::vector<std::string> command_path(const DocExample& e) {
    std::vector<std::string> path;
    for (std::size_t i = 1; i < e.args.size(); ++i) {
        const std::string& w = e.args[i];
        if (w.empty() || w[0] == '-' || w[0] == '[' || w.find('|') != std::string::npos ||
            w.find("…") != std::string::npos || std::regex_match(w, std::regex("[A-Z][A-Z0-9_]*")))
            break;
        path.push_back(w);
    }
    return path;
}

}  // namespace

TEST(DocExamples, EveryPdsyncExampleInReadmeAndDocsRuns) {
    const std::filesystem::path root = PDSYNC_SOURCE_DIR;
    const auto examples = find_doc_examples(root, markdown_files(root));
    // The README's tables alone hold more than twenty; fewer means the extraction broke.
    ASSERT_GT(examples.size(), 20u);
    const std::string issue_example =
        R"(pdsync device edit addressbook --update bob --id bob '{"name":"Robert"}')";
    ASSERT_TRUE(std::any_of(examples.begin(), examples.end(), [&](const DocExample& e) {
        return e.text == issue_example && !e.synopsis && e.skip_reason.empty();
    })) << "README's --update example was not found as a runnable example";

    TempDir dir;
    Broker broker(dir);
    Server server(dir, {broker.uri()}, {"--backup-dir", dir.file("backups")});
    // The machines the docs name.
    Device device(dir, {broker.uri()}, "mfp-2f-east");
    Device other(dir, {broker.uri()}, "mfp-3f");
    ASSERT_TRUE(device.wait_joined()) << device.log();
    ASSERT_TRUE(other.wait_joined()) << other.log();

    Shell sh;
    sh.work_dir = dir.file("work");
    std::filesystem::create_directories(sh.work_dir);
    sh.env = {"PDSYNC_SOCKET=" + device.socket(), "PDSYNC_SERVER_SOCKET=" + server.admin_socket()};

    // The state the docs assume before each example: the server up, alice logged in on
    // mfp-2f-east with an address-book entry bob and a keychain entry k3, and an export file
    // fleet.msgpack in the working directory.
    auto has = [&](const std::string& category, const std::string& id) {
        for (const auto& e : device.show(category))
            if (e.value("id", "") == id) return true;
        return false;
    };
    auto set_the_scene = [&](const DocExample& e) {
        if (!server.running()) server.start();
        device.call({{"cmd", "sync"}, {"enabled", true}});  // an example may turn it off
        ASSERT_TRUE(device.login("alice").value("ok", false)) << device.log();
        if (!has("addressbook", "bob"))
            device.edit("addressbook",
                        {{{"op", "add"}, {"id", "bob"}, {"fields", {{"name", "Bob"}}}}});
        if (!has("keychain", "k3"))
            device.edit("keychain", {{{"op", "add"}, {"id", "k3"}, {"fields", {{"host", "nas"}}}}});
        // An example that adds an entry with a given id needs that id free.
        auto add = std::find(e.args.begin(), e.args.end(), "--add");
        auto id = std::find(e.args.begin(), e.args.end(), "--id");
        auto edit = std::find(e.args.begin(), e.args.end(), "edit");
        if (add != e.args.end() && id + 1 < e.args.end() && edit + 1 < e.args.end())
            device.edit(*(edit + 1), {{{"op", "delete"}, {"id", *(id + 1)}}});
        if (!std::filesystem::exists(sh.work_dir + "/fleet.msgpack")) {
            ASSERT_EQ(sh.run("pdsync export fleet.msgpack"), 0) << sh.err;
        }
    };

    std::map<std::string, std::string> help;  // "device edit" -> its --help text
    auto help_of = [&](const std::vector<std::string>& path) {
        std::string text;
        std::string prefix;
        for (const auto& w : path) {
            prefix += (prefix.empty() ? "" : " ") + w;
            if (!help.count(prefix)) {
                std::string quoted;
                for (const auto& p : shell_words(prefix)) quoted += " '" + p + "'";
                if (sh.run("pdsync" + quoted + " --help") != 0) return std::string();
                help[prefix] = sh.out;
            }
            text += help[prefix];
        }
        return text;
    };

    // CLI11's exit code for a missing required argument: `pdsync import` named in prose.
    constexpr int kRequiredArgumentMissing = 106;
    int ran = 0, checked = 0;
    std::vector<std::string> excluded;
    for (const auto& e : examples) {
        SCOPED_TRACE(e.file + ":" + std::to_string(e.line) + ": " + e.text);
        if (e.planned) {
            excluded.push_back(e.file + ":" + std::to_string(e.line) + "  " + e.text +
                               "  -- planned: " + e.skip_reason);
            continue;
        }
        bool mention = false;
        if (!e.synopsis && e.skip_reason.empty()) {
            set_the_scene(e);
            const bool words_only = command_path(e).size() + 1 == e.args.size();
            const int status = sh.run(e.text);
            if (e.text.rfind("pdsync server stop", 0) == 0) {  // the next scene restarts it
                EXPECT_TRUE(wait_until([&] { return !server.running(); })) << server.log();
            }
            mention = words_only && status == kRequiredArgumentMissing;
            if (!mention) {
                EXPECT_EQ(status, 0)
                    << "stdout:\n"
                    << sh.out << "stderr:\n"
                    << sh.err
                    << "(fix the example or the CLI; if it truly cannot run in this test's "
                       "fleet, set up what it needs here or mark it as doc_examples.hpp says)";
                ++ran;
                continue;
            }
        }
        {
            // A synopsis, an excluded example or a mention: its commands and options exist.
            const auto path = command_path(e);
            ASSERT_FALSE(path.empty()) << "an example without a command";
            const std::string text = help_of(path);
            EXPECT_FALSE(text.empty())
                << "no such command: pdsync " << path[0] << " ...: " << sh.err;
            for (const auto& w : e.args) {
                std::smatch m;
                if (std::regex_search(w, m, std::regex("^\\[?(--[a-z][a-z0-9-]*)"))) {
                    EXPECT_NE(text.find(m[1].str()), std::string::npos)
                        << "pdsync has no option " << m[1] << " there";
                }
            }
            if (!e.skip_reason.empty())
                excluded.push_back(e.file + ":" + std::to_string(e.line) + "  " + e.text + "  -- " +
                                   e.skip_reason);
            ++checked;
        }
    }
    std::cout << "doc examples: " << ran << " ran, " << checked
              << " checked against the CLI's help, of which " << excluded.size()
              << " excluded from running:\n";
    for (const auto& x : excluded) std::cout << "  " << x << "\n";
    EXPECT_GT(ran, 10);
}

TEST(DocExamples, ShellWordsSplitLikeShQuotesAndAll) {
    EXPECT_EQ(shell_words(R"(pdsync device edit addressbook --update bob '{"name":"Robert"}')"),
              (std::vector<std::string>{"pdsync", "device", "edit", "addressbook", "--update",
                                        "bob", R"({"name":"Robert"})"}));
    EXPECT_EQ(shell_words(R"(pdsync device edit keychain --move k3 --after "")"),
              (std::vector<std::string>{"pdsync", "device", "edit", "keychain", "--move", "k3",
                                        "--after", ""}));
}
