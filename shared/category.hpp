// The categories of personalized data (docs/protocol.md §2) and their properties:
// personal (one document per user) or shared (one per fleet), ordered or not.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pdsync {

enum class Category : uint8_t {
    addressbook,
    buttons,
    shortcuts,
    keychain,
    home,
    prefs,
    group_addressbook_view,
    guest_home,
};

inline constexpr std::array<Category, 8> kAllCategories = {
    Category::addressbook,
    Category::buttons,
    Category::shortcuts,
    Category::keychain,
    Category::home,
    Category::prefs,
    Category::group_addressbook_view,
    Category::guest_home,
};

// Wire name: "addressbook", ..., "group-addressbook-view", "guest-home".
std::string_view category_name(Category c);
std::optional<Category> category_from_name(std::string_view name);

// Personal categories hold one document per user; shared ones one per fleet.
bool is_personal(Category c);
// Ordered categories (keychain, buttons): every machine must reproduce the exact order,
// since keychain positions are referenced by other settings (seed text, "keychain").
bool is_ordered(Category c);

// A set of categories as a bit mask; small, copyable, comparable.
class CategorySet {
  public:
    constexpr CategorySet() = default;
    static CategorySet all();
    static CategorySet personal();
    void insert(Category c) { bits_ |= bit(c); }
    void erase(Category c) { bits_ &= static_cast<uint16_t>(~bit(c)); }
    bool contains(Category c) const { return (bits_ & bit(c)) != 0; }
    bool empty() const { return bits_ == 0; }
    CategorySet intersect(CategorySet o) const { return CategorySet(bits_ & o.bits_); }
    CategorySet minus(CategorySet o) const { return CategorySet(bits_ & ~o.bits_); }
    std::vector<Category> list() const;
    std::vector<std::string> names() const;
    bool operator==(const CategorySet&) const = default;

  private:
    explicit constexpr CategorySet(unsigned bits) : bits_(static_cast<uint16_t>(bits)) {}
    static constexpr uint16_t bit(Category c) {
        return static_cast<uint16_t>(1u << static_cast<unsigned>(c));
    }
    uint16_t bits_ = 0;
};

// Parses category names (from a config file or command line). An empty list means every
// category; an unknown name is returned in `unknown` and yields nullopt.
std::optional<CategorySet> categories_from_names(const std::vector<std::string>& names,
                                                 std::string& unknown);

}  // namespace pdsync
