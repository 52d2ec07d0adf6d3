// Debouncer: "offline for at least N ms before acting", fed the edges of a store.
#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <mqtt_presence/mqtt_presence.hpp>

#include "support/events.hpp"
#include "support/storages.hpp"

using namespace mqtt_presence;
using namespace test_support;

namespace {

constexpr std::int64_t n = minute; // the debounce time of these tests

std::vector<std::string> ids(const std::vector<Debouncer::Due>& due) {
    std::vector<std::string> out;
    for (const Debouncer::Due& d : due) out.push_back(d.client_id);
    return out;
}

} // namespace

TEST_CASE("Debouncer: a flap shorter than N never fires, N of offline fires once", "[debounce]") {
    Debouncer d(n);
    SECTION("offline for N - 1 ms, then back online") {
        d.observe("GID_a@@@dev1", false, t0);
        CHECK(d.poll(t0 + n - 1).empty());
        d.observe("GID_a@@@dev1", true, t0 + n - 1);
        CHECK(d.waiting() == 0);
        CHECK(d.poll(t0 + 10 * n).empty());
    }
    SECTION("offline for exactly N: due at t + N, not before") {
        d.observe("GID_a@@@dev1", false, t0, Cause::tcpclean, "c1");
        CHECK(d.is_waiting("GID_a@@@dev1"));
        CHECK(d.poll(t0 + n - 1).empty());
        const auto due = d.poll(t0 + n);
        REQUIRE(due.size() == 1);
        CHECK(due[0].client_id == "GID_a@@@dev1");
        CHECK(due[0].offline_since_ms == t0);
        CHECK(due[0].cause == Cause::tcpclean);
        CHECK(due[0].channel_id == "c1");
        // Once per offline period.
        CHECK(d.poll(t0 + 5 * n).empty());
        CHECK_FALSE(d.is_waiting("GID_a@@@dev1"));
        // Its online edge after the fire changes nothing; the next offline period fires again.
        d.observe("GID_a@@@dev1", true, t0 + 2 * n);
        d.observe("GID_a@@@dev1", false, t0 + 3 * n);
        CHECK(d.poll(t0 + 4 * n - 1).empty());
        CHECK(ids(d.poll(t0 + 4 * n)) == std::vector<std::string>{"GID_a@@@dev1"});
    }
    SECTION("a poll that comes late still fires, with the time the client went offline") {
        d.observe("GID_a@@@dev1", false, t0);
        const auto due = d.poll(t0 + 100 * n);
        REQUIRE(due.size() == 1);
        CHECK(due[0].offline_since_ms == t0);
    }
    SECTION("several clients: each on its own clock, oldest first, ties by client id") {
        d.observe("GID_a@@@c", false, t0 + 10);
        d.observe("GID_a@@@b", false, t0);
        d.observe("GID_a@@@a", false, t0 + 10);
        d.observe("GID_a@@@z", false, t0 + n);
        CHECK(ids(d.poll(t0 + n + 10)) == std::vector<std::string>{"GID_a@@@b", "GID_a@@@a", "GID_a@@@c"});
        CHECK(d.waiting() == 1);
        CHECK(ids(d.poll(t0 + 2 * n)) == std::vector<std::string>{"GID_a@@@z"});
    }
    SECTION("N = 0: due as soon as poll reaches the offline time") {
        Debouncer zero(0);
        zero.observe("GID_a@@@dev1", false, t0);
        CHECK(zero.poll(t0 - 1).empty());
        CHECK(zero.poll(t0).size() == 1);
    }
}

TEST_CASE("Debouncer: out-of-order edge times", "[debounce]") {
    Debouncer d(n);
    SECTION("an online edge stamped before the offline edge still cancels it (edges alternate per client)") {
        d.observe("GID_a@@@dev1", false, t0 + 10 * second);
        d.observe("GID_a@@@dev1", true, t0 + 9 * second); // clock skew between broker nodes
        CHECK(d.poll(t0 + 10 * n).empty());
    }
    SECTION("two offline edges in a row (two sources): the earlier one counts") {
        d.observe("GID_a@@@dev1", false, t0 + 30 * second, Cause::tcpclean, "late");
        d.observe("GID_a@@@dev1", false, t0, Cause::reconcile, "");
        d.observe("GID_a@@@dev1", false, t0 + 40 * second);
        const auto due = d.poll(t0 + n);
        REQUIRE(due.size() == 1);
        CHECK(due[0].offline_since_ms == t0);
        CHECK(due[0].cause == Cause::reconcile);
        CHECK(d.waiting() == 0);
    }
    SECTION("an online edge for a client that is not waiting is ignored") {
        d.observe("GID_a@@@dev1", true, t0);
        CHECK(d.waiting() == 0);
    }
}

TEST_CASE("Debouncer: bad arguments are refused and change nothing", "[debounce]") {
    CHECK_THROWS_WITH(Debouncer(-1), "mqtt_presence: Debouncer: min_offline_ms is negative");
    CHECK_THROWS_AS(Debouncer(11LL * 366 * 24 * hour), std::invalid_argument);
    Debouncer d(n);
    d.observe("GID_a@@@dev1", false, t0);
    CHECK_THROWS_WITH(d.observe("", false, t0), "mqtt_presence: Debouncer::observe: client_id is empty");
    CHECK_THROWS_WITH(d.observe("GID_a@@@dev2", false, -1),
                      "mqtt_presence: Debouncer::observe: time_ms is outside 0 .. the year 9999");
    CHECK_THROWS_AS(d.observe("GID_a@@@dev1", true, max_time_ms + 1), std::invalid_argument);
    CHECK_THROWS_WITH(d.poll(-1), "mqtt_presence: Debouncer::poll: now_ms is outside 0 .. the year 9999");
    CHECK(d.waiting() == 1);
    CHECK(d.is_waiting("GID_a@@@dev1"));
    CHECK(d.poll(t0 + n).size() == 1);
}

TEMPLATE_LIST_TEST_CASE("Debouncer fed by a store's hook: a quick reconnect is no outage, a long one is one",
                        "[debounce][store]", Storages) {
    ClientStatusStore<TestType> store;
    Debouncer debouncer(n);
    store.on_transition([&](const Edge& e) { debouncer.observe(e); });
    const std::string ch1 = "2b9b1281046046faafe5e0b458e4a1b2";
    const std::string ch2 = "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f";
    // dev1 flaps: offline for 20 s. dev2 goes away for good.
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev1"));
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev2"));
    (void)store.ingest(tcpclean(ch1, t0 + 10 * second, "GID_a@@@dev1"));
    (void)store.ingest(tcpclean(ch1, t0 + 15 * second, "GID_a@@@dev2"));
    CHECK(debouncer.waiting() == 2);
    CHECK(debouncer.poll(t0 + 30 * second).empty());
    (void)store.ingest(connect(ch2, t0 + 30 * second, "GID_a@@@dev1"));
    CHECK(debouncer.poll(t0 + 10 * second + n).empty());
    const auto due = debouncer.poll(t0 + 15 * second + n);
    REQUIRE(due.size() == 1);
    CHECK(due[0].client_id == "GID_a@@@dev2");
    CHECK(due[0].channel_id == ch1);
    CHECK(due[0].cause == Cause::tcpclean);

    // Outcomes work too (without the channel).
    Debouncer from_outcomes(n);
    from_outcomes.observe("GID_a@@@dev1", store.ingest(tcpclean(ch2, t0 + 2 * n, "GID_a@@@dev1")));
    from_outcomes.observe("GID_a@@@dev1", store.ingest(tcpclean(ch2, t0 + 2 * n, "GID_a@@@dev1"))); // duplicate: nothing
    CHECK(from_outcomes.waiting() == 1);
    CHECK(ids(from_outcomes.poll(t0 + 3 * n)) == std::vector<std::string>{"GID_a@@@dev1"});
}
