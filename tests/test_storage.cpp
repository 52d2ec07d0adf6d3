// The storage concept, and InMemoryStorage against it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

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

static_assert(storage_concept::has_shard_lock<ConcurrentStorage>::value);
static_assert(!storage_concept::has_shard_lock<InMemoryStorage>::value);
// InMemoryStorage's ingest_batch and is_online_batch look an id up once, from the guess its
// prefetch made (test_store.cpp and test_is_online_batch.cpp check their outcomes).
static_assert(storage_concept::has_guess<InMemoryStorage>::value);
static_assert(!storage_concept::has_guess<ConcurrentStorage>::value);

TEST_CASE("ConcurrentStorage: with_shard updates a shard's clients under one lock, as update() does", "[storage]") {
    ConcurrentStorage storage(16);
    ConcurrentStorage reference(16);
    // Clients grouped by shard, each group updated in one with_shard() call.
    std::map<std::size_t, std::vector<std::string>> by_shard;
    for (int i = 0; i < 300; ++i) {
        const std::string id = "GID_a@@@dev" + std::to_string(i);
        by_shard[storage.shard_of(ConcurrentStorage::hash(id))].push_back(id);
    }
    REQUIRE(by_shard.size() == 16);
    int n = 0;
    for (const auto& [shard, ids] : by_shard) {
        std::vector<std::uint64_t> hashes;
        for (const std::string& id : ids) hashes.push_back(ConcurrentStorage::hash(id));
        for (const PrefetchStage stage : {PrefetchStage::locate, PrefetchStage::record, PrefetchStage::detail})
            storage.prefetch_shard(shard, hashes.data(), hashes.size(), stage); // changes nothing
        storage.with_shard(shard, [&](auto& locked) {
            for (std::size_t k = 0; k < ids.size(); ++k)
                locked.update(ids[k], hashes[k], [&](ClientRecord& r) { (void)apply(r, connect("c", t0 + n), {}); });
        });
        for (const std::string& id : ids)
            reference.update(id, [&](ClientRecord& r) { (void)apply(r, connect("c", t0 + n), {}); });
        ++n;
    }
    CHECK(storage.size() == 300);
    std::map<std::string, bool> a, b;
    storage.for_each([&](std::string_view id, const ClientRecord& r) { a[std::string(id)] = r.online(); });
    reference.for_each([&](std::string_view id, const ClientRecord& r) { b[std::string(id)] = r.online(); });
    CHECK(a == b);
    // A record left empty is erased, also when the callback throws.
    const std::string id = by_shard.begin()->second.front();
    const std::uint64_t h = ConcurrentStorage::hash(id);
    storage.with_shard(storage.shard_of(h), [&](auto& locked) { locked.update(id, h, [](ClientRecord& r) { r = ClientRecord{}; }); });
    CHECK(storage.size() == 299);
    CHECK_THROWS_AS(storage.with_shard(storage.shard_of(h),
                                       [&](auto& locked) {
                                           locked.update(id, h, [](ClientRecord&) { throw std::runtime_error("boom"); });
                                       }),
                    std::runtime_error);
    CHECK(storage.size() == 299);
    storage.visit(id, [&](const ClientRecord* r) { CHECK(r == nullptr); });
}

static_assert(storage_concept::has_visit_batch<ConcurrentStorage>::value);
static_assert(!storage_concept::has_visit_batch<InMemoryStorage>::value);

TEST_CASE("ConcurrentStorage: visit_batch visits each id once, as visit() does", "[storage]") {
    // Batches below shard_count() (one lock per id), at and above it (grouped by shard), and
    // beyond one window of 4,096 ids (the last window small again), with repeated and unknown
    // ids: every position is reported exactly once, with the record visit() finds.
    for (const std::size_t shards : {std::size_t{1}, std::size_t{16}, std::size_t{256}}) {
        ConcurrentStorage storage(shards);
        std::vector<std::string> known;
        for (int i = 0; i < 500; ++i) {
            known.push_back("GID_a@@@dev" + std::to_string(i));
            storage.update(known.back(), [&](ClientRecord& r) { (void)apply(r, connect("c", t0 + i), {}); });
        }
        for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{15}, std::size_t{16},
                                       std::size_t{255}, std::size_t{256}, std::size_t{1000}, std::size_t{4096 + 100},
                                       std::size_t{2 * 4096 + 300}}) {
            std::vector<std::string> text;
            for (std::size_t i = 0; i < size; ++i)
                text.push_back(i % 7 == 3 ? "GID_a@@@nobody" + std::to_string(i) : known[(i * 37) % known.size()]);
            const std::vector<std::string_view> ids(text.begin(), text.end());
            std::vector<const ClientRecord*> expected(size, nullptr);
            for (std::size_t i = 0; i < size; ++i) storage.visit(ids[i], [&](const ClientRecord* r) { expected[i] = r; });
            std::vector<int> calls(size, 0);
            std::vector<const ClientRecord*> got(size, nullptr);
            storage.visit_batch(ids, [&](std::size_t i, const ClientRecord* r) {
                REQUIRE(i < size);
                ++calls[i];
                got[i] = r;
            });
            INFO("shards " << shards << ", ids " << size);
            CHECK(std::count(calls.begin(), calls.end(), 1) == static_cast<std::ptrdiff_t>(size));
            CHECK(got == expected);
        }
    }
}

static_assert(storage_concept::has_reserve<InMemoryStorage>::value);
static_assert(storage_concept::has_reserve<ConcurrentStorage>::value);
static_assert(!storage_concept::has_reserve<MapStorage>::value);
