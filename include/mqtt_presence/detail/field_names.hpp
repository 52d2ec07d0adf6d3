#pragma once
// The names of a JSON adapter's fields, written once: an adapter lists them in one array in the
// order of its Field enumeration (whose last value is `unknown`), and both directions read it,
// the field a key names (field_named) and the name an error message gives a field
// (name_of_field). Standard library only.
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <string_view>

namespace mqtt_presence::detail {

/// The field of `names` (indexed by Field) whose name is `key`, searching [first, last); else
/// `unknown`. `skip` bytes of each name are left out of the comparison (a prefix the key lacks).
template <class Field, std::size_t N>
[[nodiscard]] constexpr Field field_named(const std::string_view (&names)[N], std::string_view key, Field unknown,
                                          std::size_t first = 0, std::size_t last = N, std::size_t skip = 0) noexcept {
    for (std::size_t i = first; i < last; ++i) {
        std::string_view name = names[i];
        name.remove_prefix(skip < name.size() ? skip : name.size());
        if (name == key) return static_cast<Field>(i);
    }
    return unknown;
}

/// The name of `field` in `names`; "?" for `unknown` or any value past the table.
template <class Field, std::size_t N>
[[nodiscard]] constexpr std::string_view name_of_field(const std::string_view (&names)[N], Field field) noexcept {
    const auto i = static_cast<std::size_t>(field);
    return i < N ? names[i] : std::string_view("?");
}

} // namespace mqtt_presence::detail
