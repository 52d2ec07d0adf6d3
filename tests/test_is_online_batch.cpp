// is_online_batch: the same answers as is_online, id by id, over both storages.
#include <catch2/catch.hpp>

#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <mqtt_presence/mqtt_presence.hpp>

#include "support/history.hpp"
#include "support/storages.hpp"

using namespace mqtt_presence;
using namespace mqtt_presence::testing;
using test_support::Storages;

TEMPLATE_LIST_TEST_CASE("is_online_batch answers as is_online does, for known and unknown ids, in order",
                        "[store][is_online_batch]", Storages) {
    // A generated history: a few thousand clients, some online, some offline, with tombstones.
    const Batch batch = generate_batch(seed_from_environment(11), 0, test_support::share_of_work<TestType>(3000),
                                       HistoryOptions{}, DeliveryOptions{});
    ClientStatusStore<TestType> store;
    for (const Delivery& d : batch.deliveries)
        if (d.kind == Delivery::Kind::event) (void)store.ingest(d.event);
    Random rng(batch.seed);
    REQUIRE(store.online_count() > 0);
    REQUIRE(store.online_count() < store.size());

    std::vector<std::string> ids;
    for (const Timeline& timeline : batch.timelines) ids.push_back(timeline.client_id);
    for (int i = 0; i < 50; ++i) ids.push_back("GID_unknown@@@nobody-" + std::to_string(i)); // never seen
    ids.push_back("");                                                                        // invalid: not online
    // Shuffled so that known and unknown ids interleave.
    for (std::size_t i = ids.size(); i > 1; --i) std::swap(ids[i - 1], ids[rng.index(i)]);

    std::vector<bool> expected;
    for (const std::string& id : ids) expected.push_back(store.is_online(id));

    std::vector<bool> got;
    store.is_online_batch(ids.begin(), ids.end(), std::back_inserter(got));
    CHECK(got == expected);

    // The same through string views and C strings, and into a plain array.
    const std::vector<std::string_view> views(ids.begin(), ids.end());
    std::vector<char> flags(views.size(), 2);
    char* end = store.is_online_batch(views.begin(), views.end(), flags.data());
    CHECK(end == flags.data() + flags.size());
    for (std::size_t i = 0; i < ids.size(); ++i) CHECK((flags[i] != 0) == expected[i]);

    // Beyond one window of 4,096 ids (a storage may group each window by shard), the last
    // window of another size, ids repeated: still every answer, in order.
    std::vector<std::string_view> many;
    std::vector<bool> many_expected;
    for (std::size_t i = 0; many.size() < 2 * 4096 + 100; i = (i + 7) % ids.size()) {
        many.push_back(ids[i]);
        many_expected.push_back(expected[i]);
    }
    std::vector<bool> many_got;
    store.is_online_batch(many.begin(), many.end(), std::back_inserter(many_got));
    CHECK(many_got == many_expected);

    std::vector<const char*> c_strings;
    for (const std::string& id : ids) c_strings.push_back(id.c_str());
    std::vector<bool> from_c;
    store.is_online_batch(c_strings.begin(), c_strings.end(), std::back_inserter(from_c));
    CHECK(from_c == expected);
}

TEMPLATE_LIST_TEST_CASE("is_online_batch on short and empty ranges and an empty store", "[store][is_online_batch]",
                        Storages) {
    ClientStatusStore<TestType> store;
    const std::vector<std::string> none;
    std::vector<bool> got;
    store.is_online_batch(none.begin(), none.end(), std::back_inserter(got));
    CHECK(got.empty());

    const std::vector<std::string> one = {"GID_a@@@x"};
    store.is_online_batch(one.begin(), one.end(), std::back_inserter(got));
    CHECK(got == std::vector<bool>{false}); // empty store

    Event connect{"GID_a@@@x", "0a0b0c0d0e0f00112233445566778899", EventType::connect, 1'000, ""};
    (void)store.ingest(connect);
    const std::vector<std::string> three = {"GID_a@@@y", "GID_a@@@x", "GID_a@@@x"};
    got.clear();
    store.is_online_batch(three.begin(), three.end(), std::back_inserter(got));
    CHECK(got == std::vector<bool>{false, true, true}); // repeated ids answer alike
}
