// detail::FlatTable, the table under the in-memory storages, against std::unordered_map.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <mqtt_presence/detail/flat_table.hpp>

using mqtt_presence::detail::FlatTable;

namespace {

using Table = FlatTable<std::int64_t, 24>;

std::int64_t* lookup(Table& table, const std::string& key) {
    const std::size_t i = table.find(key, Table::hash(key));
    return i == Table::npos ? nullptr : &table.entry(i).value;
}

// Keys of every encoding the table's keys have: short inline, long (heap), hex-packed, ipv4.
std::string key_of(std::uint32_t n) {
    switch (n % 5) {
    case 0: return "GID_test@@@dev" + std::to_string(n);
    case 1: return "GID_a-rather-long-group-name@@@device-" + std::to_string(n);
    case 2: {
        static constexpr char digits[] = "0123456789abcdef";
        std::string hex;
        std::uint64_t v = n * 0x9E3779B97F4A7C15ULL;
        for (int i = 0; i < 32; ++i, v = v * 6364136223846793005ULL + 1442695040888963407ULL) hex.push_back(digits[v >> 60]);
        return hex;
    }
    case 3: return "10." + std::to_string(n >> 16 & 255) + "." + std::to_string(n >> 8 & 255) + ".1:" + std::to_string(n & 65535);
    default: return std::to_string(n);
    }
}

void check_equal(const Table& table, const std::unordered_map<std::string, std::int64_t>& model) {
    REQUIRE(table.size() == model.size());
    std::size_t visited = 0;
    table.for_each([&](std::string_view key, const std::int64_t& value) {
        ++visited;
        const auto it = model.find(std::string(key));
        REQUIRE(it != model.end());
        CHECK(it->second == value);
    });
    CHECK(visited == model.size());
    for (const auto& [key, value] : model) {
        const std::size_t i = table.find(key, Table::hash(key));
        REQUIRE(i != Table::npos);
        CHECK(table.entry(i).value == value);
        CHECK(table.find_entry(key, Table::hash(key)) == &table.entry(i)); // the same entry, by address
    }
}

} // namespace

TEST_CASE("FlatTable: random inserts, updates and erases agree with std::unordered_map", "[flat_table]") {
    // Erase moves the last entry and shifts probe runs back: heavy churn at every fill level
    // (the table grows through 7/8 full) exercises both.
    std::mt19937_64 rng(12345);
    Table table;
    std::unordered_map<std::string, std::int64_t> model;
    for (int round = 0; round < 200000; ++round) {
        const std::string key = key_of(static_cast<std::uint32_t>(rng() % 5000));
        const auto op = rng() % 10;
        if (op < 6) {
            const std::size_t i = table.find_or_insert(key, Table::hash(key));
            table.entry(i).value += round;
            model[key] += round;
        } else {
            const std::size_t i = table.find(key, Table::hash(key));
            CHECK((i == Table::npos) == (model.count(key) == 0));
            if (i != Table::npos) {
                table.erase(i);
                model.erase(key);
            }
        }
        if (round % 20000 == 0) check_equal(table, model);
    }
    check_equal(table, model);
    CHECK(table.slot_count() * 7 >= table.size() * 8);

    // Emptied completely, then reused.
    std::vector<std::string> keys;
    for (const auto& [key, value] : model) keys.push_back(key);
    for (const std::string& key : keys) table.erase(table.find(key, Table::hash(key)));
    model.clear();
    check_equal(table, model);
    for (std::uint32_t n = 0; n < 3000; ++n) {
        const std::string key = key_of(n);
        table.entry(table.find_or_insert(key, Table::hash(key))).value = n;
        model[key] = n;
    }
    check_equal(table, model);
}

TEST_CASE("FlatTable: lookups of absent keys, copies, reserve and memory", "[flat_table]") {
    Table table;
    CHECK(lookup(table, "GID_a@@@b") == nullptr);
    CHECK(table.find_entry("GID_a@@@b", Table::hash("GID_a@@@b")) == nullptr); // no index yet
    table.prefetch_slot(Table::hash("x")); // no index yet: a no-op
    CHECK(table.peek(Table::hash("x")) == Table::npos);
    table.prefetch_entry(Table::npos);
    table.reserve(1000);
    const std::size_t slots = table.slot_count();
    CHECK(slots * 7 >= 1000 * 8);
    for (std::uint32_t n = 0; n < 1000; ++n) table.entry(table.find_or_insert(key_of(n), Table::hash(key_of(n)))).value = n;
    CHECK(table.slot_count() == slots); // reserved: no rebuild
    CHECK(lookup(table, "GID_test@@@dev5") != nullptr);
    CHECK(lookup(table, "GID_test@@@dev1001") == nullptr);
    CHECK(table.find_entry("GID_test@@@dev1001", Table::hash("GID_test@@@dev1001")) == nullptr);
    CHECK(lookup(table, "") == nullptr);

    Table copy(table);
    *lookup(copy, "GID_test@@@dev5") = -1;
    CHECK(*lookup(table, "GID_test@@@dev5") == 5);
    CHECK(copy.size() == table.size());

    // Index + entries (the pages of the first chunk that 1000 entries touch), plus the long
    // keys' heap blocks (a fifth of the keys are 40+ bytes).
    const std::size_t base = table.slot_count() * 8 + (1000 * sizeof(Table::Entry) + 4095) / 4096 * 4096;
    CHECK(table.memory_bytes() >= base + 200 * 40);
    CHECK(table.memory_bytes() <= base + 200 * 48);
}

TEST_CASE("FlatTable: a guess of where a key is counts only if its entry holds the key", "[flat_table]") {
    Table table;
    for (std::uint32_t n = 0; n < 2000; ++n) table.entry(table.find_or_insert(key_of(n), Table::hash(key_of(n)))).value = n;
    std::size_t right_guesses = 0;
    for (std::uint32_t n = 0; n < 2000; ++n) {
        const std::string key = key_of(n);
        const std::uint64_t h = Table::hash(key);
        const std::size_t peeked = table.peek(h); // the first slot with h's tag: almost always the key's
        if (peeked == table.find(key, h)) ++right_guesses;
        table.prefetch_entry(peeked);
        // Right, wrong (another key's entry, past the end, npos): the lookup finds the key all the same.
        for (const std::size_t guess : {peeked, std::size_t{(n + 1) % 2000}, std::size_t{2000}, std::size_t{5000}, Table::npos}) {
            INFO("key " << key << ", guess " << guess);
            const Table::Entry* e = table.find_entry(key, h, guess);
            REQUIRE(e != nullptr);
            CHECK(e->value == n);
            CHECK(table.find_or_insert(key, h, guess) == table.find(key, h));
        }
        const std::string absent = key + "x";
        CHECK(table.find_entry(absent, Table::hash(absent), peeked) == nullptr);
    }
    CHECK(table.size() == 2000); // no guess inserted anything
    CHECK(right_guesses >= 1990);
    // A guess taken before an erase moved another entry into its place, or of a key not yet in.
    const std::string moved = key_of(1999); // the last entry: erase(0) moves it to number 0
    const std::size_t before = table.peek(Table::hash(moved));
    REQUIRE(before == 1999);
    table.erase(table.find(key_of(0), Table::hash(key_of(0))));
    CHECK(table.find_entry(moved, Table::hash(moved), before)->value == 1999);
    CHECK(table.find(moved, Table::hash(moved)) == 0);
    CHECK(table.find_entry(key_of(0), Table::hash(key_of(0)), 0) == nullptr); // entry 0 now holds another key
    const std::size_t added = table.find_or_insert(key_of(0), Table::hash(key_of(0)), 0);
    CHECK(added == 1999);
    CHECK(table.size() == 2000);
}

TEST_CASE("ChunkedArray: elements stay put across chunks, through copies, moves and pops", "[flat_table]") {
    using mqtt_presence::detail::ChunkedArray;
    ChunkedArray<std::string, 8 * sizeof(std::string)> a; // chunks of 8
    std::vector<const std::string*> addresses;
    for (int i = 0; i < 50; ++i) {
        a.push_back("element number " + std::to_string(i)); // long enough for the heap
        addresses.push_back(&a.back());
    }
    CHECK(a.size() == 50);
    CHECK(a.capacity() == 56);
    for (int i = 0; i < 50; ++i) {
        CHECK(&a[static_cast<std::size_t>(i)] == addresses[static_cast<std::size_t>(i)]); // growth moved nothing
        CHECK(a[static_cast<std::size_t>(i)] == "element number " + std::to_string(i));
    }
    ChunkedArray<std::string, 8 * sizeof(std::string)> copy(a);
    copy[7] = "changed";
    CHECK(a[7] == "element number 7");
    for (int i = 0; i < 30; ++i) a.pop_back();
    CHECK(a.size() == 20);
    CHECK(a.capacity() == 24); // 20 elements in 3 chunks: the 4 emptied chunks are freed
    CHECK(a.back() == "element number 19");
    ChunkedArray<std::string, 8 * sizeof(std::string)> moved(std::move(a));
    CHECK(moved.size() == 20);
    CHECK(a.size() == 0); // NOLINT(bugprone-use-after-move): moved-from is empty
    a = copy;
    CHECK(a.size() == 50);
    CHECK(a[7] == "changed");
    a = std::move(moved);
    CHECK(a.size() == 20);
    a.clear();
    CHECK(a.empty());
    a.push_back("again");
    CHECK(a[0] == "again");
}

TEST_CASE("FlatTable: a table past its first 2 MiB chunk keeps every entry in place and findable", "[flat_table]") {
    using Table = mqtt_presence::detail::FlatTable<std::int64_t, 24>;
    constexpr std::size_t per_chunk = mqtt_presence::detail::huge_page_bytes / sizeof(Table::Entry);
    const std::size_t count = 2 * per_chunk + 123; // three chunks, the last one barely begun
    Table table;
    std::vector<const Table::Entry*> addresses;
    addresses.reserve(count);
    for (std::size_t n = 0; n < count; ++n) {
        const std::string key = "GID_big@@@device-" + std::to_string(n);
        const std::size_t i = table.find_or_insert(key, Table::hash(key));
        table.entry(i).value = static_cast<std::int64_t>(n);
        addresses.push_back(&table.entry(i));
    }
    REQUIRE(table.size() == count);
    for (std::size_t n = 0; n < count; n += 97) {
        const std::string key = "GID_big@@@device-" + std::to_string(n);
        const std::size_t i = table.find(key, Table::hash(key));
        REQUIRE(i != Table::npos);
        CHECK(table.entry(i).value == static_cast<std::int64_t>(n));
        CHECK(&table.entry(i) == addresses[n]); // growth moved nothing
    }
    // Whole chunks once there are several (they are advised for huge pages), and the index.
    CHECK(table.memory_bytes() >= 3 * mqtt_presence::detail::huge_page_bytes + table.slot_count() * 8);
    // Erasing back into the first chunk frees the chunks beyond the one kept spare.
    for (std::size_t n = count; n-- > 100;) {
        const std::string key = "GID_big@@@device-" + std::to_string(n);
        table.erase(table.find(key, Table::hash(key)));
    }
    CHECK(table.size() == 100);
    CHECK(table.find("GID_big@@@device-99", Table::hash("GID_big@@@device-99")) != Table::npos);
    CHECK(table.find("GID_big@@@device-100", Table::hash("GID_big@@@device-100")) == Table::npos);
}

TEST_CASE("LargeArray: blocks of 2 MiB or more are aligned to 2 MiB, small ones to 64 bytes", "[flat_table]") {
    using mqtt_presence::detail::LargeArray;
    LargeArray<std::uint64_t> big(mqtt_presence::detail::huge_page_bytes / 8);
    CHECK(reinterpret_cast<std::uintptr_t>(big.get()) % 64 == 0);
#if defined(__linux__)
    CHECK(reinterpret_cast<std::uintptr_t>(big.get()) % mqtt_presence::detail::huge_page_bytes == 0);
#endif
    for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = i;
    CHECK(big[4096] == 4096);
    LargeArray<std::uint64_t> small(10);
    CHECK(reinterpret_cast<std::uintptr_t>(small.get()) % 64 == 0);
    small[9] = 9;
    LargeArray<std::uint64_t> moved(std::move(big));
    CHECK(moved.size() == mqtt_presence::detail::huge_page_bytes / 8);
    CHECK(big.get() == nullptr); // NOLINT(bugprone-use-after-move): moved-from is empty
    moved = std::move(small);
    CHECK(moved.size() == 10);
    CHECK(moved[9] == 9);
}

TEST_CASE("same_bytes: equal exactly when the first n bytes are, at every length and position", "[flat_table]") {
    // Lengths across every branch (bytes, 4-byte and 8-byte words, 16-byte blocks) and beyond;
    // the bytes after n differ and must not count.
    for (std::size_t n = 0; n <= 48; ++n) {
        std::string a(n + 16, 'x');
        std::string b(n + 16, 'x');
        for (std::size_t i = 0; i < n; ++i) a[i] = b[i] = static_cast<char>('A' + i % 50);
        for (std::size_t i = n; i < n + 16; ++i) b[i] = '#';
        INFO("n = " << n);
        CHECK(mqtt_presence::detail::same_bytes(a.data(), b.data(), n));
        for (std::size_t at = 0; at < n; ++at) {
            INFO("differing at " << at);
            std::string c = b;
            c[at] = static_cast<char>(c[at] ^ 0x80); // a high bit alone, then a low one
            CHECK_FALSE(mqtt_presence::detail::same_bytes(a.data(), c.data(), n));
            c[at] = static_cast<char>(c[at] ^ 0x81);
            CHECK_FALSE(mqtt_presence::detail::same_bytes(a.data(), c.data(), n));
        }
    }
}
