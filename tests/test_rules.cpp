// One section per rule (README.md, "The rules"), on the pure function apply(record, event, options).
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <mqtt_presence/detail/record_check.hpp>
#include <mqtt_presence/detail/record_codec.hpp>
#include <mqtt_presence/rules.hpp>

#include "support/events.hpp"

using namespace mqtt_presence;
using namespace test_support;

namespace {

const std::string ch_a = "2b9b1281046046faafe5e0b458e4a1b2";
const std::string ch_b = "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f";
const std::string ch_c = "00112233445566778899aabbccddeeff";

// Applies events in order and returns the outcomes.
std::vector<Outcome> run(ClientRecord& record, const std::vector<Event>& events, const Options& options = {}) {
    std::vector<Outcome> outcomes;
    for (const Event& e : events) outcomes.push_back(apply(record, e, options));
    return outcomes;
}

int flips(const std::vector<Outcome>& outcomes, Transition which) {
    int n = 0;
    for (const Outcome& o : outcomes) n += o.transition == which ? 1 : 0;
    return n;
}

// Everything observable about a record, to compare before and after.
std::string snapshot(const ClientRecord& r) {
    std::string s = std::to_string(r.latest_connect_ms) + "/" + std::to_string(r.closed_through_ms) + "/" +
                    std::to_string(r.last_event_ms) + "/" + std::to_string(r.last_offline_ms) + "/" +
                    std::to_string(r.last_offline_graceful) + "|";
    for (const Channel& ch : r.channels) {
        s += ch.key.str() + "," + ch.address.str() + "," + std::to_string(ch.connect_ms) + "," + std::to_string(ch.close_ms) +
             "," + std::to_string(ch.disconnect_ms) + "," + std::string(to_string(ch.close_cause)) + "," +
             std::to_string(ch.synthetic) + ";";
    }
    return s;
}

} // namespace

TEST_CASE("ClientRecord::find finds exactly the real channel with the id, in every encoding", "[rules]") {
    // Channel ids packed as hex (Alibaba's 32 digits, and shorter), kept inline, packed as an
    // IPv4 address, and kept on the heap; near misses of each; a reconcile's synthetic channel
    // (no id) that no lookup returns.
    const std::vector<std::string> ids = {ch_a, "ab12", "conn-7", "10.0.0.1:1883", "session/" + std::string(40, 'x')};
    const std::vector<std::string> misses = {ch_b, "ab13", "ab1", "conn-8", "conn-7 ", "10.0.0.1:1884",
                                             "session/" + std::string(41, 'x'), "session/" + std::string(40, 'y'), ""};
    ClientRecord r;
    Channel synthetic;
    synthetic.synthetic = true;
    r.channels.push_back(synthetic);
    for (const std::string& id : ids) {
        Channel ch;
        ch.key.assign(id);
        r.channels.push_back(ch);
    }
    for (const std::string& id : ids) {
        INFO(id);
        const Channel* found = r.find(id);
        REQUIRE(found != nullptr);
        CHECK(found->key.str() == id);
        CHECK_FALSE(found->synthetic);
    }
    for (const std::string& id : misses) {
        INFO(id);
        CHECK(r.find(id) == nullptr);
    }
}

TEST_CASE("a channel's and a record's times read back exactly whatever the bytes after them hold", "[rules]") {
    // A time is read as 8 bytes, its own 6 and 2 of its holder's after it, masked
    // (detail/packed_time.hpp): the next time's, a channel id's, the record's graceful flag.
    static_assert(!std::is_copy_constructible_v<detail::PackedTime>, "a time is not copied out of its holder");
    static_assert(!std::is_constructible_v<detail::PackedTime, std::int64_t>, "nor made of a number");
    const std::vector<std::int64_t> times = {no_time, 0, 1, 0xffff, 0xffffffffLL, 0x100000000LL, 1700000000123LL,
                                             detail::PackedTime::max - 1, detail::PackedTime::max};
    const std::vector<std::string> keys = {std::string(32, 'f'), ch_a, "ab", "zzzzzzzzzzzzzzzz", "", std::string(40, 'x')};
    for (const std::int64_t a : times) {
        for (const std::int64_t b : times) {
            INFO("a = " << a << ", b = " << b);
            Channel ch;
            ch.connect_ms = a;
            ch.close_ms = b;
            ch.disconnect_ms = a;
            for (const std::string& key : keys) {
                ch.key.assign(key);
                CHECK(std::int64_t{ch.connect_ms} == a);
                CHECK(std::int64_t{ch.close_ms} == b);
                CHECK(std::int64_t{ch.disconnect_ms} == a);
                CHECK(ch.latest_ms() == std::max(a, b));
                CHECK(ch.connected() == (a != no_time));
            }
            ClientRecord r;
            r.latest_connect_ms = a;
            r.closed_through_ms = b;
            r.last_event_ms = a;
            r.last_offline_ms = b;
            for (const bool graceful : {false, true}) {
                r.last_offline_graceful = graceful;
                CHECK(std::int64_t{r.latest_connect_ms} == a);
                CHECK(std::int64_t{r.closed_through_ms} == b);
                CHECK(std::int64_t{r.last_event_ms} == a);
                CHECK(std::int64_t{r.last_offline_ms} == b);
            }
            const ClientRecord copy(r); // copied with its holder, times and all
            CHECK(std::int64_t{copy.last_offline_ms} == b);
            CHECK(snapshot(copy) == snapshot(r));
        }
    }
}

TEST_CASE("rule 1: an event only changes the channel with its own (client, channel)", "[rules][rule1]") {
    ClientRecord a, b;
    REQUIRE(apply(a, connect(ch_a, t0, "GID_a@@@one"), {}).went_online());
    REQUIRE(apply(b, connect(ch_a, t0, "GID_a@@@two"), {}).went_online());
    // The store routes by client id; the same channel id under the other client is another channel.
    REQUIRE(apply(a, tcpclean(ch_a, t0 + second, "GID_a@@@one"), {}).went_offline());
    CHECK_FALSE(a.online());
    CHECK(b.online());

    SECTION("a close of an unknown channel never closes a known one") {
        const Outcome out = apply(b, tcpclean(ch_b, t0 + 2 * second, "GID_a@@@two"), {});
        CHECK(out.status == Status::applied);
        CHECK(out.transition == Transition::none);
        CHECK(b.online());
    }
}

TEST_CASE("rule 2: online iff at least one channel is open", "[rules][rule2]") {
    ClientRecord r;
    CHECK_FALSE(r.online());
    const auto out = run(r, {connect(ch_a, t0), connect(ch_b, t0 + second)});
    CHECK(r.online());
    CHECK(r.open_channels() == 2);
    CHECK(flips(out, Transition::went_online) == 1);
    CHECK(apply(r, tcpclean(ch_a, t0 + 2 * second), {}).transition == Transition::none);
    CHECK(r.online());
    const Outcome last = apply(r, tcpclean(ch_b, t0 + 3 * second), {});
    CHECK(last.went_offline());
    CHECK(last.transition_ms == t0 + 3 * second);
    CHECK_FALSE(r.online());
}

TEST_CASE("rule 3: tcpclean closes, in whatever order the halves arrive", "[rules][rule3]") {
    ClientRecord r;
    SECTION("connect then tcpclean") {
        REQUIRE(apply(r, connect(ch_a, t0), {}).went_online());
        const Outcome out = apply(r, tcpclean(ch_a, t0 + minute), {});
        CHECK(out.went_offline());
        CHECK(out.cause == Cause::tcpclean);
    }
    SECTION("tcpclean first: remembered, and the connect arrives closed with no online edge") {
        const Outcome close = apply(r, tcpclean(ch_a, t0 + minute), {});
        CHECK(close.status == Status::applied);
        CHECK(close.transition == Transition::none);
        const Outcome open = apply(r, connect(ch_a, t0), {});
        CHECK(open.status == Status::applied);
        CHECK(open.transition == Transition::none);
        CHECK_FALSE(r.online());
        REQUIRE(r.find(ch_a) != nullptr);
        CHECK(r.find(ch_a)->connect_ms == t0);
        CHECK(r.find(ch_a)->closed());
    }
    SECTION("a tcpclean stamped before its connect (skewed broker clocks) still closes it") {
        REQUIRE(apply(r, connect(ch_a, t0), {}).went_online());
        CHECK(apply(r, tcpclean(ch_a, t0 - 3 * second), {}).went_offline());
    }
}

TEST_CASE("rule 4: disconnect marks the channel graceful but does not close it by default", "[rules][rule4]") {
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0), {}).went_online());
    SECTION("default") {
        const Outcome out = apply(r, disconnect(ch_a, t0 + minute), {});
        CHECK(out.status == Status::applied);
        CHECK(out.transition == Transition::none);
        CHECK(r.online());
        CHECK(r.find(ch_a)->disconnect_ms == t0 + minute);
        const Outcome close = apply(r, tcpclean(ch_a, t0 + minute + 5), {});
        CHECK(close.went_offline());
        CHECK(r.last_offline_graceful);
        CHECK(r.last_offline_ms == t0 + minute + 5);
    }
    SECTION("abrupt close is not graceful") {
        REQUIRE(apply(r, tcpclean(ch_a, t0 + minute), {}).went_offline());
        CHECK_FALSE(r.last_offline_graceful);
        SECTION("a disconnect delivered after its tcpclean still marks the offline as graceful") {
            CHECK(apply(r, disconnect(ch_a, t0 + minute - 5), {}).status == Status::applied);
            CHECK(r.last_offline_graceful);
            CHECK_FALSE(r.online());
        }
    }
    SECTION("option: close on disconnect") {
        Options options;
        options.close_on_disconnect = true;
        const Outcome out = apply(r, disconnect(ch_a, t0 + minute), options);
        CHECK(out.went_offline());
        CHECK(out.cause == Cause::disconnect);
        CHECK(r.last_offline_graceful);
        // the tcpclean that follows is new information but no second edge
        const Outcome close = apply(r, tcpclean(ch_a, t0 + minute + 5), options);
        CHECK(close.status == Status::applied);
        CHECK(close.transition == Transition::none);
        CHECK(apply(r, tcpclean(ch_a, t0 + minute + 5), options).status == Status::duplicate);
    }
    SECTION("option: a disconnect delivered before its connect makes the connect arrive closed") {
        Options options;
        options.close_on_disconnect = true;
        ClientRecord fresh;
        CHECK(apply(fresh, disconnect(ch_b, t0 + minute), options).transition == Transition::none);
        CHECK(apply(fresh, connect(ch_b, t0), options).transition == Transition::none);
        CHECK_FALSE(fresh.online());
    }
}

TEST_CASE("rule 5: a second copy of an event changes nothing", "[rules][rule5]") {
    ClientRecord r;
    const std::vector<Event> once = {connect(ch_a, t0), disconnect(ch_a, t0 + minute), tcpclean(ch_a, t0 + minute + 1)};
    run(r, once);
    const std::string before = snapshot(r);
    for (const Event& e : once) {
        const Outcome out = apply(r, e, {});
        CHECK(out.status == Status::duplicate);
        CHECK(out.transition == Transition::none);
    }
    CHECK(snapshot(r) == before);

    SECTION("a connect redelivered after the channel closed does not resurrect the client") {
        CHECK(apply(r, connect(ch_a, t0), {}).status == Status::duplicate);
        CHECK_FALSE(r.online());
    }
    SECTION("a copy with another time is still the same channel's one connect") {
        CHECK(apply(r, connect(ch_a, t0 + 7), {}).status == Status::duplicate);
        CHECK_FALSE(r.online());
    }
    SECTION("long after, once the tombstone is pruned, the watermark still stops the resurrection") {
        const PruneResult pruned = prune(r, t0 + 25 * hour, {});
        CHECK(pruned.tombstones_dropped == 1);
        CHECK(r.channels.empty());
        const Outcome late = apply(r, connect(ch_a, t0), {});
        CHECK(late.status == Status::behind_watermark);
        CHECK(late.transition == Transition::none);
        CHECK_FALSE(r.online());
        const Outcome late_close = apply(r, tcpclean(ch_a, t0 + minute + 1), {});
        CHECK(late_close.status == Status::stale);
    }
    SECTION("retention also works in event time, without maintenance") {
        // A day later the client flaps again: the old tombstone is folded into the watermark.
        run(r, {connect(ch_b, t0 + 25 * hour), tcpclean(ch_b, t0 + 25 * hour + minute)});
        CHECK(r.find(ch_a) == nullptr);
        CHECK(apply(r, connect(ch_a, t0), {}).status == Status::behind_watermark);
        CHECK_FALSE(r.online());
    }
}

TEST_CASE("rule 6: a newer connect supersedes an older channel whose close was lost", "[rules][rule6]") {
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0), {}).went_online());

    SECTION("more than the tolerance later: the old channel is closed, the new one open, no edge") {
        const Outcome out = apply(r, connect(ch_b, t0 + 2 * minute), {});
        CHECK(out.status == Status::applied);
        CHECK(out.transition == Transition::none);
        CHECK(r.find(ch_a)->close_cause == Cause::takeover);
        CHECK(r.open_channels() == 1);
        // the lost close of ch_a is healed: the client goes offline with ch_b's close
        CHECK(apply(r, tcpclean(ch_b, t0 + 3 * minute), {}).went_offline());
        SECTION("and the old channel's real tcpclean, arriving late, is new information, not an edge") {
            const Outcome late = apply(r, tcpclean(ch_a, t0 + 2 * minute + 2), {});
            CHECK(late.status == Status::applied);
            CHECK(late.transition == Transition::none);
            CHECK(apply(r, tcpclean(ch_a, t0 + 2 * minute + 2), {}).status == Status::duplicate);
        }
    }
    SECTION("within the tolerance both stay open (quick flap, clock skew)") {
        REQUIRE(apply(r, connect(ch_b, t0 + 30 * second), {}).transition == Transition::none);
        CHECK(r.open_channels() == 2);
        CHECK(apply(r, tcpclean(ch_b, t0 + 40 * second), {}).transition == Transition::none);
        CHECK(r.online());
    }
    SECTION("a late connect already superseded on arrival never opens") {
        ClientRecord s;
        REQUIRE(apply(s, connect(ch_b, t0 + 2 * minute), {}).went_online());
        REQUIRE(apply(s, tcpclean(ch_b, t0 + 3 * minute), {}).went_offline());
        const Outcome late = apply(s, connect(ch_c, t0), {});
        CHECK(late.status == Status::superseded);
        CHECK(late.transition == Transition::none);
        CHECK_FALSE(s.online());
    }
    SECTION("a newer connect that arrives closed still supersedes, and takes the client offline") {
        REQUIRE(apply(r, tcpclean(ch_b, t0 + 5 * minute), {}).transition == Transition::none);
        const Outcome out = apply(r, connect(ch_b, t0 + 2 * minute), {});
        CHECK(out.went_offline());
        CHECK(out.transition_ms == t0 + 5 * minute); // when the newest connection really closed
        CHECK(out.cause == Cause::tcpclean);
        CHECK_FALSE(r.online());
    }
    SECTION("disabled: nothing is closed without its own close") {
        Options options;
        options.takeover = false;
        REQUIRE(apply(r, connect(ch_b, t0 + 2 * minute), options).transition == Transition::none);
        CHECK(r.open_channels() == 2);
        CHECK(apply(r, tcpclean(ch_b, t0 + 3 * minute), options).transition == Transition::none);
        CHECK(r.online());
    }
    SECTION("configurable tolerance") {
        Options options;
        options.takeover_tolerance_ms = 5 * minute;
        REQUIRE(apply(r, connect(ch_b, t0 + 2 * minute), options).transition == Transition::none);
        CHECK(r.open_channels() == 2);
        REQUIRE(apply(r, connect(ch_c, t0 + 6 * minute), options).transition == Transition::none);
        CHECK(r.open_channels() == 2); // ch_a (6 min older) closed, ch_b (4 min older) kept
        CHECK(r.find(ch_a)->closed());
        CHECK(r.find(ch_b)->open());
    }
}

TEST_CASE("rule 7: times order, identity decides", "[rules][rule7]") {
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0 + hour), {}).went_online());
    SECTION("a close of another channel, however new, never closes this one") {
        CHECK(apply(r, tcpclean(ch_b, t0 + 2 * hour), {}).transition == Transition::none);
        CHECK(r.online());
        CHECK(r.find(ch_a)->open());
    }
    SECTION("an older event still applies to its own channel") {
        CHECK(apply(r, tcpclean(ch_a, t0), {}).went_offline());
    }
    SECTION("times drive last-event bookkeeping") {
        (void)apply(r, tcpclean(ch_b, t0 + 2 * hour), {});
        (void)apply(r, disconnect(ch_c, t0 + 30 * minute), {});
        CHECK(r.last_event_ms == t0 + 2 * hour);
        CHECK(r.latest_connect_ms == t0 + hour);
    }
}

TEST_CASE("rule 8: reconcile with the broker's synchronous answer", "[rules][rule8]") {
    ClientRecord r;
    SECTION("offline as of T closes channels connected at or before T, keeps newer ones") {
        run(r, {connect(ch_a, t0), connect(ch_b, t0 + 10 * second)});
        REQUIRE(r.open_channels() == 2);
        const Outcome out = reconcile(r, false, t0 + 5 * second, {});
        CHECK(out.status == Status::applied);
        CHECK(out.transition == Transition::none);
        CHECK(r.find(ch_a)->close_cause == Cause::reconcile);
        CHECK(r.find(ch_b)->open());
        const Outcome all = reconcile(r, false, t0 + minute, {});
        CHECK(all.went_offline());
        CHECK(all.transition_ms == t0 + minute);
        CHECK(all.cause == Cause::reconcile);
    }
    SECTION("offline as of T is a watermark: a late connect at or before T arrives closed") {
        REQUIRE(reconcile(r, false, t0 + minute, {}).status == Status::applied);
        const Outcome late = apply(r, connect(ch_a, t0 + minute), {});
        CHECK(late.status == Status::behind_watermark);
        CHECK_FALSE(r.online());
        const Outcome newer = apply(r, connect(ch_b, t0 + minute + 1), {});
        CHECK(newer.went_online());
        CHECK(reconcile(r, false, t0 + 30 * second, {}).status == Status::duplicate);
    }
    SECTION("a close seen before the late connect: the connect still arrives closed") {
        REQUIRE(apply(r, disconnect(ch_a, t0 + 2 * minute), {}).status == Status::applied);
        REQUIRE(reconcile(r, false, t0 + minute, {}).status == Status::applied);
        const Outcome late = apply(r, connect(ch_a, t0 + 30 * second), {});
        CHECK(late.status == Status::behind_watermark);
        CHECK_FALSE(r.online());
    }
    SECTION("online as of T with no open channel opens a synthetic channel") {
        const Outcome out = reconcile(r, true, t0 + minute, {});
        CHECK(out.went_online());
        CHECK(out.cause == Cause::reconcile);
        CHECK(r.online());
        const ClientStatus st = describe(r);
        CHECK(st.by_reconcile);
        CHECK(st.current_channel.empty());
        CHECK(reconcile(r, true, t0 + 30 * second, {}).status == Status::duplicate);

        SECTION("the next real connect at or after T takes it over without an edge") {
            const Outcome real = apply(r, connect(ch_a, t0 + 2 * minute), {});
            CHECK(real.transition == Transition::none);
            CHECK(r.open_channels() == 1);
            CHECK(describe(r).current_channel == ch_a);
            CHECK_FALSE(describe(r).by_reconcile);
            CHECK(apply(r, tcpclean(ch_a, t0 + 3 * minute), {}).went_offline());
        }
        SECTION("a real close at or after T of a connection we never saw open takes it offline") {
            const Outcome close = apply(r, tcpclean(ch_a, t0 + 2 * minute), {});
            CHECK(close.went_offline());
            CHECK(close.transition_ms == t0 + 2 * minute);
        }
        SECTION("events older than T do not end it") {
            CHECK(apply(r, tcpclean(ch_a, t0), {}).transition == Transition::none);
            CHECK(apply(r, connect(ch_b, t0 + 10 * second), {}).transition == Transition::none);
            CHECK(apply(r, tcpclean(ch_b, t0 + 20 * second), {}).transition == Transition::none);
            CHECK(r.online());
        }
        SECTION("reconcile offline after it closes it") {
            CHECK(reconcile(r, false, t0 + 2 * minute, {}).went_offline());
            CHECK(r.channels.empty());
        }
    }
    SECTION("online as of T is stale when a newer close is already known") {
        run(r, {connect(ch_a, t0), tcpclean(ch_a, t0 + 2 * minute)});
        const Outcome out = reconcile(r, true, t0 + minute, {});
        CHECK(out.status == Status::stale);
        CHECK_FALSE(r.online());
        CHECK(reconcile(r, true, t0 + 3 * minute, {}).went_online());
    }
    SECTION("online as of T behind an offline watermark is stale") {
        REQUIRE(reconcile(r, false, t0 + 2 * minute, {}).status == Status::applied);
        CHECK(reconcile(r, true, t0 + minute, {}).status == Status::stale);
        CHECK_FALSE(r.online());
    }
    SECTION("online when a channel opened at or after T is open confirms, changes nothing") {
        run(r, {connect(ch_a, t0 + minute)});
        const std::string before = snapshot(r);
        CHECK(reconcile(r, true, t0 + minute, {}).status == Status::duplicate);
        CHECK(snapshot(r) == before);
    }
    SECTION("online while only older channels are open: a close older than T cannot take it offline") {
        run(r, {connect(ch_a, t0)});
        const Outcome out = reconcile(r, true, t0 + 10 * minute, {});
        CHECK(out.status == Status::applied);
        CHECK(out.transition == Transition::none);
        CHECK(describe(r).current_channel == ch_a);
        CHECK(reconcile(r, true, t0 + 5 * minute, {}).status == Status::duplicate); // older answer
        SECTION("ch_a closed before T: another connection was up at T") {
            CHECK(apply(r, tcpclean(ch_a, t0 + 5 * minute), {}).transition == Transition::none);
            CHECK(r.online());
            CHECK(describe(r).by_reconcile);
        }
        SECTION("ch_a closed after T: it was the connection the broker saw") {
            CHECK(apply(r, tcpclean(ch_a, t0 + 11 * minute), {}).went_offline());
            CHECK(r.channels.size() == 1);
        }
        SECTION("a newer answer moves the synthetic channel forward") {
            CHECK(reconcile(r, true, t0 + 20 * minute, {}).status == Status::applied);
            CHECK(apply(r, tcpclean(ch_a, t0 + 15 * minute), {}).transition == Transition::none);
            CHECK(r.online());
        }
    }
    SECTION("a bad time is refused") {
        CHECK(reconcile(r, false, -1, {}).status == Status::invalid);
        CHECK(reconcile(r, true, max_time_ms + 1, {}).error == "as_of_ms is after the year 9999");
        CHECK(r.empty());
    }
}

TEST_CASE("rule 9: bad input never corrupts state", "[rules][rule9]") {
    ClientRecord r;
    run(r, {connect(ch_a, t0), tcpclean(ch_b, t0 + second)});
    const std::string before = snapshot(r);

    struct Bad {
        Event event;
        std::string_view error;
    };
    Event unknown_type = tcpclean(ch_a, t0 + minute);
    unknown_type.type = static_cast<EventType>(7);
    Event huge_ip = connect(ch_c, t0 + minute);
    huge_ip.client_ip.assign(300, '1');
    const std::vector<Bad> bad = {
        {unknown_type, "type is not a known event type"},
        {connect("", t0), "channel_id is empty"},
        {connect(ch_a, t0, ""), "client_id is empty"},
        {connect(std::string(65536, 'x'), t0), "channel_id is longer than 65535 bytes"},
        {connect(ch_a, t0, std::string("GID_a@@@d\n1")), "client_id contains a control character"},
        {connect(ch_c, -1), "time_ms is negative"},
        {connect(ch_c, max_time_ms + 1), "time_ms is after the year 9999"},
        {huge_ip, "client_ip is longer than 255 bytes"},
    };
    for (const Bad& b : bad) {
        const Outcome out = apply(r, b.event, {});
        CHECK(out.status == Status::invalid);
        CHECK(out.error == b.error);
        CHECK(out.transition == Transition::none);
        CHECK(snapshot(r) == before);
    }
    SECTION("an unknown event type is never treated as offline") {
        CHECK(r.online());
    }
}

TEST_CASE("rule 10: per-client caps bound memory under hostile input", "[rules][rule10]") {
    Options options;
    options.max_tombstones = 16;
    options.max_open_channels = 4;
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0), options).went_online());

    SECTION("a flood of closes for random channels") {
        for (int i = 0; i < 10000; ++i) {
            const Outcome out = apply(r, tcpclean("flood-" + std::to_string(i), t0 + i, "GID_a@@@dev1"), options);
            REQUIRE(out.transition == Transition::none);
        }
        CHECK(r.channels.size() <= options.max_tombstones + options.max_open_channels);
        CHECK(r.online()); // the honest open channel is untouched
        CHECK(r.find(ch_a)->open());
        // evicted tombstones are covered by the watermark: their connects arrive closed
        REQUIRE(r.find("flood-0") == nullptr);
        CHECK(apply(r, connect("flood-0", t0, "GID_a@@@dev1"), options).status == Status::behind_watermark);
        CHECK(r.open_channels() == 1);
    }
    SECTION("a flood of connects keeps at most max_open_channels open, the newest") {
        for (int i = 1; i <= 100; ++i) (void)apply(r, connect("c" + std::to_string(i), t0 + i), options);
        CHECK(r.open_channels() == options.max_open_channels);
        CHECK(r.channels.size() <= options.max_tombstones + options.max_open_channels);
        CHECK(r.find("c100")->open());
        CHECK(r.online());
    }
    SECTION("the cap never closes a reconcile's synthetic channel into a tombstone") {
        ClientRecord s;
        REQUIRE(reconcile(s, true, t0 + hour, options).went_online());
        for (int i = 1; i <= 20; ++i) (void)apply(s, connect("c" + std::to_string(i), t0 + i), options);
        CHECK(s.open_channels() == options.max_open_channels + 1); // four real ones and the synthetic one
        for (const Channel& ch : s.channels) CHECK((!ch.synthetic || ch.open()));
        CHECK(apply(s, tcpclean("late", t0 + 2 * hour), options).transition == Transition::none);
        CHECK(s.online()); // real channels are still open
    }
    SECTION("a full open-channel cap refuses a connect older than every open channel") {
        options.max_tombstones = 64; // no eviction, so no watermark: the cap alone decides
        for (int i = 1; i <= 10; ++i) (void)apply(r, connect("c" + std::to_string(i), t0 + i), options);
        REQUIRE(r.open_channels() == 4);
        const std::string before = snapshot(r);
        const Outcome out = apply(r, connect("old", t0 + 5), options);
        CHECK(out.status == Status::refused);
        CHECK(snapshot(r) == before);
    }
}

TEST_CASE("rule 11: deterministic, maintenance takes now as an argument", "[rules][rule11]") {
    const std::vector<Event> events = {connect(ch_a, t0),          connect(ch_b, t0 + 10 * second), tcpclean(ch_a, t0 + 11 * second),
                                       disconnect(ch_b, t0 + hour), tcpclean(ch_c, t0 + 2 * hour),   connect(ch_c, t0 + hour + 1)};
    ClientRecord x, y;
    run(x, events);
    run(y, events);
    CHECK(snapshot(x) == snapshot(y));

    const std::string before = snapshot(x);
    CHECK(prune(x, t0 + 2 * hour, {}).tombstones_dropped == 0);
    CHECK(snapshot(x) == before);
    CHECK_FALSE(needs_prune(x, t0 + 2 * hour, {}));
    CHECK(needs_prune(x, t0 + 24 * hour + 30 * second, {}));
    // ch_a closed at +11 s; ch_b was taken over by ch_c's connect at +1 h; ch_c closed at +2 h
    CHECK(prune(x, t0 + 24 * hour + 30 * second, {}).tombstones_dropped == 1);
    CHECK(x.find(ch_a) == nullptr);
    CHECK(x.closed_through_ms == t0 + 11 * second);
    CHECK(prune(x, t0 + 26 * hour + minute, {}).tombstones_dropped == 2);
    CHECK(x.channels.empty());
    SECTION("an offline client silent for longer than forget_offline_after_ms is forgotten") {
        ClientRecord z;
        run(z, {connect(ch_a, t0), tcpclean(ch_a, t0 + minute)});
        Options options;
        options.forget_offline_after_ms = hour;
        CHECK_FALSE(prune(z, t0 + hour, options).forgotten);
        CHECK(prune(z, t0 + 2 * hour, options).forgotten);
        CHECK(z.empty());
    }
    SECTION("an online client is never forgotten") {
        ClientRecord z;
        run(z, {connect(ch_a, t0)});
        CHECK_FALSE(prune(z, t0 + 1000 * hour, {}).forgotten);
        CHECK(z.online());
    }
}

TEST_CASE("rule 12: exactly one edge per flip, at the event's time", "[rules][rule12]") {
    ClientRecord r;
    const auto out = run(r, {
                                connect(ch_a, t0),                   // online
                                connect(ch_a, t0),                   // duplicate
                                connect(ch_b, t0 + 20 * second),     // flap: new connection first
                                tcpclean(ch_a, t0 + 21 * second),    // old one closes: still online
                                tcpclean(ch_a, t0 + 21 * second),    // duplicate
                                tcpclean(ch_b, t0 + 5 * minute),     // offline
                                tcpclean(ch_c, t0 + 10 * minute),    // close before connect
                                connect(ch_c, t0 + 9 * minute),      // arrives closed: no edge
                                connect(ch_a, t0),                   // late duplicate: no edge
                                connect("3" + ch_c.substr(1), t0 + 20 * minute), // online again
                            });
    std::vector<Transition> edges;
    std::vector<std::int64_t> times;
    for (const Outcome& o : out) {
        if (o.transition == Transition::none) continue;
        edges.push_back(o.transition);
        times.push_back(o.transition_ms);
    }
    CHECK(edges == std::vector<Transition>{Transition::went_online, Transition::went_offline, Transition::went_online});
    CHECK(times == std::vector<std::int64_t>{t0, t0 + 5 * minute, t0 + 20 * minute});
    CHECK(r.last_offline_ms == t0 + 5 * minute);
}

TEST_CASE("options are validated", "[rules][options]") {
    CHECK(validate(Options{}).empty());
    Options o;
    o.max_tombstones = 0;
    CHECK(validate(o) == "max_tombstones must be between 1 and 1000");
    o.max_tombstones = max_channel_cap;
    CHECK(validate(o).empty());
    o.max_tombstones = max_channel_cap + 1;
    CHECK(validate(o) == "max_tombstones must be between 1 and 1000");
    o = Options{};
    o.takeover_tolerance_ms = -1;
    CHECK(validate(o) == "takeover_tolerance_ms must be between 0 and ten years");
    o = Options{};
    o.tombstone_retention_ms = -5;
    CHECK_FALSE(validate(o).empty());
    o = Options{};
    o.max_open_channels = 0;
    CHECK_FALSE(validate(o).empty());
    o.max_open_channels = 5000;
    CHECK(validate(o) == "max_open_channels must be between 1 and 1000");
}

TEST_CASE("a record holds every time the rules can store", "[rules][record]") {
    // Times are kept in 48 bits: the latest valid event time plus the largest tolerance must
    // round-trip, and no_time must stay distinct from every time.
    Options o;
    o.takeover_tolerance_ms = 10LL * 366 * 24 * 3600 * 1000;
    REQUIRE(validate(o).empty());
    ClientRecord r;
    CHECK(r.closed_through_ms == no_time);
    r.closed_through_ms = max_time_ms + o.takeover_tolerance_ms;
    CHECK(r.closed_through_ms == max_time_ms + o.takeover_tolerance_ms);
    r.last_event_ms = 0;
    CHECK(r.last_event_ms == 0);
    r.last_event_ms = no_time;
    CHECK(r.last_event_ms == no_time);
    // Dropping a half-known tombstone (close seen, no connect) at the end of time widens the
    // watermark by the tolerance: the largest time the rules store.
    ClientRecord q;
    o.max_tombstones = 1;
    apply(q, Event{"GID_a@@@b", "aaaa000000000000000000000000000a", EventType::tcpclean, max_time_ms - 1, ""}, o);
    apply(q, Event{"GID_a@@@b", "aaaa000000000000000000000000000b", EventType::tcpclean, max_time_ms, ""}, o);
    CHECK(q.channels.size() == 1);
    CHECK(q.closed_through_ms == max_time_ms - 1 + o.takeover_tolerance_ms);
    CHECK(q.last_event_ms == max_time_ms);
}

TEST_CASE("describe() reports the client's presence in detail", "[rules][describe]") {
    ClientRecord r;
    run(r, {connect(ch_a, t0, "GID_a@@@dev1", "192.0.2.7:13222"), connect(ch_b, t0 + 10 * second, "GID_a@@@dev1", "[2001:db8::1]:4000")});
    ClientStatus st = describe(r);
    CHECK(st.online);
    CHECK(st.open_channels == 2);
    CHECK(st.current_channel == ch_b);
    CHECK(st.client_address == "[2001:db8::1]:4000");
    CHECK(st.connected_since_ms == t0 + 10 * second);
    CHECK(st.online_since_ms == t0);
    CHECK(st.last_event_ms == t0 + 10 * second);
    CHECK_FALSE(st.last_offline_ms.has_value());
    run(r, {disconnect(ch_b, t0 + minute), tcpclean(ch_b, t0 + minute), tcpclean(ch_a, t0 + 2 * minute)});
    st = describe(r);
    CHECK_FALSE(st.online);
    CHECK(st.current_channel.empty());
    CHECK(st.last_offline_ms == t0 + 2 * minute);
    CHECK_FALSE(st.last_offline_graceful); // ch_a, the one that took it offline, was abrupt
    CHECK(st.channels_kept == 2);
}

TEST_CASE("expire: a channel silent for longer than max_age closes, as of when it had been silent that long",
          "[rules][expiry]") {
    const std::int64_t max_age = 10 * minute;
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0), {}).went_online());

    SECTION("exactly max_age of silence is not longer than max_age") {
        CHECK_FALSE(needs_expiry(r, t0 + max_age, max_age));
        const ExpireResult kept = expire(r, t0 + max_age, max_age);
        CHECK(kept.channels_closed == 0);
        CHECK(kept.outcome.status == Status::duplicate);
        CHECK(kept.outcome.transition == Transition::none);
        CHECK(r.online());
    }
    SECTION("one millisecond more closes it; the time does not depend on when maintenance runs") {
        for (const std::int64_t now : {t0 + max_age + 1, t0 + 7 * hour}) {
            ClientRecord x = r;
            CHECK(needs_expiry(x, now, max_age));
            const ExpireResult done = expire(x, now, max_age);
            CHECK(done.channels_closed == 1);
            CHECK(done.outcome.status == Status::applied);
            CHECK(done.outcome.went_offline());
            CHECK(done.outcome.cause == Cause::expiry);
            CHECK(done.outcome.transition_ms == t0 + max_age);
            CHECK_FALSE(x.online());
            REQUIRE(x.find(ch_a) != nullptr);
            CHECK(x.find(ch_a)->close_cause == Cause::expiry);
            CHECK(x.last_offline_ms == t0 + max_age);
            CHECK_FALSE(needs_expiry(x, now, max_age));
            // Again: nothing left to expire.
            CHECK(expire(x, now, max_age).outcome.status == Status::duplicate);
        }
    }
    SECTION("the tombstone stays: a redelivered connect stays closed, the real tcpclean replaces the estimate") {
        REQUIRE(expire(r, t0 + hour, max_age).outcome.went_offline());
        const Outcome again = apply(r, connect(ch_a, t0), {});
        CHECK(again.status == Status::duplicate);
        CHECK_FALSE(r.online());
        const Outcome real = apply(r, tcpclean(ch_a, t0 + 30 * minute), {});
        CHECK(real.status == Status::applied);
        CHECK(real.transition == Transition::none);
        CHECK(r.find(ch_a)->close_cause == Cause::tcpclean);
        CHECK(r.find(ch_a)->close_ms == t0 + 30 * minute);
        CHECK(apply(r, tcpclean(ch_a, t0 + 30 * minute), {}).status == Status::duplicate);
        // A new connection opens as usual.
        CHECK(apply(r, connect(ch_b, t0 + 2 * hour), {}).went_online());
    }
    SECTION("a disconnect seen later is the channel's last sign of life") {
        REQUIRE(apply(r, disconnect(ch_a, t0 + 8 * minute), {}).transition == Transition::none);
        CHECK_FALSE(needs_expiry(r, t0 + 18 * minute, max_age));
        const ExpireResult done = expire(r, t0 + 18 * minute + 1, max_age);
        CHECK(done.outcome.went_offline());
        CHECK(done.outcome.transition_ms == t0 + 18 * minute);
        CHECK(r.last_offline_graceful);
    }
    SECTION("only the silent channel closes; the client stays online through the other") {
        REQUIRE(apply(r, connect(ch_b, t0 + 30 * second), {}).transition == Transition::none); // within the tolerance
        const ExpireResult done = expire(r, t0 + max_age + 10 * second, max_age);
        CHECK(done.channels_closed == 1);
        CHECK(done.outcome.status == Status::applied);
        CHECK(done.outcome.transition == Transition::none);
        CHECK(r.online());
        CHECK(r.find(ch_a)->closed());
        CHECK(r.find(ch_b)->open());
        SECTION("then the other one too: the edge is at the latest close") {
            const ExpireResult last = expire(r, t0 + hour, max_age);
            CHECK(last.channels_closed == 1);
            CHECK(last.outcome.went_offline());
            CHECK(last.outcome.transition_ms == t0 + 30 * second + max_age);
        }
    }
    SECTION("both silent: one edge, at the later of their expiry times") {
        REQUIRE(apply(r, connect(ch_b, t0 + 30 * second), {}).transition == Transition::none);
        const ExpireResult done = expire(r, t0 + hour, max_age);
        CHECK(done.channels_closed == 2);
        CHECK(done.outcome.went_offline());
        CHECK(done.outcome.transition_ms == t0 + 30 * second + max_age);
    }
    SECTION("closed channels and offline clients are left alone") {
        REQUIRE(apply(r, tcpclean(ch_a, t0 + minute), {}).went_offline());
        const std::string before = snapshot(r);
        CHECK_FALSE(needs_expiry(r, t0 + 100 * hour, max_age));
        CHECK(expire(r, t0 + 100 * hour, max_age).outcome.status == Status::duplicate);
        CHECK(snapshot(r) == before);
    }
    SECTION("max_age 0: any channel whose last sign is before now") {
        CHECK_FALSE(needs_expiry(r, t0, 0));
        CHECK(expire(r, t0 + 1, 0).outcome.transition_ms == t0);
    }
}

TEST_CASE("expire: a reconcile's synthetic channel expires from the answer's time and is removed", "[rules][expiry]") {
    ClientRecord r;
    REQUIRE(reconcile(r, true, t0, {}).went_online());
    const ExpireResult done = expire(r, t0 + 2 * hour, hour);
    CHECK(done.channels_closed == 1);
    CHECK(done.outcome.went_offline());
    CHECK(done.outcome.cause == Cause::expiry);
    CHECK(done.outcome.transition_ms == t0 + hour);
    CHECK(r.channels.empty());
    CHECK_FALSE(r.online());
    // The watermark is not moved: a newer answer, or a connect, opens it again.
    CHECK(r.closed_through_ms == no_time);
    CHECK(apply(r, connect(ch_a, t0 + 3 * hour), {}).went_online());
}

TEST_CASE("expire: bad arguments change nothing", "[rules][expiry]") {
    ClientRecord r;
    run(r, {connect(ch_a, t0), connect(ch_b, t0 + 10 * second)});
    const std::string before = snapshot(r);
    struct Bad {
        std::int64_t now, max_age;
        std::string_view why;
    };
    for (const Bad& bad : {Bad{t0, -1, "max_age_ms is negative"}, Bad{-1, 0, "now_ms is negative"},
                           Bad{max_time_ms + 1, 0, "now_ms is after the year 9999"},
                           Bad{t0, 11LL * 366 * 24 * hour, "max_age_ms is longer than ten years"}}) {
        const ExpireResult out = expire(r, bad.now, bad.max_age);
        CHECK(out.outcome.status == Status::invalid);
        CHECK(out.outcome.error == bad.why);
        CHECK(out.channels_closed == 0);
        CHECK_FALSE(needs_expiry(r, bad.now, bad.max_age));
        CHECK(snapshot(r) == before);
    }
}

TEST_CASE("rule 12: the rules tell which channel each edge is about", "[rules][rule12]") {
    // The store hands this to its transition hook; here it is read through detail::EdgeChannel.
    const std::string long_id = "session/" + std::string(40, 'x'); // kept on the heap
    auto edge_channel = [](auto&& call) {
        detail::EdgeChannel channel;
        const Outcome out = call(&channel);
        detail::EdgeChannel::Scratch scratch;
        return std::make_pair(out, std::string(out.transition == Transition::none ? "-" : channel.view(scratch)));
    };
    ClientRecord r;
    auto ev = [&](const Event& e) { return edge_channel([&](detail::EdgeChannel* c) { return detail::apply_valid(r, e, {}, c); }); };
    CHECK(ev(connect(ch_a, t0)).second == ch_a);
    CHECK(ev(connect(ch_b, t0 + 10 * second)).second == "-");
    CHECK(ev(tcpclean(ch_a, t0 + 11 * second)).second == "-");
    CHECK(ev(tcpclean(ch_b, t0 + minute)).second == ch_b); // the close that took it offline
    CHECK(ev(connect(long_id, t0 + 2 * minute)).second == long_id);
    // Takeover of a channel whose close was lost by a connect that arrives closed: the client
    // went offline when the newest connection closed.
    CHECK(ev(tcpclean(ch_c, t0 + 10 * minute)).second == "-");
    auto taken = ev(connect(ch_c, t0 + 9 * minute));
    CHECK(taken.first.went_offline());
    CHECK(taken.first.cause == Cause::tcpclean);
    CHECK(taken.second == ch_c);
    // Reconcile: online through a synthetic channel (""), offline closes it.
    auto on = edge_channel([&](detail::EdgeChannel* c) { return detail::reconcile(r, true, t0 + hour, {}, c); });
    CHECK(on.first.went_online());
    CHECK(on.second.empty());
    // A real tcpclean at or after the answer takes the synthetic channel over, and with it the
    // client offline: the edge is about that tcpclean's channel.
    auto off = ev(tcpclean("4" + ch_a.substr(1), t0 + 2 * hour));
    CHECK(off.first.went_offline());
    CHECK(off.second == "4" + ch_a.substr(1));
    // Expiry closes the heap-kept channel id's channel.
    ClientRecord s;
    REQUIRE(apply(s, connect(long_id, t0), {}).went_online());
    auto expired = edge_channel([&](detail::EdgeChannel* c) { return detail::expire(s, t0 + 2 * hour, hour, c).outcome; });
    CHECK(expired.first.cause == Cause::expiry);
    CHECK(expired.second == long_id);
    // reconcile(offline) closing two channels: the edge names one of them.
    ClientRecord q;
    run(q, {connect(ch_a, t0), connect(ch_b, t0 + 10 * second)});
    auto both = edge_channel([&](detail::EdgeChannel* c) { return detail::reconcile(q, false, t0 + hour, {}, c); });
    CHECK(both.first.went_offline());
    CHECK((both.second == ch_a || both.second == ch_b));
}

TEST_CASE("rule 13: a reused connection key starts a newer connection only when set", "[rules][rule13]") {
    Options reuse;
    reuse.key_reuse_gap_ms = 10 * minute;
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0), reuse).went_online());
    REQUIRE(apply(r, tcpclean(ch_a, t0 + minute), reuse).went_offline());

    SECTION("a connect on the key an hour after its close is a new connection") {
        const Outcome out = apply(r, connect(ch_a, t0 + hour), reuse);
        CHECK(out.went_online());
        CHECK(out.transition_ms == t0 + hour);
        CHECK(r.find(ch_a)->connect_ms == t0 + hour);
        CHECK(r.closed_through_ms == t0 + minute); // the old connection's times stay covered
        SECTION("late copies of the old connection's events change nothing") {
            const std::string before = snapshot(r);
            CHECK(apply(r, tcpclean(ch_a, t0 + minute), reuse).status == Status::stale);
            CHECK(apply(r, connect(ch_a, t0), reuse).status == Status::stale);
            CHECK(snapshot(r) == before);
            CHECK(r.online());
        }
        SECTION("its own close closes it") {
            CHECK(apply(r, tcpclean(ch_a, t0 + 2 * hour), reuse).went_offline());
        }
    }
    SECTION("the new connection's close arriving before its connect is remembered") {
        CHECK(apply(r, tcpclean(ch_a, t0 + 2 * hour), reuse).status == Status::applied);
        CHECK_FALSE(r.online());
        const Outcome late = apply(r, connect(ch_a, t0 + hour), reuse);
        CHECK(late.transition == Transition::none); // it arrives closed
        CHECK_FALSE(r.online());
        CHECK(apply(r, tcpclean(ch_a, t0 + 2 * hour), reuse).status == Status::duplicate);
    }
    SECTION("without the option the key is one channel: the later connect is a duplicate") {
        ClientRecord plain;
        (void)run(plain, {connect(ch_a, t0), tcpclean(ch_a, t0 + minute)});
        CHECK(apply(plain, connect(ch_a, t0 + hour), {}).status == Status::duplicate);
        CHECK_FALSE(plain.online());
    }
}

TEST_CASE("rule 13: within the gap events on a key are one connection", "[rules][rule13]") {
    Options reuse;
    reuse.key_reuse_gap_ms = 10 * minute;
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0), reuse).went_online());
    SECTION("a close stamped a little before its connect still closes it (rule 7)") {
        CHECK(apply(r, tcpclean(ch_a, t0 - 5 * minute), reuse).went_offline());
        CHECK(apply(r, connect(ch_a, t0 + 5 * minute), reuse).status == Status::duplicate);
    }
    SECTION("an open connection whose close was lost gives its key to the next one") {
        const Outcome again = apply(r, connect(ch_a, t0 + hour), reuse);
        CHECK(again.transition == Transition::none); // online throughout
        CHECK(r.find(ch_a)->connect_ms == t0 + hour);
        CHECK(r.open_channels() == 1);
        CHECK(apply(r, tcpclean(ch_a, t0 + hour + 5 * minute), reuse).went_offline());
    }
    SECTION("a close long after a closed connection's times is a newer connection's") {
        REQUIRE(apply(r, connect(ch_b, t0 + 2 * hour), reuse).transition == Transition::none); // takes ch_a over
        REQUIRE(r.find(ch_a)->close_cause == Cause::takeover);
        CHECK(apply(r, disconnect(ch_a, t0 + 5 * hour), reuse).status == Status::applied);
        CHECK_FALSE(r.find(ch_a)->connected()); // remembered for the newer connection
        CHECK(r.closed_through_ms == t0 + 2 * hour);
        CHECK(apply(r, connect(ch_a, t0 + 4 * hour), reuse).status == Status::applied);
        CHECK(r.find(ch_a)->open()); // its disconnect does not close it (rule 4)
        CHECK(r.online());
    }
    SECTION("without the option a real close replaces an estimated one however late it comes") {
        REQUIRE(apply(r, connect(ch_b, t0 + 2 * hour), {}).transition == Transition::none);
        CHECK(apply(r, tcpclean(ch_a, t0 + 5 * hour), {}).status == Status::applied);
        CHECK(r.find(ch_a)->close_cause == Cause::tcpclean);
        CHECK(r.find(ch_a)->connect_ms == t0);
    }
}

TEST_CASE("rule 14: a close that names no connection", "[rules][rule14]") {
    const auto keyless = [](EventType type, std::int64_t t) {
        Event e = tcpclean("", t);
        e.type = type;
        return e;
    };
    SECTION("a connect must name its connection, a close need not") {
        CHECK(validate(connect("", t0)) == "channel_id is empty");
        CHECK(validate(keyless(EventType::tcpclean, t0)).empty());
        CHECK(validate(keyless(EventType::disconnect, t0)).empty());
    }
    ClientRecord r;
    REQUIRE(apply(r, connect(ch_a, t0), {}).went_online());
    REQUIRE(apply(r, connect(ch_b, t0 + 10 * second), {}).transition == Transition::none); // within the tolerance
    REQUIRE(r.open_channels() == 2);
    SECTION("a tcpclean closes every connection started at or before it") {
        const Outcome out = apply(r, keyless(EventType::tcpclean, t0 + 20 * second), {});
        CHECK(out.went_offline());
        CHECK(out.cause == Cause::tcpclean);
        CHECK(out.transition_ms == t0 + 20 * second);
        CHECK(r.find(ch_a)->close_cause == Cause::tcpclean);
        CHECK(r.find(ch_b)->close_cause == Cause::tcpclean);
        CHECK(r.closed_through_ms == t0 + 20 * second);
        SECTION("a connect at or before it arriving later arrives closed") {
            const Outcome late = apply(r, connect(ch_c, t0 + 15 * second), {});
            CHECK(late.status == Status::behind_watermark);
            CHECK_FALSE(r.online());
        }
        SECTION("a copy changes nothing") {
            const std::string before = snapshot(r);
            CHECK(apply(r, keyless(EventType::tcpclean, t0 + 20 * second), {}).status == Status::duplicate);
            CHECK(snapshot(r) == before);
        }
        SECTION("a connection started after it opens") {
            CHECK(apply(r, connect(ch_c, t0 + 30 * second), {}).went_online());
        }
    }
    SECTION("a connection started after it stays open") {
        REQUIRE(apply(r, connect(ch_c, t0 + 90 * second), {}).transition == Transition::none); // takes a and b over
        const Outcome out = apply(r, keyless(EventType::tcpclean, t0 + 80 * second), {});
        CHECK(out.transition == Transition::none);
        CHECK(r.find(ch_c)->open());
    }
    SECTION("a disconnect closes nothing: its session was taken over by a newer connection") {
        Options closing;
        closing.close_on_disconnect = true;
        const std::string before = snapshot(r);
        CHECK(apply(r, keyless(EventType::disconnect, t0 + 20 * second), {}).status == Status::stale);
        CHECK(apply(r, keyless(EventType::disconnect, t0 + 20 * second), closing).status == Status::stale);
        CHECK(snapshot(r) == before);
        CHECK(r.online());
    }
    SECTION("a tcpclean ends a reconcile's synthetic channel that it covers") {
        ClientRecord s;
        REQUIRE(reconcile(s, true, t0, {}).went_online());
        CHECK(apply(s, keyless(EventType::tcpclean, t0 + second), {}).went_offline());
        CHECK(s.channels.empty());
    }
}

// ClientRecord::presence: what queries read instead of the channels.
TEST_CASE("a record remembers its presence after every change the rules make", "[rules][presence]") {
    const std::string channels[] = {ch_a, ch_b, ch_c};
    Options options;
    options.max_open_channels = 2; // so that the cap's takeover runs too
    options.max_tombstones = 2;
    for (unsigned seed = 1; seed <= 40; ++seed) {
        std::mt19937 rng(seed);
        const auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
        ClientRecord r;
        CHECK(r.presence == Presence::unknown);
        bool changed_once = false;
        for (int i = 0; i < 200; ++i) {
            const std::int64_t t = t0 + static_cast<std::int64_t>(pick(400)) * second;
            const std::string& ch = channels[pick(3)];
            bool changed = false;
            switch (pick(8)) {
            case 0: case 1: case 2: changed = apply(r, connect(ch, t), options).changed(); break;
            case 3: case 4: changed = apply(r, tcpclean(ch, t), options).changed(); break;
            case 5: changed = apply(r, disconnect(ch, t), options).changed(); break;
            case 6: changed = reconcile(r, pick(2) == 0, t, options).changed(); break;
            default:
                if (pick(2) == 0) changed = expire(r, t + hour, 10 * minute).channels_closed > 0;
                else (void)prune(r, t + 30 * hour, options);
                break;
            }
            changed_once = changed_once || changed;
            INFO("seed " << seed << ", step " << i);
            if (changed) CHECK(r.presence != Presence::unknown);
            if (r.presence != Presence::unknown) REQUIRE((r.presence == Presence::online) == r.online());
            CHECK(r.online_remembered() == r.online());
        }
        CHECK(changed_once);
    }
}

// The rules read a remembered presence instead of the channels where they can (whether the
// client was online before an event); a record whose presence is not remembered, as one built
// field by field, goes through the channels. Both must come to the same outcome and record.
TEST_CASE("the rules decide the same with the presence remembered or not", "[rules][presence]") {
    const std::string channels[] = {ch_a, ch_b, ch_c, ""}; // "": a close that names no connection
    std::size_t remembered_online = 0;
    std::size_t remembered_offline = 0;
    for (unsigned seed = 1; seed <= 60; ++seed) {
        std::mt19937 rng(seed);
        const auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
        Options options;
        options.max_open_channels = 1 + pick(2);
        options.max_tombstones = 1 + pick(3);
        options.key_reuse_gap_ms = pick(2) == 0 ? 0 : 2 * minute; // rule 13's retirements too
        options.takeover = pick(4) != 0;
        ClientRecord r;
        for (int i = 0; i < 300; ++i) {
            const std::int64_t t = t0 + static_cast<std::int64_t>(pick(600)) * second;
            const std::string& ch = channels[pick(4)];
            ClientRecord forgot = r;
            forgot.presence = Presence::unknown;
            remembered_online += r.presence == Presence::online ? 1U : 0U;
            remembered_offline += r.presence == Presence::offline ? 1U : 0U;
            Outcome a;
            Outcome b;
            switch (pick(6)) {
            case 0:
            case 1:
            case 2: {
                const Event e = connect(ch.empty() ? ch_a : ch, t);
                a = apply(r, e, options);
                b = apply(forgot, e, options);
                break;
            }
            case 3:
            case 4: {
                const Event e = tcpclean(ch, t);
                a = apply(r, e, options);
                b = apply(forgot, e, options);
                break;
            }
            default: {
                const bool online = pick(3) == 0;
                a = reconcile(r, online, t, options);
                b = reconcile(forgot, online, t, options);
                break;
            }
            }
            INFO("seed " << seed << ", step " << i);
            REQUIRE(a.status == b.status);
            REQUIRE(a.transition == b.transition);
            REQUIRE(a.cause == b.cause);
            REQUIRE(a.transition_ms == b.transition_ms);
            REQUIRE(detail::record_codec::encode_record(r) == detail::record_codec::encode_record(forgot));
            // (a record the step did not change keeps an unknown presence unknown)
            if (forgot.presence != Presence::unknown) REQUIRE(r.presence == forgot.presence);
        }
    }
    // Both kinds of remembered presence were met, many times each.
    CHECK(remembered_online > 1000);
    CHECK(remembered_offline > 1000);
}

TEST_CASE("a record built field by field answers from its channels until it is remembered", "[rules][presence]") {
    ClientRecord r;
    Channel open;
    open.key.assign(ch_a);
    open.connect_ms = t0;
    r.channels.push_back(open);
    r.latest_connect_ms = t0;
    r.last_event_ms = t0;
    CHECK(r.presence == Presence::unknown);
    CHECK(r.online_remembered());
    r.remember_presence();
    CHECK(r.presence == Presence::online);
    CHECK_FALSE(detail::check_record(r, {}));

    SECTION("a remembered presence the channels contradict is refused by the record checks") {
        r.presence = Presence::offline;
        const detail::RecordProblem problem = detail::check_record(r, {});
        REQUIRE(problem);
        CHECK(problem.what == "its remembered presence disagrees with its channels");
    }
    SECTION("so is a value outside the enumeration") {
        r.presence = static_cast<Presence>(7);
        const detail::RecordProblem problem = detail::check_record(r, {});
        REQUIRE(problem);
        CHECK(problem.what == "an unknown presence value");
    }
    SECTION("a decoded record has its presence remembered") {
        ClientRecord offline;
        REQUIRE(apply(offline, connect(ch_b, t0), {}).went_online());
        REQUIRE(apply(offline, tcpclean(ch_b, t0 + second), {}).went_offline());
        for (const ClientRecord* source : {&r, &offline}) {
            ClientRecord copy = *source;
            copy.presence = Presence::unknown; // an encoding does not carry it
            const ClientRecord decoded = detail::record_codec::decode_record(detail::record_codec::encode_record(copy), {});
            CHECK(decoded.presence == (source->online() ? Presence::online : Presence::offline));
        }
    }
}

TEST_CASE("regression: a record read back with a time past the year 9999 and ten years is refused", "[rules][regression]") {
    // Found by fuzz_redis_record: a decoded record whose tombstone (a close, no connect) was
    // stamped near the largest time a PackedTime holds passed the record checks; a connect then
    // dropped the tombstone, adding the takeover tolerance to its time beyond what a PackedTime
    // holds (an assertion in debug builds, a clamped watermark otherwise).
    Options options;
    options.takeover_tolerance_ms = max_duration_ms;
    options.max_tombstones = 0;
    ClientRecord r;
    Channel closed;
    closed.key.assign(ch_a);
    closed.close_ms = detail::max_record_time_ms;
    closed.close_cause = Cause::tcpclean;
    r.channels.push_back(closed);
    r.last_event_ms = detail::max_record_time_ms;
    r.remember_presence();

    SECTION("the latest time a record may hold passes, and the rules may add a tolerance to it") {
        CHECK_FALSE(detail::check_record(r, options));
        const Outcome out = apply(r, connect(ch_b, max_time_ms), options); // drops the tombstone
        CHECK(out.went_online());
        CHECK(r.closed_through_ms == detail::max_record_time_ms + max_duration_ms);
        CHECK(r.channels.size() == 1);
    }
    for (const std::int64_t beyond : {detail::max_record_time_ms + 1, detail::PackedTime::max}) {
        INFO("time " << beyond);
        ClientRecord late = r;
        SECTION("a channel's time beyond it is refused") {
            late.channels[0].close_ms = beyond;
            const detail::RecordProblem problem = detail::check_record(late, options);
            CHECK(problem.channel == 1);
            CHECK(problem.what == detail::time_too_late);
        }
        SECTION("and so is the record's") {
            late.closed_through_ms = beyond;
            const detail::RecordProblem problem = detail::check_record(late, options);
            CHECK(problem.channel == 0);
            CHECK(problem.what == detail::time_too_late);
        }
    }
}

TEST_CASE("regression: a record read back with a channel that has no time is refused", "[rules][regression]") {
    // Found by fuzz_redis_record: a decoded record held two channels with an id and nothing
    // else (no connect, close or disconnect), which the rules never make. A connect then dropped
    // one as a tombstone, taking its newest time (none) plus the takeover tolerance as the
    // watermark: a negative time (an assertion in debug builds).
    ClientRecord r;
    Channel empty;
    empty.key.assign(ch_a);
    r.channels.push_back(empty);
    r.latest_connect_ms = t0;
    r.last_event_ms = t0;
    const detail::RecordProblem problem = detail::check_record(r, {});
    CHECK(problem.channel == 1);
    CHECK(problem.what == "a channel with no time (no connect, close or disconnect)");
    for (const auto set : {+[](Channel& c) { c.connect_ms = t0; }, +[](Channel& c) { c.disconnect_ms = t0; },
                           +[](Channel& c) {
                               c.close_ms = t0;
                               c.close_cause = Cause::tcpclean;
                           }}) {
        ClientRecord with_time = r;
        set(with_time.channels[0]);
        CHECK_FALSE(detail::check_record(with_time, {}));
    }
}
