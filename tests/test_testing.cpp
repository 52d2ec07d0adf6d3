// <mqtt_presence/testing.hpp> as a user tests a consumer with it: histories deterministic by
// seed, a store fed them ends in their truth for every combination of the generator's options,
// the JSON Lines rendering, and the comparison helpers catching wrong consumers (the "last event
// wins" approach and the vendor demo's channel sets) and a misconfigured store.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/testing.hpp>

namespace {

using namespace mqtt_presence;
namespace mpt = mqtt_presence::testing;

std::uint64_t run_seed() { return mpt::seed_from_environment(20251124); }

// Everything a history holds, as text: equal texts, equal histories.
std::string fingerprint(const mpt::History& h) {
    std::string out = std::to_string(h.seed) + "\n";
    for (const mpt::Timeline& t : h.timelines) out += mpt::describe(t);
    for (const mpt::Delivery& d : h.deliveries) out += mpt::describe(d) + " @" + std::to_string(d.delivered_ms) + "\n";
    for (const mpt::Truth& t : h.truth)
        out += t.client_id + (t.online ? " online " : " offline ") + t.channel_id + " " + std::to_string(t.flips) + "\n";
    return out;
}

// The consumer of the vendor's "is it online" sample done the simple way: whatever event of a
// client arrived last decides (connect: online; disconnect, tcpclean: offline). Reconcile
// answers are ignored, as such a consumer has no use for them.
struct LastEventWins {
    std::map<std::string, bool> online;
    void handle(const mpt::Delivery& d) {
        if (d.kind == mpt::Delivery::Kind::event) online[d.event.client_id] = d.event.type == EventType::connect;
    }
    bool is_online(const std::string& id) const {
        const auto it = online.find(id);
        return it != online.end() && it->second;
    }
};

// The Alibaba demo's design: client → channel → the event types seen, subscribed to
// "connect||tcpclean"; a channel is deleted once both halves were seen; online while a channel
// holds a connect and no close.
struct VendorDemo {
    std::map<std::string, std::map<std::string, std::set<EventType>>> clients;
    void handle(const mpt::Delivery& d) {
        if (d.kind != mpt::Delivery::Kind::event || d.event.type == EventType::disconnect) return;
        auto& channels = clients[d.event.client_id];
        auto& seen = channels[d.event.channel_id];
        seen.insert(d.event.type);
        if (seen.count(EventType::connect) != 0 && seen.count(EventType::tcpclean) != 0)
            channels.erase(d.event.channel_id);
    }
    bool is_online(const std::string& id) const {
        const auto it = clients.find(id);
        if (it == clients.end()) return false;
        for (const auto& channel : it->second)
            if (channel.second.count(EventType::connect) != 0 && channel.second.count(EventType::tcpclean) == 0)
                return true;
        return false;
    }
};

} // namespace

TEST_CASE("testing: a seed gives one history, another seed another", "[testing]") {
    const std::uint64_t seed = run_seed();
    INFO("seed " << seed);
    mpt::GeneratorOptions options;
    options.clients = 60;
    const mpt::History a = mpt::generate_history(seed, options);
    const mpt::History b = mpt::generate_history(seed, options);
    const mpt::History c = mpt::generate_history(seed + 1, options);
    CHECK(a.timelines.size() == 60);
    CHECK(a.truth.size() == 60);
    CHECK(a.deliveries.size() > 60);
    CHECK(fingerprint(a) == fingerprint(b));
    CHECK(fingerprint(a) != fingerprint(c));
    CHECK(mpt::to_alibaba_json_lines(a) == mpt::to_alibaba_json_lines(b));

    // The same timelines and deliveries as the building block it is made of.
    const mpt::Batch batch = mpt::generate_batch(seed, 0, 60, options.history, options.delivery);
    REQUIRE(batch.deliveries.size() == a.deliveries.size());
    for (std::size_t i = 0; i < batch.deliveries.size(); ++i)
        CHECK(mpt::describe(batch.deliveries[i]) == mpt::describe(a.deliveries[i]));

    // The truth is the timeline's, and online_clients() lists exactly the online ones, sorted.
    std::vector<std::string> online;
    for (std::size_t i = 0; i < a.timelines.size(); ++i) {
        CHECK(a.truth[i].client_id == a.timelines[i].client_id);
        CHECK(a.truth[i].online == a.timelines[i].connections.back().open_at_end());
        if (a.truth[i].online) online.push_back(a.timelines[i].client_id);
    }
    std::sort(online.begin(), online.end());
    CHECK(a.online_clients() == online);
    CHECK(!online.empty());
    CHECK(online.size() < a.truth.size());

    // Without reconcile answers nothing is delivered but events.
    options.reconcile_answers = false;
    options.history.reconcile_online_probability = 1.0; // overridden
    const mpt::History events_only = mpt::generate_history(seed, options);
    for (const mpt::Delivery& d : events_only.deliveries) CHECK(d.kind == mpt::Delivery::Kind::event);
}

TEST_CASE("testing: a store fed the delivery ends in the truth, for every option combination", "[testing]") {
    const std::uint64_t seed = run_seed();
    std::size_t combinations = 0;
    for (const bool in_order : {false, true})
        for (const bool observable_flips : {false, true})
            for (const bool reconcile_answers : {true, false})
                for (const bool takeover : {true, false})
                    for (const std::int64_t versioned_reset : {std::int64_t{0}, mpt::hour_ms})
                        for (const std::int64_t tolerance : {60 * mpt::second_ms, 15 * mpt::second_ms}) {
                            if (!takeover && tolerance != 60 * mpt::second_ms) continue; // the tolerance is unused
                            mpt::GeneratorOptions options;
                            options.clients = 80;
                            options.first_client_number = combinations * 100;
                            options.delivery.in_order = in_order;
                            options.history.observable_flips = observable_flips;
                            options.reconcile_answers = reconcile_answers;
                            options.history.takeover = takeover;
                            options.history.versioned_keys_reset_after_ms = versioned_reset;
                            options.history.takeover_tolerance_ms = tolerance;
                            const std::uint64_t history_seed = mpt::mix_seed(seed, combinations++);
                            INFO("seed " << history_seed << ", in_order " << in_order << ", observable_flips "
                                         << observable_flips << ", reconcile_answers " << reconcile_answers
                                         << ", takeover " << takeover << ", versioned keys reset after "
                                         << versioned_reset << " ms, tolerance " << tolerance << " ms");
                            const mpt::History history = mpt::generate_history(history_seed, options);

                            const Options store_options = mpt::store_options(options);
                            CHECK(store_options.takeover == takeover);
                            CHECK(store_options.takeover_tolerance_ms == tolerance);
                            CHECK((store_options.key_reuse_gap_ms > 0) == (versioned_reset > 0));
                            ClientStatusStore<> store(store_options);
                            std::map<std::string, std::size_t> went_online;
                            store.on_transition([&](const Edge& e) {
                                if (e.online) ++went_online[std::string(e.client_id)];
                            });
                            for (const mpt::Delivery& d : history.deliveries) (void)mpt::feed(store, d);

                            const mpt::Comparison result = mpt::compare_store(history, store);
                            INFO(result.report());
                            CHECK(result.clients == 80);
                            CHECK(result.expected_online == history.online_clients().size());
                            CHECK(result.expected_online > 0);
                            CHECK(result.expected_online < 80);
                            REQUIRE(result.ok());
                            // In order, with only losses that hide no flip: exactly the true flips.
                            if (in_order && observable_flips)
                                for (const mpt::Truth& t : history.truth) {
                                    INFO(t.client_id);
                                    CHECK(went_online[t.client_id] == t.flips);
                                }
                        }
    CHECK(combinations == 48);
}

TEST_CASE("testing: compare_online reports a consumer where the last event wins", "[testing]") {
    const std::uint64_t seed = run_seed();
    mpt::GeneratorOptions options;
    options.clients = 300;
    const mpt::History history = mpt::generate_history(seed, options);
    LastEventWins consumer;
    for (const mpt::Delivery& d : history.deliveries) consumer.handle(d);

    const mpt::Comparison result =
            mpt::compare_online(history, [&](const std::string& id) { return consumer.is_online(id); });
    const std::string report = result.report();
    INFO(report);
    CHECK_FALSE(result.ok());
    // Every client where the consumer is wrong is reported, and no other.
    std::set<std::string> wrong;
    for (const mpt::Truth& t : history.truth)
        if (consumer.is_online(t.client_id) != t.online) wrong.insert(t.client_id);
    std::set<std::string> reported;
    for (const mpt::Mismatch& m : result.mismatches) reported.insert(m.client_id);
    CHECK(reported == wrong);
    // A flap (the old connection's close delivered after the new connect) takes it offline.
    CHECK(report.find("is_online: expected true, got false") != std::string::npos);
    // The report says how to reproduce it and shows what happened to the first client.
    CHECK(report.find("seed " + std::to_string(seed)) != std::string::npos);
    REQUIRE(!result.mismatches.empty());
    CHECK(report.find("client " + result.mismatches[0].client_id) != std::string::npos);
    CHECK(result.mismatches[0].story.find("true timeline:") != std::string::npos);
    CHECK(result.mismatches[0].story.find("delivered (in order):") != std::string::npos);
    CHECK(result.mismatches.size() > 3);
    CHECK(result.mismatches[3].story.empty()); // stories for the first three only
}

TEST_CASE("testing: compare_online reports the vendor demo's consumer", "[testing]") {
    const std::uint64_t seed = run_seed();
    mpt::GeneratorOptions options;
    options.clients = 300;
    options.reconcile_answers = false; // what the demo gets: events only
    const mpt::History history = mpt::generate_history(seed, options);
    VendorDemo consumer;
    for (const mpt::Delivery& d : history.deliveries) consumer.handle(d);

    const mpt::Comparison result =
            mpt::compare_online(history, [&](const std::string& id) { return consumer.is_online(id); });
    const std::string report = result.report();
    INFO(report);
    CHECK_FALSE(result.ok());
    std::set<std::string> wrong;
    for (const mpt::Truth& t : history.truth)
        if (consumer.is_online(t.client_id) != t.online) wrong.insert(t.client_id);
    CHECK(result.mismatches.size() == wrong.size());
    // A connect redelivered after its channel was deleted, or a lost close: online forever.
    CHECK(report.find("is_online: expected false, got true") != std::string::npos);

    // The library fed the same delivery is right.
    ClientStatusStore<> store(mpt::store_options(options));
    for (const mpt::Delivery& d : history.deliveries) (void)mpt::feed(store, d);
    const mpt::Comparison right =
            mpt::compare_online(history, [&](const std::string& id) { return store.is_online(id); });
    INFO(right.report());
    CHECK(right.ok());
    CHECK(right.report().rfind("0 of 300 clients differ from the truth", 0) == 0);
}

TEST_CASE("testing: compare_store reports a misconfigured store and clients the history does not know",
          "[testing]") {
    const std::uint64_t seed = run_seed();
    mpt::GeneratorOptions options;
    options.clients = 200;
    options.history.versioned_keys_reset_after_ms = mpt::hour_ms; // AWS IoT's reused keys
    const mpt::History history = mpt::generate_history(seed, options);

    SECTION("without rule 13 a reused key is taken for a copy of the old connection") {
        ClientStatusStore<> store; // default Options instead of store_options(options)
        for (const mpt::Delivery& d : history.deliveries) (void)mpt::feed(store, d);
        const mpt::Comparison result = mpt::compare_store(history, store);
        INFO(result.report());
        CHECK_FALSE(result.ok());
        CHECK_FALSE(result.mismatches.empty());
    }
    SECTION("a client fed besides the history shows in the store-wide counts") {
        ClientStatusStore<> store(mpt::store_options(options));
        for (const mpt::Delivery& d : history.deliveries) (void)mpt::feed(store, d);
        REQUIRE(mpt::compare_store(history, store).ok());
        (void)store.ingest(Event{"GID_other@@@x", "c1", EventType::connect, 1570795200000, ""});
        const mpt::Comparison result = mpt::compare_store(history, store);
        CHECK(result.mismatches.empty());
        REQUIRE(result.store_wide.size() == 2);
        const std::string report = result.report();
        CHECK(report.find("store: online_count() is " + std::to_string(result.expected_online + 1)) !=
              std::string::npos);
        CHECK(report.find("store: for_each_online() lists") != std::string::npos);
    }
}

TEST_CASE("testing: events as Alibaba JSON Lines", "[testing]") {
    const std::uint64_t seed = run_seed();
    mpt::GeneratorOptions options;
    options.clients = 200;
    options.reconcile_answers = false;
    const mpt::History history = mpt::generate_history(seed, options);

    // Exactly what nlohmann writes, and read back as the same event; odd ids (UTF-8, long,
    // upper-case hex), IPv6 and empty addresses included.
    std::size_t events = 0, utf8 = 0, no_address = 0;
    for (const mpt::Delivery& d : history.deliveries) {
        const std::string line = mpt::to_alibaba_json(d.event);
        CHECK(line == nlohmann::json(d.event).dump());
        const Event back = parse_alibaba_event(line);
        CHECK(back.client_id == d.event.client_id);
        CHECK(back.channel_id == d.event.channel_id);
        CHECK(back.type == d.event.type);
        CHECK(back.time_ms == d.event.time_ms);
        CHECK(back.client_ip == d.event.client_ip);
        ++events;
        if (d.event.channel_id.find('\xd0') != std::string::npos) ++utf8;
        if (d.event.client_ip.empty()) ++no_address;
    }
    CHECK(utf8 > 0);
    CHECK(no_address > 0);

    // Strings are escaped as JSON needs (here in the one field that may hold any byte).
    Event odd{"GID_a@@@b", "c", EventType::tcpclean, 0, std::string("q\" b\\ n\n t\t r\r f\f b\b u\x01\x1f del\x7f \xc3\xa9")};
    CHECK(mpt::to_alibaba_json(odd) == nlohmann::json(odd).dump());
    CHECK(parse_alibaba_event(mpt::to_alibaba_json(odd)).client_ip == odd.client_ip);

    // The lines of the whole history, replayed through the parser, end in its truth.
    const std::string lines = mpt::to_alibaba_json_lines(history);
    std::istringstream in(lines);
    ClientStatusStore<> store(mpt::store_options(options));
    std::string line;
    std::size_t count = 0;
    while (std::getline(in, line)) {
        (void)store.ingest(parse_alibaba_event(line));
        ++count;
    }
    CHECK(count == events);
    const mpt::Comparison result = mpt::compare_store(history, store);
    INFO(result.report());
    CHECK(result.ok());
}
