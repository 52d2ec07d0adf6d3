// The storage concept, and InMemoryStorage against it.
#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>
#include <string>

#include <mqtt_presence/mqtt_presence.hpp>

#include "support/events.hpp"

using namespace mqtt_presence;
using namespace test_support;

static_assert(storage_concept::check<InMemoryStorage>());
static_assert(!storage_concept::has_update<int>::value);
static_assert(!storage_concept::has_visit<int>::value);
static_assert(!storage_concept::has_for_each<int>::value);
static_assert(!storage_concept::has_size<int>::value);

TEST_CASE("InMemoryStorage: update creates, visit reads, an emptied record is erased", "[storage]") {
    InMemoryStorage storage;
    bool seen = true;
    storage.visit("GID_a@@@dev1", [&](const ClientRecord* r) { seen = r != nullptr; });
    CHECK_FALSE(seen);

    storage.update("GID_a@@@dev1", [](ClientRecord& r) { CHECK(r.empty()); });
    CHECK(storage.size() == 0); // left empty: erased

    storage.update("GID_a@@@dev1", [](ClientRecord& r) { (void)apply(r, connect("c1", t0), {}); });
    CHECK(storage.size() == 1);
    storage.visit("GID_a@@@dev1", [&](const ClientRecord* r) {
        REQUIRE(r != nullptr);
        CHECK(r->online());
    });
    storage.update("GID_a@@@dev1", [](ClientRecord& r) { r = ClientRecord{}; });
    CHECK(storage.size() == 0);
}

TEST_CASE("InMemoryStorage: a throwing callback leaves no new record behind", "[storage]") {
    InMemoryStorage storage;
    CHECK_THROWS_AS(storage.update("GID_a@@@dev1", [](ClientRecord&) { throw std::runtime_error("boom"); }), std::runtime_error);
    CHECK(storage.size() == 0);
}

TEST_CASE("InMemoryStorage: for_each visits every record once", "[storage]") {
    InMemoryStorage storage;
    storage.reserve(100);
    for (int i = 0; i < 100; ++i)
        storage.update("GID_a@@@dev" + std::to_string(i), [&](ClientRecord& r) { (void)apply(r, connect("c", t0 + i), {}); });
    std::map<std::string, int> seen;
    storage.for_each([&](std::string_view id, const ClientRecord& r) {
        ++seen[std::string(id)];
        CHECK(r.online());
    });
    CHECK(seen.size() == 100);
    for (const auto& [id, n] : seen) CHECK(n == 1);
}

// A user-written storage: a std::map. Proves the concept is all the store needs.
struct MapStorage {
    template <class Fn>
    void update(std::string_view id, Fn&& fn) {
        auto& record = records[std::string(id)];
        fn(record);
        if (record.empty()) records.erase(std::string(id));
    }
    template <class Fn>
    void visit(std::string_view id, Fn&& fn) const {
        const auto it = records.find(std::string(id));
        fn(it == records.end() ? nullptr : &it->second);
    }
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (const auto& [id, r] : records) fn(std::string_view(id), r);
    }
    [[nodiscard]] std::size_t size() const { return records.size(); }
    std::map<std::string, ClientRecord> records;
};

TEST_CASE("a user-written storage policy works with the store", "[storage]") {
    ClientStatusStore<MapStorage> store;
    (void)store.ingest(connect("c1", t0));
    CHECK(store.is_online("GID_a@@@dev1"));
    CHECK(store.storage().records.size() == 1);
    CHECK(store.ingest(tcpclean("c1", t0 + 1)).went_offline());
    CHECK(store.online_count() == 0);
}

static_assert(storage_concept::check<ConcurrentStorage>());
static_assert(storage_concept::is_concurrent<ConcurrentStorage>::value);
static_assert(!storage_concept::is_concurrent<InMemoryStorage>::value);

TEST_CASE("ConcurrentStorage: shards round up to a power of two", "[storage]") {
    CHECK(ConcurrentStorage().shard_count() == ConcurrentStorage::default_shards);
    CHECK(ConcurrentStorage(0).shard_count() == 1);
    CHECK(ConcurrentStorage(1).shard_count() == 1);
    CHECK(ConcurrentStorage(5).shard_count() == 8);
}

TEST_CASE("ConcurrentStorage: update, visit, for_each and size agree", "[storage]") {
    for (std::size_t shards : {std::size_t{1}, std::size_t{16}}) {
        ConcurrentStorage storage(shards);
        storage.reserve(200);
        for (int i = 0; i < 200; ++i)
            storage.update("GID_a@@@dev" + std::to_string(i), [&](ClientRecord& r) { (void)apply(r, connect("c", t0 + i), {}); });
        CHECK(storage.size() == 200);
        std::map<std::string, int> seen;
        storage.for_each([&](std::string_view id, const ClientRecord& r) {
            ++seen[std::string(id)];
            CHECK(r.online());
        });
        CHECK(seen.size() == 200);
        bool online = false;
        storage.visit("GID_a@@@dev7", [&](const ClientRecord* r) { online = r != nullptr && r->online(); });
        CHECK(online);
        storage.visit("GID_a@@@nobody", [&](const ClientRecord* r) { CHECK(r == nullptr); });
        storage.update("GID_a@@@dev7", [](ClientRecord& r) { r = ClientRecord{}; });
        CHECK(storage.size() == 199);
        CHECK_THROWS_AS(storage.update("GID_a@@@new", [](ClientRecord&) { throw std::runtime_error("boom"); }), std::runtime_error);
        CHECK(storage.size() == 199);
    }
}

static_assert(storage_concept::has_reserve<InMemoryStorage>::value);
static_assert(storage_concept::has_reserve<ConcurrentStorage>::value);
static_assert(!storage_concept::has_reserve<MapStorage>::value);
