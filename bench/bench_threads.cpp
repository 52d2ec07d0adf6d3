// mqtt_presence_bench_threads: how ingest scales from one to two threads feeding one
// ClientStatusStore<ConcurrentStorage>, on a generated stream of about 1 M clients.
//
//   mqtt_presence_bench_threads [--clients N] [--runs N] [--threads N] [--seed N]
//
// The stream (bench/stream.hpp, shared by every bench program): client histories from
// tests/support/history.hpp (flaps, overlapping connections, lost closes, clock skew; delivered
// late, reordered and duplicated: about 16 events per client), events only (no reconcile
// answers). It is generated in blocks of 100,000 clients on every core, deterministically for a
// seed, and the blocks' deliveries are merged by arrival time into one stream, as if one broker
// had published every client's events.
//
// Two paths, each over that SAME stream:
//  (a) parsed: the events already parsed; only ingest_batch() over the thread's slice is timed
//      (it prefetches the records; ConcurrentStorage applies each shard's events of a window
//      under one take of its lock);
//  (b) JSON: the same events as Alibaba JSON lines; parse_alibaba_event() + ingest() are timed.
// Each path is timed on ClientStatusStore<ConcurrentStorage> with 1 thread and with --threads
// threads (default 2), and, for reference, on the default ClientStatusStore<InMemoryStorage>
// (no locks, no atomics) with 1 thread. The parsed path also runs on --threads threads dealt by
// client with A STORE EACH (InMemoryStorage): nothing is shared but the machine (cores' memory
// bandwidth, the shared cache), so its speed-up is what this machine allows any storage.
//
// One measurement: a fresh store; T threads, thread t ingesting events t, t+T, t+2T, ... (a
// round-robin slice: the stream's order is kept up to the interleaving of the threads, one
// client's events may race as in a consumer's thread pool, and every thread gets the same mix of
// work); a start barrier. The multi-threaded rows are also measured with the stream dealt BY
// CLIENT (thread = hash of the client id mod T, in stream order), as a consumer that partitions
// by client (RocketMQ orderly consumption with a queue selector on the client id) deals it:
// then no two threads touch one client's record, and only shard locks may be shared. The clock runs from the barrier's release until the last thread is
// done: not generation, not starting threads, not destroying the store. Every configuration is
// measured --runs times, the configurations taking turns so that a burst of load from elsewhere
// hits them all alike; the table gives the median and the range.
//
// Every measurement must ingest every event and end with the same clients, and every
// one-thread measurement with the same online clients; else the exit status is 1. Threads that
// run free drift apart, by tens of thousands of events when one is preempted or a little
// slower: an event may then be applied after an event of its client more than the 24 h
// retention newer, where rule 5 promises nothing, and the online count of a multi-threaded run
// may differ by a few clients. That is reported, not failed: the replay tool, whose bounded
// queues keep its threads within a few thousand lines of each other, is where the final state
// is checked.
//
// Where the system has per-thread CPU clocks (Linux, the BSDs, macOS), the table also gives the
// CPU time per event summed over the threads, and how many cores the threads got on average
// (CPU time / wall time). They tell the two reasons for a speed-up short of 2x apart: more work
// per event (contention, cache lines bouncing between cores) shows as more CPU time per event;
// a machine that is busy with something else shows as fewer cores.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

#include "stream.hpp"

namespace {

using mqtt_presence::Event;
using mqtt_presence::bench::Clock;
using mqtt_presence::bench::load_average;
using mqtt_presence::bench::median;
using mqtt_presence::bench::thread_cpu_seconds;

constexpr const char* usage =
    "usage: mqtt_presence_bench_threads [--clients N] [--runs N] [--threads N] [--seed N]\n"
    "  --clients N  clients in the generated stream (default 1000000; about 16 events each)\n"
    "  --runs N     measurements per configuration; the table gives the median (default 5)\n"
    "  --threads N  threads of the multi-threaded runs, compared with 1 (default 2)\n"
    "  --seed N     seed of the generated stream (default 1)\n";

struct Args {
    std::size_t clients = 1000000;
    std::size_t runs = 5;
    std::size_t threads = 2;
    std::uint64_t seed = 1;
};

bool parse_args(int argc, char** argv, Args& args) {
    std::uint64_t clients = args.clients, runs = args.runs, threads = args.threads;
    if (!mqtt_presence::bench::parse_options(argc, argv,
                                             {{"--clients", &clients, 1}, {"--runs", &runs, 1},
                                              {"--threads", &threads, 2, 256}, {"--seed", &args.seed}}))
        return false;
    args.clients = static_cast<std::size_t>(clients);
    args.runs = static_cast<std::size_t>(runs);
    args.threads = static_cast<std::size_t>(threads);
    return true;
}

// The benchmark's input: one stream (bench/stream.hpp), as parsed events and as JSON lines.
struct Stream {
    std::vector<Event> events;
    mqtt_presence::bench::JsonLines json;

    [[nodiscard]] std::size_t size() const noexcept { return events.size(); }
    [[nodiscard]] std::string_view line(std::size_t i) const noexcept { return json.line(i); }
};

Stream generate(const Args& args) {
    Stream stream;
    {
        // Copied once in stream order, so that each event's strings follow the previous
        // event's in memory, as a parser's reused Event would be (bench_ingest.cpp does the
        // same); the generator leaves them scattered in generation order.
        std::vector<Event> scattered = mqtt_presence::bench::generate_events(args.clients, args.seed);
        stream.events.reserve(scattered.size());
        for (const Event& event : scattered) stream.events.push_back(event);
    }
    mqtt_presence::bench::release_free_memory();
    stream.json = mqtt_presence::bench::to_json_lines(stream.events);
    return stream;
}

struct Timing {
    double wall_seconds = 0; // from the barrier's release until the last thread is done
    double cpu_seconds = 0;  // CPU time of the timed part, summed over the threads
};

// Runs body(t) on `threads` threads released together by a start barrier.
template <class Body>
Timing timed_on_threads(std::size_t threads, const Body& body) {
    std::atomic<std::size_t> ready{0};
    std::atomic<bool> go{false};
    std::atomic<bool> abandon{false};
    std::vector<double> cpu(threads, 0.0); // one slot per thread, read after the joins
    std::vector<std::thread> pool;
    pool.reserve(threads);
    try {
        for (std::size_t t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                ready.fetch_add(1);
                while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
                if (abandon.load()) return;
                const double started = thread_cpu_seconds();
                body(t);
                cpu[t] = thread_cpu_seconds() - started;
            });
        }
    } catch (...) { // a thread could not be started: release and join the others, unmeasured
        abandon.store(true);
        go.store(true, std::memory_order_release);
        for (std::thread& thread : pool) thread.join();
        throw;
    }
    while (ready.load() < threads) std::this_thread::yield();
    const Clock::time_point start = Clock::now();
    go.store(true, std::memory_order_release);
    for (std::thread& thread : pool) thread.join();
    Timing timing;
    timing.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (const double seconds : cpu) timing.cpu_seconds += seconds;
    return timing;
}

enum class Path { parsed, json };

struct Measurement {
    double events_per_sec = 0;
    double cpu_ns_per_event = 0; // summed over the threads
    double cores = 0;            // CPU time / wall time: how many cores the threads got
    std::size_t clients = 0;
    std::size_t online = 0;
    std::uint64_t failures = 0; // lines that did not parse or events the store refused as invalid
};

// Events i, i + step, i + 2 step, ... of an array of `size`, as a forward iterator for
// ingest_batch. Every iterator at or past the end equals every other.
struct Strided {
    using iterator_category = std::forward_iterator_tag;
    using value_type = Event;
    using difference_type = std::ptrdiff_t;
    using pointer = const Event*;
    using reference = const Event&;

    const Event* events = nullptr;
    std::size_t i = 0;
    std::size_t step = 1;
    std::size_t size = 0;

    reference operator*() const noexcept { return events[i]; }
    pointer operator->() const noexcept { return events + i; }
    Strided& operator++() noexcept {
        i += step;
        return *this;
    }
    friend bool operator==(const Strided& a, const Strided& b) noexcept {
        return (a.i >= a.size && b.i >= b.size) || a.i == b.i;
    }
    friend bool operator!=(const Strided& a, const Strided& b) noexcept { return !(a == b); }
};

using Indexed = mqtt_presence::bench::Indexed<std::uint32_t>;

// Per thread, the positions of the events of its clients (hash of the client id mod threads).
using Slices = std::vector<std::vector<std::uint32_t>>;
Slices deal_by_client(const Stream& stream, std::size_t threads) {
    Slices slices(threads);
    const std::hash<std::string_view> hash;
    for (std::size_t i = 0; i < stream.size(); ++i)
        slices[hash(stream.events[i].client_id) % threads].push_back(static_cast<std::uint32_t>(i));
    return slices;
}

// by_client: the slices of deal_by_client(), else round-robin.
template <class Storage>
Measurement measure(const Stream& stream, Path path, std::size_t threads, const Slices* by_client) {
    using Store = mqtt_presence::ClientStatusStore<Storage>;
    // Fresh, not reserved: they grow as in production. A store per thread for InMemoryStorage
    // on several threads (the machine's own scaling: nothing shared but the hardware).
    constexpr bool one_store = mqtt_presence::storage_concept::is_concurrent<Storage>::value;
    std::vector<std::unique_ptr<Store>> stores(one_store ? 1 : threads);
    for (auto& s : stores) s = std::make_unique<Store>();
    std::atomic<std::uint64_t> failures{0};
    const std::size_t n = stream.size();
    const Timing timing = timed_on_threads(threads, [&](std::size_t t) {
        const auto& store = stores[one_store ? 0 : t];
        std::uint64_t bad = 0;
        const auto count = [&](const Event&, const mqtt_presence::Outcome& out) {
            if (out.status == mqtt_presence::Status::invalid) ++bad;
        };
        if (path == Path::parsed && by_client != nullptr) {
            const std::vector<std::uint32_t>& mine = (*by_client)[t];
            const Event* events = stream.events.data();
            store->ingest_batch(Indexed{events, mine.data()}, Indexed{events, mine.data() + mine.size()}, count);
        } else if (path == Path::parsed) {
            const Event* events = stream.events.data();
            store->ingest_batch(Strided{events, t, threads, n}, Strided{events, n, threads, n}, count);
        } else if (by_client != nullptr) {
            Event event;
            std::string error;
            for (const std::uint32_t i : (*by_client)[t]) {
                if (!mqtt_presence::parse_alibaba_event(stream.line(i), event, error) ||
                    store->ingest(event).status == mqtt_presence::Status::invalid)
                    ++bad;
            }
        } else {
            Event event; // one per thread, reused: parse_alibaba_event keeps its buffers
            std::string error;
            for (std::size_t i = t; i < n; i += threads) {
                if (!mqtt_presence::parse_alibaba_event(stream.line(i), event, error) ||
                    store->ingest(event).status == mqtt_presence::Status::invalid)
                    ++bad;
            }
        }
        failures.fetch_add(bad);
    });
    Measurement m;
    m.events_per_sec = static_cast<double>(n) / timing.wall_seconds;
    m.cpu_ns_per_event = timing.cpu_seconds * 1e9 / static_cast<double>(n);
    m.cores = timing.cpu_seconds / timing.wall_seconds;
    m.clients = 0;
    m.online = 0;
    for (const auto& store : stores) {
        m.clients += store->size();
        m.online += store->online_count();
    }
    m.failures = failures.load();
    return m;
}

struct Configuration {
    Path path;
    bool concurrent; // ConcurrentStorage, else InMemoryStorage
    std::size_t threads;
    const Slices* by_client = nullptr; // dealt by client, else round-robin
    std::vector<double> rates{};
    std::vector<double> cpu_ns{};
    std::vector<double> cores{};

    [[nodiscard]] Measurement run(const Stream& stream) const {
        return concurrent ? measure<mqtt_presence::ConcurrentStorage>(stream, path, threads, by_client)
                          : measure<mqtt_presence::InMemoryStorage>(stream, path, threads, by_client);
    }
};

int run(int argc, char** argv) {
    Args args;
    if (!parse_args(argc, argv, args)) {
        std::fputs(usage, stderr);
        return 2;
    }
    const std::string command = mqtt_presence::bench::command_line(argc, argv);

    std::fprintf(stderr, "generating %zu clients (seed %llu)...\n", args.clients,
                 static_cast<unsigned long long>(args.seed));
    const Clock::time_point generating = Clock::now();
    const Stream stream = generate(args);
    std::fprintf(stderr, "%zu events, %.0f MB of JSON, in %.1f s\n", stream.size(),
                 static_cast<double>(stream.json.bytes()) / 1e6,
                 std::chrono::duration<double>(Clock::now() - generating).count());

    const std::size_t many = args.threads;
    const Slices by_client = deal_by_client(stream, many);
    std::vector<Configuration> configurations = {
        {Path::parsed, false, 1}, {Path::parsed, true, 1}, {Path::parsed, true, many}, {Path::parsed, true, many, &by_client},
        {Path::parsed, false, many, &by_client},
        {Path::json, false, 1},   {Path::json, true, 1},   {Path::json, true, many},   {Path::json, true, many, &by_client},
    };
    const std::string load_before = load_average();
    bool consistent = true;
    std::size_t drifted = 0; // multi-threaded runs whose online count differs (see the top)
    Measurement first{};
    for (std::size_t r = 0; r < args.runs; ++r) {
        for (std::size_t c = 0; c < configurations.size(); ++c) {
            Configuration& configuration = configurations[c];
            const Measurement m = configuration.run(stream);
            configuration.rates.push_back(m.events_per_sec);
            configuration.cpu_ns.push_back(m.cpu_ns_per_event);
            configuration.cores.push_back(m.cores);
            if (r == 0 && c == 0) first = m;
            const bool online_differs = m.online != first.online;
            if (m.failures != 0 || m.clients != first.clients || (online_differs && configuration.threads == 1)) {
                std::fprintf(stderr, "MISMATCH: run %zu, configuration %zu: %zu clients, %zu online, %llu failures\n",
                             r + 1, c + 1, m.clients, m.online, static_cast<unsigned long long>(m.failures));
                consistent = false;
            } else if (online_differs) {
                std::fprintf(stderr, "note: run %zu, configuration %zu (%zu threads): %zu online\n", r + 1, c + 1,
                             configuration.threads, m.online);
                ++drifted;
            }
        }
        std::fprintf(stderr, "round %zu/%zu done\n", r + 1, args.runs);
    }

    std::printf("command: %s\n", command.c_str());
    std::printf("stream:  %zu clients, %zu events (%.0f MB of JSON lines), seed %llu; %zu runs per row\n",
                args.clients, stream.size(), static_cast<double>(stream.json.bytes()) / 1e6,
                static_cast<unsigned long long>(args.seed), args.runs);
    std::printf("machine: %u hardware threads; load average before %s, after %s\n",
                std::thread::hardware_concurrency(), load_before.c_str(), load_average().c_str());
    std::printf("final state: %zu clients, %zu online%s", first.clients, first.online,
                consistent ? "" : " (NOT in every run: see MISMATCH above)");
    if (drifted != 0)
        std::printf("; %zu multi-threaded run(s) ended with another online count\n"
                    "(free-running threads drift apart: see the header of bench_threads.cpp)",
                    drifted);
    std::printf("\n");
    std::printf("medians of %zu runs; CPU ns/ev: CPU time per event summed over the threads; cores: CPU time /\n"
                "wall time (below the thread count: the threads waited for a core or a lock)\n\n",
                args.runs);
    std::printf("%-26s %-17s %7s %-11s %12s %12s %12s %10s %6s %8s\n", "path", "store", "threads", "dealt",
                "median ev/s", "min ev/s", "max ev/s", "CPU ns/ev", "cores", "vs 1 thr");
    double one_thread[2] = {0, 0}; // by storage: InMemoryStorage, ConcurrentStorage
    for (const Configuration& configuration : configurations) {
        const double med = median(configuration.rates);
        const auto [lo, hi] = std::minmax_element(configuration.rates.begin(), configuration.rates.end());
        double& base = one_thread[configuration.concurrent ? 1 : 0];
        if (configuration.threads == 1) base = med;
        char ratio[32] = "";
        if (configuration.threads > 1) std::snprintf(ratio, sizeof ratio, "%.2fx", med / base);
        std::printf("%-26s %-17s %7zu %-11s %12.0f %12.0f %12.0f %10.0f %6.2f %8s\n",
                    configuration.path == Path::parsed ? "(a) parsed -> ingest" : "(b) JSON -> parse + ingest",
                    configuration.concurrent ? "ConcurrentStorage" : "InMemoryStorage", configuration.threads,
                    configuration.threads == 1             ? "-"
                    : !configuration.concurrent            ? "a store each"
                    : configuration.by_client != nullptr ? "by client"
                                                           : "round-robin",
                    med, *lo, *hi, median(configuration.cpu_ns), median(configuration.cores), ratio);
    }
    return consistent ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) { return mqtt_presence::bench::guarded_main("mqtt_presence_bench_threads", run, argc, argv); }
