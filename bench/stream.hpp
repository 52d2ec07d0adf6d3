#pragma once
// What every benchmark program shares: the generated event stream, its JSON lines, option
// parsing, medians and ranges, resident memory and per-thread CPU time.
//
// The stream: client histories from tests/support/history.hpp (flaps, overlapping connections,
// lost closes, clock skew; delivered late, reordered and duplicated: about 16 events per
// client), events only (no reconcile answers). It is generated in blocks of 100,000 clients on
// every core, deterministically for a seed (the same seed gives the same stream whatever the
// number of cores), and the blocks' deliveries are merged by arrival time into one stream, as if
// one broker had published every client's events.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <queue>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <nlohmann/json.hpp>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

#include "../tests/support/history.hpp"

namespace mqtt_presence::bench {

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// A decimal number, the whole of `text`.
inline bool parse_number(std::string_view text, std::uint64_t& value) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

/// One numeric command-line option "--name N", accepted in [min, max].
struct Option {
    std::string_view name;
    std::uint64_t* value;
    std::uint64_t min = 0;
    std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
};

/// Parses argv[1..] as "--name N" pairs of `options`; false on anything else.
inline bool parse_options(int argc, char** argv, std::initializer_list<Option> options) {
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        std::uint64_t value = 0;
        if (i + 1 >= argc || !parse_number(argv[i + 1], value)) return false;
        ++i;
        const auto option = std::find_if(options.begin(), options.end(), [&](const Option& o) { return o.name == arg; });
        if (option == options.end() || value < option->min || value > option->max) return false;
        *option->value = value;
    }
    return true;
}

/// The command line as typed, for the report.
inline std::string command_line(int argc, char** argv) {
    std::string command = argv[0];
    for (int i = 1; i < argc; ++i) command.append(" ").append(argv[i]);
    return command;
}

// ---------------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------------

/// Runs task(i) for i in [0, tasks) on every core; rethrows the first exception of a task.
inline void on_every_core(std::size_t tasks, const std::function<void(std::size_t)>& task) {
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

/// Clients per generated block: small enough that a block's histories take little memory,
/// large enough that blocks are few. Part of the stream's definition: a seed names a stream
/// only together with it.
inline constexpr std::size_t block_clients = 100000;

/// The events of `clients` clients' histories (client numbers 0 .. clients − 1), merged by
/// arrival time (ties: lower block first). Deterministic for a seed.
[[nodiscard]] inline std::vector<Event> generate_events(std::size_t clients, std::uint64_t seed) {
    using namespace mqtt_presence::testing;
    struct Block {
        std::vector<Event> events;
        std::vector<std::int64_t> arrival; // delivered_ms of each event, ascending
    };
    const std::size_t block_count = (clients + block_clients - 1) / block_clients;
    std::vector<Block> blocks(block_count);
    on_every_core(block_count, [&](std::size_t b) {
        HistoryOptions history;
        history.reconcile_offline_probability = 0; // events only, as in a JSON Lines dump
        history.reconcile_online_probability = 0;
        const std::size_t first = b * block_clients;
        const std::size_t count = std::min(block_clients, clients - first);
        Batch batch = generate_batch(mix_seed(seed, b), first, count, history, DeliveryOptions{});
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

    std::vector<Event> events;
    std::size_t total = 0;
    for (const Block& block : blocks) total += block.events.size();
    events.reserve(total);
    using Head = std::tuple<std::int64_t, std::size_t, std::size_t>; // arrival, block, index
    std::priority_queue<Head, std::vector<Head>, std::greater<>> heads;
    for (std::size_t b = 0; b < blocks.size(); ++b)
        if (!blocks[b].events.empty()) heads.emplace(blocks[b].arrival[0], b, 0);
    while (!heads.empty()) {
        const auto [arrival, b, i] = heads.top();
        heads.pop();
        events.push_back(std::move(blocks[b].events[i]));
        if (i + 1 < blocks[b].events.size()) heads.emplace(blocks[b].arrival[i + 1], b, i + 1);
    }
    return events;
}

/// Events as Alibaba JSON lines, back to back in one buffer (no separator: line() gives each).
struct JsonLines {
    /// Bytes after the last line (spaces), so that a parser that reads a little past the end of
    /// a line (simdjson reads up to 64 bytes ahead) stays inside the buffer for every line.
    static constexpr std::size_t padding = 64;

    std::string text;                 // the lines, then `padding` spaces
    std::vector<std::size_t> offsets; // line i is text[offsets[i], offsets[i + 1])

    [[nodiscard]] std::size_t size() const noexcept { return offsets.empty() ? 0 : offsets.size() - 1; }
    [[nodiscard]] std::string_view line(std::size_t i) const noexcept {
        return std::string_view(text).substr(offsets[i], offsets[i + 1] - offsets[i]);
    }
    /// Bytes of the lines, without the padding.
    [[nodiscard]] std::size_t bytes() const noexcept { return offsets.empty() ? 0 : offsets.back(); }
};

/// The events as JSON lines written by the library's own to_json, in pieces on every core.
[[nodiscard]] inline JsonLines to_json_lines(const std::vector<Event>& events) {
    const std::size_t total = events.size();
    constexpr std::size_t piece_events = 1 << 16;
    const std::size_t piece_count = (total + piece_events - 1) / piece_events;
    std::vector<std::string> pieces(piece_count);
    std::vector<std::vector<std::size_t>> piece_offsets(piece_count);
    on_every_core(piece_count, [&](std::size_t p) {
        const std::size_t end = std::min(total, (p + 1) * piece_events);
        for (std::size_t i = p * piece_events; i < end; ++i) {
            piece_offsets[p].push_back(pieces[p].size());
            const nlohmann::json j = events[i];
            pieces[p] += j.dump();
        }
    });
    std::size_t bytes = 0;
    for (const std::string& piece : pieces) bytes += piece.size();
    JsonLines lines;
    lines.text.reserve(bytes + JsonLines::padding);
    lines.offsets.reserve(total + 1);
    for (std::size_t p = 0; p < piece_count; ++p) {
        for (const std::size_t offset : piece_offsets[p]) lines.offsets.push_back(lines.text.size() + offset);
        lines.text += pieces[p];
        std::string().swap(pieces[p]);
    }
    lines.offsets.push_back(lines.text.size());
    lines.text.append(JsonLines::padding, ' ');
    return lines;
}

/// One client's connect, written into `event` in place (its buffers are reused): a client id
/// of the generator's forms (mostly "GID_test@@@dev00042", numbered like the generator's), a
/// 32-hex-digit channel id and an IPv4 "a.b.c.d:port". For memory measurements, where a vector
/// of a million events would itself be counted.
inline void make_connect(mqtt_presence::testing::Random& rng, std::size_t number, std::int64_t time_ms, Event& event) {
    char digits[24];
    const auto append_number = [&](std::string& out, std::uint64_t n, std::size_t width) {
        const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
        const auto length = static_cast<std::size_t>(end - digits);
        if (length < width) out.append(width - length, '0');
        out.append(digits, length);
    };
    event.client_id.clear();
    switch (rng.between(0, 9)) { // the group mix of testing::make_client_id
    case 7: event.client_id += "GID_meter@@@m-"; break;
    case 8: event.client_id += "GID_car@@@VIN"; break;
    case 9: event.client_id += "GID_lab-2@@@probe_"; break;
    default: event.client_id += "GID_test@@@dev"; break;
    }
    append_number(event.client_id, number, 5);
    static constexpr char hex[] = "0123456789abcdef";
    event.channel_id.clear();
    for (int i = 0; i < 32; ++i) event.channel_id.push_back(hex[rng.index(16)]);
    event.client_ip.clear();
    for (int i = 0; i < 4; ++i) {
        if (i != 0) event.client_ip.push_back('.');
        append_number(event.client_ip, static_cast<std::uint64_t>(rng.between(1, 254)), 1);
    }
    event.client_ip.push_back(':');
    append_number(event.client_ip, static_cast<std::uint64_t>(rng.between(1024, 65535)), 1);
    event.type = EventType::connect;
    event.time_ms = time_ms;
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

/// The median; 0 for no values.
[[nodiscard]] inline double median(std::vector<double> values) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

/// The p-quantile (0 < p <= 1) by nearest rank: the smallest value with at least p of the
/// values at or below it. 0 for no values.
[[nodiscard]] inline double quantile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    return values[std::min(values.size(), std::max<std::size_t>(rank, 1)) - 1];
}

struct Range {
    double min = 0;
    double max = 0;
};

/// The smallest and the largest value; {0, 0} for no values.
[[nodiscard]] inline Range range(const std::vector<double>& values) {
    if (values.empty()) return {};
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    return {*lo, *hi};
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

using Clock = std::chrono::steady_clock;

/// Seconds since `start` on the steady clock.
[[nodiscard]] inline double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

/// CPU time of the calling thread in seconds; 0 where there is no such clock.
[[nodiscard]] inline double thread_cpu_seconds() noexcept {
#ifdef CLOCK_THREAD_CPUTIME_ID
    timespec ts{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
#endif
    return 0;
}

/// Wall-clock and thread CPU time from construction; stop() writes both per event into a
/// measurement's ns_per_event and cpu_ns_per_event.
struct Timer {
    Clock::time_point wall = Clock::now();
    double cpu = thread_cpu_seconds();

    template <class Measurement>
    void stop(Measurement& m, std::size_t events) const {
        const double cpu_seconds = thread_cpu_seconds() - cpu;
        const double wall_seconds = seconds_since(wall);
        m.ns_per_event = wall_seconds * 1e9 / static_cast<double>(events);
        m.cpu_ns_per_event = cpu_seconds * 1e9 / static_cast<double>(events);
    }

    /// Adds the wall-clock and thread CPU seconds since construction to the two sums.
    void add_to(double& wall_seconds, double& cpu_seconds) const {
        cpu_seconds += thread_cpu_seconds() - cpu;
        wall_seconds += seconds_since(wall);
    }
};

/// Resident memory of this process in bytes (/proc/self/statm); 0 off Linux.
[[nodiscard]] inline std::size_t rss_bytes() {
    std::ifstream in("/proc/self/statm");
    std::size_t size_pages = 0, resident_pages = 0;
    if (!(in >> size_pages >> resident_pages)) return 0;
    const long page = sysconf(_SC_PAGESIZE);
    return resident_pages * static_cast<std::size_t>(page > 0 ? page : 4096);
}

/// The largest resident memory of this process so far in bytes (VmHWM in /proc/self/status);
/// 0 off Linux.
[[nodiscard]] inline std::size_t peak_rss_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) != 0) continue;
        std::uint64_t kib = 0;
        const std::size_t digits = line.find_first_of("0123456789");
        const std::size_t end = line.find_first_not_of("0123456789", digits);
        if (digits == std::string::npos || !parse_number(std::string_view(line).substr(digits, end - digits), kib)) return 0;
        return static_cast<std::size_t>(kib) * 1024;
    }
    return 0;
}

/// Returns memory the program has freed to the system where the allocator can (glibc:
/// malloc_trim), so that a timed phase runs with the memory it holds, not the memory it held.
/// The options of the programs that time one generated stream.
struct StreamArgs {
    std::uint64_t clients = 1000000;
    std::uint64_t runs = 5;
    std::uint64_t seed = 1;
};

/// --clients N (1..100,000,000), --runs N (1..1000), --seed N; false on a bad command line.
inline bool parse_stream_args(int argc, char** argv, StreamArgs& args) {
    return parse_options(argc, argv,
                         {{"--clients", &args.clients, 1, 100000000}, {"--runs", &args.runs, 1, 1000},
                          {"--seed", &args.seed}});
}

/// A bench program's main: run(argc, argv), with an exception reported as "program: what" on
/// standard error and exit status 1.
template <class Run>
int guarded_main(const char* program, Run run, int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", program, e.what());
    }
    return 1;
}

inline void release_free_memory() noexcept {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

/// The 1-, 5- and 15-minute load averages, to tell a quiet machine from a busy one; "" off Linux.
[[nodiscard]] inline std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string one, five, fifteen;
    if (!(in >> one >> five >> fifteen)) return "";
    return one + " " + five + " " + fifteen;
}

/// events[at[0]], events[at[1]], ...: a forward iterator over a stream's events picked by
/// position (a consumer's share of the stream), for ingest_batch.
template <class Position>
struct Indexed {
    using iterator_category = std::forward_iterator_tag;
    using value_type = Event;
    using difference_type = std::ptrdiff_t;
    using pointer = const Event*;
    using reference = const Event&;

    const Event* events = nullptr;
    const Position* at = nullptr;

    reference operator*() const noexcept { return events[*at]; }
    pointer operator->() const noexcept { return events + *at; }
    Indexed& operator++() noexcept {
        ++at;
        return *this;
    }
    friend bool operator==(const Indexed& a, const Indexed& b) noexcept { return a.at == b.at; }
    friend bool operator!=(const Indexed& a, const Indexed& b) noexcept { return a.at != b.at; }
};

} // namespace mqtt_presence::bench
