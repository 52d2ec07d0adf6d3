// mqtt_presence_bench_ingest: parsed-event ingest into ClientStatusStore<> (InMemoryStorage) on
// one thread against a bare hash-map loop, is_online latency, and memory per client, at about
// 1 M clients (the DESIGN §5 targets on ingest, is_online and memory).
//
//   mqtt_presence_bench_ingest [--clients N] [--runs N] [--seed N]
//
// Three phases, in this order; everything runs on the main thread except the generation.
//
// 1. Memory, first, while the heap holds no memory freed by anything else (which a store could
//    reuse without the resident size growing). From a measured RSS (/proc/self/statm), a fresh,
//    unreserved store ingests exactly one connect for each of --clients distinct clients: ids of
//    the generator's forms ("GID_test@@@dev00042", ...), 32-hex-digit channel ids, IPv4
//    "a.b.c.d:port" addresses (bench/stream.hpp, make_connect). The events are written one at a
//    time into one reused Event, so no event vector exists to be counted. RSS growth ÷ clients
//    is the store's cost per online client, allocator overhead and hash-table buckets included.
//    Then, the store still alive, the floor's map (below) takes the same connects the same way,
//    for comparison. Also printed: sizeof(ClientRecord), sizeof(Channel), the size of the
//    storage's stored entry when the storage names it (a member type entry_type or value_type;
//    "n/a" otherwise), and storage().memory_bytes() when the storage has that member ("n/a"
//    otherwise). Both are freed before phase 2.
//
// 2. Ingest. The stream (bench/stream.hpp: about 16 events per client, late, reordered and
//    duplicated) is generated once, on every core, not timed. The events are then copied once
//    in stream order, so that each event's strings lie in memory after the previous event's:
//    reading the input is then a sequential scan, as reading a parser's reused Event would be,
//    and the timing is of the store (the generator leaves the strings scattered over the heap
//    in generation order, which would add cache misses to every event of every configuration).
//    The scattered copy is freed and its memory returned to the system before any timing.
//    Configurations:
//     - ClientStatusStore<>, a loop of ingest(event) over the whole stream;
//     - ClientStatusStore<>, one ingest_batch(begin, end) over the whole stream (it prefetches
//       only with a storage that offers prefetch(); the report says whether this one does);
//     - the floor: one hash-map update per event keyed by client id, keeping the newest time
//       (std::unordered_map<std::string, std::int64_t>; the key is assigned into one reused
//       std::string, so a lookup does not allocate). FloorMap is a template over the map, so
//       another map can be timed as a floor too;
//     - the flat floor: the same update in the library's own hash table (detail::FlatTable,
//       the one under InMemoryStorage) holding an 8-byte time instead of a ClientRecord: the
//       store's cost beyond its table is the ratio to it.
//    The same four in batches ("1024s"): the stream is cut into batches of 1,024 events, and
//    each batch is copied into one reused std::vector<Event> (not timed) just before the
//    configuration runs on it (timed; the times of the batches are summed). The events are then
//    in cache, as they are when a consumer ingests a batch it has just parsed (the replay tool
//    reads and parses batches so), and the figure is the store's cost without the cost of
//    reading a multi-gigabyte input from memory, which the whole-stream rows include. Each
//    batch of ingest_batch() starts its prefetching anew.
//    Each with the map reserved for --clients clients beforehand (storage().reserve, when the
//    storage has it) and, for ingest() and the floors over the whole stream, also unreserved
//    (growing, as in production). One measurement: a fresh store (or map), reserved or not,
//    then the clock runs from the first event to the last: not generation, not construction or
//    reservation, not destruction. Every configuration is measured --runs times, the configurations taking turns
//    so that a burst of load from elsewhere hits them all alike; the table gives the median and
//    the range of wall-clock ns per event, events/s from the median, the median CPU time per
//    event of the thread (CLOCK_THREAD_CPUTIME_ID: tells a slower program from a busier
//    machine), and two ratios to the floor of the same reservation and input (whole stream or
//    batches): of the medians, and the median over rounds of the ratio within a round (paired:
//    both measured in the same round, so under much the same load).
//
// 3. is_online latency, on one store that has ingested the whole stream (not timed) and holds
//    every client of it. Queries are known client ids chosen uniformly at random (seeded), laid
//    out back to back in one buffer beforehand, so that reading the next id is a sequential
//    read and not a cache miss of its own. 1,000 batches of 1,000 queries per run; each batch is
//    timed as a whole (steady_clock around the batch) and gives ns per query; the table gives
//    the median over batches (median of the runs' medians, and their range) and the 99th
//    percentile over batches (median of the runs'): a percentile of batch means, not of single
//    queries. Three variants:
//     - independent: the ids are fixed beforehand; the CPU may overlap consecutive lookups, so
//       this is throughput per query;
//     - dependent chain: each step has two candidate ids and the previous answer picks one (as
//       an index, no branch in this program), so the next lookup's key is known only once the
//       previous lookup has answered: closer to the latency of an isolated query (a CPU may
//       still run ahead where it predicts the branches inside is_online correctly).
//     - batch: the independent ids, each batch of 1,000 asked in one is_online_batch() call
//       (which hashes each id once and fetches slots, records and channels ids ahead): the
//       throughput a caller checking many clients at once gets.
//    The independent and batch variants also run on a second store, over ConcurrentStorage
//    (256 shards), built from the same stream: what a multi-threaded consumer's queries cost
//    on one thread (its is_online_batch groups each batch's ids by shard).
//    The same queries against the floor's map (built from the same stream) give the baseline
//    and the ratio: a find by client id that answers one bit of the entry (the parity of the
//    newest time), as is_online answers one bit of the record, so that the floor's chain too
//    follows answers the CPU cannot guess.
//
// 4. The machine's memory latency, for scale: a chase through a random cycle of pointers, one
//    per 64-byte line, over 256 MiB (far beyond the caches), each load's address coming from
//    the load before: ns per dependent cache miss, median of --runs chases of 2 M steps. Once
//    in memory advised for huge pages (as the store's tables are), once in ordinary 4 KiB
//    pages. A lookup at 1 M clients that takes k dependent misses cannot be faster than k
//    times the first figure.
//
// Checks: every ingest measurement must end with the same clients, online count and counters
// (ingest() and ingest_batch() alike; no event invalid), every floor measurement with the same
// number of keys, the memory phase with every client online, every query configuration with the
// same answers in every run, and the floor's map must know every queried id; else the exit
// status is 1.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <mqtt_presence/detail/large_block.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

#include "stream.hpp"

namespace {

using mqtt_presence::Event;
using Store = mqtt_presence::ClientStatusStore<>;
using SharedStore = mqtt_presence::ClientStatusStore<mqtt_presence::ConcurrentStorage>;
using Storage = Store::storage_type;
namespace bench = mqtt_presence::bench;
using bench::Clock;

constexpr const char* usage =
    "usage: mqtt_presence_bench_ingest [--clients N] [--runs N] [--seed N]\n"
    "  --clients N  clients in the generated stream (default 1000000; about 16 events each)\n"
    "  --runs N     measurements per configuration; the table gives the median (default 5)\n"
    "  --seed N     seed of the generated stream and of the queries (default 1)\n";

using Args = bench::StreamArgs;

// ---------------------------------------------------------------------------------------------
// What the storage offers, detected so that this program compiles with or without it
// ---------------------------------------------------------------------------------------------

template <class S, class = void>
struct has_reserve : std::false_type {};
template <class S>
struct has_reserve<S, std::void_t<decltype(std::declval<S&>().reserve(std::size_t{}))>> : std::true_type {};

template <class S, class = void>
struct has_memory_bytes : std::false_type {};
template <class S>
struct has_memory_bytes<
    S, std::enable_if_t<std::is_convertible_v<decltype(std::declval<const S&>().memory_bytes()), std::size_t>>>
    : std::true_type {};

template <class S, class = void>
struct has_entry_type : std::false_type {};
template <class S>
struct has_entry_type<S, std::void_t<typename S::entry_type>> : std::true_type {};

template <class S, class = void>
struct has_value_type : std::false_type {};
template <class S>
struct has_value_type<S, std::void_t<typename S::value_type>> : std::true_type {};

template <class S>
bool reserve_storage(S& storage, std::size_t clients) {
    if constexpr (has_reserve<S>::value) {
        storage.reserve(clients);
        return true;
    } else {
        (void)storage;
        (void)clients;
        return false;
    }
}

template <class S>
std::optional<std::size_t> memory_bytes(const S& storage) {
    if constexpr (has_memory_bytes<S>::value) {
        return static_cast<std::size_t>(storage.memory_bytes());
    } else {
        (void)storage;
        return std::nullopt;
    }
}

// sizeof the storage's stored entry and the member type that names it, if it names one.
template <class S>
std::pair<std::optional<std::size_t>, const char*> stored_entry() {
    if constexpr (has_entry_type<S>::value) return {sizeof(typename S::entry_type), "entry_type"};
    else if constexpr (has_value_type<S>::value) return {sizeof(typename S::value_type), "value_type"};
    else return {std::nullopt, "no entry_type or value_type"};
}

// ---------------------------------------------------------------------------------------------
// The floor: one hash-map update per event
// ---------------------------------------------------------------------------------------------

// One map update per event: find the client id, insert it with the event time or keep the
// newest time. Map: a map from std::string to std::int64_t with reserve(n), find(const
// std::string&), emplace(std::string, std::int64_t) and size() (std::unordered_map, or any map
// with that interface). The key is assigned into one reused std::string: no allocation per
// lookup, only per new key (as in the store).
template <class Map>
class FloorMap {
public:
    void reserve(std::size_t n) { m_map.reserve(n); }

    void update(const Event& event) {
        m_key.assign(event.client_id.data(), event.client_id.size());
        const auto it = m_map.find(m_key);
        if (it == m_map.end()) m_map.emplace(m_key, event.time_ms);
        else if (it->second < event.time_ms) it->second = event.time_ms;
    }

    // The lookup of is_online's baseline: one bit of the entry (the parity of the newest time),
    // false for an unknown key.
    [[nodiscard]] bool lookup(std::string_view client_id) const {
        m_key.assign(client_id.data(), client_id.size());
        const auto it = m_map.find(m_key);
        return it != m_map.end() && (it->second & 1) != 0;
    }

    [[nodiscard]] bool contains(std::string_view client_id) const {
        m_key.assign(client_id.data(), client_id.size());
        return m_map.find(m_key) != m_map.end();
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_map.size(); }

private:
    Map m_map;
    mutable std::string m_key;
};

using StdFloor = FloorMap<std::unordered_map<std::string, std::int64_t>>;
constexpr const char* std_floor_name = "std::unordered_map<string,int64>";

// The second floor: the same update in the library's own table (detail/flat_table.hpp, the one
// under InMemoryStorage) with an 8-byte value instead of a ClientRecord: what the store costs
// beyond its own hash table.
class FlatFloor {
public:
    void reserve(std::size_t n) { m_table.reserve(n); }
    void update(const Event& event) {
        const std::size_t i = m_table.find_or_insert(event.client_id, Table::hash(event.client_id));
        std::int64_t& newest = m_table.entry(i).value;
        if (newest < event.time_ms) newest = event.time_ms;
    }
    [[nodiscard]] std::size_t size() const noexcept { return m_table.size(); }

private:
    using Table = mqtt_presence::detail::FlatTable<std::int64_t, 24>;
    Table m_table;
};
constexpr const char* flat_floor_name = "detail::FlatTable<int64> (the store's table)";

// ---------------------------------------------------------------------------------------------
// Phase 1: memory
// ---------------------------------------------------------------------------------------------

constexpr std::int64_t connect_start_ms = 1570795200000;

struct MemoryResult {
    std::size_t rss_before = 0;
    std::size_t rss_store = 0; // after the store took every connect
    std::size_t rss_floor = 0; // after the floor's map took them too
    std::optional<std::size_t> memory_bytes;
    std::size_t clients = 0;
    std::size_t online = 0;
    std::size_t floor_keys = 0;
};

MemoryResult measure_memory(const Args& args) {
    const std::uint64_t seed = mqtt_presence::testing::mix_seed(args.seed, 0x6d656d6f7279); // "memory"
    const auto clients = static_cast<std::size_t>(args.clients);
    MemoryResult r;
    Event event;
    event.client_id.reserve(64); // the reused buffers are in place before the baseline
    event.channel_id.reserve(64);
    event.client_ip.reserve(64);
    r.rss_before = bench::rss_bytes();

    auto store = std::make_unique<Store>();
    mqtt_presence::testing::Random rng(seed);
    for (std::size_t i = 0; i < clients; ++i) {
        bench::make_connect(rng, i, connect_start_ms + static_cast<std::int64_t>(i), event);
        (void)store->ingest(event);
    }
    r.rss_store = bench::rss_bytes();
    r.memory_bytes = memory_bytes(store->storage());
    r.clients = store->size();
    r.online = store->online_count();

    auto floor = std::make_unique<StdFloor>();
    rng = mqtt_presence::testing::Random(seed); // the same connects
    for (std::size_t i = 0; i < clients; ++i) {
        bench::make_connect(rng, i, connect_start_ms + static_cast<std::int64_t>(i), event);
        floor->update(event);
    }
    r.rss_floor = bench::rss_bytes();
    r.floor_keys = floor->size();
    return r;
}

// ---------------------------------------------------------------------------------------------
// Phase 2: ingest
// ---------------------------------------------------------------------------------------------

enum class Kind { ingest_loop, ingest_batch, floor, flat_floor };

// Events per batch when the stream is fed in batches (see the top: "in batches").
constexpr std::size_t batch_events = 1024;

struct Measurement {
    double ns_per_event = 0;
    double cpu_ns_per_event = 0;
    std::size_t clients = 0;
    std::size_t online = 0; // the store's; 0 for the floor
    mqtt_presence::Counters counters{};
};

bool same_counters(const mqtt_presence::Counters& a, const mqtt_presence::Counters& b) {
    return a.events == b.events && a.applied == b.applied && a.superseded == b.superseded &&
           a.behind_watermark == b.behind_watermark && a.duplicates == b.duplicates && a.stale == b.stale &&
           a.refused == b.refused && a.invalid == b.invalid && a.reconciles == b.reconciles &&
           a.went_online == b.went_online && a.went_offline == b.went_offline;
}

// Runs fn(const std::vector<Event>&) over `events` and puts the time per event in m: once on the
// whole stream, or (batched) in batches of batch_events, each copied into one reused vector (not
// timed) before fn runs on it (timed; the batches' times summed).
template <class Fn>
void timed(const std::vector<Event>& events, bool batched, Measurement& m, Fn&& fn) {
    if (!batched) {
        const bench::Timer timer;
        fn(events);
        timer.stop(m, events.size());
        return;
    }
    std::vector<Event> batch;
    batch.reserve(batch_events);
    double wall_seconds = 0;
    double cpu_seconds = 0;
    for (std::size_t i = 0; i < events.size(); i += batch_events) {
        const auto first = events.begin() + static_cast<std::ptrdiff_t>(i);
        batch.assign(first, first + static_cast<std::ptrdiff_t>(std::min(batch_events, events.size() - i)));
        const bench::Timer timer;
        fn(batch);
        timer.add_to(wall_seconds, cpu_seconds);
    }
    m.ns_per_event = wall_seconds * 1e9 / static_cast<double>(events.size());
    m.cpu_ns_per_event = cpu_seconds * 1e9 / static_cast<double>(events.size());
}

Measurement measure_store(const std::vector<Event>& events, Kind kind, bool reserved, bool batched,
                          std::size_t clients) {
    const auto store = std::make_unique<Store>();
    if (reserved) reserve_storage(store->storage(), clients);
    Measurement m;
    timed(events, batched, m, [&](const std::vector<Event>& part) {
        if (kind == Kind::ingest_batch) {
            store->ingest_batch(part.begin(), part.end());
        } else {
            for (const Event& event : part) (void)store->ingest(event);
        }
    });
    m.clients = store->size();
    m.online = store->online_count();
    m.counters = store->counters();
    return m; // the store is destroyed here, after the clock stopped
}

template <class Floor>
Measurement measure_floor(const std::vector<Event>& events, bool reserved, bool batched, std::size_t clients) {
    const auto floor = std::make_unique<Floor>();
    if (reserved) floor->reserve(clients);
    Measurement m;
    timed(events, batched, m, [&](const std::vector<Event>& part) {
        for (const Event& event : part) floor->update(event);
    });
    m.clients = floor->size();
    return m;
}

struct Configuration {
    const char* name;
    Kind kind;
    bool reserved;
    bool batched; // fed in batches of batch_events, each copied just before it is timed
    std::vector<double> ns{};
    std::vector<double> cpu_ns{};

    [[nodiscard]] Measurement run(const std::vector<Event>& events, std::size_t clients) const {
        if (kind == Kind::floor) return measure_floor<StdFloor>(events, reserved, batched, clients);
        if (kind == Kind::flat_floor) return measure_floor<FlatFloor>(events, reserved, batched, clients);
        return measure_store(events, kind, reserved, batched, clients);
    }
};

// ---------------------------------------------------------------------------------------------
// Phase 3: is_online
// ---------------------------------------------------------------------------------------------

constexpr std::size_t query_batch = 1000;
constexpr std::size_t query_batches = 1000;

// Query ids back to back in one buffer.
struct Queries {
    std::string text;
    std::vector<std::string_view> ids;
};

Queries make_queries(const std::vector<std::string>& known, std::size_t count, mqtt_presence::testing::Random& rng) {
    std::vector<std::size_t> picks(count);
    std::size_t bytes = 0;
    for (std::size_t& pick : picks) {
        pick = rng.index(known.size());
        bytes += known[pick].size();
    }
    Queries q;
    q.text.reserve(bytes);
    for (const std::size_t pick : picks) q.text += known[pick];
    q.ids.reserve(count);
    std::size_t offset = 0;
    for (const std::size_t pick : picks) {
        q.ids.emplace_back(q.text.data() + offset, known[pick].size());
        offset += known[pick].size();
    }
    return q;
}

struct LatencyRun {
    double median_ns = 0; // over batches
    double p99_ns = 0;    // over batches
    std::size_t online = 0;
};

// `independent`: ids[i] is query i. Else a dependent chain: query i is ids[2i + previous answer].
template <class Lookup>
LatencyRun time_queries(const Queries& queries, bool independent, const Lookup& lookup) {
    std::vector<double> batch_ns;
    batch_ns.reserve(query_batches);
    std::size_t online = 0;
    std::size_t answer = 0;
    const std::string_view* ids = queries.ids.data();
    for (std::size_t b = 0; b < query_batches; ++b) {
        const std::size_t first = b * query_batch;
        const Clock::time_point start = Clock::now();
        if (independent) {
            for (std::size_t i = first; i < first + query_batch; ++i) online += lookup(ids[i]) ? 1U : 0U;
        } else {
            for (std::size_t i = first; i < first + query_batch; ++i) {
                answer = static_cast<std::size_t>(lookup(ids[2 * i + answer]));
                online += answer;
            }
        }
        batch_ns.push_back(bench::seconds_since(start) * 1e9 / static_cast<double>(query_batch));
    }
    return {bench::median(batch_ns), bench::quantile(batch_ns, 0.99), online};
}

// The independent queries, each batch in one is_online_batch() call.
template <class Store>
LatencyRun time_batches(const Queries& queries, const Store& store) {
    std::vector<double> batch_ns;
    batch_ns.reserve(query_batches);
    std::size_t online = 0;
    bool answers[query_batch];
    for (std::size_t b = 0; b < query_batches; ++b) {
        const auto first = queries.ids.begin() + static_cast<std::ptrdiff_t>(b * query_batch);
        const Clock::time_point start = Clock::now();
        store.is_online_batch(first, first + static_cast<std::ptrdiff_t>(query_batch), answers);
        for (const bool answer : answers) online += answer ? 1U : 0U;
        batch_ns.push_back(bench::seconds_since(start) * 1e9 / static_cast<double>(query_batch));
    }
    return {bench::median(batch_ns), bench::quantile(batch_ns, 0.99), online};
}

// Phase 4: ns per dependent cache miss over `bytes` at p (a random cycle, one link per line).
double chase_ns(std::uint64_t* lines, std::size_t bytes, std::uint64_t seed) {
    const std::size_t count = bytes / 64;
    std::vector<std::uint32_t> order(count);
    for (std::size_t i = 0; i < count; ++i) order[i] = static_cast<std::uint32_t>(i);
    mqtt_presence::testing::Random rng(seed);
    for (std::size_t i = count; i > 1; --i) std::swap(order[i - 1], order[rng.index(i)]);
    for (std::size_t i = 0; i < count; ++i) lines[order[i] * 8] = order[(i + 1) % count];
    constexpr std::size_t steps = 2'000'000;
    std::uint64_t at = order[0];
    const Clock::time_point start = Clock::now();
    for (std::size_t i = 0; i < steps; ++i) at = lines[at * 8];
    const double ns = bench::seconds_since(start) * 1e9 / static_cast<double>(steps);
    if (at >= count) std::fprintf(stderr, "chase: impossible link\n"); // keeps the chain alive
    return ns;
}

struct LatencyConfiguration {
    const char* name;
    bool store; // else the floor's map
    bool independent;
    bool batch = false;      // store only: is_online_batch over the independent queries
    bool concurrent = false; // store only: the ConcurrentStorage store, not the InMemoryStorage one
    std::vector<double> medians{};
    std::vector<double> p99s{};
    std::size_t yes = 0; // answers true in the first run
};

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

std::string bytes_per_client(std::size_t after, std::size_t before, std::size_t clients) {
    if (after == 0 || before == 0 || clients == 0) return "n/a (no /proc/self/statm)";
    char text[96];
    const double growth = static_cast<double>(after) - static_cast<double>(before);
    std::snprintf(text, sizeof text, "%.1f B (RSS %+.1f MB)", growth / static_cast<double>(clients), growth / 1e6);
    return text;
}

int run(int argc, char** argv) {
    Args args;
    if (!bench::parse_stream_args(argc, argv, args)) {
        std::fputs(usage, stderr);
        return 2;
    }
    const auto clients = static_cast<std::size_t>(args.clients);
    const auto runs = static_cast<std::size_t>(args.runs);
    const std::string command = bench::command_line(argc, argv);
    const std::string load_before = bench::load_average();
    bool consistent = true;

    // Phase 1, before anything else allocates.
    std::fprintf(stderr, "memory: %zu clients brought online...\n", clients);
    const MemoryResult memory = measure_memory(args);
    if (memory.clients != clients || memory.online != clients || memory.floor_keys != clients) {
        std::fprintf(stderr, "MISMATCH: memory phase: %zu clients, %zu online, %zu floor keys (expected %zu)\n",
                     memory.clients, memory.online, memory.floor_keys, clients);
        consistent = false;
    }

    // Phase 2.
    std::fprintf(stderr, "generating %zu clients (seed %llu)...\n", clients,
                 static_cast<unsigned long long>(args.seed));
    const Clock::time_point generating = Clock::now();
    std::vector<Event> events;
    {
        std::vector<Event> scattered = bench::generate_events(clients, args.seed);
        events.reserve(scattered.size());
        for (const Event& event : scattered) events.push_back(event); // in stream order (see the top)
    }
    bench::release_free_memory(); // the scattered copy
    std::fprintf(stderr, "%zu events in %.1f s\n", events.size(), bench::seconds_since(generating));

    std::vector<Configuration> configurations = {
        {"ingest() loop", Kind::ingest_loop, true, false},
        {"ingest_batch()", Kind::ingest_batch, true, false},
        {"floor", Kind::floor, true, false},
        {"flat floor", Kind::flat_floor, true, false},
        {"ingest() loop", Kind::ingest_loop, false, false},
        {"floor", Kind::floor, false, false},
        {"flat floor", Kind::flat_floor, false, false},
        {"ingest_batch(), 1024s", Kind::ingest_batch, true, true},
        {"ingest() loop, 1024s", Kind::ingest_loop, true, true},
        {"floor, 1024s", Kind::floor, true, true},
        {"flat floor, 1024s", Kind::flat_floor, true, true},
    };
    Measurement first_store{};
    Measurement first_floor{};
    bool have_store = false;
    bool have_floor = false;
    for (std::size_t r = 0; r < runs; ++r) {
        for (std::size_t c = 0; c < configurations.size(); ++c) {
            Configuration& configuration = configurations[c];
            const Measurement m = configuration.run(events, clients);
            configuration.ns.push_back(m.ns_per_event);
            configuration.cpu_ns.push_back(m.cpu_ns_per_event);
            bool ok = true;
            if (configuration.kind == Kind::floor || configuration.kind == Kind::flat_floor) {
                if (!have_floor) first_floor = m;
                have_floor = true;
                ok = m.clients == first_floor.clients;
            } else {
                if (!have_store) first_store = m;
                have_store = true;
                ok = m.clients == first_store.clients && m.online == first_store.online &&
                     same_counters(m.counters, first_store.counters) && m.counters.invalid == 0;
            }
            if (!ok) {
                std::fprintf(stderr, "MISMATCH: run %zu, configuration %zu: %zu clients, %zu online\n", r + 1, c + 1,
                             m.clients, m.online);
                consistent = false;
            }
        }
        std::fprintf(stderr, "ingest round %zu/%zu done\n", r + 1, runs);
    }

    // Phase 3: one store and one floor map over the whole stream, not timed.
    std::fprintf(stderr, "is_online: building the store...\n");
    const auto store = std::make_unique<Store>();
    for (const Event& event : events) (void)store->ingest(event);
    const auto shared = std::make_unique<SharedStore>();
    for (const Event& event : events) (void)shared->ingest(event);
    const auto floor = std::make_unique<StdFloor>();
    for (const Event& event : events) floor->update(event);
    std::vector<Event>().swap(events);
    bench::release_free_memory();
    std::vector<std::string> known;
    known.reserve(store->size());
    store->storage().for_each([&](std::string_view id, const mqtt_presence::ClientRecord&) { known.emplace_back(id); });
    std::sort(known.begin(), known.end()); // the queries then depend on the seed only, not on the map's order
    mqtt_presence::testing::Random rng(mqtt_presence::testing::mix_seed(args.seed, 0x7175657279)); // "query"
    const Queries independent = make_queries(known, query_batch * query_batches, rng);
    const Queries chain = make_queries(known, 2 * query_batch * query_batches, rng);
    std::vector<std::string>().swap(known);

    const auto store_lookup = [&](std::string_view id) { return store->is_online(id); };
    const auto shared_lookup = [&](std::string_view id) { return shared->is_online(id); };
    const auto floor_lookup = [&](std::string_view id) { return floor->lookup(id); };
    std::vector<LatencyConfiguration> latencies = {
        {"is_online, independent", true, true},
        {"is_online_batch", true, true, true},
        {"is_online, dependent chain", true, false},
        {"Concurrent: is_online, indep.", true, true, false, true},
        {"Concurrent: is_online_batch", true, true, true, true},
        {"floor find, independent", false, true},
        {"floor find, dependent chain", false, false},
    };
    for (std::size_t r = 0; r < runs; ++r) {
        for (LatencyConfiguration& l : latencies) {
            const Queries& queries = l.independent ? independent : chain;
            const LatencyRun lr = !l.store                   ? time_queries(queries, l.independent, floor_lookup)
                                  : l.batch && l.concurrent ? time_batches(queries, *shared)
                                  : l.batch                 ? time_batches(queries, *store)
                                  : l.concurrent            ? time_queries(queries, l.independent, shared_lookup)
                                                            : time_queries(queries, l.independent, store_lookup);
            l.medians.push_back(lr.median_ns);
            l.p99s.push_back(lr.p99_ns);
            if (r == 0) {
                l.yes = lr.online;
            } else if (lr.online != l.yes) {
                std::fprintf(stderr, "MISMATCH: run %zu, %s: %zu answers true, not %zu\n", r + 1, l.name, lr.online,
                             l.yes);
                consistent = false;
            }
        }
        std::fprintf(stderr, "is_online round %zu/%zu done\n", r + 1, runs);
    }

    // Phase 4: memory latency, huge pages advised and not.
    constexpr std::size_t chase_bytes = std::size_t{256} << 20;
    std::vector<double> chase_huge;
    std::vector<double> chase_small;
    {
        mqtt_presence::detail::LargeArray<std::uint64_t> huge(chase_bytes / 8); // advised
        std::vector<std::uint64_t> small(chase_bytes / 8);                       // ordinary pages
        for (std::size_t r = 0; r < runs; ++r) {
            chase_huge.push_back(chase_ns(huge.get(), chase_bytes, args.seed + r));
            chase_small.push_back(chase_ns(small.data(), chase_bytes, args.seed + r));
        }
    }
    // Every id is known: the floor's map must find every one.
    std::size_t unknown = 0;
    for (const std::string_view id : independent.ids) unknown += floor->contains(id) ? 0U : 1U;
    for (const std::string_view id : chain.ids) unknown += floor->contains(id) ? 0U : 1U;
    if (unknown != 0) {
        std::fprintf(stderr, "MISMATCH: the floor's map does not know %zu queried ids\n", unknown);
        consistent = false;
    }

    // ----- the report
    constexpr bool has_prefetch = mqtt_presence::storage_concept::has_prefetch<Storage>::value;
    std::printf("command: %s\n", command.c_str());
    std::printf("stream:  %zu clients, %zu events, seed %llu; %zu runs per row\n", clients,
                static_cast<std::size_t>(first_store.counters.events), static_cast<unsigned long long>(args.seed), runs);
    std::printf("machine: %u hardware threads; load average before %s, after %s; peak RSS %.2f GB\n",
                std::thread::hardware_concurrency(), load_before.c_str(), bench::load_average().c_str(),
                static_cast<double>(bench::peak_rss_bytes()) / 1e9);
    const mqtt_presence::Counters& k = first_store.counters;
    std::printf("final state: %zu clients, %zu online%s\n", first_store.clients, first_store.online,
                consistent ? "" : " (a check failed: see MISMATCH above)");
    std::printf("outcomes: %llu applied, %llu duplicates, %llu stale, %llu superseded, %llu behind watermark, "
                "%llu refused, %llu invalid; %llu went online, %llu went offline\n",
                static_cast<unsigned long long>(k.applied), static_cast<unsigned long long>(k.duplicates),
                static_cast<unsigned long long>(k.stale), static_cast<unsigned long long>(k.superseded),
                static_cast<unsigned long long>(k.behind_watermark), static_cast<unsigned long long>(k.refused),
                static_cast<unsigned long long>(k.invalid), static_cast<unsigned long long>(k.went_online),
                static_cast<unsigned long long>(k.went_offline));

    std::printf("\nmemory: %zu clients brought online, one connect each (before the stream existed)\n", clients);
    std::printf("  %-44s %zu B\n", "sizeof(ClientRecord)", sizeof(mqtt_presence::ClientRecord));
    std::printf("  %-44s %zu B\n", "sizeof(Channel)", sizeof(mqtt_presence::Channel));
    const auto [entry, entry_name] = stored_entry<Storage>();
    if (entry) std::printf("  %-44s %zu B (Storage::%s)\n", "sizeof(stored entry)", *entry, entry_name);
    else std::printf("  %-44s n/a (the storage names %s)\n", "sizeof(stored entry)", entry_name);
    if (memory.memory_bytes)
        std::printf("  %-44s %.1f B (%.1f MB)\n", "storage().memory_bytes() / client",
                    static_cast<double>(*memory.memory_bytes) / static_cast<double>(clients),
                    static_cast<double>(*memory.memory_bytes) / 1e6);
    else std::printf("  %-44s n/a (the storage has no memory_bytes())\n", "storage().memory_bytes() / client");
    std::printf("  %-44s %s\n", "RSS growth / client, ClientStatusStore<>",
                bytes_per_client(memory.rss_store, memory.rss_before, clients).c_str());
    std::printf("  %-44s %s\n", (std::string("RSS growth / client, floor ") + std_floor_name).c_str(),
                bytes_per_client(memory.rss_floor, memory.rss_store, clients).c_str());
    if (memory.rss_floor > memory.rss_store && memory.rss_store > memory.rss_before)
        std::printf("  %-44s %.2fx\n", "store / floor",
                    static_cast<double>(memory.rss_store - memory.rss_before) /
                        static_cast<double>(memory.rss_floor - memory.rss_store));

    std::printf("\ningest of parsed events, one thread, %zu runs per row: wall-clock ns per event (median, min, max),\n"
                "events/s from the median, CPU ns per event (median); vs floor: median / the floor's median of the same\n"
                "reservation and input; paired: median over rounds of (ns / the floor's ns in the same round). floor = %s;\n"
                "flat floor = %s; vs flat: median / the flat floor's median of the same reservation and input;\n"
                "1024s: the stream in batches of %zu events, each copied into one reused vector just before it is\n"
                "timed (the events in cache, as a consumer's batch it has just parsed); the other rows read the whole\n"
                "stream from memory; the storage %s prefetch() (ingest_batch() %s)\n\n",
                runs, std_floor_name, flat_floor_name, batch_events, has_prefetch ? "offers" : "does not offer",
                has_prefetch ? "prefetches a few events ahead" : "is then a plain loop of ingest()");
    std::printf("%-22s %-9s %12s %9s %9s %9s %10s %9s %8s %8s\n", "configuration", "reserved", "events/s", "ns/ev",
                "min", "max", "CPU ns/ev", "vs floor", "paired", "vs flat");
    for (const Configuration& c : configurations) {
        const Configuration* floor_of = nullptr;
        const Configuration* flat_of = nullptr;
        for (const Configuration& f : configurations) {
            if (f.reserved != c.reserved || f.batched != c.batched) continue;
            if (f.kind == Kind::floor) floor_of = &f;
            if (f.kind == Kind::flat_floor) flat_of = &f;
        }
        const double med = bench::median(c.ns);
        const bench::Range span = bench::range(c.ns);
        char ratio[32] = "";
        char paired[32] = "";
        char vs_flat[32] = "";
        if (c.kind != Kind::floor && c.kind != Kind::flat_floor && floor_of != nullptr) {
            std::vector<double> ratios;
            for (std::size_t r = 0; r < c.ns.size(); ++r) ratios.push_back(c.ns[r] / floor_of->ns[r]);
            std::snprintf(ratio, sizeof ratio, "%.2fx", med / bench::median(floor_of->ns));
            std::snprintf(paired, sizeof paired, "%.2fx", bench::median(ratios));
        }
        if (c.kind != Kind::floor && c.kind != Kind::flat_floor && flat_of != nullptr)
            std::snprintf(vs_flat, sizeof vs_flat, "%.2fx", med / bench::median(flat_of->ns));
        std::printf("%-22s %-9s %12.0f %9.1f %9.1f %9.1f %10.1f %9s %8s %8s\n", c.name, c.reserved ? "yes" : "no",
                    1e9 / med, med, span.min, span.max, bench::median(c.cpu_ns), ratio, paired, vs_flat);
    }

    std::printf("\nis_online at %zu clients (%zu queries per run of known ids, uniformly random, in batches of %zu;\n"
                "ns per query over batches: median of the runs' medians, their range, median of the runs' p99)\n\n",
                store->size(), query_batch * query_batches, query_batch);
    std::printf("%-30s %9s %9s %9s %9s %9s %13s\n", "query", "median ns", "min", "max", "p99 ns", "vs floor",
                "answers true");
    for (const LatencyConfiguration& l : latencies) {
        char ratio[32] = "";
        if (l.store) {
            for (const LatencyConfiguration& f : latencies)
                if (!f.store && f.independent == l.independent)
                    std::snprintf(ratio, sizeof ratio, "%.2fx", bench::median(l.medians) / bench::median(f.medians));
        }
        const bench::Range span = bench::range(l.medians);
        std::printf("%-30s %9.1f %9.1f %9.1f %9.1f %9s %12.1f%%\n", l.name, bench::median(l.medians), span.min,
                    span.max, bench::median(l.p99s), ratio,
                    100.0 * static_cast<double>(l.yes) / static_cast<double>(query_batch * query_batches));
    }
    std::printf("\nmemory latency: a dependent chase through 256 MiB, ns per cache miss (median of %zu, range)\n\n",
                runs);
    const bench::Range huge_span = bench::range(chase_huge);
    const bench::Range small_span = bench::range(chase_small);
    std::printf("%-30s %9.1f %9.1f %9.1f\n", "huge pages advised", bench::median(chase_huge), huge_span.min,
                huge_span.max);
    std::printf("%-30s %9.1f %9.1f %9.1f\n", "4 KiB pages", bench::median(chase_small), small_span.min,
                small_span.max);
    return consistent ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) { return mqtt_presence::bench::guarded_main("mqtt_presence_bench_ingest", run, argc, argv); }
