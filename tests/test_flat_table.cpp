// detail::FlatTable, the table under the in-memory storages, against std::unordered_map.
#include <catch2/catch.hpp>

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
    table.prefetch_slot(Table::hash("x")); // no index yet: a no-op
    table.prefetch_entry(Table::hash("x"));
    table.reserve(1000);
    const std::size_t slots = table.slot_count();
    CHECK(slots * 7 >= 1000 * 8);
    for (std::uint32_t n = 0; n < 1000; ++n) table.entry(table.find_or_insert(key_of(n), Table::hash(key_of(n)))).value = n;
    CHECK(table.slot_count() == slots); // reserved: no rebuild
    CHECK(lookup(table, "GID_test@@@dev5") != nullptr);
    CHECK(lookup(table, "GID_test@@@dev1001") == nullptr);
    CHECK(lookup(table, "") == nullptr);

    Table copy(table);
    *lookup(copy, "GID_test@@@dev5") = -1;
    CHECK(*lookup(table, "GID_test@@@dev5") == 5);
    CHECK(copy.size() == table.size());

    // Index + entries (one chunk of 4096 so far), plus the long keys' heap blocks (a fifth of
    // the keys are 40+ bytes).
    const std::size_t base = table.slot_count() * 8 + 4096 * sizeof(Table::Entry);
    CHECK(table.memory_bytes() >= base + 200 * 40);
    CHECK(table.memory_bytes() <= base + 200 * 48);
}

TEST_CASE("ChunkedArray: elements stay put across chunks; copies, moves and pops", "[flat_table]") {
    using mqtt_presence::detail::ChunkedArray;
    ChunkedArray<std::string, 3> a; // chunks of 8
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
    ChunkedArray<std::string, 3> copy(a);
    copy[7] = "changed";
    CHECK(a[7] == "element number 7");
    for (int i = 0; i < 30; ++i) a.pop_back();
    CHECK(a.size() == 20);
    CHECK(a.capacity() == 32); // at most one empty chunk kept
    CHECK(a.back() == "element number 19");
    ChunkedArray<std::string, 3> moved(std::move(a));
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
