#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
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

namespace {
// An element that owns a heap block and declares itself relocatable, as Channel does: it moves
// within a SmallVector as bytes. `live` counts the blocks held, so that a block freed twice, or
// never, shows.
struct Owned {
    static inline int live = 0;
    int* value = nullptr;
    Owned() noexcept = default;
    explicit Owned(int v) : value(new int(v)) { ++live; }
    Owned(const Owned& other) : value(other.value == nullptr ? nullptr : new int(*other.value)) {
        if (value != nullptr) ++live;
    }
    Owned(Owned&& other) noexcept : value(std::exchange(other.value, nullptr)) {}
    Owned& operator=(const Owned& other) {
        Owned copy(other);
        std::swap(value, copy.value);
        return *this;
    }
    Owned& operator=(Owned&& other) noexcept {
        std::swap(value, other.value);
        return *this;
    }
    ~Owned() {
        if (value != nullptr) --live;
        delete value;
    }
};
} // namespace

template <>
struct mqtt_presence::detail::is_relocatable<Owned> : std::true_type {};

namespace {
template <std::size_t N>
void check_relocating(std::uint32_t seed) {
    std::mt19937 rng(seed);
    {
        SmallVector<Owned, N> v;
        std::vector<int> model;
        for (int step = 0; step < 2000; ++step) {
            const auto op = rng() % 8;
            if (op < 4 && v.size() < 200) {
                Owned item(step);
                v.push_back(std::move(item)); // relocated: the block is the vector's now
                CHECK(item.value == nullptr); // NOLINT(bugprone-use-after-move): left empty
                model.push_back(step);
            } else if (op == 4 && v.size() < 200) {
                const Owned item(-step);
                v.push_back(item); // a copy: both hold a block
                model.push_back(-step);
            } else if (!model.empty()) {
                const std::size_t at = rng() % model.size();
                v.erase(v.begin() + static_cast<std::ptrdiff_t>(at));
                model.erase(model.begin() + static_cast<std::ptrdiff_t>(at));
            }
            REQUIRE(v.size() == model.size());
            REQUIRE(Owned::live == static_cast<int>(model.size()));
        }
        std::vector<int> held;
        for (const Owned& o : v) held.push_back(*o.value);
        CHECK(held == model);
        SmallVector<Owned, N> moved(std::move(v)); // inline elements relocate too
        held.clear();
        for (const Owned& o : moved) held.push_back(*o.value);
        CHECK(held == model);
        CHECK(Owned::live == static_cast<int>(model.size()));
    }
    CHECK(Owned::live == 0);
}
} // namespace

TEST_CASE("SmallVector moves relocatable elements as bytes and keeps their values order and ownership", "[detail][small_vector]") {
    static_assert(mqtt_presence::detail::is_relocatable<Owned>::value);
    static_assert(mqtt_presence::detail::is_relocatable<int>::value, "trivially copyable types are relocatable");
    static_assert(!mqtt_presence::detail::is_relocatable<std::string>::value, "others only by a specialisation");
    for (std::uint32_t seed = 1; seed <= 5; ++seed) {
        INFO("seed " << seed);
        check_relocating<1>(seed);
        check_relocating<2>(seed);
    }
    // Inline to inline: a vector that never left its inline storage.
    SmallVector<Owned, 2> small;
    small.push_back(Owned(7));
    small.push_back(Owned(8));
    SmallVector<Owned, 2> taken(std::move(small));
    REQUIRE(taken.size() == 2);
    CHECK(*taken[0].value == 7);
    CHECK(*taken[1].value == 8);
}

namespace {
// A 48-byte element, like a Channel: a block pool of its own size.
struct Wide {
    char text[48];
};
Wide wide(int i) {
    Wide w{};
    for (char& c : w.text) c = static_cast<char>('A' + i % 26);
    return w;
}
bool is_wide(const Wide& w, int i) {
    for (const char c : w.text)
        if (c != static_cast<char>('A' + i % 26)) return false;
    return true;
}
} // namespace

TEST_CASE("SmallVector heap capacities: powers of two from 4 to 64, exact beyond", "[detail][small_vector][block_pool]") {
    SmallVector<Wide, 1> v;
    v.push_back(wide(0));
    v.push_back(wide(1));
    CHECK(v.capacity() == 4);
    v.reserve(5);
    CHECK(v.capacity() == 8);
    v.reserve(33);
    CHECK(v.capacity() == 64);
    v.reserve(65);
    CHECK(v.capacity() == 128);
    v.reserve(300);
    CHECK(v.capacity() == 300); // past the pool's sizes: the count asked for
    CHECK(is_wide(v[0], 0));
    CHECK(is_wide(v[1], 1));
    SmallVector<Wide, 1> copy(v);
    CHECK(copy.capacity() == 4); // a copy asks for its size: 2, rounded up
#if defined(MQTT_PRESENCE_NO_BLOCK_POOL)
    CHECK_FALSE(mqtt_presence::detail::BlockPool<sizeof(Wide)>::pooled(8));
#else
    CHECK(mqtt_presence::detail::BlockPool<sizeof(Wide)>::pooled(8));
    CHECK_FALSE(mqtt_presence::detail::BlockPool<sizeof(Wide)>::pooled(300));
#endif
}

TEST_CASE("SmallVector heap blocks are reused by vectors of the same element size only",
          "[detail][small_vector][block_pool]") {
    // Vectors of 32-byte strings and of 48-byte elements grow, shrink and die interleaved; a
    // block freed by one kind handed to the other would be too small or overwrite live data.
    std::vector<SmallVector<std::string, 1>> strings(200);
    std::vector<SmallVector<Wide, 1>> wides(200);
    for (int round = 0; round < 20; ++round) {
        for (std::size_t i = 0; i < strings.size(); ++i) {
            const int n = static_cast<int>((i * 7 + static_cast<std::size_t>(round) * 13) % 70);
            SmallVector<std::string, 1> s;
            SmallVector<Wide, 1> w;
            for (int k = 0; k < n; ++k) {
                s.push_back(std::string(40, static_cast<char>('a' + (k + round) % 26)));
                w.push_back(wide(k + round));
            }
            strings[i] = std::move(s);
            wides[(i * 31) % wides.size()] = std::move(w);
        }
        for (std::size_t i = 0; i < strings.size(); ++i) {
            const int n = static_cast<int>((i * 7 + static_cast<std::size_t>(round) * 13) % 70);
            REQUIRE(strings[i].size() == static_cast<std::size_t>(n));
            for (int k = 0; k < n; ++k)
                REQUIRE(strings[i][static_cast<std::size_t>(k)] ==
                        std::string(40, static_cast<char>('a' + (k + round) % 26)));
            const SmallVector<Wide, 1>& w = wides[(i * 31) % wides.size()];
            REQUIRE(w.size() == static_cast<std::size_t>(n));
            for (int k = 0; k < n; ++k) REQUIRE(is_wide(w[static_cast<std::size_t>(k)], k + round));
        }
    }
#if !defined(MQTT_PRESENCE_NO_BLOCK_POOL)
    // A freed block is the next one given for its size.
    SmallVector<Wide, 1> a;
    a.reserve(16);
    const Wide* block = a.begin();
    a = SmallVector<Wide, 1>();
    SmallVector<Wide, 1> b;
    b.reserve(9);
    CHECK(b.begin() == block);
#endif
}

TEST_CASE("SmallVector heap blocks: threads growing and freeing vectors at once", "[detail][block_pool][concurrent]") {
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &bad] {
            std::vector<SmallVector<Wide, 1>> kept(64);
            for (int round = 0; round < 300; ++round) {
                SmallVector<Wide, 1> v;
                const int n = (round * 11 + t) % 40;
                for (int k = 0; k < n; ++k) v.push_back(wide(k + t));
                for (int k = 0; k < n; ++k)
                    if (!is_wide(v[static_cast<std::size_t>(k)], k + t)) ++bad;
                kept[static_cast<std::size_t>(round) % kept.size()] = std::move(v);
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    CHECK(bad.load() == 0);
}
