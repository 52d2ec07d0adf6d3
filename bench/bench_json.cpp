// mqtt_presence_bench_json: JSON line → Event, and JSON line → state, per parser, on one
// thread, over a generated stream of about 1 M clients (the DESIGN §5 targets on the JSON path).
//
//   mqtt_presence_bench_json [--clients N] [--runs N] [--seed N]
//
// Parsers: nlohmann (mqtt_presence::parse_alibaba_event(line, event, error), the SAX parser of
// json/alibaba.hpp), and simdjson (mqtt_presence::AlibabaSimdjsonParser: its flat reader, then
// On-Demand for what that declines) and "simdjson OD" (the same parser with Reader::on_demand:
// every line through On-Demand) when the build has the mqtt_presence::simdjson target
// (bench/CMakeLists.txt then defines MQTT_PRESENCE_BENCH_SIMDJSON).
// A parser is an adapter with a name and parse(line, event, error); every measurement is a
// template over it.
//
// The input, not timed: the stream (bench/stream.hpp: about 16 events per client, late,
// reordered and duplicated) is generated once, on every core, and serialised once to Alibaba
// JSON lines by the library's own to_json (nlohmann writes the keys in alphabetical order), back
// to back in one buffer in stream order, so that reading the next line is a sequential read.
// Then, still not timed: every parser must give back every line's event exactly (all five
// fields), checked on every core; the events are ingested once into a store, whose final state
// and counters every parse + ingest measurement must reproduce; and the events are freed, so
// that only the lines are in memory while the clock runs.
//
// Configurations, per parser, each on one thread:
//  - parse only: every line parsed into one reused Event (a parser reuses its buffers), and a
//    checksum of the fields taken so that no work can be dropped;
//  - parse + ingest: a fresh, unreserved ClientStatusStore<> (InMemoryStorage); every line
//    parsed into one reused Event and ingested;
//  - parse, ingest_batch: the same store; 64 lines at a time parsed into 64 reused Events,
//    then one ingest_batch() over them (as a consumer receiving batches would, and the replay
//    tool does: the store prefetches the records of the events ahead).
// (Ingest of already-parsed events alone: mqtt_presence_bench_ingest.)
// The clock runs from the first line to the last: not generation, serialisation, checks, the
// construction or the destruction of the store. Every configuration is measured --runs times,
// the configurations taking turns so that a burst of load from elsewhere hits them all alike;
// the table gives the median and the range of wall-clock ns per event, events/s from the median,
// the median CPU time per event of the thread (CLOCK_THREAD_CPUTIME_ID: tells a slower program
// from a busier machine), and, for another parser, its median ÷ nlohmann's on the same path.
//
// Exit status 1 when a parser does not give back an event exactly, a line fails to parse, a
// parse-only run's checksum differs, or a parse + ingest run ends in another state than the
// reference.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>
#ifdef MQTT_PRESENCE_BENCH_SIMDJSON
#include <mqtt_presence/simdjson.hpp>
#endif

#include "stream.hpp"

namespace {

using mqtt_presence::Event;
using Store = mqtt_presence::ClientStatusStore<>;
namespace bench = mqtt_presence::bench;
using bench::Clock;

constexpr const char* usage =
    "usage: mqtt_presence_bench_json [--clients N] [--runs N] [--seed N]\n"
    "  --clients N  clients in the generated stream (default 1000000; about 16 events each)\n"
    "  --runs N     measurements per configuration; the table gives the median (default 5)\n"
    "  --seed N     seed of the generated stream (default 1)\n";

using Args = bench::StreamArgs;

// ---------------------------------------------------------------------------------------------
// Parser adapters: a name, default construction, and bool parse(line, event, error)
// ---------------------------------------------------------------------------------------------

struct NlohmannParser {
    static constexpr const char* name = "nlohmann";
    bool parse(std::string_view line, Event& event, std::string& error) {
        return mqtt_presence::parse_alibaba_event(line, event, error);
    }
};

#ifdef MQTT_PRESENCE_BENCH_SIMDJSON
struct SimdjsonParser {
    static constexpr const char* name = "simdjson";
    mqtt_presence::AlibabaSimdjsonParser parser;
    bool parse(std::string_view line, Event& event, std::string& error) {
        return static_cast<bool>(parser.parse(line, event, error));
    }
};

// The same parser without its flat reader: every line through simdjson On-Demand.
struct OnDemandParser {
    static constexpr const char* name = "simdjson OD";
    mqtt_presence::AlibabaSimdjsonParser parser{mqtt_presence::AlibabaSimdjsonParser::Reader::on_demand};
    bool parse(std::string_view line, Event& event, std::string& error) {
        return static_cast<bool>(parser.parse(line, event, error));
    }
};
#endif

// ---------------------------------------------------------------------------------------------
// The input and its reference results
// ---------------------------------------------------------------------------------------------

// Folds the fields of an event into a number, so that a parse-only loop has a result.
std::uint64_t fold(std::uint64_t sum, const Event& event) noexcept {
    sum += static_cast<std::uint64_t>(event.time_ms);
    sum += event.client_id.size() * 1000003U + event.channel_id.size() * 1009U + event.client_ip.size() * 31U;
    sum += static_cast<std::uint64_t>(event.type) + static_cast<unsigned char>(event.channel_id.back());
    return sum;
}

struct Reference {
    std::uint64_t checksum = 0;
    std::size_t clients = 0;
    std::size_t online = 0;
    mqtt_presence::Counters counters{};
};

bool same_state(const Store& store, const Reference& reference) {
    const mqtt_presence::Counters a = store.counters();
    const mqtt_presence::Counters& b = reference.counters;
    return store.size() == reference.clients && store.online_count() == reference.online && a.events == b.events &&
           a.applied == b.applied && a.superseded == b.superseded && a.behind_watermark == b.behind_watermark &&
           a.duplicates == b.duplicates && a.stale == b.stale && a.refused == b.refused && a.invalid == b.invalid &&
           a.went_online == b.went_online && a.went_offline == b.went_offline;
}

bool same_event(const Event& a, const Event& b) {
    return a.client_id == b.client_id && a.channel_id == b.channel_id && a.type == b.type && a.time_ms == b.time_ms &&
           a.client_ip == b.client_ip;
}

// Whether Parser gives back every event from its line; reports the first line that it does not.
template <class Parser>
bool parser_agrees(const bench::JsonLines& lines, const std::vector<Event>& events) {
    constexpr std::size_t piece = 1 << 16;
    const std::size_t pieces = (lines.size() + piece - 1) / piece;
    std::atomic<std::size_t> first_bad{lines.size()};
    bench::on_every_core(pieces, [&](std::size_t p) {
        Parser parser;
        Event event;
        std::string error;
        const std::size_t end = std::min(lines.size(), (p + 1) * piece);
        for (std::size_t i = p * piece; i < end; ++i) {
            if (parser.parse(lines.line(i), event, error) && same_event(event, events[i])) continue;
            std::size_t seen = first_bad.load();
            while (i < seen && !first_bad.compare_exchange_weak(seen, i)) {
            }
            return;
        }
    });
    const std::size_t bad = first_bad.load();
    if (bad == lines.size()) return true;
    Parser parser;
    Event event;
    std::string error;
    const bool parsed = parser.parse(lines.line(bad), event, error);
    std::fprintf(stderr, "MISMATCH: %s, line %zu: %s\n  %.*s\n", Parser::name, bad + 1,
                 parsed ? "another event than the generated one" : error.c_str(),
                 static_cast<int>(lines.line(bad).size()), lines.line(bad).data());
    return false;
}

// ---------------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------------

struct Measurement {
    double ns_per_event = 0;
    double cpu_ns_per_event = 0;
    bool ok = false; // the result matched the reference
};

template <class Parser>
Measurement parse_only(const bench::JsonLines& lines, const Reference& reference) {
    Parser parser;
    Event event;
    std::string error;
    std::uint64_t sum = 0;
    std::size_t failures = 0;
    const std::size_t n = lines.size();
    Measurement m;
    const bench::Timer timer;
    for (std::size_t i = 0; i < n; ++i) {
        if (parser.parse(lines.line(i), event, error)) sum = fold(sum, event);
        else ++failures;
    }
    timer.stop(m, n);
    m.ok = failures == 0 && sum == reference.checksum;
    return m;
}

template <class Parser>
Measurement parse_and_ingest(const bench::JsonLines& lines, const Reference& reference) {
    Parser parser;
    Event event;
    std::string error;
    std::size_t failures = 0;
    const auto store = std::make_unique<Store>();
    const std::size_t n = lines.size();
    Measurement m;
    const bench::Timer timer;
    for (std::size_t i = 0; i < n; ++i) {
        if (parser.parse(lines.line(i), event, error)) (void)store->ingest(event);
        else ++failures;
    }
    timer.stop(m, n);
    m.ok = failures == 0 && same_state(*store, reference);
    return m; // the store is destroyed here, after the clock stopped
}

// As a consumer that receives messages in batches does (and the replay tool): 64 lines parsed
// into 64 reused Events, then one ingest_batch() over them.
template <class Parser>
Measurement parse_and_ingest_batched(const bench::JsonLines& lines, const Reference& reference) {
    constexpr std::size_t group = 64;
    Parser parser;
    std::vector<Event> events(group);
    std::string error;
    std::size_t failures = 0;
    const auto store = std::make_unique<Store>();
    const std::size_t n = lines.size();
    Measurement m;
    const bench::Timer timer;
    std::size_t count = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (parser.parse(lines.line(i), events[count], error)) ++count;
        else ++failures;
        if (count == group || i + 1 == n) {
            store->ingest_batch(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(count));
            count = 0;
        }
    }
    timer.stop(m, n);
    m.ok = failures == 0 && same_state(*store, reference);
    return m; // the store is destroyed here, after the clock stopped
}

struct Input {
    bench::JsonLines lines;
    Reference reference;
};

struct Configuration {
    const char* parser;
    const char* path;
    std::function<Measurement(const Input&)> measure;
    std::vector<double> ns{};
    std::vector<double> cpu_ns{};
};

template <class Parser>
void add_parser(std::vector<Configuration>& configurations) {
    configurations.push_back({Parser::name, "parse only",
                              [](const Input& in) { return parse_only<Parser>(in.lines, in.reference); }});
    configurations.push_back({Parser::name, "parse + ingest",
                              [](const Input& in) { return parse_and_ingest<Parser>(in.lines, in.reference); }});
    configurations.push_back({Parser::name, "parse, ingest_batch",
                              [](const Input& in) { return parse_and_ingest_batched<Parser>(in.lines, in.reference); }});
}

template <class Parser>
bool check_parser(const bench::JsonLines& lines, const std::vector<Event>& events) {
    std::fprintf(stderr, "checking %s on every line...\n", Parser::name);
    return parser_agrees<Parser>(lines, events);
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

    std::fprintf(stderr, "generating %zu clients (seed %llu)...\n", clients,
                 static_cast<unsigned long long>(args.seed));
    const Clock::time_point generating = Clock::now();
    Input in;
    std::vector<Configuration> configurations;
    add_parser<NlohmannParser>(configurations);
#ifdef MQTT_PRESENCE_BENCH_SIMDJSON
    add_parser<SimdjsonParser>(configurations);
    add_parser<OnDemandParser>(configurations);
#endif
    bool consistent = true;
    {
        const std::vector<Event> events = bench::generate_events(clients, args.seed);
        in.lines = bench::to_json_lines(events);
        std::fprintf(stderr, "%zu events, %.0f MB of JSON, in %.1f s\n", events.size(),
                     static_cast<double>(in.lines.bytes()) / 1e6, bench::seconds_since(generating));
        consistent = check_parser<NlohmannParser>(in.lines, events) && consistent;
#ifdef MQTT_PRESENCE_BENCH_SIMDJSON
        consistent = check_parser<SimdjsonParser>(in.lines, events) && consistent;
        consistent = check_parser<OnDemandParser>(in.lines, events) && consistent;
#endif
        std::uint64_t sum = 0;
        const auto store = std::make_unique<Store>();
        for (const Event& event : events) {
            sum = fold(sum, event);
            (void)store->ingest(event);
        }
        in.reference.checksum = sum;
        in.reference.clients = store->size();
        in.reference.online = store->online_count();
        in.reference.counters = store->counters();
    }
    bench::release_free_memory(); // the events and the reference store

    const std::string load_before = bench::load_average();
    for (std::size_t r = 0; r < runs; ++r) {
        for (Configuration& c : configurations) {
            const Measurement m = c.measure(in);
            c.ns.push_back(m.ns_per_event);
            c.cpu_ns.push_back(m.cpu_ns_per_event);
            if (!m.ok) {
                std::fprintf(stderr, "MISMATCH: run %zu, %s, %s: not the reference result\n", r + 1, c.parser, c.path);
                consistent = false;
            }
        }
        std::fprintf(stderr, "round %zu/%zu done\n", r + 1, runs);
    }

    std::printf("command: %s\n", command.c_str());
    std::printf("stream:  %zu clients, %zu events (%.0f MB of JSON lines, %.0f bytes per line), seed %llu; "
                "%zu runs per row\n",
                clients, in.lines.size(), static_cast<double>(in.lines.bytes()) / 1e6,
                static_cast<double>(in.lines.bytes()) / static_cast<double>(std::max<std::size_t>(1, in.lines.size())),
                static_cast<unsigned long long>(args.seed), runs);
    std::printf("machine: %u hardware threads; load average before %s, after %s; peak RSS %.2f GB\n",
                std::thread::hardware_concurrency(), load_before.c_str(), bench::load_average().c_str(),
                static_cast<double>(bench::peak_rss_bytes()) / 1e9);
    std::printf("final state: %zu clients, %zu online%s\n", in.reference.clients, in.reference.online,
                consistent ? "" : " (a check failed: see MISMATCH above)");
    std::printf("one thread, %zu runs per row: wall-clock ns per event (median, min, max), events/s from the median,\n"
                "CPU ns per event (median); vs nlohmann: median / nlohmann's median on the same path\n\n",
                runs);
    std::printf("%-16s %-19s %12s %9s %9s %9s %10s %11s\n", "parser", "path", "events/s", "ns/ev", "min", "max",
                "CPU ns/ev", "vs nlohmann");
    for (const Configuration& c : configurations) {
        const double med = bench::median(c.ns);
        const bench::Range span = bench::range(c.ns);
        char ratio[32] = "";
        if (std::string_view(c.parser) != NlohmannParser::name) {
            for (const Configuration& base : configurations)
                if (std::string_view(base.parser) == NlohmannParser::name && std::string_view(base.path) == c.path)
                    std::snprintf(ratio, sizeof ratio, "%.2fx", med / bench::median(base.ns));
        }
        std::printf("%-16s %-19s %12.0f %9.1f %9.1f %9.1f %10.1f %11s\n", c.parser, c.path, 1e9 / med, med, span.min,
                    span.max, bench::median(c.cpu_ns), ratio);
    }
    return consistent ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) { return mqtt_presence::bench::guarded_main("mqtt_presence_bench_json", run, argc, argv); }
