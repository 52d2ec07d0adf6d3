#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <mqtt_presence/detail/small_vector.hpp>

using mqtt_presence::detail::SmallVector;

namespace {
template <class V>
std::vector<std::string> items(const V& v) {
    return std::vector<std::string>(v.begin(), v.end());
}
} // namespace

TEST_CASE("SmallVector keeps its first element inline and grows on the heap", "[detail][small_vector]") {
    SmallVector<std::string, 1> v;
    CHECK(v.empty());
    v.push_back("a");
    CHECK(v.capacity() == 1);
    v.push_back("b");
    v.push_back("c");
    CHECK(v.size() == 3);
    CHECK(items(v) == std::vector<std::string>{"a", "b", "c"});
    v.erase(v.begin() + 1);
    CHECK(items(v) == std::vector<std::string>{"a", "c"});
    v.erase(v.begin());
    v.erase(v.begin());
    CHECK(v.empty());
}

TEST_CASE("SmallVector copies and moves, inline and on the heap", "[detail][small_vector]") {
    for (int n : {0, 1, 5}) {
        SmallVector<std::string, 1> v;
        std::vector<std::string> expected;
        for (int i = 0; i < n; ++i) {
            v.push_back(std::string(40, static_cast<char>('a' + i)));
            expected.push_back(std::string(40, static_cast<char>('a' + i)));
        }
        SmallVector<std::string, 1> copy(v);
        CHECK(items(copy) == expected);
        SmallVector<std::string, 1> moved(std::move(copy));
        CHECK(items(moved) == expected);
        CHECK(copy.empty()); // NOLINT(bugprone-use-after-move): moved-from is empty by contract
        SmallVector<std::string, 1> assigned;
        assigned.push_back("x");
        assigned = v;
        CHECK(items(assigned) == expected);
        assigned = std::move(moved);
        CHECK(items(assigned) == expected);
        assigned.clear();
        CHECK(assigned.empty());
        assigned.push_back("again");
        CHECK(items(assigned) == std::vector<std::string>{"again"});
    }
}
