// Differential test: the store against the TRUE timeline of generated client histories.
//
// Each batch is ~100 clients whose true timelines are generated (<mqtt_presence/testing.hpp>),
// published with clock skew and losses the rules promise to cover, delivered late, reordered and
// duplicated (or in order) and interleaved into one store, together with the broker's answers to
// "is it online?" (reconcile; an online answer arrives some time after its as-of time, before or
// after events on either side of it). The expected results come from the timelines alone. Any
// mismatch prints the seed, the client and its deliveries; rerun with MQTT_PRESENCE_SEED=<seed>
// to reproduce.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <mqtt_presence/mqtt_presence.hpp>

#include <mqtt_presence/testing.hpp>

namespace {

using namespace mqtt_presence;
using namespace mqtt_presence::testing;

constexpr std::uint64_t default_seed = 20191011;
constexpr std::size_t reported_mismatches = 3;
constexpr std::size_t reported_deliveries = 120;

std::uint64_t run_seed() { return mqtt_presence::testing::seed_from_environment(default_seed); }

struct Scenario {
    std::uint64_t id = 0; ///< mixes into the batch seeds: scenarios draw different histories
    HistoryOptions history;
    DeliveryOptions delivery;
    Options store;
    std::size_t batches = 100;
    std::size_t clients_per_batch = 100;
    bool expect_true_flips = false; ///< in-order delivery: went_online edges == true flips
    bool prune_now_and_then = false; ///< maintenance between deliveries (never changes state)
};

struct Tally {
    std::size_t histories = 0;
    std::size_t deliveries = 0;
    std::size_t online = 0;
    std::size_t mismatched_clients = 0;
    std::size_t global_problems = 0;
    std::vector<std::string> reports;
    Counters counters; ///< summed over the batches: which rule paths the run exercised
    /// Online answers applied while the store saw the client online through an older real
    /// channel (rule 8 adds a synthetic channel beside it), or only through the synthetic
    /// channel of an earlier answer (rule 8 moves it forward).
    std::size_t answers_beside_real = 0;
    std::size_t answers_over_synthetic = 0;
};

struct Edges {
    std::size_t went_online = 0;
    std::size_t went_offline = 0;
    bool alternates = true;
    bool online = false; // per the edges seen so far
};

std::string client_report(const Batch& batch, std::size_t client, const std::vector<Delivery>& deliveries,
                          const std::vector<Outcome>& outcomes, const std::string& problems, std::uint64_t seed,
                          std::size_t batch_index) {
    const Timeline& t = batch.timelines[client];
    std::string out = "MQTT_PRESENCE_SEED=" + std::to_string(seed) + " batch " + std::to_string(batch_index) +
                      " (batch seed " + std::to_string(batch.seed) + ") client " + t.client_id + "\n" + problems +
                      "true timeline:\n" + describe(t) + "delivered (in order):\n";
    std::size_t shown = 0;
    for (std::size_t i = 0; i < deliveries.size(); ++i) {
        if (deliveries[i].client != client) continue;
        if (++shown > reported_deliveries) {
            out += "  ...\n";
            break;
        }
        out += "  " + describe(deliveries[i]) + " -> " + std::string(to_string(outcomes[i].status));
        if (outcomes[i].transition != Transition::none) out += " " + std::string(to_string(outcomes[i].transition));
        out += "\n";
    }
    return out;
}

void run_batch(const Scenario& scenario, std::uint64_t seed, std::size_t batch_index, Tally& tally) {
    const std::uint64_t batch_seed = mix_seed(mix_seed(seed, scenario.id), batch_index);
    const Batch batch = generate_batch(batch_seed, batch_index * scenario.clients_per_batch, scenario.clients_per_batch,
                                       scenario.history, scenario.delivery);
    ClientStatusStore<> store(scenario.store);
    std::vector<Edges> edges(batch.timelines.size());
    std::vector<Outcome> outcomes(batch.deliveries.size());
    std::size_t invalid = 0;

    for (std::size_t i = 0; i < batch.deliveries.size(); ++i) {
        const Delivery& d = batch.deliveries[i];
        std::optional<ClientStatus> before;
        if (d.kind == Delivery::Kind::reconcile && d.online) before = store.status(d.event.client_id);
        const Outcome out = d.kind == Delivery::Kind::event ? store.ingest(d.event)
                                                            : store.reconcile(d.event.client_id, d.online, d.as_of_ms);
        if (before && before->online && out.status == Status::applied)
            ++(before->by_reconcile ? tally.answers_over_synthetic : tally.answers_beside_real);
        outcomes[i] = out;
        if (out.status == Status::invalid) ++invalid;
        Edges& e = edges[d.client];
        if (out.went_online()) {
            ++e.went_online;
            if (e.online) e.alternates = false;
            e.online = true;
        } else if (out.went_offline()) {
            ++e.went_offline;
            if (!e.online) e.alternates = false;
            e.online = false;
        }
        if (scenario.prune_now_and_then && i % 997 == 996) (void)store.prune(d.delivered_ms);
    }
    tally.deliveries += batch.deliveries.size();
    tally.histories += batch.timelines.size();

    std::size_t expected_online = 0;
    std::set<std::string> truly_online;
    for (std::size_t c = 0; c < batch.timelines.size(); ++c) {
        const Timeline& t = batch.timelines[c];
        const Truth want = truth(t);
        const Edges& e = edges[c];
        std::string problems;
        const bool online = store.is_online(t.client_id);
        if (online != want.online)
            problems += std::string("  is_online: expected ") + (want.online ? "true" : "false") + ", got " +
                        (online ? "true" : "false") + "\n";
        if (want.online) {
            ++expected_online;
            truly_online.insert(t.client_id);
            const auto status = store.status(t.client_id);
            const std::string expected_channel = want.channel_known ? want.channel_id : std::string();
            if (!status) {
                problems += "  status: client unknown to the store\n";
            } else {
                if (status->current_channel != expected_channel)
                    problems += "  status.current_channel: expected \"" + expected_channel + "\", got \"" +
                                status->current_channel + "\"\n";
                if (status->by_reconcile == want.channel_known)
                    problems += std::string("  status.by_reconcile: expected ") + (want.channel_known ? "false" : "true") + "\n";
            }
        }
        if (!e.alternates) problems += "  edges do not alternate (two went_online or two went_offline in a row)\n";
        const std::size_t net_expected = want.online ? 1 : 0;
        if (e.went_online < e.went_offline || e.went_online - e.went_offline != net_expected)
            problems += "  went_online " + std::to_string(e.went_online) + " - went_offline " +
                        std::to_string(e.went_offline) + " != " + std::to_string(net_expected) + "\n";
        if (scenario.expect_true_flips && e.went_online != want.flips)
            problems += "  went_online edges " + std::to_string(e.went_online) + " != true flips " +
                        std::to_string(want.flips) + "\n";
        if (!problems.empty()) {
            ++tally.mismatched_clients;
            if (tally.reports.size() < reported_mismatches)
                tally.reports.push_back(client_report(batch, c, batch.deliveries, outcomes, problems, seed, batch_index));
        }
    }
    tally.online += expected_online;

    // Store-wide: the O(1) count, a recount, and the counters agree with the truth.
    std::size_t recount = 0;
    std::size_t recount_wrong = 0;
    store.for_each_online([&](std::string_view client_id) {
        ++recount;
        if (truly_online.count(std::string(client_id)) == 0) ++recount_wrong;
    });
    const Counters& counters = store.counters();
    tally.counters.applied += counters.applied;
    tally.counters.superseded += counters.superseded;
    tally.counters.behind_watermark += counters.behind_watermark;
    tally.counters.duplicates += counters.duplicates;
    tally.counters.stale += counters.stale;
    tally.counters.refused += counters.refused;
    tally.counters.reconciles += counters.reconciles;
    tally.counters.went_online += counters.went_online;
    tally.counters.went_offline += counters.went_offline;
    std::string problems;
    if (store.online_count() != expected_online)
        problems += "  online_count() " + std::to_string(store.online_count()) + " != " + std::to_string(expected_online) + "\n";
    if (recount != expected_online || recount_wrong != 0)
        problems += "  for_each_online: " + std::to_string(recount) + " clients, " + std::to_string(recount_wrong) +
                    " not truly online; expected " + std::to_string(expected_online) + "\n";
    if (counters.went_online - counters.went_offline != expected_online)
        problems += "  counters: went_online - went_offline != " + std::to_string(expected_online) + "\n";
    if (invalid != 0 || counters.invalid != 0) problems += "  " + std::to_string(invalid) + " deliveries rejected as invalid\n";
    if (!problems.empty()) {
        ++tally.global_problems;
        if (tally.reports.size() < reported_mismatches)
            tally.reports.push_back("MQTT_PRESENCE_SEED=" + std::to_string(seed) + " batch " + std::to_string(batch_index) +
                                    " (batch seed " + std::to_string(batch.seed) + "): store-wide\n" + problems);
    }
}

Tally run(const Scenario& scenario, std::uint64_t seed) {
    Tally tally;
    for (std::size_t b = 0; b < scenario.batches; ++b) run_batch(scenario, seed, b, tally);
    return tally;
}

void require_clean(const Tally& tally, std::uint64_t seed, std::size_t min_histories) {
    INFO("seed " << seed << " (set MQTT_PRESENCE_SEED=" << seed << " to reproduce)");
    INFO(tally.histories << " histories, " << tally.deliveries << " deliveries, " << tally.online << " online at the end");
    std::string reports;
    for (const std::string& report : tally.reports) reports += report;
    INFO(reports);
    const Counters& c = tally.counters;
    INFO("online answers beside a real channel " << tally.answers_beside_real << ", over a synthetic one "
                                                 << tally.answers_over_synthetic);
    INFO("applied " << c.applied << ", superseded " << c.superseded << ", behind_watermark " << c.behind_watermark
                    << ", duplicates " << c.duplicates << ", stale " << c.stale << ", refused " << c.refused
                    << ", reconciles " << c.reconciles << ", went_online " << c.went_online << ", went_offline "
                    << c.went_offline);
    CHECK(tally.histories >= min_histories);
    CHECK(tally.global_problems == 0);
    REQUIRE(tally.mismatched_clients == 0);
}

} // namespace

TEST_CASE("differential: late, reordered, duplicated, lossy delivery ends in the true state", "[differential]") {
    const std::uint64_t seed = run_seed();
    Scenario scenario;
    scenario.id = 1;
    scenario.batches = 300;
    scenario.prune_now_and_then = true;
    const Tally tally = run(scenario, seed);
    require_clean(tally, seed, 30000);
    // The streams reach the rule paths that make this hard: rule 6 on arrival, reconcile
    // watermarks, redeliveries long after, and both kinds of reconcile answers.
    CHECK(tally.counters.superseded > 0);
    CHECK(tally.counters.behind_watermark > 0);
    CHECK(tally.counters.stale > 0);
    CHECK(tally.counters.duplicates > 0);
    CHECK(tally.counters.reconciles > 0);
    // Online answers arrive anywhere (testing.hpp, deliver): some while older channels still
    // look open, some over the synthetic channel of an earlier answer.
    CHECK(tally.answers_beside_real > 0);
    CHECK(tally.answers_over_synthetic > 0);
}

TEST_CASE("differential: in-order delivery with duplicates shows exactly the true flips", "[differential]") {
    const std::uint64_t seed = run_seed();
    Scenario scenario;
    scenario.id = 2;
    scenario.batches = 100;
    scenario.history.observable_flips = true;
    scenario.delivery.in_order = true;
    scenario.delivery.near_duplicate_probability = 0.15;
    scenario.delivery.late_duplicate_probability = 0.08;
    scenario.expect_true_flips = true;
    const Tally tally = run(scenario, seed);
    require_clean(tally, seed, 10000);
}

TEST_CASE("differential: other store options", "[differential]") {
    const std::uint64_t seed = run_seed();
    Scenario scenario;
    scenario.batches = 20;

    SECTION("a 15 s takeover tolerance") {
        scenario.id = 3;
        scenario.store.takeover_tolerance_ms = 15 * second_ms;
        scenario.history.takeover_tolerance_ms = 15 * second_ms;
    }
    SECTION("takeover disabled: no close is lost") {
        scenario.id = 4;
        scenario.store.takeover = false;
        scenario.history.takeover = false;
    }
    SECTION("a 6 h tombstone retention, 8 tombstones per client") {
        scenario.id = 5;
        scenario.store.tombstone_retention_ms = 6 * hour_ms;
        scenario.store.max_tombstones = 8;
        scenario.delivery.tombstone_retention_ms = 6 * hour_ms;
        scenario.history.many_connections_probability = 0.1;
    }
    SECTION("reconcile answers for most clients, online ones delivered after a random delay") {
        scenario.id = 7;
        scenario.history.reconcile_online_probability = 0.6;
        scenario.history.reconcile_offline_probability = 0.15;
        scenario.delivery.online_answer_anywhere_probability = 1.0;
        scenario.prune_now_and_then = true;
    }
    SECTION("AWS IoT keys: versions reused after an hour offline, rule 13 on") {
        scenario.id = 8;
        scenario.batches = 60;
        scenario.history.versioned_keys_reset_after_ms = hour_ms;
        scenario.store.key_reuse_gap_ms = 10 * minute_ms;
    }
    SECTION("AWS IoT keys in order: exactly the true flips") {
        scenario.id = 9;
        scenario.batches = 30;
        scenario.history.versioned_keys_reset_after_ms = hour_ms;
        scenario.store.key_reuse_gap_ms = 10 * minute_ms;
        scenario.history.observable_flips = true;
        scenario.delivery.in_order = true;
        scenario.expect_true_flips = true;
    }
    SECTION("in order, a 15 s tolerance") {
        scenario.id = 6;
        scenario.store.takeover_tolerance_ms = 15 * second_ms;
        scenario.history.takeover_tolerance_ms = 15 * second_ms;
        scenario.history.observable_flips = true;
        scenario.delivery.in_order = true;
        scenario.expect_true_flips = true;
    }
    const Tally tally = run(scenario, seed);
    require_clean(tally, seed, 2000);
}

// ---------------------------------------------------------------------------------------------
// The generator itself, without the store: its timelines keep their own promises.
// ---------------------------------------------------------------------------------------------

namespace {

struct Violations {
    std::size_t count = 0;
    std::vector<std::string> first;
    void add(const std::string& what) {
        ++count;
        if (first.size() < 5) first.push_back(what);
    }
};

// Checks one timeline against what testing.hpp promises; returns the problems found.
void check_timeline(const Timeline& t, const HistoryOptions& o, Violations& v) {
    const std::string who = t.client_id + ": ";
    const std::int64_t skew = o.max_skew_ms;
    if (t.connections.empty()) return v.add(who + "no connections");
    std::set<std::string> ids;
    std::size_t open = 0;
    const ReconcileCall* offline_answer = nullptr;
    std::vector<const ReconcileCall*> online_answers;
    std::size_t offline_answers = 0;
    for (const ReconcileCall& r : t.reconciles) {
        if (r.online) {
            online_answers.push_back(&r);
        } else {
            offline_answer = &r;
            ++offline_answers;
        }
    }
    if (online_answers.size() > 2 || offline_answers > 1) v.add(who + "more than two online or one offline answer");
    // Every online answer is true of exactly one connection, the same for all of them.
    std::optional<std::size_t> answered;
    for (const ReconcileCall* r : online_answers) {
        std::size_t up = 0;
        for (std::size_t j = 0; j < t.connections.size(); ++j) {
            const Connection& c = t.connections[j];
            if (c.connect_ms >= r->as_of_ms || (c.close_ms && *c.close_ms <= r->as_of_ms)) continue;
            ++up;
            if (answered && *answered != j) v.add(who + "online answers of different connections");
            answered = j;
        }
        if (up != 1) v.add(who + std::to_string(up) + " connections up at a reconcile(online), expected one");
    }

    for (std::size_t i = 0; i < t.connections.size(); ++i) {
        const Connection& c = t.connections[i];
        const bool last = i + 1 == t.connections.size();
        if (!ids.insert(c.channel_id).second) v.add(who + "channel id used twice: " + c.channel_id);
        if (i > 0 && c.connect_ms - t.connections[i - 1].connect_ms < o.min_reconnect_ms)
            v.add(who + "connects not increasing by min_reconnect_ms at #" + std::to_string(i));
        if (c.open_at_end()) {
            ++open;
            if (!last) v.add(who + "a connection other than the last is up at the end");
            if (c.close_lost) v.add(who + "an open connection has a lost close");
        } else if (*c.close_ms <= c.connect_ms) {
            v.add(who + "close not after connect at #" + std::to_string(i));
        }
        if (c.disconnect_ms && (*c.disconnect_ms <= c.connect_ms || (c.close_ms && *c.disconnect_ms >= *c.close_ms)))
            v.add(who + "disconnect outside its connection at #" + std::to_string(i));
        if (!last && *c.close_ms > t.connections[i + 1].connect_ms) {
            // Overlap: the broker drops it shortly after the new connect, and it never sent DISCONNECT.
            if (*c.close_ms - t.connections[i + 1].connect_ms > o.takeover_drop_max_ms)
                v.add(who + "overlapped connection not dropped promptly at #" + std::to_string(i));
            if (c.disconnect_ms) v.add(who + "overlapped connection with a disconnect at #" + std::to_string(i));
            // At most two up at once; and one that rule 6 may take over is gone before anything
            // else happens to the connection that took it over.
            const Connection& next = t.connections[i + 1];
            if (i + 2 < t.connections.size() && *c.close_ms >= t.connections[i + 2].connect_ms)
                v.add(who + "three connections up at once at #" + std::to_string(i));
            if (o.takeover && next.connect_ms - c.connect_ms >= o.takeover_tolerance_ms - 2 * skew - o.lost_close_margin_ms &&
                ((next.disconnect_ms && *c.close_ms >= *next.disconnect_ms) || (next.close_ms && *c.close_ms >= *next.close_ms)))
                v.add(who + "a taken-over connection outlives the one that took it over at #" + std::to_string(i));
        }
        if (c.close_lost) {
            if (last) {
                if (offline_answer == nullptr) v.add(who + "final close lost without a reconcile(offline)");
            } else {
                const Connection& next = t.connections[i + 1];
                if (!o.takeover) v.add(who + "close lost without takeover");
                if (next.connect_ms - c.connect_ms <= o.takeover_tolerance_ms + 2 * skew + o.lost_close_margin_ms)
                    v.add(who + "lost close not superseded beyond tolerance + skew at #" + std::to_string(i));
                if (next.connect_lost) v.add(who + "lost close superseded by a lost connect at #" + std::to_string(i));
                if (o.observable_flips && *c.close_ms < next.connect_ms)
                    v.add(who + "lost close hides an offline period at #" + std::to_string(i));
            }
        }
        if (c.connect_lost) {
            if (!answered || *answered != i) v.add(who + "connect lost without a reconcile(online) within its connection");
            for (std::size_t j = 0; j < i; ++j)
                if (o.observable_flips && *t.connections[j].close_ms > c.connect_ms)
                    v.add(who + "lost connect without an offline period before it");
        }
    }
    if (open > 1) v.add(who + "more than one connection up at the end");
    if (offline_answer != nullptr && !t.connections.back().close_lost) v.add(who + "reconcile(offline) without a lost final close");

    // Published events: one connect per connection, a close per closed one, skew within bounds,
    // valid for the store, and every reconcile answer far enough from every event.
    std::map<std::size_t, std::string> kinds;
    for (const Published& p : t.events) {
        kinds[p.connection] += std::string(to_string(p.event.type)).substr(0, 1);
        const Connection& c = t.connections[p.connection];
        const std::int64_t d = p.event.time_ms - p.true_ms;
        if (d < -skew || d > skew) v.add(who + "skew beyond max_skew_ms");
        if (!validate(p.event).empty()) v.add(who + "invalid event: " + std::string(validate(p.event)));
        if (p.event.client_id != t.client_id || p.event.channel_id != c.channel_id) v.add(who + "event of the wrong channel");
        const bool should_be_lost = p.event.type == EventType::connect ? c.connect_lost : c.close_lost;
        if (p.lost != should_be_lost) v.add(who + "lost flag does not match its connection");
        for (const ReconcileCall& r : t.reconciles)
            if (p.true_ms > r.as_of_ms - skew - 1 && p.true_ms < r.as_of_ms + skew + 1)
                v.add(who + "an event within the skew of a reconcile answer");
        if (offline_answer != nullptr && p.event.time_ms >= offline_answer->as_of_ms)
            v.add(who + "an event after the reconcile(offline) answer");
        if (p.true_ms >= t.end_ms) v.add(who + "an event after end_ms");
    }
    for (std::size_t i = 0; i < t.connections.size(); ++i) {
        const Connection& c = t.connections[i];
        const std::string want = std::string("c") + (c.disconnect_ms ? "d" : "") + (c.close_ms ? "t" : "");
        if (kinds[i] != want) v.add(who + "published " + kinds[i] + " for #" + std::to_string(i) + ", expected " + want);
    }
}

// An independent count of the true flips: connection i flips the client online when no earlier
// connection is still up at its connect (ties count as closed first, as in the event order).
std::size_t count_flips(const Timeline& t) {
    std::size_t flips = 0;
    for (std::size_t i = 0; i < t.connections.size(); ++i) {
        bool up = false;
        for (std::size_t j = 0; j < i; ++j)
            if (t.connections[j].open_at_end() || *t.connections[j].close_ms > t.connections[i].connect_ms) up = true;
        if (!up) ++flips;
    }
    return flips;
}

} // namespace

TEST_CASE("history generator: timelines keep their own invariants", "[history]") {
    const std::uint64_t seed = run_seed();
    INFO("seed " << seed);
    for (const bool observable : {false, true}) {
        HistoryOptions options;
        options.observable_flips = observable;
        options.reconcile_offline_probability = 0.15;
        options.reconcile_online_probability = 0.3;
        Violations v;
        std::size_t lost_closes = 0, lost_connects = 0, offline_answers = 0, overlaps = 0, flaps = 0, open_at_end = 0;
        std::size_t odd_ids = 0, shared_ids = 0, many = 0, confirming_answers = 0, second_answers = 0;
        std::unordered_map<std::string, std::string> owner; // channel id -> first client
        for (std::size_t b = 0; b < 20; ++b) {
            Random rng(mix_seed(seed, 100 + b));
            std::vector<std::string> pool;
            for (std::size_t i = 0; i < 100; ++i) {
                const Timeline t = generate_timeline(rng, make_client_id(rng, b * 100 + i), options.start_ms, options, pool);
                check_timeline(t, options, v);
                const Truth tr = truth(t);
                if (tr.flips != count_flips(t)) v.add(t.client_id + ": truth flips " + std::to_string(tr.flips) + " != " + std::to_string(count_flips(t)));
                if (tr.online != t.connections.back().open_at_end()) v.add(t.client_id + ": truth online is not the last connection's state");
                if (t.connections.size() >= 30) ++many;
                for (std::size_t k = 0; k < t.connections.size(); ++k) {
                    const Connection& c = t.connections[k];
                    pool.push_back(c.channel_id);
                    if (c.close_lost) ++lost_closes;
                    if (c.connect_lost) ++lost_connects;
                    if (c.open_at_end()) ++open_at_end;
                    if (c.close_ms && *c.close_ms - c.connect_ms < options.takeover_tolerance_ms) ++flaps;
                    if (k + 1 < t.connections.size() && *c.close_ms > t.connections[k + 1].connect_ms) ++overlaps;
                    bool lower_hex = c.channel_id.size() == 32;
                    for (const char ch : c.channel_id) lower_hex = lower_hex && ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
                    if (!lower_hex) ++odd_ids;
                    const auto [it, fresh] = owner.emplace(c.channel_id, t.client_id);
                    if (!fresh && it->second != t.client_id) ++shared_ids;
                }
                std::size_t online_answers = 0;
                for (const ReconcileCall& r : t.reconciles) {
                    if (!r.online) {
                        ++offline_answers;
                        continue;
                    }
                    if (++online_answers == 2) ++second_answers;
                    // An answer that only confirms a connection whose connect arrives.
                    for (const Connection& c : t.connections)
                        if (!c.connect_lost && c.connect_ms < r.as_of_ms && (c.open_at_end() || *c.close_ms > r.as_of_ms))
                            ++confirming_answers;
                }
            }
        }
        INFO("observable_flips " << observable);
        std::string first;
        for (const std::string& s : v.first) first += s + "\n";
        INFO(first);
        REQUIRE(v.count == 0);
        // Every feature the differential test relies on does occur.
        CHECK(lost_closes > 0);
        CHECK(lost_connects > 0);
        CHECK(offline_answers > 0);
        CHECK(confirming_answers > 0);
        CHECK(second_answers > 0);
        CHECK(overlaps > 0);
        CHECK(flaps > 0);
        CHECK(open_at_end > 0);
        CHECK(odd_ids > 0);
        CHECK(shared_ids > 0);
        CHECK(many > 0);
    }
}

TEST_CASE("history generator: deliveries keep their own invariants", "[history]") {
    const std::uint64_t seed = run_seed();
    INFO("seed " << seed);
    for (const bool in_order : {false, true}) {
        HistoryOptions history;
        history.observable_flips = in_order;
        history.reconcile_offline_probability = 0.15;
        history.reconcile_online_probability = 0.3;
        DeliveryOptions delivery;
        delivery.in_order = in_order;
        INFO("in_order " << in_order);
        std::size_t near = 0, late = 0, reconciles = 0, reordered = 0;
        std::size_t early_answers = 0, answers_after_newer = 0; // online answers, see deliver()
        Violations v;
        auto key_of = [](const Event& event) {
            Delivery probe;
            probe.event = event;
            return describe(probe).substr(0, describe(probe).find(" (true"));
        };
        for (std::size_t b = 0; b < 10; ++b) {
            const Batch batch = generate_batch(mix_seed(seed, 200 + b), b * 100, 100, history, delivery);
            // Every published event not lost arrives at least once; lost ones never; copies are exact.
            std::vector<std::map<std::string, std::size_t>> arrived(batch.timelines.size());
            std::vector<std::int64_t> newest(batch.timelines.size(), std::numeric_limits<std::int64_t>::min());
            std::vector<std::int64_t> last_true(batch.timelines.size(), std::numeric_limits<std::int64_t>::min());
            std::vector<const Delivery*> online_answers;
            for (std::size_t i = 0; i < batch.deliveries.size(); ++i) {
                const Delivery& d = batch.deliveries[i];
                if (i > 0 && d.delivered_ms < batch.deliveries[i - 1].delivered_ms) v.add("deliveries not sorted by arrival");
                if (d.kind == Delivery::Kind::reconcile) {
                    ++reconciles;
                    if (!d.online) continue;
                    online_answers.push_back(&d);
                    // Where it arrives: before an event older than its T (no copy of it yet), or
                    // after an event newer than it.
                    bool early = false, after_newer = false;
                    for (const Published& p : batch.timelines[d.client].events) {
                        const bool seen = arrived[d.client].count(key_of(p.event)) != 0;
                        if (!p.lost && p.true_ms < d.as_of_ms && !seen) early = true;
                        if (p.true_ms > d.as_of_ms && seen) after_newer = true;
                    }
                    early_answers += early ? 1 : 0;
                    answers_after_newer += after_newer ? 1 : 0;
                    continue;
                }
                const std::string key = key_of(d.event);
                ++arrived[d.client][key];
                if (d.copy == Copy::near_duplicate) ++near;
                if (d.copy == Copy::late_duplicate) {
                    ++late;
                    if (d.event.time_ms < newest[d.client] - delivery.tombstone_retention_ms)
                        v.add(d.event.client_id + ": late duplicate beyond the retention window");
                }
                if (d.copy == Copy::original) {
                    if (in_order && d.true_ms < last_true[d.client]) v.add(d.event.client_id + ": in-order delivery out of true order");
                    if (d.true_ms < last_true[d.client]) ++reordered;
                    last_true[d.client] = std::max(last_true[d.client], d.true_ms);
                }
                newest[d.client] = std::max(newest[d.client], d.event.time_ms);
            }
            for (const Delivery* d : online_answers) {
                if (d->delivered_ms < d->as_of_ms) v.add(d->event.client_id + ": an online answer delivered before its T");
                if (d->delivered_ms > d->as_of_ms + 91 * minute_ms)
                    v.add(d->event.client_id + ": an online answer delivered more than 91 minutes after its T");
                if (in_order && d->delivered_ms != d->as_of_ms) v.add(d->event.client_id + ": in order, an online answer not at its T");
            }
            for (std::size_t c = 0; c < batch.timelines.size(); ++c) {
                const Timeline& t = batch.timelines[c];
                for (const Published& p : t.events) {
                    const std::string key = key_of(p.event);
                    const std::size_t n = arrived[c].count(key) != 0 ? arrived[c][key] : 0;
                    if (p.lost && n != 0) v.add(t.client_id + ": a lost event was delivered: " + key);
                    if (!p.lost && n == 0) v.add(t.client_id + ": an event never arrived: " + key);
                    if (n > 3) v.add(t.client_id + ": more than three copies of " + key);
                }
            }
        }
        std::string first;
        for (const std::string& s : v.first) first += s + "\n";
        INFO(first);
        REQUIRE(v.count == 0);
        CHECK(near > 0);
        CHECK(late > 0);
        CHECK(reconciles > 0);
        CHECK((reordered > 0) == !in_order);
        // Out of order, online answers arrive anywhere; in order, between the events around T.
        CHECK((early_answers > 0) == !in_order);
        CHECK((answers_after_newer > 0) == !in_order);
    }
}

TEST_CASE("history generator: the same seed gives the same history", "[history]") {
    const std::uint64_t seed = run_seed();
    HistoryOptions history;
    DeliveryOptions delivery;
    const Batch a = generate_batch(seed, 0, 50, history, delivery);
    const Batch b = generate_batch(seed, 0, 50, history, delivery);
    const Batch c = generate_batch(seed + 1, 0, 50, history, delivery);
    auto text = [](const Batch& batch) {
        std::string out;
        for (const Timeline& t : batch.timelines) out += describe(t);
        for (const Delivery& d : batch.deliveries) out += describe(d) + " @" + std::to_string(d.delivered_ms) + "\n";
        return out;
    };
    CHECK(text(a) == text(b));
    CHECK(text(a) != text(c));

    // The distributions are ours, built on mt19937_64 whose output the standard fixes, so a seed
    // must give the same numbers with every standard library: pin them.
    Random first(42);
    CHECK(first.bits() == 13930160852258120406ULL); // std::mt19937_64(42)()
    Random r(7);
    std::uint64_t fingerprint = 1469598103934665603ULL; // FNV-1a over 1000 draws of each kind
    bool in_range = true;
    for (int i = 0; i < 1000; ++i) {
        const std::int64_t x = r.between(-5, 5);
        const std::int64_t y = r.spread(3, 5000);
        const bool z = r.chance(0.3);
        const std::size_t w = r.index(7);
        in_range = in_range && x >= -5 && x <= 5 && y >= 3 && y <= 5000 && w < 7;
        const std::uint64_t v = static_cast<std::uint64_t>(x) ^ (static_cast<std::uint64_t>(y) << 8) ^
                                (static_cast<std::uint64_t>(z) << 40) ^ (static_cast<std::uint64_t>(w) << 48);
        fingerprint = (fingerprint ^ v) * 1099511628211ULL;
    }
    CHECK(in_range);
    CHECK(fingerprint == 3090100730684919607ULL);
    CHECK(mix_seed(1, 2) == 17911839290282890590ULL);
}
