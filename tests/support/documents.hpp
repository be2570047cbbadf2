// Test support: reading documents back in integration tests: the retained document on the
// broker, and the entry ids of a device's view.
#pragma once

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "shared/document.hpp"
#include "tests/support/fleet.hpp"
#include "topics/topics.hpp"

namespace pdsync::test {

// The last retained document `probe` saw for (user, category); nullopt if none or deleted.
// A payload that does not decode throws: it is a broken document, not an absent one.
inline std::optional<Document> retained(MqttProbe& probe, const std::string& user, Category c) {
    auto raw = probe.last(Topics().user_doc(user, c));
    if (!raw || raw->empty()) return std::nullopt;
    auto doc = decode_document(*raw);
    if (!doc) {
        throw std::runtime_error("retained " + user + "/" + std::string(category_name(c)) +
                                 " does not decode: " + doc.error().message);
    }
    return std::move(doc).value();
}

// Ids of the entries of a device's view (`Device::show`) with the given sharing range.
inline std::vector<std::string> ids(const Value& entries, const std::string& range = "shared") {
    std::vector<std::string> out;
    for (const auto& e : entries) {
        if (e.value("range", "shared") == range) out.push_back(e["id"].get<std::string>());
    }
    return out;
}

inline std::set<std::string> id_set(const Value& entries) {
    auto v = ids(entries);
    return {v.begin(), v.end()};
}

}  // namespace pdsync::test
