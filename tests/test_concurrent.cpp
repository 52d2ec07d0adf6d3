// ClientStatusStore<ConcurrentStorage> under many threads: one generated, delivered history
// (tests/support/history.hpp: reordering, near and late duplicates, reconcile answers) ingested
// by 2, 4 and 8 threads at once, against the single-threaded run of the same deliveries and the
// true timeline.
//
// Two ways to deal the deliveries to the threads:
//  * round-robin: delivery i goes to thread i % threads, so one client's events race on different
//    threads and are applied in an order that changes from run to run. The final state must still
//    be the true one; the number of edges per client may differ from the single-threaded run
//    (a tcpclean applied before its connect gives no edge), but each client's edges must add up
//    to its final state and the store's counters to the recorded outcomes.
//  * pinned: every delivery of a client goes to thread hash(client) % threads, in delivery order,
//    while the clients run concurrently. Each client then sees exactly the single-threaded
//    sequence, so every outcome and every status must equal the single-threaded run's.
// Reader threads (is_online, status, online_count, size, counters, for_each_online) run during
// both; a prune(now) thread runs during the round-robin ingest. Under ThreadSanitizer (.ci/test)
// any race or lock-order problem among them is a finding.
//
// Worker threads never call Catch2 macros (not thread-safe): they record, the main thread checks.
// The seed is MQTT_PRESENCE_SEED from the environment, else a fixed default.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <mqtt_presence/mqtt_presence.hpp>

#include "support/history.hpp"

#if defined(__SANITIZE_THREAD__)
#define MQTT_PRESENCE_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MQTT_PRESENCE_TEST_TSAN 1
#endif
#endif

namespace {

using namespace mqtt_presence;
using namespace mqtt_presence::testing;

// ThreadSanitizer makes every access many times slower: fewer clients keep it well under a minute.
#if defined(MQTT_PRESENCE_TEST_TSAN)
constexpr std::size_t history_clients = 1500;
#else
constexpr std::size_t history_clients = 4000;
#endif
constexpr std::uint64_t default_seed = 20251124;
constexpr std::size_t reader_threads = 2;
// Ingest threads, and the store's shards for them: one lock for everyone, a few, the default.
constexpr std::pair<std::size_t, std::size_t> thread_and_shard_counts[] = {
    {2, 1}, {4, 16}, {8, ConcurrentStorage::default_shards}};
constexpr std::size_t reported_mismatches = 3;

// Round-robin threads run in lockstep epochs (a barrier between epochs) of at most this many
// deliveries, arrived within at most this long. Within an epoch one client's deliveries are
// applied in any order; across epochs, in delivery order. Without the bound a descheduled thread
// could hold an event back behind a whole day of its client's newer ones: a delivery the
// generator never produces and the rules do not promise to absorb (rule 5's retention window;
// history.hpp, `deliver`, keeps late duplicates 4 h inside it). An hour of arrivals is less than
// the generator's own reordering (delays up to 90 minutes).
constexpr std::size_t epoch_deliveries = 256;
constexpr std::int64_t epoch_span_ms = hour_ms;

std::uint64_t run_seed() { return mqtt_presence::testing::seed_from_environment(default_seed); }

Options store_options() {
    Options options;
    // prune(now) runs during ingest; it must only drop tombstones, never forget a client (which
    // would make size() differ from the single-threaded run that does not prune).
    options.forget_offline_after_ms = 1000 * day_ms;
    return options;
}

template <class Store>
Outcome deliver_to(Store& store, const Delivery& d) {
    return d.kind == Delivery::Kind::event ? store.ingest(d.event) : store.reconcile(d.event.client_id, d.online, d.as_of_ms);
}

bool same(const Outcome& a, const Outcome& b) {
    return a.status == b.status && a.transition == b.transition && a.cause == b.cause &&
           a.transition_ms == b.transition_ms && a.error == b.error;
}

bool same(const ClientStatus& a, const ClientStatus& b) {
    return a.online == b.online && a.open_channels == b.open_channels && a.by_reconcile == b.by_reconcile &&
           a.current_channel == b.current_channel && a.client_address == b.client_address &&
           a.connected_since_ms == b.connected_since_ms && a.online_since_ms == b.online_since_ms &&
           a.last_event_ms == b.last_event_ms && a.last_offline_ms == b.last_offline_ms &&
           a.last_offline_graceful == b.last_offline_graceful && a.channels_kept == b.channels_kept;
}

std::string text(const Outcome& out) {
    std::string s(to_string(out.status));
    if (out.transition != Transition::none)
        s += " " + std::string(to_string(out.transition)) + " at " + std::to_string(out.transition_ms) + " (" +
             std::string(to_string(out.cause)) + ")";
    return s;
}

std::set<std::string> online_set(const ClientStatusStore<ConcurrentStorage>& store) {
    std::set<std::string> ids;
    store.for_each_online([&](std::string_view id) { ids.emplace(id); });
    return ids;
}

// ---------------------------------------------------------------------------------------------
// The history and its single-threaded run, generated once per process.
// ---------------------------------------------------------------------------------------------

struct Fixture {
    std::uint64_t seed = 0;
    Batch batch;
    std::vector<Truth> truths;
    std::vector<std::string> ids;                 ///< by client index
    std::unordered_set<std::string> known_ids;    ///< read-only while threads run
    std::size_t events = 0;                       ///< event deliveries
    std::size_t reconciles = 0;                   ///< reconcile deliveries

    // The single-threaded run, in delivery order, over the default storage.
    std::vector<Outcome> outcomes; ///< by delivery index
    std::vector<bool> online;      ///< by client
    std::vector<std::optional<ClientStatus>> statuses;
    std::set<std::string> online_ids;
    std::size_t online_count = 0;
    std::size_t size = 0;
    Counters counters;
    std::size_t mismatches_with_truth = 0;
    std::string report;
};

const Fixture& fixture() {
    static const Fixture fixed = [] {
        Fixture f;
        f.seed = run_seed();
        HistoryOptions history;
        history.reconcile_online_probability = 0.1;
        history.reconcile_offline_probability = 0.1;
        DeliveryOptions delivery;
        delivery.near_duplicate_probability = 0.2;  // more copies of one event racing each other
        delivery.late_duplicate_probability = 0.05;
        f.batch = generate_batch(mix_seed(f.seed, 0xc0c0), 0, history_clients, history, delivery);
        for (const Timeline& t : f.batch.timelines) {
            f.truths.push_back(truth(t));
            f.ids.push_back(t.client_id);
            f.known_ids.insert(t.client_id);
        }
        for (const Delivery& d : f.batch.deliveries) ++(d.kind == Delivery::Kind::event ? f.events : f.reconciles);

        ClientStatusStore<> store(store_options());
        f.outcomes.reserve(f.batch.deliveries.size());
        for (const Delivery& d : f.batch.deliveries) f.outcomes.push_back(deliver_to(store, d));
        for (std::size_t c = 0; c < f.ids.size(); ++c) {
            f.online.push_back(store.is_online(f.ids[c]));
            f.statuses.push_back(store.status(f.ids[c]));
            const Truth& want = f.truths[c];
            const std::string expected_channel = want.online && want.channel_known ? want.channel_id : std::string();
            const bool right = f.online[c] == want.online && f.statuses[c].has_value() &&
                               f.statuses[c]->current_channel == expected_channel;
            if (!right && ++f.mismatches_with_truth <= reported_mismatches)
                f.report += "single-threaded run differs from the true timeline:\n" + describe(f.batch.timelines[c]);
        }
        store.for_each_online([&](std::string_view id) { f.online_ids.emplace(id); });
        f.online_count = store.online_count();
        f.size = store.size();
        f.counters = store.counters();
        return f;
    }();
    return fixed;
}

// ---------------------------------------------------------------------------------------------
// Synchronisation: a start gate and an epoch barrier, from std::mutex + condition_variable.
// ---------------------------------------------------------------------------------------------

class StartGate {
public:
    void wait() {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_cv.wait(lock, [&] { return m_open; });
    }
    void open() {
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            m_open = true;
        }
        m_cv.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_open = false;
};

class Barrier {
public:
    explicit Barrier(std::size_t parties) : m_parties(parties) {}

    /// The last thread to arrive runs on_complete() before any is released.
    template <class Fn>
    void arrive_and_wait(Fn&& on_complete) {
        std::unique_lock<std::mutex> lock(m_mutex);
        const std::size_t generation = m_generation;
        if (++m_arrived == m_parties) {
            on_complete();
            m_arrived = 0;
            ++m_generation;
            lock.unlock();
            m_cv.notify_all();
            return;
        }
        m_cv.wait(lock, [&] { return m_generation != generation; });
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::size_t m_parties;
    std::size_t m_arrived = 0;
    std::size_t m_generation = 0;
};

// ---------------------------------------------------------------------------------------------
// One concurrent run.
// ---------------------------------------------------------------------------------------------

// pinned_batches: pinned, each thread feeding its runs of events (up to batch_events, broken by
// reconcile answers) to ingest_batch(), which applies a run of at least shard_count() events
// shard by shard.
enum class Deal { round_robin, pinned, pinned_batches };
constexpr std::size_t batch_events = 1000;

struct Recorded {
    std::size_t index = 0; ///< into the deliveries
    Outcome outcome;
};

struct ReaderTally {
    std::size_t rounds = 0;
    std::size_t rounds_during_ingest = 0;
    std::size_t problems = 0;
    std::string first_problem;
    std::size_t sink = 0; ///< keeps the reads from being optimised away

    void problem(const std::string& what) {
        if (problems++ == 0) first_problem = what;
    }
};

struct PruneTally {
    std::size_t calls = 0;
    std::size_t tombstones_dropped = 0;
    std::size_t clients_forgotten = 0;
};

struct RunResult {
    std::vector<Outcome> outcomes; ///< by delivery index
    std::vector<std::size_t> applied_times; ///< by delivery index: how often it was recorded
    std::vector<ReaderTally> readers;
    PruneTally prune;
};

// Reads everything a consumer's other threads would read while ingest runs; checks what must
// hold of any snapshot, whatever the interleaving.
void read_during_ingest(const ClientStatusStore<ConcurrentStorage>& store, const Fixture& f, const std::atomic<bool>& done,
                        std::size_t first, ReaderTally& tally) {
    const std::size_t n = f.ids.size();
    std::size_t next = first;
    bool ingesting = true;
    while (ingesting) {
        ingesting = !done.load(std::memory_order_acquire);
        const std::string& id = f.ids[next % n];
        next += 7;
        tally.sink += store.is_online(id) ? 1U : 0U;
        if (const auto status = store.status(id)) {
            // One record under one lock: its parts agree.
            if (status->online != (status->open_channels > 0)) tally.problem(id + ": status online disagrees with open_channels");
            if (status->online && status->by_reconcile != status->current_channel.empty())
                tally.problem(id + ": status by_reconcile disagrees with current_channel");
            if (!status->online && !status->current_channel.empty()) tally.problem(id + ": offline with a current channel");
        }
        if (store.is_online("GID_test@@@nobody") || store.status("GID_test@@@nobody"))
            tally.problem("a client never delivered is known");
        if (tally.rounds % 16 == 0) {
            // A batch large enough to be grouped by shard, ending with a client never delivered.
            std::vector<std::string_view> batch;
            for (std::size_t k = 0; k < 300; ++k) batch.emplace_back(f.ids[(next + 13 * k) % n]);
            batch.emplace_back("GID_test@@@nobody");
            std::vector<char> answers(batch.size(), 2);
            store.is_online_batch(batch.begin(), batch.end(), answers.begin());
            if (answers.back() != 0) tally.problem("is_online_batch: a client never delivered is online");
            for (const char answer : answers) {
                if (answer != 0 && answer != 1) tally.problem("is_online_batch: an id left unanswered");
                tally.sink += static_cast<std::size_t>(answer);
            }
        }
        tally.sink += store.online_count();
        // Records are created, never erased here (nothing is forgotten): at most one per client.
        if (store.size() > n) tally.problem("size() " + std::to_string(store.size()) + " > " + std::to_string(n) + " clients");
        const Counters c = store.counters();
        if (c.events > f.events || c.reconciles > f.reconciles) tally.problem("counters beyond the deliveries");
        if (tally.rounds % 32 == 0) {
            std::unordered_set<std::string> seen;
            store.for_each_online([&](std::string_view online_id) {
                const std::string s(online_id);
                if (f.known_ids.count(s) == 0) tally.problem("for_each_online: unknown id " + s);
                if (!seen.insert(s).second) tally.problem("for_each_online: " + s + " twice");
            });
        }
        ++tally.rounds;
        if (ingesting) ++tally.rounds_during_ingest;
    }
}

void run_concurrently(ClientStatusStore<ConcurrentStorage>& store, const Fixture& f, std::size_t threads, Deal deal,
                      RunResult& result) {
    const std::vector<Delivery>& deliveries = f.batch.deliveries;
    const std::size_t n = deliveries.size();

    // Each ingest thread's share, in delivery order.
    std::vector<std::vector<std::size_t>> share(threads);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t t = deal == Deal::round_robin ? i % threads
                                                        : std::hash<std::string>{}(deliveries[i].event.client_id) % threads;
        share[t].push_back(i);
    }
    // Where each round-robin epoch ends (one past its last delivery).
    std::vector<std::size_t> epoch_ends;
    for (std::size_t begin = 0; begin < n;) {
        std::size_t end = begin + 1;
        while (end < n && end - begin < epoch_deliveries &&
               deliveries[end].delivered_ms - deliveries[begin].delivered_ms <= epoch_span_ms)
            ++end;
        epoch_ends.push_back(end);
        begin = end;
    }
    std::vector<std::vector<Recorded>> recorded(threads);
    for (std::size_t t = 0; t < threads; ++t) recorded[t].reserve(share[t].size());

    StartGate gate;
    Barrier barrier(threads);
    std::atomic<bool> ingest_done{false};

    // Prune: after each epoch, prune(now) with now the arrival time of the last delivery every
    // thread has applied; everything still in flight arrived at or after it. This is what the
    // differential test does between deliveries, here concurrent with the next epoch's ingest.
    std::mutex prune_mutex;
    std::condition_variable prune_cv;
    std::size_t low_water = 0; // deliveries [0, low_water) are applied
    bool prune_stop = false;

    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            gate.wait();
            std::vector<Recorded>& mine = recorded[t];
            if (deal == Deal::pinned) {
                for (const std::size_t i : share[t]) mine.push_back({i, deliver_to(store, deliveries[i])});
                return;
            }
            if (deal == Deal::pinned_batches) {
                std::vector<Event> run;
                std::vector<std::size_t> run_index; // delivery index of run[k]
                const auto flush = [&] {
                    store.ingest_batch(run.begin(), run.end(), [&](const Event& e, const Outcome& out) {
                        mine.push_back({run_index[static_cast<std::size_t>(&e - run.data())], out});
                    });
                    run.clear();
                    run_index.clear();
                };
                for (const std::size_t i : share[t]) {
                    if (deliveries[i].kind != Delivery::Kind::event) {
                        flush();
                        mine.push_back({i, deliver_to(store, deliveries[i])});
                        continue;
                    }
                    run.push_back(deliveries[i].event);
                    run_index.push_back(i);
                    if (run.size() == batch_events) flush();
                }
                flush();
                return;
            }
            std::size_t k = 0;
            for (const std::size_t epoch_end : epoch_ends) {
                for (; k < share[t].size() && share[t][k] < epoch_end; ++k)
                    mine.push_back({share[t][k], deliver_to(store, deliveries[share[t][k]])});
                barrier.arrive_and_wait([&] {
                    {
                        const std::lock_guard<std::mutex> lock(prune_mutex);
                        low_water = epoch_end;
                    }
                    prune_cv.notify_one();
                });
            }
        });
    }
    std::vector<std::thread> helpers;
    result.readers.resize(reader_threads);
    for (std::size_t r = 0; r < reader_threads; ++r) {
        helpers.emplace_back([&, r] {
            gate.wait();
            read_during_ingest(store, f, ingest_done, r * f.ids.size() / reader_threads, result.readers[r]);
        });
    }
    if (deal == Deal::round_robin) {
        helpers.emplace_back([&] {
            gate.wait();
            std::size_t pruned_through = 0;
            for (;;) {
                std::size_t now_index = 0;
                {
                    std::unique_lock<std::mutex> lock(prune_mutex);
                    prune_cv.wait(lock, [&] { return prune_stop || low_water > pruned_through; });
                    if (prune_stop) return;
                    now_index = low_water;
                }
                const PruneReport report = store.prune(deliveries[now_index - 1].delivered_ms);
                ++result.prune.calls;
                result.prune.tombstones_dropped += report.tombstones_dropped;
                result.prune.clients_forgotten += report.clients_forgotten;
                pruned_through = now_index;
            }
        });
    }

    gate.open();
    for (std::thread& th : pool) th.join();
    ingest_done.store(true, std::memory_order_release);
    {
        const std::lock_guard<std::mutex> lock(prune_mutex);
        prune_stop = true;
    }
    prune_cv.notify_all();
    for (std::thread& th : helpers) th.join();

    result.outcomes.assign(n, Outcome{});
    result.applied_times.assign(n, 0);
    for (const std::vector<Recorded>& mine : recorded) {
        for (const Recorded& r : mine) {
            result.outcomes[r.index] = r.outcome;
            ++result.applied_times[r.index];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by both deals.
// ---------------------------------------------------------------------------------------------

struct Edges {
    std::size_t went_online = 0;
    std::size_t went_offline = 0;
};

std::string client_report(const Fixture& f, std::size_t client, const RunResult& run, const std::string& problems) {
    std::string out = "client " + f.ids[client] + ":\n" + problems + "true timeline:\n" + describe(f.batch.timelines[client]) +
                      "delivered (single-threaded outcome | concurrent outcome):\n";
    std::size_t shown = 0;
    for (std::size_t i = 0; i < f.batch.deliveries.size(); ++i) {
        if (f.batch.deliveries[i].client != client) continue;
        if (++shown > 80) {
            out += "  ...\n";
            break;
        }
        out += "  #" + std::to_string(i) + " " + describe(f.batch.deliveries[i]) + " -> " + text(f.outcomes[i]) + " | " +
               text(run.outcomes[i]) + "\n";
    }
    return out;
}

// Everything that must hold after any concurrent run: final state, counters, per-client edges,
// and nothing odd seen by the readers. Returns how many reader rounds overlapped the ingest.
std::size_t check_run(const ClientStatusStore<ConcurrentStorage>& store, const Fixture& f, const RunResult& run) {
    const std::vector<Delivery>& deliveries = f.batch.deliveries;

    std::size_t not_once = 0;
    for (const std::size_t times : run.applied_times) not_once += times != 1 ? 1U : 0U;
    REQUIRE(not_once == 0);

    // Final state against the single-threaded run and the truth, client by client; and each
    // client's edges add up to its final state.
    std::vector<Edges> edges(f.ids.size());
    for (std::size_t i = 0; i < deliveries.size(); ++i) {
        Edges& e = edges[deliveries[i].client];
        if (run.outcomes[i].went_online()) ++e.went_online;
        if (run.outcomes[i].went_offline()) ++e.went_offline;
    }
    std::size_t mismatched = 0;
    std::string reports;
    for (std::size_t c = 0; c < f.ids.size(); ++c) {
        std::string problems;
        const bool online = store.is_online(f.ids[c]);
        const auto status = store.status(f.ids[c]);
        if (online != f.online[c] || online != f.truths[c].online)
            problems += std::string("  is_online ") + (online ? "true" : "false") + ", single-threaded " +
                        (f.online[c] ? "true" : "false") + ", true timeline " + (f.truths[c].online ? "true" : "false") + "\n";
        if (!status || !f.statuses[c] || status->current_channel != f.statuses[c]->current_channel)
            problems += "  current_channel \"" + (status ? status->current_channel : std::string("(unknown)")) +
                        "\", single-threaded \"" + (f.statuses[c] ? f.statuses[c]->current_channel : std::string("(unknown)")) +
                        "\"\n";
        const Edges& e = edges[c];
        const long long net = static_cast<long long>(e.went_online) - static_cast<long long>(e.went_offline);
        if (net != (online ? 1 : 0))
            problems += "  went_online " + std::to_string(e.went_online) + " - went_offline " + std::to_string(e.went_offline) +
                        " does not match the final state\n";
        if (!problems.empty() && ++mismatched <= reported_mismatches) reports += client_report(f, c, run, problems);
    }
    INFO(reports);
    CHECK(mismatched == 0);

    CHECK(store.online_count() == f.online_count);
    CHECK(store.size() == f.size);
    CHECK(online_set(store) == f.online_ids);

    // The counters add up, and to the outcomes the threads saw.
    Counters seen;
    for (std::size_t i = 0; i < deliveries.size(); ++i) {
        const Outcome& out = run.outcomes[i];
        if (out.went_online()) ++seen.went_online;
        if (out.went_offline()) ++seen.went_offline;
        if (deliveries[i].kind == Delivery::Kind::reconcile) {
            ++seen.reconciles;
            continue;
        }
        ++seen.events;
        switch (out.status) {
        case Status::applied: ++seen.applied; break;
        case Status::superseded: ++seen.superseded; break;
        case Status::behind_watermark: ++seen.behind_watermark; break;
        case Status::duplicate: ++seen.duplicates; break;
        case Status::stale: ++seen.stale; break;
        case Status::refused: ++seen.refused; break;
        case Status::invalid: ++seen.invalid; break;
        }
    }
    const Counters c = store.counters();
    CHECK(c.events == f.events);
    CHECK(c.reconciles == f.reconciles);
    CHECK(c.applied + c.superseded + c.behind_watermark + c.duplicates + c.stale + c.refused + c.invalid == c.events);
    CHECK(c.events == seen.events);
    CHECK(c.applied == seen.applied);
    CHECK(c.superseded == seen.superseded);
    CHECK(c.behind_watermark == seen.behind_watermark);
    CHECK(c.duplicates == seen.duplicates);
    CHECK(c.stale == seen.stale);
    CHECK(c.refused == seen.refused);
    CHECK(c.invalid == 0);
    CHECK(c.reconciles == seen.reconciles);
    CHECK(c.went_online == seen.went_online);
    CHECK(c.went_offline == seen.went_offline);
    CHECK(c.went_online - c.went_offline == store.online_count());

    std::size_t rounds_during_ingest = 0;
    for (const ReaderTally& reader : run.readers) {
        INFO("reader: " << reader.first_problem);
        CHECK(reader.problems == 0);
        rounds_during_ingest += reader.rounds_during_ingest;
    }
    return rounds_during_ingest;
}

void require_reference(const Fixture& f) {
    INFO("seed " << f.seed << " (set MQTT_PRESENCE_SEED=" << f.seed << " to reproduce)");
    INFO(f.report);
    REQUIRE(f.mismatches_with_truth == 0);
    REQUIRE(f.batch.deliveries.size() > 10 * history_clients);
    // The history exercises what makes concurrent delivery hard.
    REQUIRE(f.counters.duplicates > 0);
    REQUIRE(f.counters.superseded > 0);
    REQUIRE(f.counters.reconciles > 0);
    REQUIRE(f.counters.went_online - f.counters.went_offline == f.online_count);
}

// Pairs of one client's deliveries that round-robin hands to different threads at the same time:
// delivery i and a later one of the same client within the next `threads` deliveries.
std::size_t racing_pairs(const Fixture& f, std::size_t threads) {
    const std::vector<Delivery>& d = f.batch.deliveries;
    std::size_t pairs = 0;
    for (std::size_t i = 0; i < d.size(); ++i)
        for (std::size_t j = i + 1; j < std::min(d.size(), i + threads); ++j) pairs += d[i].client == d[j].client ? 1U : 0U;
    return pairs;
}

} // namespace

TEST_CASE("concurrent: round-robin ingest from 2, 4 and 8 threads ends in the single-threaded, true state",
          "[concurrent]") {
    const Fixture& f = fixture();
    require_reference(f);
    PruneTally pruned;
    std::size_t reads_during_ingest = 0;
    for (const auto& [threads, shards] : thread_and_shard_counts) {
        INFO("seed " << f.seed << " (set MQTT_PRESENCE_SEED=" << f.seed << " to reproduce), " << threads
                     << " threads, " << shards << " shards, round-robin");
        // One client's events do race: some of them are dealt to different threads side by side.
        CHECK(racing_pairs(f, threads) > 0);
        ClientStatusStore<ConcurrentStorage> store(store_options(), ConcurrentStorage(shards));
        RunResult run;
        run_concurrently(store, f, threads, Deal::round_robin, run);
        reads_during_ingest += check_run(store, f, run);
        CHECK(run.prune.clients_forgotten == 0);
        pruned.calls += run.prune.calls;
        pruned.tombstones_dropped += run.prune.tombstones_dropped;
    }
    // The readers did read, and the prune thread did prune, during ingest.
    CHECK(reads_during_ingest > 0);
    INFO(pruned.calls << " prune calls");
    CHECK(pruned.tombstones_dropped > 0);
}

TEST_CASE("concurrent: each client pinned to one of 2, 4 and 8 threads gives exactly the single-threaded outcomes",
          "[concurrent]") {
    const Fixture& f = fixture();
    require_reference(f);
    std::size_t reads_during_ingest = 0;
    // Through ingest() and reconcile() one delivery at a time, and through ingest_batch().
    for (const Deal deal : {Deal::pinned, Deal::pinned_batches}) {
        for (const auto& [threads, shards] : thread_and_shard_counts) {
            INFO("seed " << f.seed << " (set MQTT_PRESENCE_SEED=" << f.seed << " to reproduce), " << threads
                         << " threads, " << shards << " shards, " << (deal == Deal::pinned ? "pinned" : "pinned, in batches"));
            ClientStatusStore<ConcurrentStorage> store(store_options(), ConcurrentStorage(shards));
            RunResult run;
            run_concurrently(store, f, threads, deal, run);
            reads_during_ingest += check_run(store, f, run);

            // Per client, the whole sequence of outcomes and the final status are the single-threaded
            // run's; so are the counters.
            std::size_t mismatched = 0;
            std::string reports;
            std::vector<bool> differs(f.ids.size(), false);
            for (std::size_t i = 0; i < f.batch.deliveries.size(); ++i)
                if (!same(run.outcomes[i], f.outcomes[i])) differs[f.batch.deliveries[i].client] = true;
            for (std::size_t c = 0; c < f.ids.size(); ++c) {
                const auto status = store.status(f.ids[c]);
                const bool status_differs = status.has_value() != f.statuses[c].has_value() ||
                                            (status && !same(*status, *f.statuses[c]));
                if ((differs[c] || status_differs) && ++mismatched <= reported_mismatches)
                    reports += client_report(f, c, run, differs[c] ? "  outcomes differ\n" : "  status differs\n");
            }
            INFO(reports);
            CHECK(mismatched == 0);
            const Counters c = store.counters();
            CHECK(c.applied == f.counters.applied);
            CHECK(c.superseded == f.counters.superseded);
            CHECK(c.behind_watermark == f.counters.behind_watermark);
            CHECK(c.duplicates == f.counters.duplicates);
            CHECK(c.stale == f.counters.stale);
            CHECK(c.refused == f.counters.refused);
            CHECK(c.went_online == f.counters.went_online);
            CHECK(c.went_offline == f.counters.went_offline);
        }
    }
    CHECK(reads_during_ingest > 0);
}

TEST_CASE("concurrent: the transition hook reports each flip once, one client's edges in order", "[concurrent][hook]") {
    const Fixture& f = fixture();
    require_reference(f);
    std::unordered_map<std::string, std::size_t> index_of;
    for (std::size_t c = 0; c < f.ids.size(); ++c) index_of.emplace(f.ids[c], c);

    struct Seen {
        bool online;
        std::int64_t time_ms;
        Cause cause;
    };
    // One vector per client, written by the hook under the client's shard lock only.
    std::vector<std::vector<Seen>> edges(f.ids.size());
    std::atomic<std::size_t> unknown{0};
    Debouncer debouncer(0);

    ClientStatusStore<ConcurrentStorage> store(store_options(), ConcurrentStorage(16));
    store.on_transition([&](const Edge& e) {
        const auto it = index_of.find(std::string(e.client_id));
        if (it == index_of.end()) {
            unknown.fetch_add(1, std::memory_order_relaxed);
            return;
        }
        edges[it->second].push_back(Seen{e.online, e.time_ms, e.cause});
        debouncer.observe(e);
    });
    // A poller reads the debouncer while the hook feeds it (now 0: nothing is ever due).
    std::atomic<bool> stop{false};
    std::size_t polls = 0;
    std::thread poller([&] {
        while (!stop.load(std::memory_order_acquire)) {
            polls += debouncer.poll(0).size() + 1;
            (void)debouncer.waiting();
        }
    });
    RunResult run;
    run_concurrently(store, f, 4, Deal::round_robin, run);
    (void)check_run(store, f, run);
    // The group counts, kept from the edges of 4 threads, equal a recount.
    std::map<std::string, std::size_t> recount, counted;
    for (const std::string& id : f.online_ids) ++recount[std::string(group_of(id))];
    store.for_each_group([&](std::string_view group, std::size_t online) { counted.emplace(group, online); });
    CHECK(counted == recount);
    for (const auto& [group, online] : recount) CHECK(store.online_count(group) == online);

    // Expiry from two threads at once: every client still online goes offline exactly once.
    const std::size_t online_before = store.online_count();
    const std::int64_t far = f.batch.deliveries.back().delivered_ms + 1000 * day_ms;
    ExpiryReport reports[2];
    std::thread a([&] { reports[0] = store.expire_silent(far, hour_ms); });
    std::thread b([&] { reports[1] = store.expire_silent(far, hour_ms); });
    a.join();
    b.join();
    stop.store(true, std::memory_order_release);
    poller.join();
    CHECK(polls > 0);
    CHECK(reports[0].clients_gone_offline + reports[1].clients_gone_offline == online_before);
    CHECK(store.online_count() == 0);

    CHECK(unknown.load() == 0);
    std::size_t not_alternating = 0, count_mismatch = 0, expiry_edges = 0;
    std::vector<std::size_t> outcome_on(f.ids.size(), 0), outcome_off(f.ids.size(), 0);
    for (std::size_t i = 0; i < f.batch.deliveries.size(); ++i) {
        const Outcome& out = run.outcomes[i];
        if (out.went_online()) ++outcome_on[f.batch.deliveries[i].client];
        if (out.went_offline()) ++outcome_off[f.batch.deliveries[i].client];
    }
    std::set<std::string> offline_after_edges;
    for (std::size_t c = 0; c < f.ids.size(); ++c) {
        std::size_t on = 0, off = 0;
        for (std::size_t k = 0; k < edges[c].size(); ++k) {
            const Seen& s = edges[c][k];
            if (s.online != (k % 2 == 0)) ++not_alternating; // online, offline, online, ...
            ++(s.online ? on : off);
            if (s.cause == Cause::expiry) {
                ++expiry_edges;
                if (k + 1 != edges[c].size()) ++not_alternating; // expiry came last
            }
        }
        const std::size_t expired = !edges[c].empty() && edges[c].back().cause == Cause::expiry ? 1 : 0;
        if (on != outcome_on[c] || off - expired != outcome_off[c]) ++count_mismatch;
        if (!edges[c].empty()) offline_after_edges.insert(f.ids[c]);
    }
    CHECK(not_alternating == 0);
    CHECK(count_mismatch == 0);
    CHECK(expiry_edges == online_before);
    // Every client that ever went offline is due once, now that all are offline.
    std::set<std::string> due;
    for (const Debouncer::Due& d : debouncer.poll(far)) CHECK(due.insert(d.client_id).second);
    CHECK(due == offline_after_edges);
    CHECK(debouncer.poll(far).empty());
}

TEST_CASE("concurrent: snapshots saved while threads ingest are whole and load", "[concurrent][snapshot]") {
    const Fixture& f = fixture();
    require_reference(f);
    ClientStatusStore<ConcurrentStorage> store(store_options(), ConcurrentStorage(16));
    std::atomic<bool> done{false};
    std::vector<std::string> saved;
    std::thread saver([&] {
        while (!done.load(std::memory_order_acquire) || saved.empty()) {
            std::ostringstream out;
            (void)store.save_snapshot(out, "save " + std::to_string(saved.size()));
            saved.push_back(out.str());
        }
    });
    RunResult run;
    run_concurrently(store, f, 2, Deal::pinned, run);
    done.store(true, std::memory_order_release);
    saver.join();
    (void)check_run(store, f, run);
    // Each snapshot taken during the ingest is well-formed and loads (records are saved whole,
    // each under its shard's lock), into either storage.
    std::size_t loaded = 0;
    for (std::size_t i = 0; i < saved.size(); ++i) {
        ClientStatusStore<> fresh(store_options());
        std::istringstream in(saved[i]);
        INFO("snapshot " << i << " of " << saved.size());
        CHECK(fresh.load_snapshot(in).metadata == "save " + std::to_string(i));
        CHECK(fresh.size() <= f.size);
        ++loaded;
    }
    CHECK(loaded == saved.size());
    // Once the ingest is over, a snapshot is the store, exactly.
    std::ostringstream out;
    (void)store.save_snapshot(out);
    ClientStatusStore<ConcurrentStorage> copy(store_options());
    std::istringstream in(out.str());
    (void)copy.load_snapshot(in);
    CHECK(online_set(copy) == f.online_ids);
    CHECK(copy.online_count() == f.online_count);
    CHECK(copy.size() == f.size);
    for (std::size_t c = 0; c < f.ids.size(); c += 7) {
        const auto a = copy.status(f.ids[c]);
        const auto b = store.status(f.ids[c]);
        CHECK(a.has_value() == b.has_value());
        if (a && b) CHECK(same(*a, *b));
    }
}

TEST_CASE("concurrent: max_clients holds while 4 threads bring new clients at once", "[concurrent][cap]") {
    using namespace mqtt_presence;
    constexpr std::size_t cap = 1000;
    constexpr std::size_t per_thread = 2000;
    constexpr std::size_t threads = 4;
    Options options;
    options.max_clients = cap;
    ClientStatusStore<ConcurrentStorage> store(options, ConcurrentStorage(16));
    std::atomic<std::size_t> max_seen{0};
    std::vector<std::size_t> kept(threads, 0), refused(threads, 0);
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < threads; ++w) {
        workers.emplace_back([&, w] {
            for (std::size_t i = 0; i < per_thread; ++i) {
                const Event e{"GID_cap@@@t" + std::to_string(w) + "-" + std::to_string(i),
                              "0123456789abcdef0123456789abcdef", EventType::connect,
                              1764000000000 + static_cast<std::int64_t>(i), ""};
                const Outcome out = store.ingest(e);
                (out.status == Status::refused ? refused[w] : kept[w]) += 1;
                std::size_t seen = store.size();
                std::size_t prev = max_seen.load();
                while (seen > prev && !max_seen.compare_exchange_weak(prev, seen)) {}
            }
        });
    }
    for (std::thread& t : workers) t.join();
    std::size_t kept_total = 0, refused_total = 0;
    for (std::size_t w = 0; w < threads; ++w) kept_total += kept[w], refused_total += refused[w];
    // Sizes read while others insert may count records about to be refused and erased again
    // (the shards are summed one after the other), so only what is kept is bounded.
    INFO("largest size() read during the ingest: " << max_seen.load());
    CHECK(store.size() == kept_total);
    CHECK(store.size() <= cap);
    // Both racing for the last places may be refused; never more than one place per other thread.
    CHECK(store.size() + threads - 1 >= cap);
    CHECK(store.online_count() == kept_total);
    CHECK(kept_total + refused_total == threads * per_thread);
    CHECK(store.counters().refused == refused_total);
}

TEST_CASE("concurrent: a large ingest_batch under max_clients admits the clients ingest() would", "[concurrent][cap]") {
    // Which clients take the last places depends on the order of their first events: with
    // max_clients set, a batch is applied in input order even when it spans every shard.
    const Fixture& f = fixture();
    std::vector<Event> events;
    for (const Delivery& d : f.batch.deliveries)
        if (d.kind == Delivery::Kind::event) events.push_back(d.event);
    Options options = store_options();
    options.max_clients = f.ids.size() / 2;
    ClientStatusStore<> one_by_one(options);
    std::vector<Outcome> expected;
    for (const Event& e : events) expected.push_back(one_by_one.ingest(e));
    ClientStatusStore<ConcurrentStorage> batched(options, ConcurrentStorage(16));
    std::vector<Outcome> got;
    bool in_order = true;
    batched.ingest_batch(events.begin(), events.end(), [&](const Event& e, const Outcome& out) {
        in_order = in_order && &e == &events[got.size()];
        got.push_back(out);
    });
    CHECK(in_order);
    REQUIRE(got.size() == expected.size());
    std::size_t differing = 0;
    for (std::size_t i = 0; i < got.size(); ++i) differing += same(got[i], expected[i]) ? 0U : 1U;
    CHECK(differing == 0);
    CHECK(batched.counters().refused > 0);
    CHECK(batched.size() == options.max_clients);
    std::set<std::string> expected_online;
    one_by_one.for_each_online([&](std::string_view id) { expected_online.emplace(id); });
    CHECK(online_set(batched) == expected_online);
}

TEST_CASE("concurrent: after a hook throws in a large ingest_batch, redelivering the batch ends as ingest() would",
          "[concurrent][hook]") {
    // Applied shard by shard, the batch is cut at the throw in no particular place: on_outcome has
    // run for exactly the events applied before it (each once), and the queue's redelivery of
    // the whole batch brings the store to the state of the batch applied once.
    const Fixture& f = fixture();
    std::vector<Event> events;
    for (const Delivery& d : f.batch.deliveries)
        if (d.kind == Delivery::Kind::event) events.push_back(d.event);
    REQUIRE(events.size() > 2 * ConcurrentStorage::default_shards);
    ClientStatusStore<> reference(store_options());
    for (const Event& e : events) (void)reference.ingest(e);

    ClientStatusStore<ConcurrentStorage> store(store_options());
    std::size_t edges = 0;
    store.on_transition([&](const Edge&) {
        if (++edges == 500) throw std::runtime_error("the consumer's hook failed");
    });
    std::vector<int> reported(events.size(), 0);
    const auto note = [&](const Event& e, const Outcome&) { ++reported[static_cast<std::size_t>(&e - events.data())]; };
    CHECK_THROWS_AS(store.ingest_batch(events.begin(), events.end(), note), std::runtime_error);
    const auto once = static_cast<std::size_t>(std::count(reported.begin(), reported.end(), 1));
    CHECK(once > 0);
    CHECK(once < events.size());
    CHECK(static_cast<std::size_t>(std::count(reported.begin(), reported.end(), 0)) + once == events.size());
    CHECK(store.counters().events == once + 1); // and the event whose hook threw, applied

    store.ingest_batch(events.begin(), events.end());
    std::set<std::string> expected_online;
    reference.for_each_online([&](std::string_view id) { expected_online.emplace(id); });
    CHECK(online_set(store) == expected_online);
    CHECK(store.online_count() == reference.online_count());
    CHECK(store.size() == reference.size());
}
