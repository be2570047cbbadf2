// Extraction of `pdsync` command examples from Markdown (see doc_examples.hpp).
#include "tests/integration/doc_examples.hpp"

#include <fstream>
#include <map>
#include <regex>

namespace pdsync::test {
namespace {

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// A shell comment (` # ...` outside quotes) ends a fenced command line.
std::string strip_comment(const std::string& line) {
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '#' && i > 0 && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
            return trim(line.substr(0, i));
        }
    }
    return trim(line);
}

// An unquoted word that stands for something: ID, FILE, [--optional], a|b, ….
bool is_placeholder(const std::string& word) {
    static const std::regex caps("[A-Z][A-Z0-9_]*");
    if (word.empty()) return false;
    return std::regex_match(word, caps) || word.find("…") != std::string::npos ||
           word.find("...") != std::string::npos || word.front() == '[' || word.back() == ']' ||
           word.find('|') != std::string::npos;
}

}  // namespace

std::vector<std::string> shell_words(const std::string& line, std::vector<bool>* quoted) {
    std::vector<std::string> words;
    std::string cur;
    bool in_word = false;
    bool had_quote = false;
    char quote = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
        char c = line[i];
        if (quote == '\'') {
            if (c == '\'')
                quote = 0;
            else
                cur += c;
        } else if (quote == '"') {
            if (c == '"')
                quote = 0;
            else if (c == '\\' && i + 1 < line.size() &&
                     std::string("\"\\$`").find(line[i + 1]) != std::string::npos)
                cur += line[++i];
            else
                cur += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
            in_word = true;
            had_quote = true;
        } else if (c == '\\' && i + 1 < line.size()) {
            cur += line[++i];
            in_word = true;
            had_quote = true;
        } else if (c == ' ' || c == '\t') {
            if (in_word) {
                words.push_back(cur);
                if (quoted) quoted->push_back(had_quote);
            }
            cur.clear();
            in_word = false;
            had_quote = false;
        } else {
            cur += c;
            in_word = true;
        }
    }
    if (in_word) {
        words.push_back(cur);
        if (quoted) quoted->push_back(had_quote);
    }
    return words;
}

std::vector<DocExample> find_doc_examples(const std::filesystem::path& root,
                                          const std::vector<std::string>& markdown_files) {
    static const std::regex inline_span("`(pdsync [^`]+)`");
    static const std::regex marker(
        "<!--\\s*pdsync-example (skip|planned):\\s*`([^`]+)`\\s*(.*?)\\s*-->");
    std::vector<DocExample> all;
    for (const auto& name : markdown_files) {
        std::ifstream in(root / name);
        std::vector<std::string> lines;
        for (std::string l; std::getline(in, l);) lines.push_back(l);
        std::map<std::string, std::string> skips;  // example text -> reason
        std::map<std::string, std::string> planned;
        for (const auto& l : lines) {
            for (std::sregex_iterator m(l.begin(), l.end(), marker), end; m != end; ++m)
                ((*m)[1] == "skip" ? skips : planned)[(*m)[2]] = (*m)[3];
        }
        bool in_fence = false;
        bool shell_fence = false;
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const std::string t = trim(lines[i]);
            if (t.rfind("```", 0) == 0) {
                if (!in_fence) {
                    std::string info = trim(t.substr(3));
                    shell_fence =
                        info == "sh" || info == "bash" || info == "shell" || info == "console";
                }
                in_fence = !in_fence;
                continue;
            }
            std::vector<std::string> found;
            if (in_fence) {
                std::string cmd = t.rfind("$ ", 0) == 0 ? t.substr(2) : t;
                if (shell_fence && cmd.rfind("pdsync ", 0) == 0)
                    found.push_back(strip_comment(cmd));
            } else if (t.find("<!--") == std::string::npos) {
                for (std::sregex_iterator m(t.begin(), t.end(), inline_span), end; m != end; ++m)
                    found.push_back(trim((*m)[1]));
            }
            for (const auto& text : found) {
                DocExample e;
                e.file = name;
                e.line = static_cast<int>(i + 1);
                e.text = text;
                std::vector<bool> quoted;
                e.args = shell_words(text, &quoted);
                for (std::size_t w = 0; w < e.args.size(); ++w)
                    e.synopsis = e.synopsis || (!quoted[w] && is_placeholder(e.args[w]));
                if (text.find("…") != std::string::npos) e.synopsis = true;  // even quoted
                if (auto s = skips.find(text); s != skips.end())
                    e.skip_reason = s->second.empty() ? "(no reason given)" : s->second;
                if (auto p = planned.find(text); p != planned.end()) {
                    e.planned = true;
                    e.skip_reason = p->second.empty() ? "(no reason given)" : p->second;
                }
                all.push_back(std::move(e));
            }
        }
    }
    return all;
}

}  // namespace pdsync::test
