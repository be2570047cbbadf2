// Finds every `pdsync` command example in the project's Markdown (README.md, docs/*.md), so
// the doc-examples test can run each one and no example can drift from the CLI again.
//
// What counts as an example: an inline code span that starts with `pdsync `, and a line
// that starts with `pdsync ` inside a fenced block marked sh, bash, shell or console.
// Other fences (diagrams, TOML) are not commands.
//
// An example is a *synopsis* when it holds placeholders (an all-capitals word such as ID or
// FILE, `[optional parts]`, `a|b` choices, or `…`): it cannot run as written, so the test
// checks that its subcommands and options exist. Any other example runs for real.
//
// Excluding one from running: anywhere in the same file, a comment
//     <!-- pdsync-example skip: `EXACT EXAMPLE TEXT` REASON -->
// The example is then only checked like a synopsis, and the test prints it with its
// reason. Use it for what needs another machine or hardware (an SMB share, a cluster
// standby whose voters are gone), never to hide a command that fails. A command
// documented ahead of its code ("being added this round") takes
//     <!-- pdsync-example planned: `EXACT EXAMPLE TEXT` REASON -->
// instead: neither run nor checked, only listed, until the command exists and the marker goes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace pdsync::test {

struct DocExample {
    std::string file;  // relative to the repository root
    int line = 0;
    std::string text;               // the command as written
    std::vector<std::string> args;  // split as a shell would, "pdsync" first
    bool synopsis = false;
    std::string skip_reason;  // non-empty: excluded from running by a marker
    bool planned = false;     // documented ahead of its code: not run, not checked
};

// Splits a command line the way sh does for quotes and backslashes (no expansion);
// `quoted`, if given, says for each word whether any of it was quoted.
std::vector<std::string> shell_words(const std::string& line, std::vector<bool>* quoted = nullptr);

// Every example in `markdown_files` (paths relative to `root`), in file order.
std::vector<DocExample> find_doc_examples(const std::filesystem::path& root,
                                          const std::vector<std::string>& markdown_files);

}  // namespace pdsync::test
