// Category names and properties.
#include "shared/category.hpp"

namespace pdsync {
namespace {
constexpr std::array<std::string_view, 8> kNames = {
    "addressbook", "buttons", "shortcuts", "keychain", "home", "prefs", "group-addressbook-view",
    "guest-home",
};
}  // namespace

std::string_view category_name(Category c) {
    return kNames[static_cast<size_t>(c)];
}

std::optional<Category> category_from_name(std::string_view name) {
    for (size_t i = 0; i < kNames.size(); ++i) {
        if (kNames[i] == name) return static_cast<Category>(i);
    }
    return std::nullopt;
}

bool is_personal(Category c) {
    return c != Category::group_addressbook_view && c != Category::guest_home;
}

bool is_ordered(Category c) {
    return c == Category::keychain || c == Category::buttons;
}

CategorySet CategorySet::all() {
    CategorySet s;
    for (auto c : kAllCategories) s.insert(c);
    return s;
}

CategorySet CategorySet::personal() {
    CategorySet s;
    for (auto c : kAllCategories) {
        if (is_personal(c)) s.insert(c);
    }
    return s;
}

std::vector<Category> CategorySet::list() const {
    std::vector<Category> out;
    for (auto c : kAllCategories) {
        if (contains(c)) out.push_back(c);
    }
    return out;
}

std::vector<std::string> CategorySet::names() const {
    std::vector<std::string> out;
    for (auto c : list()) out.emplace_back(category_name(c));
    return out;
}

}  // namespace pdsync

namespace pdsync {

std::optional<CategorySet> categories_from_names(const std::vector<std::string>& names,
                                                 std::string& unknown) {
    if (names.empty()) return CategorySet::all();
    CategorySet set;
    for (const auto& name : names) {
        auto c = category_from_name(name);
        if (!c) {
            unknown = name;
            return std::nullopt;
        }
        set.insert(*c);
    }
    return set;
}

}  // namespace pdsync
