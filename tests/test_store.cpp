// ClientStatusStore over every storage policy: ingest results, queries, counters, maintenance.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <mqtt_presence/mqtt_presence.hpp>

#include "support/events.hpp"
#include "support/history.hpp"
#include "support/storages.hpp"

using namespace mqtt_presence;
using namespace test_support;

namespace {
const std::string ch1 = "2b9b1281046046faafe5e0b458e4a1b2";
const std::string ch2 = "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f";

template <class Store>
std::set<std::string> online_set(const Store& store) {
    std::set<std::string> ids;
    store.for_each_online([&](std::string_view id) { ids.emplace(id); });
    return ids;
}
} // namespace

TEMPLATE_LIST_TEST_CASE("the store answers is_online, online_count and size", "[store]", Storages) {
    ClientStatusStore<TestType> store;
    CHECK(store.size() == 0);
    CHECK_FALSE(store.is_online("GID_a@@@dev1"));

    const Outcome first = store.ingest(connect(ch1, t0, "GID_a@@@dev1"));
    CHECK(first.status == Status::applied);
    CHECK(first.went_online());
    CHECK(first.transition_ms == t0);
    (void)store.ingest(connect(ch2, t0, "GID_a@@@dev2"));
    (void)store.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@dev3")); // close only: tracked, offline
    CHECK(store.size() == 3);
    CHECK(store.online_count() == 2);
    CHECK(store.is_online("GID_a@@@dev1"));
    CHECK(store.is_online("GID_a@@@dev2"));
    CHECK_FALSE(store.is_online("GID_a@@@dev3"));
    CHECK(online_set(store) == std::set<std::string>{"GID_a@@@dev1", "GID_a@@@dev2"});

    const Outcome off = store.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@dev1"));
    CHECK(off.went_offline());
    CHECK(store.online_count() == 1);
    CHECK(online_set(store) == std::set<std::string>{"GID_a@@@dev2"});
}

TEMPLATE_LIST_TEST_CASE("invalid events are counted and create no record", "[store]", Storages) {
    ClientStatusStore<TestType> store;
    const Outcome out = store.ingest(connect("", t0, "GID_a@@@dev1"));
    CHECK(out.status == Status::invalid);
    CHECK(out.error == "channel_id is empty");
    CHECK(store.size() == 0);
    CHECK(store.counters().invalid == 1);
    CHECK(store.counters().events == 1);
    CHECK_FALSE(store.status("GID_a@@@dev1").has_value());
}

TEMPLATE_LIST_TEST_CASE("counters add up per outcome", "[store]", Storages) {
    ClientStatusStore<TestType> store;
    (void)store.ingest(connect(ch1, t0));                 // applied, online
    (void)store.ingest(connect(ch1, t0));                 // duplicate
    (void)store.ingest(connect(ch2, t0 + 5 * minute));    // applied, takes ch1 over
    (void)store.ingest(connect("aa", t0 - minute));       // superseded
    (void)store.ingest(tcpclean(ch2, t0 + 6 * minute));   // applied, offline
    (void)store.reconcile("GID_a@@@dev1", false, t0 + 7 * minute);
    (void)store.ingest(connect("bb", t0 + 7 * minute));   // behind the watermark
    (void)store.ingest(tcpclean("cc", t0 + 6 * minute));  // stale: before the watermark
    Event bad = connect(ch1, -5);
    (void)store.ingest(bad);                              // invalid
    const Counters& c = store.counters();
    CHECK(c.events == 8);
    CHECK(c.applied == 3);
    CHECK(c.duplicates == 1);
    CHECK(c.superseded == 1);
    CHECK(c.behind_watermark == 1);
    CHECK(c.stale == 1);
    CHECK(c.invalid == 1);
    CHECK(c.refused == 0);
    CHECK(c.reconciles == 1);
    CHECK(c.went_online == 1);
    CHECK(c.went_offline == 1);
    CHECK(store.online_count() == 0);
}

TEMPLATE_LIST_TEST_CASE("status() reports the detail of one client", "[store]", Storages) {
    ClientStatusStore<TestType> store;
    CHECK_FALSE(store.status("GID_a@@@dev1").has_value());
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev1", "198.51.100.4:5000"));
    const auto st = store.status("GID_a@@@dev1");
    REQUIRE(st.has_value());
    CHECK(st->online);
    CHECK(st->current_channel == ch1);
    CHECK(st->client_address == "198.51.100.4:5000");
    CHECK(st->connected_since_ms == t0);
    CHECK(st->last_event_ms == t0);
    (void)store.ingest(disconnect(ch1, t0 + minute, "GID_a@@@dev1"));
    (void)store.ingest(tcpclean(ch1, t0 + minute + 3, "GID_a@@@dev1"));
    const auto after = store.status("GID_a@@@dev1");
    REQUIRE(after.has_value());
    CHECK_FALSE(after->online);
    CHECK(after->last_offline_ms == t0 + minute + 3);
    CHECK(after->last_offline_graceful);
}

TEMPLATE_LIST_TEST_CASE("reconcile through the store keeps online_count exact", "[store]", Storages) {
    ClientStatusStore<TestType> store;
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev1"));
    CHECK(store.online_count() == 1);
    const Outcome off = store.reconcile("GID_a@@@dev1", false, t0 + hour);
    CHECK(off.went_offline());
    CHECK(store.online_count() == 0);
    const Outcome on = store.reconcile("GID_a@@@dev9", true, t0 + hour);
    CHECK(on.went_online());
    CHECK(store.online_count() == 1);
    CHECK(store.is_online("GID_a@@@dev9"));
    CHECK(store.status("GID_a@@@dev9")->by_reconcile);
    CHECK(store.reconcile("", true, t0).status == Status::invalid);
    CHECK(store.size() == 2);
}

TEMPLATE_LIST_TEST_CASE("prune drops old tombstones and forgets long-offline clients", "[store]", Storages) {
    Options options;
    options.forget_offline_after_ms = 48 * hour;
    ClientStatusStore<TestType> store(options);
    (void)store.ingest(connect(ch1, t0, "GID_a@@@gone"));
    (void)store.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@gone"));
    (void)store.ingest(connect(ch1, t0, "GID_a@@@here"));
    (void)store.ingest(connect(ch2, t0, "GID_a@@@flappy"));
    (void)store.ingest(tcpclean(ch2, t0 + second, "GID_a@@@flappy"));
    (void)store.ingest(connect(ch1, t0 + 30 * hour, "GID_a@@@flappy"));

    PruneReport early = store.prune(t0 + hour);
    CHECK(early.clients_examined == 3);
    CHECK(early.tombstones_dropped == 0);
    CHECK(early.clients_forgotten == 0);

    PruneReport day = store.prune(t0 + 25 * hour);
    CHECK(day.tombstones_dropped == 1); // gone's closed channel (flappy's went in event time)
    CHECK(day.clients_forgotten == 0);
    CHECK(store.size() == 3);

    PruneReport later = store.prune(t0 + 50 * hour);
    CHECK(later.clients_forgotten == 1);
    CHECK(store.size() == 2);
    CHECK_FALSE(store.status("GID_a@@@gone").has_value());
    CHECK(store.is_online("GID_a@@@here"));
    CHECK(store.is_online("GID_a@@@flappy"));
    CHECK(store.online_count() == 2);
}

TEST_CASE("bad options are refused with a message naming them", "[store]") {
    Options options;
    options.takeover_tolerance_ms = -1;
    CHECK_THROWS_WITH(ClientStatusStore<>(options), "mqtt_presence: takeover_tolerance_ms must be between 0 and ten years");
}

TEST_CASE("options reach the rules", "[store]") {
    Options options;
    options.close_on_disconnect = true;
    ClientStatusStore<> store(options);
    (void)store.ingest(connect(ch1, t0));
    CHECK(store.ingest(disconnect(ch1, t0 + minute)).went_offline());
    CHECK(store.options().close_on_disconnect);
}

TEMPLATE_LIST_TEST_CASE("ingest_batch gives exactly the outcomes and state of ingest() one by one", "[store][batch]", Storages) {
    using namespace mqtt_presence::testing;
    // A few thousand clients' generated events, with duplicates and reordering: the prefetching
    // pipeline must not change a single outcome, and must reach the end of every batch size.
    const Batch batch = generate_batch(seed_from_environment(7), 0, 3000, HistoryOptions{}, DeliveryOptions{});
    std::vector<Event> events;
    for (const Delivery& d : batch.deliveries)
        if (d.kind == Delivery::Kind::event) events.push_back(d.event);
    events.push_back(Event{"", ch1, EventType::connect, t0, ""}); // invalid: counted, no record
    REQUIRE(events.size() > 30000);

    ClientStatusStore<TestType> one_by_one;
    std::vector<Outcome> expected;
    for (const Event& e : events) expected.push_back(one_by_one.ingest(e));

    for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{16}, std::size_t{17}, events.size()}) {
        ClientStatusStore<TestType> batched;
        std::vector<Outcome> got;
        std::size_t index = 0;
        bool same_events = true;
        for (std::size_t from = 0; from < events.size(); from += chunk) {
            const auto first = events.begin() + static_cast<std::ptrdiff_t>(from);
            const auto last = events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), from + chunk));
            batched.ingest_batch(first, last, [&](const Event& e, const Outcome& out) {
                same_events = same_events && &e == &events[index++];
                got.push_back(out);
            });
        }
        INFO("chunk " << chunk);
        CHECK(same_events);
        REQUIRE(got.size() == expected.size());
        std::size_t differing = 0;
        for (std::size_t i = 0; i < got.size(); ++i)
            if (got[i].status != expected[i].status || got[i].transition != expected[i].transition ||
                got[i].transition_ms != expected[i].transition_ms || got[i].cause != expected[i].cause)
                ++differing;
        CHECK(differing == 0);
        CHECK(online_set(batched) == online_set(one_by_one));
        CHECK(batched.online_count() == one_by_one.online_count());
        CHECK(batched.size() == one_by_one.size());
        CHECK(batched.counters().invalid == 1);
        CHECK(batched.counters().went_online == one_by_one.counters().went_online);
    }

    ClientStatusStore<TestType> quiet;
    quiet.ingest_batch(events.begin(), events.end());
    CHECK(online_set(quiet) == online_set(one_by_one));
    CHECK(quiet.counters().events == events.size());
}
