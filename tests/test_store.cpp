// ClientStatusStore over every storage policy: ingest results, queries, counters, maintenance.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
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

TEMPLATE_LIST_TEST_CASE("max_clients: a full store refuses new clients and keeps serving the ones it holds", "[store][cap]",
                        Storages) {
    Options options;
    options.max_clients = 3;
    options.forget_offline_after_ms = 48 * hour;
    if constexpr (storage_concept::is_shared<TestType>::value) {
        // The records live elsewhere, shared with other processes: the cap cannot be kept here.
        CHECK_THROWS_WITH(ClientStatusStore<TestType>(options),
                          Catch::Contains("max_clients needs an in-process storage"));
        return;
    } else {
        ClientStatusStore<TestType> store(options);
        CHECK(store.ingest(connect(ch1, t0, "GID_a@@@dev1")).went_online());
        CHECK(store.ingest(connect(ch1, t0, "GID_a@@@dev2")).went_online());
        CHECK(store.ingest(tcpclean(ch2, t0, "GID_a@@@dev3")).status == Status::applied); // tracked, offline
        REQUIRE(store.size() == 3);

        // A fourth client: every kind of event and a reconcile are refused, and nothing is created.
        for (const Event& e : {connect(ch1, t0, "GID_a@@@dev4"), tcpclean(ch1, t0, "GID_a@@@dev4"),
                               disconnect(ch1, t0, "GID_a@@@dev4")}) {
            const Outcome out = store.ingest(e);
            CHECK(out.status == Status::refused);
            CHECK(out.transition == Transition::none);
        }
        CHECK(store.reconcile("GID_a@@@dev4", true, t0).status == Status::refused);
        std::vector<Event> batch{connect(ch2, t0, "GID_a@@@dev5"), disconnect(ch1, t0 + second, "GID_a@@@dev2")};
        std::vector<Status> statuses;
        store.ingest_batch(batch.begin(), batch.end(),
                           [&](const Event&, const Outcome& out) { statuses.push_back(out.status); });
        CHECK(statuses == std::vector<Status>{Status::refused, Status::applied});
        CHECK(store.size() == 3);
        CHECK_FALSE(store.status("GID_a@@@dev4").has_value());
        CHECK_FALSE(store.is_online("GID_a@@@dev5"));
        CHECK(store.counters().refused == 4); // the events; the reconcile counts as a reconcile
        CHECK(store.counters().reconciles == 1);
        CHECK(store.online_count() == 2);

        // The clients it holds are unaffected: their events apply as without a cap.
        CHECK(store.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@dev1")).status == Status::applied);
        CHECK(store.ingest(connect(ch1, t0 + minute, "GID_a@@@dev3")).went_online());
        CHECK(store.online_count() == 2);

        // Room comes back when prune forgets a client.
        CHECK(store.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@dev3")).went_offline());
        CHECK(store.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@dev2")).went_offline());
        CHECK(store.prune(t0 + 50 * hour).clients_forgotten == 3);
        CHECK(store.ingest(connect(ch1, t0 + 50 * hour, "GID_a@@@dev4")).went_online());
        CHECK(store.size() == 1);
    }
}

// In-process storages only: a shared storage refuses max_clients (the test above).
TEMPLATE_TEST_CASE("max_clients: a snapshot holding more clients than the cap is refused whole", "[store][cap]",
                   InMemoryStorage, ConcurrentStorage) {
    ClientStatusStore<TestType> big;
    for (int i = 0; i < 5; ++i) (void)big.ingest(connect(ch1, t0, "GID_a@@@dev" + std::to_string(i)));
    std::stringstream bytes;
    REQUIRE(big.save_snapshot(bytes) == 5);

    Options options;
    options.max_clients = 4;
    ClientStatusStore<TestType> small(options);
    CHECK_THROWS_WITH(small.load_snapshot(bytes),
                      "snapshot: it holds 5 clients, more than this store's max_clients (4)");
    CHECK(small.size() == 0);
    CHECK(small.online_count() == 0);

    options.max_clients = 5;
    ClientStatusStore<TestType> fits(options);
    bytes.clear();
    bytes.seekg(0);
    (void)fits.load_snapshot(bytes);
    CHECK(fits.size() == 5);
    CHECK(fits.ingest(connect(ch1, t0, "GID_a@@@dev9")).status == Status::refused);
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
    const std::size_t clients = test_support::share_of_work<TestType>(3000);
    const Batch batch = generate_batch(seed_from_environment(7), 0, clients, HistoryOptions{}, DeliveryOptions{});
    std::vector<Event> events;
    for (const Delivery& d : batch.deliveries)
        if (d.kind == Delivery::Kind::event) events.push_back(d.event);
    events.push_back(Event{"", ch1, EventType::connect, t0, ""}); // invalid: counted, no record
    REQUIRE(events.size() > 10 * clients);
    REQUIRE(events.size() > 5000); // more than the largest chunk below but the whole

    ClientStatusStore<TestType> one_by_one;
    std::vector<Outcome> expected;
    for (const Event& e : events) expected.push_back(one_by_one.ingest(e));

    // A storage that locks many clients at once (ConcurrentStorage) applies a batch of at least
    // shard_count() events shard by shard: each client's events in order, on_outcome in the
    // order of application. Every other batch is applied, and reported, in input order.
    constexpr bool by_shard = mqtt_presence::storage_concept::has_shard_lock<TestType>::value;
    const std::size_t shards = [] {
        if constexpr (by_shard) return TestType{}.shard_count();
        return std::size_t{0};
    }();
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{16}, std::size_t{17}, std::size_t{300},
                                    std::size_t{5000}, events.size()}) {
        ClientStatusStore<TestType> batched;
        std::vector<Outcome> got(events.size());
        std::vector<int> reports(events.size(), 0);
        std::size_t reported = 0;
        bool in_input_order = true;
        bool each_client_in_order = true;
        std::unordered_map<std::string_view, std::size_t> last_of_client;
        for (std::size_t from = 0; from < events.size(); from += chunk) {
            const auto first = events.begin() + static_cast<std::ptrdiff_t>(from);
            const auto last = events.begin() + static_cast<std::ptrdiff_t>(std::min(events.size(), from + chunk));
            batched.ingest_batch(first, last, [&](const Event& e, const Outcome& out) {
                const auto i = static_cast<std::size_t>(&e - events.data());
                REQUIRE(i >= from);
                REQUIRE(i < events.size());
                in_input_order = in_input_order && i == reported;
                ++reported;
                ++reports[i];
                got[i] = out;
                const auto [it, first_seen] = last_of_client.emplace(e.client_id, i);
                if (!first_seen) {
                    each_client_in_order = each_client_in_order && it->second < i;
                    it->second = i;
                }
            });
        }
        INFO("chunk " << chunk);
        CHECK(reported == events.size());
        CHECK(std::count(reports.begin(), reports.end(), 1) == static_cast<std::ptrdiff_t>(events.size()));
        CHECK(each_client_in_order);
        CHECK(in_input_order == !(by_shard && chunk >= shards));
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

TEST_CASE("ingest_batch: an on_outcome that changes the store between events changes no outcome", "[store][batch]") {
    using namespace mqtt_presence::testing;
    // ingest_batch looks a record up ahead of its event (and InMemoryStorage guesses where it
    // is then); on_outcome may call the store in between, here forgetting offline clients
    // (which moves other records into their places) and adding clients. Every outcome and
    // the state must be those of ingest() one by one with the same calls in between.
    Options options;
    options.forget_offline_after_ms = minute;
    const Batch batch = generate_batch(seed_from_environment(11), 0, 400, HistoryOptions{}, DeliveryOptions{});
    std::vector<Event> events;
    for (const Delivery& d : batch.deliveries)
        if (d.kind == Delivery::Kind::event) events.push_back(d.event);
    REQUIRE(events.size() > 4000);

    std::size_t forgotten = 0;
    std::size_t added = 0;
    const auto meddle = [&](ClientStatusStore<>& store, std::size_t i) {
        if (i % 23 == 0) forgotten += store.prune(events[i].time_ms).clients_forgotten;
        if (i % 31 == 0) {
            (void)store.ingest(connect(ch1, events[i].time_ms, "GID_side@@@dev" + std::to_string(i)));
            ++added;
        }
    };
    ClientStatusStore<> one_by_one(options);
    std::vector<Outcome> expected;
    for (std::size_t i = 0; i < events.size(); ++i) {
        expected.push_back(one_by_one.ingest(events[i]));
        meddle(one_by_one, i);
    }
    REQUIRE(forgotten > 100); // the calls did move records around
    REQUIRE(added > 100);

    const std::size_t forgotten_one_by_one = forgotten;
    forgotten = added = 0;
    ClientStatusStore<> batched(options);
    std::size_t differing = 0;
    std::size_t reported = 0;
    batched.ingest_batch(events.begin(), events.end(), [&](const Event& e, const Outcome& out) {
        const auto i = static_cast<std::size_t>(&e - events.data());
        REQUIRE(i == reported++);
        if (out.status != expected[i].status || out.transition != expected[i].transition ||
            out.transition_ms != expected[i].transition_ms)
            ++differing;
        meddle(batched, i);
    });
    CHECK(reported == events.size());
    CHECK(differing == 0);
    CHECK(online_set(batched) == online_set(one_by_one));
    CHECK(batched.size() == one_by_one.size());
    CHECK(batched.counters().applied == one_by_one.counters().applied);
    CHECK(forgotten == forgotten_one_by_one);
}

// ---------------------------------------------------------------------------------------------
// Groups, the transition hook, expiry.
// ---------------------------------------------------------------------------------------------

namespace {

template <class Store>
std::set<std::string> online_in(const Store& store, std::string_view group) {
    std::set<std::string> ids;
    store.for_each_online(group, [&](std::string_view id) { ids.emplace(id); });
    return ids;
}

struct SeenEdge {
    std::string client_id;
    bool online = false;
    std::int64_t time_ms = 0;
    std::string channel_id;
    Cause cause = Cause::none;
    bool operator==(const SeenEdge& o) const {
        return client_id == o.client_id && online == o.online && time_ms == o.time_ms && channel_id == o.channel_id && cause == o.cause;
    }
};

SeenEdge seen(const Edge& e) { return SeenEdge{std::string(e.client_id), e.online, e.time_ms, std::string(e.channel_id), e.cause}; }

} // namespace

TEMPLATE_LIST_TEST_CASE("online_count(group) follows every edge of the group's clients", "[store][groups]", Storages) {
    Options options;
    options.forget_offline_after_ms = 48 * hour;
    ClientStatusStore<TestType> store(options);
    CHECK(store.online_count("GID_a") == 0);
    CHECK(group_counts(store).empty());

    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev1"));
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev2"));
    (void)store.ingest(connect(ch2, t0, "GID_b@@@dev1"));
    (void)store.ingest(connect(ch1, t0, "plain-client"));  // no "@@@": group ""
    (void)store.ingest(connect(ch1, t0, "GID_c@@@"));      // no device: no Group ID either
    (void)store.ingest(tcpclean(ch2, t0, "GID_d@@@dev1")); // tracked, never online
    CHECK(store.online_count("GID_a") == 2);
    CHECK(store.online_count("GID_b") == 1);
    CHECK(store.online_count("") == 2);
    CHECK(store.online_count("GID_c") == 0);
    CHECK(store.online_count("GID_d") == 0);
    CHECK(store.online_count("GID_zzz") == 0);
    CHECK(group_counts(store) == std::map<std::string, std::size_t>{{"", 2}, {"GID_a", 2}, {"GID_b", 1}});
    CHECK(online_in(store, "GID_a") == std::set<std::string>{"GID_a@@@dev1", "GID_a@@@dev2"});
    CHECK(online_in(store, "") == std::set<std::string>{"GID_c@@@", "plain-client"});
    CHECK(online_in(store, "GID_d").empty());

    // Offline by an event, by reconcile, by expiry; online by reconcile.
    CHECK(store.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@dev1")).went_offline());
    CHECK(store.online_count("GID_a") == 1);
    CHECK(store.reconcile("GID_a@@@dev2", false, t0 + minute).went_offline());
    CHECK(store.online_count("GID_a") == 0);
    CHECK(store.reconcile("GID_a@@@dev3", true, t0 + minute).went_online());
    CHECK(store.online_count("GID_a") == 1);
    CHECK(online_in(store, "GID_a") == std::set<std::string>{"GID_a@@@dev3"});
    const ExpiryReport expired = store.expire_silent(t0 + 2 * hour, hour); // everyone left: silent since t0 or t0 + 1 min
    CHECK(expired.clients_gone_offline == 4);
    CHECK(store.online_count() == 0);
    CHECK(store.online_count("GID_a") == 0);
    CHECK(store.online_count("GID_b") == 0);
    CHECK(store.online_count("") == 0);
    CHECK(group_counts(store).empty());

    // Forgetting offline clients changes no count; groups with nobody online are dropped.
    (void)store.ingest(connect(ch2, t0 + 3 * hour, "GID_b@@@dev9"));
    const PruneReport pruned = store.prune(t0 + 60 * hour);
    CHECK(pruned.clients_forgotten == 7);
    CHECK(store.size() == 1);
    CHECK(store.online_count("GID_b") == 1);
    CHECK(store.online_count("GID_a") == 0);
    CHECK(group_counts(store) == std::map<std::string, std::size_t>{{"GID_b", 1}});
    // The counts still move once the group is trimmed and comes back.
    CHECK(store.ingest(connect(ch1, t0 + 61 * hour, "GID_a@@@dev1")).went_online());
    CHECK(store.online_count("GID_a") == 1);
}

TEMPLATE_LIST_TEST_CASE("group counts add up to online_count over a generated history", "[store][groups]", Storages) {
    using namespace mqtt_presence::testing;
    const Batch batch = generate_batch(seed_from_environment(11), 0, 1500, HistoryOptions{}, DeliveryOptions{});
    ClientStatusStore<TestType> store;
    for (std::size_t i = 0; i < batch.deliveries.size(); ++i) {
        const Delivery& d = batch.deliveries[i];
        (void)(d.kind == Delivery::Kind::event ? store.ingest(d.event) : store.reconcile(d.event.client_id, d.online, d.as_of_ms));
        if (i % 5000 == 4999) (void)store.expire_silent(d.delivered_ms, 6 * hour);
    }
    std::map<std::string, std::size_t> recount;
    store.for_each_online([&](std::string_view id) { ++recount[std::string(group_of(id))]; });
    REQUIRE(recount.size() >= 3); // the generator's four groups
    CHECK(group_counts(store) == recount);
    std::size_t sum = 0;
    for (const auto& [group, online] : recount) {
        CHECK(store.online_count(group) == online);
        CHECK(online_in(store, group).size() == online);
        sum += online;
    }
    CHECK(sum == store.online_count());
}

TEMPLATE_LIST_TEST_CASE("the transition hook sees each flip once, as the outcomes report it", "[store][hook]", Storages) {
    using namespace mqtt_presence::testing;
    const Batch batch = generate_batch(seed_from_environment(12), 0, 1500, HistoryOptions{}, DeliveryOptions{});
    ClientStatusStore<TestType> store;
    std::vector<SeenEdge> edges;
    store.on_transition([&](const Edge& e) { edges.push_back(seen(e)); });

    // Half through ingest()/reconcile(), half through ingest_batch(): outcomes in the order the
    // events are applied (in input order but for ConcurrentStorage's large batches).
    std::vector<SeenEdge> from_outcomes;
    std::vector<const Delivery*> flipped; // the delivery behind each outcome edge
    auto note = [&](const Delivery& d, const Outcome& out) {
        if (out.transition == Transition::none) return;
        from_outcomes.push_back(SeenEdge{d.event.client_id, out.went_online(), out.transition_ms, "", out.cause});
        flipped.push_back(&d);
    };
    const std::size_t half = batch.deliveries.size() / 2;
    for (std::size_t i = 0; i < half; ++i) {
        const Delivery& d = batch.deliveries[i];
        note(d, d.kind == Delivery::Kind::event ? store.ingest(d.event) : store.reconcile(d.event.client_id, d.online, d.as_of_ms));
    }
    for (std::size_t i = half; i < batch.deliveries.size();) {
        const Delivery& d = batch.deliveries[i];
        if (d.kind == Delivery::Kind::reconcile) {
            note(d, store.reconcile(d.event.client_id, d.online, d.as_of_ms));
            ++i;
            continue;
        }
        std::vector<Event> run;
        std::vector<const Delivery*> run_of;
        for (; i < batch.deliveries.size() && batch.deliveries[i].kind == Delivery::Kind::event; ++i) {
            run.push_back(batch.deliveries[i].event);
            run_of.push_back(&batch.deliveries[i]);
        }
        store.ingest_batch(run.begin(), run.end(), [&](const Event& e, const Outcome& out) {
            note(*run_of[static_cast<std::size_t>(&e - run.data())], out);
        });
    }
    REQUIRE(edges.size() == from_outcomes.size());
    REQUIRE(edges.size() > 1000);
    std::size_t mismatched = 0, wrong_channel = 0;
    std::size_t by_cause[7] = {};
    for (std::size_t i = 0; i < edges.size(); ++i) {
        SeenEdge expected = from_outcomes[i];
        expected.channel_id = edges[i].channel_id;
        if (!(edges[i] == expected)) ++mismatched;
        ++by_cause[static_cast<std::size_t>(edges[i].cause)];
        // The channel: a reconcile's synthetic one is ""; an event's own channel opened it or
        // closed it, but for a takeover (another channel of the client).
        const Delivery& d = *flipped[i];
        const std::string& channel = edges[i].channel_id;
        if (d.kind == Delivery::Kind::reconcile) {
            if (edges[i].online ? !channel.empty() : false) ++wrong_channel;
        } else if (edges[i].cause == Cause::takeover) {
            if (channel.empty() || channel == d.event.channel_id) ++wrong_channel;
        } else if (channel != d.event.channel_id) {
            ++wrong_channel;
        }
    }
    CHECK(mismatched == 0);
    CHECK(wrong_channel == 0);
    CHECK(by_cause[static_cast<std::size_t>(Cause::connect)] > 0);
    CHECK(by_cause[static_cast<std::size_t>(Cause::tcpclean)] > 0);
    CHECK(by_cause[static_cast<std::size_t>(Cause::reconcile)] > 0);

    // Expiry reports its edges through the hook too, and the counters agree with everything.
    const std::size_t before = edges.size();
    const ExpiryReport expired = store.expire_silent(batch.deliveries.back().delivered_ms + 400 * hour, hour);
    CHECK(expired.clients_gone_offline > 0);
    CHECK(edges.size() - before == expired.clients_gone_offline);
    for (std::size_t i = before; i < edges.size(); ++i) {
        CHECK_FALSE(edges[i].online);
        CHECK(edges[i].cause == Cause::expiry);
    }
    CHECK(store.online_count() == 0);
    std::size_t on = 0, off = 0;
    for (const SeenEdge& e : edges) ++(e.online ? on : off);
    CHECK(store.counters().went_online == on);
    CHECK(store.counters().went_offline == off);
}

TEMPLATE_LIST_TEST_CASE("the hook runs once the counts include the flip, and may read them", "[store][hook]", Storages) {
    ClientStatusStore<TestType> store;
    std::vector<std::string> notes;
    store.on_transition([&](const Edge& e) {
        notes.push_back(std::string(e.client_id) + (e.online ? " online" : " offline") + " at " + std::to_string(e.time_ms - t0) +
                        " via " + std::string(e.channel_id) + " (" + std::string(to_string(e.cause)) + ") count " +
                        std::to_string(store.online_count()) + " group " + std::to_string(store.online_count("GID_a")) +
                        " size " + std::to_string(store.size()) + " went_online " + std::to_string(store.counters().went_online));
    });
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev1"));
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev1")); // duplicate: no call
    (void)store.ingest(tcpclean(ch1, t0 + 5, "GID_a@@@dev1"));
    (void)store.reconcile("GID_a@@@dev1", true, t0 + 10);
    (void)store.expire_silent(t0 + 100, 50);
    CHECK(notes == std::vector<std::string>{
                       "GID_a@@@dev1 online at 0 via " + ch1 + " (connect) count 1 group 1 size 1 went_online 1",
                       "GID_a@@@dev1 offline at 5 via " + ch1 + " (tcpclean) count 0 group 0 size 1 went_online 1",
                       "GID_a@@@dev1 online at 10 via  (reconcile) count 1 group 1 size 1 went_online 2",
                       "GID_a@@@dev1 offline at 60 via  (expiry) count 0 group 0 size 1 went_online 2"});
    // Removed: no more calls.
    store.on_transition(nullptr);
    (void)store.ingest(connect(ch2, t0 + 200, "GID_a@@@dev1"));
    CHECK(notes.size() == 4);
}

TEMPLATE_LIST_TEST_CASE("calling back into the store from its hook throws and leaves the state intact", "[store][hook]", Storages) {
    using Store = ClientStatusStore<TestType>;
    Store store;
    (void)store.ingest(connect(ch2, t0, "GID_a@@@other"));
    std::vector<std::pair<std::string, std::function<void(Store&)>>> calls = {
        {"ingest", [](Store& s) { (void)s.ingest(connect(ch2, t0, "GID_a@@@x")); }},
        {"ingest_batch", [](Store& s) { std::vector<Event> v{connect(ch2, t0, "GID_a@@@x")}; s.ingest_batch(v.begin(), v.end()); }},
        {"reconcile", [](Store& s) { (void)s.reconcile("GID_a@@@x", true, t0); }},
        {"is_online", [](Store& s) { (void)s.is_online("GID_a@@@other"); }},
        {"status", [](Store& s) { (void)s.status("GID_a@@@other"); }},
        {"for_each_online", [](Store& s) { s.for_each_online([](std::string_view) {}); }},
        {"for_each_online", [](Store& s) { s.for_each_online("GID_a", [](std::string_view) {}); }},
        {"for_each_group", [](Store& s) { s.for_each_group([](std::string_view, std::size_t) {}); }},
        {"prune", [](Store& s) { (void)s.prune(t0); }},
        {"expire_silent", [](Store& s) { (void)s.expire_silent(t0, hour); }},
        {"on_transition", [](Store& s) { s.on_transition(nullptr); }},
        {"save_snapshot", [](Store& s) { std::ostringstream out; (void)s.save_snapshot(out); }},
        {"load_snapshot", [](Store& s) { std::istringstream in; (void)s.load_snapshot(in); }},
    };
    std::vector<std::string> messages;
    std::size_t index = 0;
    store.on_transition([&](const Edge&) {
        try {
            calls[index].second(store);
            messages.push_back("no exception");
        } catch (const std::logic_error& e) {
            messages.push_back(e.what());
        }
    });
    for (index = 0; index < calls.size(); ++index) {
        INFO(calls[index].first);
        const std::string client = "GID_a@@@dev" + std::to_string(index);
        const Outcome out = store.ingest(connect(ch1, t0 + static_cast<std::int64_t>(index), client));
        CHECK(out.went_online());
        REQUIRE(messages.size() == index + 1);
        CHECK(messages.back() == "mqtt_presence: ClientStatusStore::" + calls[index].first +
                                     "() called from inside the store's transition hook, which runs while the client's record "
                                     "is locked; queue the work and do it after the hook returns");
        CHECK(store.is_online(client)); // outside the hook, calls work again
    }
    CHECK(store.size() == calls.size() + 1);
    CHECK(store.online_count() == calls.size() + 1);
    CHECK(store.online_count("GID_a") == calls.size() + 1);
    CHECK_FALSE(store.is_online("GID_a@@@x")); // none of the refused calls did anything

    // A hook that lets the exception out: the call that flipped throws, the flip stays applied
    // and counted, and the store keeps working.
    store.on_transition([&](const Edge&) { (void)store.is_online("GID_a@@@other"); });
    CHECK_THROWS_AS(store.ingest(tcpclean(ch2, t0 + minute, "GID_a@@@other")), std::logic_error);
    CHECK_FALSE(store.is_online("GID_a@@@other"));
    CHECK(store.online_count() == calls.size());
    CHECK(store.online_count("GID_a") == calls.size());
    CHECK(store.counters().went_offline == 1);
    CHECK(store.ingest(tcpclean(ch2, t0 + minute, "GID_a@@@other")).status == Status::duplicate);

    // Another store may be fed from the hook.
    Store mirror;
    store.on_transition([&](const Edge& e) {
        (void)mirror.reconcile(e.client_id, e.online, e.time_ms);
        CHECK(mirror.is_online(e.client_id) == e.online);
    });
    CHECK(store.ingest(connect(ch1, t0 + hour, "GID_b@@@dev1")).went_online());
    CHECK(mirror.is_online("GID_b@@@dev1"));

    // ... but not back into the first store from the second store's hook.
    std::string nested;
    mirror.on_transition([&](const Edge&) {
        try {
            (void)store.is_online("GID_a@@@other");
            nested = "no exception";
        } catch (const std::logic_error&) {
            nested = "refused";
        }
    });
    CHECK(store.ingest(connect(ch1, t0 + hour, "GID_b@@@dev2")).went_online());
    CHECK(nested == "refused");
    CHECK(mirror.is_online("GID_b@@@dev2"));
    nested.clear();
    (void)mirror.ingest(connect(ch1, t0 + hour, "GID_b@@@dev3")); // not inside store's hook: allowed
    CHECK(nested == "no exception");
}

TEMPLATE_LIST_TEST_CASE("expire_silent closes silent channels in every client and reports them", "[store][expiry]", Storages) {
    ClientStatusStore<TestType> store;
    std::vector<SeenEdge> edges;
    store.on_transition([&](const Edge& e) { edges.push_back(seen(e)); });
    (void)store.ingest(connect(ch1, t0, "GID_a@@@old"));
    (void)store.ingest(connect(ch1, t0 + 70 * minute, "GID_a@@@young"));
    (void)store.ingest(connect(ch1, t0, "GID_b@@@two"));
    (void)store.ingest(connect(ch2, t0 + 40 * minute, "GID_b@@@two"));   // takes ch1 over
    (void)store.ingest(connect(ch1, t0, "GID_b@@@gone"));
    (void)store.ingest(tcpclean(ch1, t0 + minute, "GID_b@@@gone"));
    edges.clear();

    // Bad arguments: nothing happens.
    CHECK_THROWS_WITH(store.expire_silent(t0, -1), "mqtt_presence: expire_silent: max_age_ms is negative");
    CHECK_THROWS_WITH(store.expire_silent(-5, hour), "mqtt_presence: expire_silent: now_ms is negative");
    CHECK_THROWS_AS(store.expire_silent(max_time_ms + 1, hour), std::invalid_argument);
    CHECK(store.online_count() == 3);
    CHECK(edges.empty());

    const ExpiryReport report = store.expire_silent(t0 + 2 * hour, hour);
    CHECK(report.clients_examined == 4);
    CHECK(report.channels_closed == 2); // old's ch1 and two's ch2 (two's ch1 was closed by takeover)
    CHECK(report.clients_gone_offline == 2);
    CHECK(store.online_count() == 1);
    CHECK(store.is_online("GID_a@@@young"));
    std::sort(edges.begin(), edges.end(), [](const SeenEdge& a, const SeenEdge& b) { return a.client_id < b.client_id; });
    CHECK(edges == std::vector<SeenEdge>{{"GID_a@@@old", false, t0 + hour, ch1, Cause::expiry},
                                         {"GID_b@@@two", false, t0 + 40 * minute + hour, ch2, Cause::expiry}});
    CHECK(store.status("GID_a@@@old")->last_offline_ms == t0 + hour);
    // A redelivered connect of an expired channel stays closed.
    CHECK(store.ingest(connect(ch1, t0, "GID_a@@@old")).status == Status::duplicate);
    CHECK_FALSE(store.is_online("GID_a@@@old"));
    // Running it again changes nothing.
    const ExpiryReport again = store.expire_silent(t0 + 2 * hour, hour);
    CHECK(again.channels_closed == 0);
    CHECK(again.clients_gone_offline == 0);
    CHECK(store.counters().went_offline == 3);
}

TEST_CASE("group counts: many groups, long and empty names, trimming", "[store][groups]") {
    auto exercise = [](auto& counts) {
        std::map<std::string, std::int64_t> expected;
        for (int round = 0; round < 3; ++round) {
            for (int g = 0; g < 300; ++g) {
                // Names of every length from 0 to 40 bytes, some differing only at the end.
                const std::string name = g == 0 ? std::string() : "GID_" + std::string(static_cast<std::size_t>(g % 37), 'x') + std::to_string(g);
                const std::int64_t delta = (g + round) % 3 == 0 ? -1 : 2;
                counts.add(name, delta);
                expected[name] += delta;
            }
        }
        std::size_t checked = 0;
        for (const auto& [name, count] : expected) {
            CHECK(counts.get(name) == count);
            ++checked;
        }
        CHECK(checked == 300);
        CHECK(counts.get("GID_never") == 0);
        std::map<std::string, std::int64_t> listed;
        counts.for_each_online([&](std::string_view name, std::int64_t n) { listed.emplace(name, n); });
        std::map<std::string, std::int64_t> positive;
        for (const auto& [name, count] : expected)
            if (count > 0) positive.emplace(name, count);
        CHECK(listed == positive);
        // Bring some to zero, trim, and the rest is intact; the trimmed ones count again from 0.
        for (const auto& [name, count] : expected)
            if (name.size() % 2 == 0) counts.add(name, -count);
        counts.trim();
        for (const auto& [name, count] : expected) CHECK(counts.get(name) == (name.size() % 2 == 0 ? 0 : count));
        const std::string trimmed = "GID_xx2"; // 7 bytes: kept
        counts.add("GID_xxx3", 5);
        CHECK(counts.get("GID_xxx3") == 5);
        CHECK(counts.get(trimmed) == expected[trimmed]);
    };
    detail::GroupCounts<false> plain;
    exercise(plain);
    detail::GroupCounts<true> striped;
    exercise(striped);
}

TEST_CASE("a copy of ClientStatusStore<> has its own records, counts and group counts", "[store][groups]") {
    static_assert(std::is_copy_constructible_v<ClientStatusStore<>> && std::is_copy_assignable_v<ClientStatusStore<>>);
    ClientStatusStore<> a;
    (void)a.ingest(connect(ch1, t0, "GID_a@@@dev1"));
    (void)a.ingest(connect(ch1, t0, "GID_b@@@dev1"));
    ClientStatusStore<> b = a;
    CHECK(b.ingest(tcpclean(ch1, t0 + minute, "GID_a@@@dev1")).went_offline());
    CHECK(b.online_count("GID_a") == 0);
    CHECK(b.online_count("GID_b") == 1);
    CHECK(a.online_count("GID_a") == 1);
    CHECK(a.is_online("GID_a@@@dev1"));
    a = b;
    CHECK(a.online_count("GID_a") == 0);
    CHECK(a.online_count() == 1);
    CHECK(a.ingest(connect(ch2, t0 + hour, "GID_a@@@dev1")).went_online());
    CHECK(a.online_count("GID_a") == 1);
    CHECK(b.online_count("GID_a") == 0);
}
