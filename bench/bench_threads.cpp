// mqtt_presence_bench_threads: how ingest scales from one to two threads feeding one
// ClientStatusStore<ConcurrentStorage>, on a generated stream of about 1 M clients.
//
//   mqtt_presence_bench_threads [--clients N] [--runs N] [--threads N] [--seed N]
//
// The stream: client histories from tests/support/history.hpp (flaps, overlapping connections,
// lost closes, clock skew; delivered late, reordered and duplicated: about 16 events per
// client), events only (no reconcile answers). It is generated in blocks of 100,000 clients on
// every core, deterministically for a seed, and the blocks' deliveries are merged by arrival
// time into one stream, as if one broker had published every client's events.
//
// Two paths, each over that SAME stream:
//  (a) parsed: the events already parsed; only ingest() is timed;
//  (b) JSON: the same events as Alibaba JSON lines; parse_alibaba_event() + ingest() are timed.
// Each path is timed on ClientStatusStore<ConcurrentStorage> with 1 thread and with --threads
// threads (default 2), and, for reference, on the default ClientStatusStore<InMemoryStorage>
// (no locks, no atomics) with 1 thread.
//
// One measurement: a fresh store; T threads, thread t ingesting events t, t+T, t+2T, ... (a
// round-robin slice: the stream's order is kept up to the interleaving of the threads, one
// client's events may race as in a consumer's thread pool, and every thread gets the same mix of
// work); a start barrier. The clock runs from the barrier's release until the last thread is
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
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <queue>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <time.h>

#include <nlohmann/json.hpp>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

#include "../tests/support/history.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using mqtt_presence::Event;

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

bool parse_size(std::string_view text, std::uint64_t& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

bool parse_args(int argc, char** argv, Args& args) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        std::uint64_t value = 0;
        if (i + 1 >= argc || !parse_size(argv[i + 1], value)) return false;
        ++i;
        if (arg == "--clients" && value >= 1) args.clients = static_cast<std::size_t>(value);
        else if (arg == "--runs" && value >= 1) args.runs = static_cast<std::size_t>(value);
        else if (arg == "--threads" && value >= 2 && value <= 256) args.threads = static_cast<std::size_t>(value);
        else if (arg == "--seed") args.seed = value;
        else return false;
    }
    return true;
}

// Runs task(i) for i in [0, tasks) on every core; rethrows the first exception of a task.
void on_every_core(std::size_t tasks, const std::function<void(std::size_t)>& task) {
    const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
    const std::size_t threads = std::min(tasks, cores);
    std::atomic<std::size_t> next{0};
    std::vector<std::exception_ptr> failures(threads);
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            try {
                for (std::size_t i = next.fetch_add(1); i < tasks; i = next.fetch_add(1)) task(i);
            } catch (...) {
                failures[t] = std::current_exception();
                next.store(tasks); // the others stop after their current task
            }
        });
    }
    for (std::thread& thread : pool) thread.join();
    for (const std::exception_ptr& failure : failures)
        if (failure) std::rethrow_exception(failure);
}

// The benchmark's input: one stream, as parsed events and as JSON lines.
struct Stream {
    std::vector<Event> events;
    std::string json;                 // the same events as JSON lines, back to back
    std::vector<std::size_t> offsets; // line i is json[offsets[i], offsets[i + 1])

    [[nodiscard]] std::size_t size() const noexcept { return events.size(); }
    [[nodiscard]] std::string_view line(std::size_t i) const noexcept {
        return std::string_view(json).substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
};

// Clients per generated block: small enough that a block's histories take little memory, large
// enough that blocks are few.
constexpr std::size_t block_clients = 100000;

Stream generate(const Args& args) {
    using namespace mqtt_presence::testing;
    struct Block {
        std::vector<Event> events;
        std::vector<std::int64_t> arrival; // delivered_ms of each event, ascending
    };
    const std::size_t block_count = (args.clients + block_clients - 1) / block_clients;
    std::vector<Block> blocks(block_count);
    on_every_core(block_count, [&](std::size_t b) {
        HistoryOptions history;
        history.reconcile_offline_probability = 0; // events only, as in a JSON Lines dump
        history.reconcile_online_probability = 0;
        const std::size_t first = b * block_clients;
        const std::size_t clients = std::min(block_clients, args.clients - first);
        Batch batch = generate_batch(mix_seed(args.seed, b), first, clients, history, DeliveryOptions{});
        batch.timelines.clear();
        batch.timelines.shrink_to_fit();
        Block& block = blocks[b];
        block.events.reserve(batch.deliveries.size());
        block.arrival.reserve(batch.deliveries.size());
        for (Delivery& d : batch.deliveries) {
            if (d.kind != Delivery::Kind::event) continue;
            block.arrival.push_back(d.delivered_ms);
            block.events.push_back(std::move(d.event));
        }
    });

    // Merge the blocks by arrival (ties: lower block first), as one broker would deliver them.
    Stream stream;
    std::size_t total = 0;
    for (const Block& block : blocks) total += block.events.size();
    stream.events.reserve(total);
    using Head = std::tuple<std::int64_t, std::size_t, std::size_t>; // arrival, block, index
    std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
    for (std::size_t b = 0; b < blocks.size(); ++b)
        if (!blocks[b].events.empty()) heads.emplace(blocks[b].arrival[0], b, 0);
    while (!heads.empty()) {
        const auto [arrival, b, i] = heads.top();
        heads.pop();
        stream.events.push_back(std::move(blocks[b].events[i]));
        if (i + 1 < blocks[b].events.size()) heads.emplace(blocks[b].arrival[i + 1], b, i + 1);
    }
    blocks.clear();

    // The JSON lines, written by the library's own to_json, in pieces on every core.
    constexpr std::size_t piece_events = 1 << 16;
    const std::size_t piece_count = (total + piece_events - 1) / piece_events;
    std::vector<std::string> pieces(piece_count);
    std::vector<std::vector<std::size_t>> piece_offsets(piece_count);
    on_every_core(piece_count, [&](std::size_t p) {
        const std::size_t end = std::min(total, (p + 1) * piece_events);
        for (std::size_t i = p * piece_events; i < end; ++i) {
            piece_offsets[p].push_back(pieces[p].size());
            const nlohmann::json j = stream.events[i];
            pieces[p] += j.dump();
        }
    });
    std::size_t bytes = 0;
    for (const std::string& piece : pieces) bytes += piece.size();
    stream.json.reserve(bytes);
    stream.offsets.reserve(total + 1);
    for (std::size_t p = 0; p < piece_count; ++p) {
        for (const std::size_t offset : piece_offsets[p]) stream.offsets.push_back(stream.json.size() + offset);
        stream.json += pieces[p];
        std::string().swap(pieces[p]);
    }
    stream.offsets.push_back(stream.json.size());
    return stream;
}

// CPU time of the calling thread in seconds; 0 where there is no such clock.
double thread_cpu_seconds() noexcept {
#ifdef CLOCK_THREAD_CPUTIME_ID
    timespec ts{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
#endif
    return 0;
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

template <class Storage>
Measurement measure(const Stream& stream, Path path, std::size_t threads) {
    using Store = mqtt_presence::ClientStatusStore<Storage>;
    const auto store = std::make_unique<Store>(); // fresh, not reserved: it grows as in production
    std::atomic<std::uint64_t> failures{0};
    const std::size_t n = stream.size();
    const Timing timing = timed_on_threads(threads, [&](std::size_t t) {
        std::uint64_t bad = 0;
        if (path == Path::parsed) {
            for (std::size_t i = t; i < n; i += threads)
                if (store->ingest(stream.events[i]).status == mqtt_presence::Status::invalid) ++bad;
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
    m.clients = store->size();
    m.online = store->online_count();
    m.failures = failures.load();
    return m;
}

struct Configuration {
    Path path;
    bool concurrent; // ConcurrentStorage, else InMemoryStorage
    std::size_t threads;
    std::vector<double> rates{};
    std::vector<double> cpu_ns{};
    std::vector<double> cores{};

    [[nodiscard]] Measurement run(const Stream& stream) const {
        return concurrent ? measure<mqtt_presence::ConcurrentStorage>(stream, path, threads)
                          : measure<mqtt_presence::InMemoryStorage>(stream, path, threads);
    }
};

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// The 1-, 5- and 15-minute load averages, to tell a quiet machine from a busy one; "" off Linux.
std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string one, five, fifteen;
    if (!(in >> one >> five >> fifteen)) return "";
    return one + " " + five + " " + fifteen;
}

int run(int argc, char** argv) {
    Args args;
    if (!parse_args(argc, argv, args)) {
        std::fputs(usage, stderr);
        return 2;
    }
    std::string command = argv[0];
    for (int i = 1; i < argc; ++i) command.append(" ").append(argv[i]);

    std::fprintf(stderr, "generating %zu clients (seed %llu)...\n", args.clients,
                 static_cast<unsigned long long>(args.seed));
    const Clock::time_point generating = Clock::now();
    const Stream stream = generate(args);
    std::fprintf(stderr, "%zu events, %.0f MB of JSON, in %.1f s\n", stream.size(),
                 static_cast<double>(stream.json.size()) / 1e6,
                 std::chrono::duration<double>(Clock::now() - generating).count());

    const std::size_t many = args.threads;
    std::vector<Configuration> configurations = {
        {Path::parsed, false, 1}, {Path::parsed, true, 1}, {Path::parsed, true, many},
        {Path::json, false, 1},   {Path::json, true, 1},   {Path::json, true, many},
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
                args.clients, stream.size(), static_cast<double>(stream.json.size()) / 1e6,
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
    std::printf("%-26s %-17s %7s %12s %12s %12s %10s %6s %8s\n", "path", "store", "threads", "median ev/s",
                "min ev/s", "max ev/s", "CPU ns/ev", "cores", "vs 1 thr");
    double one_thread = 0;
    for (const Configuration& configuration : configurations) {
        const double med = median(configuration.rates);
        const auto [lo, hi] = std::minmax_element(configuration.rates.begin(), configuration.rates.end());
        if (configuration.concurrent && configuration.threads == 1) one_thread = med;
        char ratio[32] = "";
        if (configuration.concurrent && configuration.threads > 1)
            std::snprintf(ratio, sizeof ratio, "%.2fx", med / one_thread);
        std::printf("%-26s %-17s %7zu %12.0f %12.0f %12.0f %10.0f %6.2f %8s\n",
                    configuration.path == Path::parsed ? "(a) parsed -> ingest" : "(b) JSON -> parse + ingest",
                    configuration.concurrent ? "ConcurrentStorage" : "InMemoryStorage", configuration.threads, med, *lo,
                    *hi, median(configuration.cpu_ns), median(configuration.cores), ratio);
    }
    return consistent ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mqtt_presence_bench_threads: %s\n", e.what());
    }
    return 1;
}
