// One case per bug: the vendor demo's failure modes (README.md, "Why another library"), then bugs found here.
#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include <mqtt_presence/detail/record_codec.hpp>
#include <mqtt_presence/json.hpp>

#include "support/events.hpp"

using namespace mqtt_presence;
using namespace test_support;

namespace {
const std::string ch_old = "2b9b1281046046faafe5e0b458e4a1b2";
const std::string ch_new = "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f";
} // namespace

TEST_CASE("demo (a): a connect redelivered after both halves were seen does not resurrect", "[regression][demo]") {
    ClientStatusStore<> store;
    (void)store.ingest(connect(ch_old, t0));
    (void)store.ingest(tcpclean(ch_old, t0 + minute));
    const Outcome redelivered = store.ingest(connect(ch_old, t0));
    CHECK(redelivered.status == Status::duplicate);
    CHECK_FALSE(store.is_online("GID_a@@@dev1"));
    CHECK(store.online_count() == 0);
}

TEST_CASE("demo (b): tcpclean-only entries do not leak", "[regression][demo]") {
    ClientStatusStore<> store;
    for (int i = 0; i < 1000; ++i) (void)store.ingest(tcpclean("lost-connect-" + std::to_string(i), t0 + i * minute));
    CHECK(store.status("GID_a@@@dev1")->channels_kept <= store.options().max_tombstones);
    (void)store.prune(t0 + 1000 * minute + 25 * hour);
    CHECK(store.status("GID_a@@@dev1")->channels_kept == 0);
    (void)store.prune(t0 + 1000 * minute + 8 * 24 * hour);
    CHECK(store.size() == 0);
}

TEST_CASE("demo (c): a channel whose close was lost is healed by the next connect", "[regression][demo]") {
    ClientStatusStore<> store;
    (void)store.ingest(connect(ch_old, t0)); // its tcpclean never arrives
    (void)store.ingest(connect(ch_new, t0 + 10 * minute));
    CHECK(store.ingest(tcpclean(ch_new, t0 + 20 * minute)).went_offline());
    CHECK_FALSE(store.is_online("GID_a@@@dev1"));
}

TEST_CASE("demo (e): an unknown event type is rejected, never taken as offline", "[regression][demo]") {
    ClientStatusStore<> store;
    (void)store.ingest(connect(ch_old, t0));
    const ParseResult r = try_parse_alibaba_event(
        R"({"clientId":"GID_a@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"heartbeat","time":1764000060000})");
    CHECK_FALSE(r);
    Event odd = tcpclean(ch_old, t0 + minute);
    odd.type = static_cast<EventType>(3);
    CHECK(store.ingest(odd).status == Status::invalid);
    CHECK(store.is_online("GID_a@@@dev1"));
}

TEST_CASE("demo (f): time orders the events of a flap delivered out of order", "[regression][demo]") {
    ClientStatusStore<> store;
    // The new connection's connect is delivered before the old connection's tcpclean.
    (void)store.ingest(connect(ch_old, t0));
    (void)store.ingest(connect(ch_new, t0 + 5 * minute));
    const Outcome late_close = store.ingest(tcpclean(ch_old, t0 + 5 * minute + 1));
    CHECK(late_close.transition == Transition::none);
    CHECK(store.is_online("GID_a@@@dev1"));
    CHECK(store.status("GID_a@@@dev1")->current_channel == ch_new);
}

TEST_CASE("bug: a newer connect arriving closed reported the offline edge at the takeover time", "[regression]") {
    // connect(old) → tcpclean(new, 5 min) → connect(new, 2 min): the client went offline when
    // the new connection closed (5 min), not when it superseded the old one (2 min).
    ClientRecord r;
    (void)apply(r, connect(ch_old, t0), {});
    (void)apply(r, tcpclean(ch_new, t0 + 5 * minute), {});
    const Outcome out = apply(r, connect(ch_new, t0 + 2 * minute), {});
    CHECK(out.went_offline());
    CHECK(out.transition_ms == t0 + 5 * minute);
    CHECK(out.cause == Cause::tcpclean);
    CHECK(r.last_offline_ms == t0 + 5 * minute);
}

TEST_CASE("bug: reconcile(online) with the open-channel cap full closed the client's real channel", "[regression]") {
    Options options;
    options.max_open_channels = 1;
    ClientRecord r;
    (void)apply(r, connect(ch_old, t0), options);
    const Outcome out = reconcile(r, true, t0 + minute, options);
    CHECK(out.transition == Transition::none);
    CHECK(r.find(ch_old)->open());
    const ClientStatus st = describe(r);
    CHECK(st.current_channel == ch_old);
    CHECK_FALSE(st.by_reconcile);
    CHECK(st.client_address == "192.0.2.7:13222");
}

TEST_CASE("bug: a connect stamped after its own close escaped the watermark once its tombstone was dropped",
          "[regression]") {
    // The tcpclean's node clock lags the connect's: the connect is stamped 500 ms after the
    // close. A reconcile a day later drops the half-known tombstone; the late connect must
    // still arrive closed, not open the client for good.
    ClientRecord r;
    (void)apply(r, tcpclean(ch_old, t0), {});
    (void)reconcile(r, true, t0 + 25 * hour, {});
    REQUIRE(r.find(ch_old) == nullptr);
    CHECK(apply(r, connect(ch_old, t0 + 500), {}).status == Status::behind_watermark);
    CHECK(apply(r, tcpclean(ch_new, t0 + 26 * hour), {}).went_offline());
    CHECK_FALSE(r.online());
}

TEST_CASE("bug: a connect behind the watermark did not supersede an older channel whose close was lost", "[regression]") {
    // ch_old's close is lost. Closes of other channels evict tombstones (cap 1) and raise the
    // watermark past ch_new's connect, which then arrives late: it never opens, but it is a
    // real connect two hours after ch_old's, so ch_old is closed (rule 6).
    Options options;
    options.max_tombstones = 1;
    ClientRecord r;
    (void)apply(r, connect(ch_old, t0), options);
    (void)apply(r, tcpclean("aa", t0 + 3 * hour), options);
    (void)apply(r, tcpclean("bb", t0 + 4 * hour), options); // evicts "aa": watermark ≥ t0 + 3 h
    REQUIRE(r.closed_through_ms >= t0 + 3 * hour);
    REQUIRE(r.online());
    const Outcome late = apply(r, connect(ch_new, t0 + 2 * hour), options);
    CHECK(late.status == Status::behind_watermark);
    CHECK(late.went_offline());
    CHECK(late.transition_ms == t0 + 2 * hour);
    CHECK(late.cause == Cause::takeover);
    CHECK_FALSE(r.online());
}

TEST_CASE("bug: a connect after its channel's disconnect opened it past max_open_channels", "[regression]") {
    // Found by fuzz_store. The disconnect of c8 arrives first (it does not close), then its
    // connect: the channel, already held, was opened without rule 10's cap, so the record held
    // 9 open channels, which its own snapshot then refused to load.
    ClientStatusStore<> store;
    for (int i = 0; i < 8; ++i)
        REQUIRE(store.ingest(connect("c" + std::to_string(i), t0 + i * second)).status == Status::applied);
    REQUIRE(store.ingest(disconnect("c8", t0 + 10 * second)).status == Status::applied);
    const Outcome out = store.ingest(connect("c8", t0 + 9 * second));
    CHECK(out.status == Status::applied);
    CHECK(store.status("GID_a@@@dev1")->open_channels == 8); // the oldest, c0, was closed
    CHECK(store.status("GID_a@@@dev1")->current_channel == "c8");
    std::stringstream bytes;
    REQUIRE(store.save_snapshot(bytes) == 1);
    ClientStatusStore<> restored;
    CHECK_NOTHROW(restored.load_snapshot(bytes));

    // When the cap is full of channels no older than the connect, it is refused, changing nothing.
    Options one;
    one.max_open_channels = 1;
    one.takeover = false;
    ClientRecord r;
    (void)apply(r, connect("k0", t0 + 10 * second), one);
    (void)apply(r, disconnect("k1", t0 + 5 * second), one);
    const std::string kept = detail::record_codec::encode_record(r);
    CHECK(apply(r, connect("k1", t0 + 3 * second), one).status == Status::refused);
    CHECK(detail::record_codec::encode_record(r) == kept);
}

TEST_CASE("bug: rule 13 retired a reused key although the event was then stale or refused", "[regression]") {
    // Found by fuzz_store. An event on a reused key first retires the key's old connection;
    // when the event itself then changes nothing (a close behind the watermark, a connect the
    // open-channel cap refuses), the outcome said so but the old entry was gone.
    Options options;
    options.key_reuse_gap_ms = 10 * minute;
    ClientRecord r;
    (void)apply(r, tcpclean("c1", t0), options);
    (void)apply(r, Event{"GID_a@@@dev1", "", EventType::tcpclean, t0 + hour, ""}, options); // rule 14
    std::string kept = detail::record_codec::encode_record(r);
    CHECK(apply(r, tcpclean("c1", t0 + hour), options).status == Status::stale);
    CHECK(detail::record_codec::encode_record(r) == kept);
    CHECK(r.find("c1") != nullptr);

    options.takeover = false;
    options.max_open_channels = 1;
    ClientRecord q;
    (void)apply(q, connect("k", t0), options);
    (void)apply(q, tcpclean("k", t0 + second), options);
    (void)apply(q, connect("x", t0 + 2 * hour), options);
    kept = detail::record_codec::encode_record(q);
    CHECK(apply(q, connect("k", t0 + hour), options).status == Status::refused);
    CHECK(detail::record_codec::encode_record(q) == kept);
}

TEST_CASE("bug: a channel opening after its disconnect was dropped by retention while it opened", "[regression]") {
    // Found by fuzz_store in the first fix of the cap bug above: making room for the channel
    // that opens dropped tombstones older than the retention window, the half-known channel
    // itself among them, and the connect then wrote through a dangling pointer.
    Options options;
    options.takeover = false;
    options.tombstone_retention_ms = hour;
    ClientRecord r;
    (void)apply(r, connect("c2", t0), options);
    (void)apply(r, disconnect("c1", t0 + second), options);  // half-known: kept under the cap
    (void)apply(r, disconnect("c2", t0 + 3 * hour), options); // newest event: c1 is now old
    const Outcome out = apply(r, connect("c1", t0 + 2 * second), options);
    CHECK(out.status == Status::applied);
    REQUIRE(r.find("c1") != nullptr);
    CHECK(r.find("c1")->open());
    CHECK(r.open_channels() == 2);
}
