// mqtt_presence_bench_compare: this checkout's ingest against another version's, in one
// program, taking turns, so that two versions can be told apart on a machine whose speed swings
// by more than the difference between them (bench/compare.sh builds and runs it).
//
//   mqtt_presence_bench_compare [--clients N] [--rounds N] [--reserve 0|1] [--seed N]
//
// The stream (bench/stream.hpp, as bench_ingest's: about 16 events per client, late, reordered
// and duplicated) is generated once, not timed, and each version copies it into its own Events,
// one after another in stream order. A round times ingest_batch(begin, end) over the whole
// stream into a fresh ClientStatusStore<> of each version (reserved for the stream's clients
// with --reserve 1, the default, as bench_ingest's headline row), the two in one order in odd
// rounds and the other in even ones. Both must end in the same state (clients, online
// clients, applied events): two versions that do different work are not compared.
// Reported: each round's ns per event of both and their ratio (baseline ÷ this checkout), then
// the medians and ranges of the three. The ratio of one round compares two runs a few seconds
// apart, under much the same load; its median over rounds is the figure to quote.
//
// Each version's runner is compiled in a translation unit of its own, the same for both
// (bench_compare_current.cpp, bench_compare_baseline.cpp); this one generates the stream.
// Exit status 1 when the two versions end in different states.

#include <cstdio>
#include <string>
#include <vector>

#include <mqtt_presence/mqtt_presence.hpp>

#include "compare.hpp"
#include "stream.hpp"

namespace {

namespace bench = mqtt_presence::bench;
using mqtt_presence_compare::EventView;
using mqtt_presence_compare::RunResult;

constexpr const char* usage =
    "usage: mqtt_presence_bench_compare [--clients N] [--rounds N] [--reserve 0|1] [--seed N]\n"
    "  --clients N   clients in the generated stream (default 1000000; about 16 events each)\n"
    "  --rounds N    rounds, each timing both versions once (default 9)\n"
    "  --reserve 1   reserve the storage for the stream's clients first (default); 0: let it grow\n"
    "  --seed N      seed of the generated stream (default 1)\n";

bool same_state(const RunResult& a, const RunResult& b) {
    return a.clients == b.clients && a.online == b.online && a.applied == b.applied;
}

int run(int argc, char** argv) {
    std::uint64_t clients = 1000000;
    std::uint64_t rounds = 9;
    std::uint64_t reserve = 1;
    std::uint64_t seed = 1;
    if (!bench::parse_options(argc, argv,
                              {{"--clients", &clients, 1, 100000000},
                               {"--rounds", &rounds, 1, 1000},
                               {"--reserve", &reserve, 0, 1},
                               {"--seed", &seed}})) {
        std::fputs(usage, stderr);
        return 2;
    }
    std::fprintf(stderr, "generating %llu clients (seed %llu)...\n", static_cast<unsigned long long>(clients),
                 static_cast<unsigned long long>(seed));
    // Both copies are made while the generated events still hold their memory, so that each
    // is laid out in fresh memory, one event after another (made after a free, a copy could
    // fill the holes the free left, and read slower): the peak is the generated events and
    // two copies.
    std::unique_ptr<mqtt_presence_compare::Runner> current;
    std::unique_ptr<mqtt_presence_compare::Runner> baseline;
    std::size_t events = 0;
    {
        const std::vector<mqtt_presence::Event> generated =
                bench::generate_events(static_cast<std::size_t>(clients), seed);
        std::vector<EventView> stream;
        stream.reserve(generated.size());
        for (const mqtt_presence::Event& e : generated)
            stream.push_back({e.client_id, e.channel_id, e.client_ip, static_cast<int>(e.type), e.time_ms});
        events = stream.size();
        std::fprintf(stderr, "%zu events; copying them for each version...\n", events);
        current = mqtt_presence_compare::make_current(stream);
        baseline = mqtt_presence_compare::make_baseline(stream);
    }
    bench::release_free_memory(); // the generated events
    const std::size_t reserved = reserve != 0 ? static_cast<std::size_t>(clients) : 0;

    std::printf("command: %s\n", bench::command_line(argc, argv).c_str());
    std::printf("stream:  %llu clients, %zu events, seed %llu; storage %s\n",
                static_cast<unsigned long long>(clients), events, static_cast<unsigned long long>(seed),
                reserve != 0 ? "reserved for the clients first" : "growing");
    std::printf("load average before: %s\n\n", bench::load_average().c_str());
    std::printf("ingest_batch() over the whole stream, ns per event\n");
    std::printf("%-7s %12s %12s %18s\n", "round", "this", "baseline", "baseline / this");
    std::vector<double> mine;
    std::vector<double> theirs;
    std::vector<double> ratios;
    for (std::uint64_t r = 0; r < rounds; ++r) {
        RunResult a;
        RunResult b;
        if (r % 2 == 0) {
            a = current->ingest_batch(reserved);
            b = baseline->ingest_batch(reserved);
        } else {
            b = baseline->ingest_batch(reserved);
            a = current->ingest_batch(reserved);
        }
        if (!same_state(a, b)) {
            std::printf("the versions end in different states: this %zu clients, %zu online, %llu applied; "
                        "baseline %zu, %zu, %llu\n",
                        a.clients, a.online, static_cast<unsigned long long>(a.applied), b.clients, b.online,
                        static_cast<unsigned long long>(b.applied));
            return 1;
        }
        mine.push_back(a.ns_per_event);
        theirs.push_back(b.ns_per_event);
        ratios.push_back(b.ns_per_event / a.ns_per_event);
        std::printf("%-7llu %12.1f %12.1f %17.3fx\n", static_cast<unsigned long long>(r + 1), a.ns_per_event,
                    b.ns_per_event, ratios.back());
        std::fflush(stdout);
    }
    const auto line = [](const char* what, const std::vector<double>& v, const char* unit) {
        const bench::Range span = bench::range(v);
        std::printf("%-16s median %8.3f%s  (%.3f to %.3f)\n", what, bench::median(v), unit, span.min, span.max);
    };
    std::printf("\n");
    line("this, ns", mine, "");
    line("baseline, ns", theirs, "");
    line("baseline / this", ratios, "x");
    std::printf("load average after: %s; peak RSS %.2f GB\n", bench::load_average().c_str(),
                static_cast<double>(bench::peak_rss_bytes()) / 1e9);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    return mqtt_presence::bench::guarded_main("mqtt_presence_bench_compare", run, argc, argv);
}
