// mqtt_presence_bench_instructions: the work whose instructions per event the README gives, in
// a form for callgrind to count. An instruction count does not depend on the machine's load, so
// it compares two versions of the code on a shared, noisy machine where times cannot; it does
// not see cache misses (the timed programs do).
//
//   bash bench/instructions.sh [BUILD_DIR] [CLIENTS]     # every part, under callgrind
//   mqtt_presence_bench_instructions PART [--clients N] [--seed N]
//
// PART is one of:
//   ingest       ClientStatusStore<>::ingest_batch over the whole stream, into a fresh store
//                reserved for the stream's clients (made and destroyed outside the count);
//   nlohmann     every line through parse_alibaba_event (the SAX parser), into one reused Event;
//   simdjson     every line through AlibabaSimdjsonParser (its flat reader first);
//   simdjson-od  every line through AlibabaSimdjsonParser with Reader::on_demand.
// The stream is bench/stream.hpp's for --clients clients (default 20,000: the store and the
// lines stay in cache, so that what is counted is the work of an event and not the wait for
// memory) and --seed (default 1); its lines are the library's own to_json output. The part runs
// once, inside a function named measured_<part> that is never inlined: callgrind's
// --toggle-collect='*measured_*' counts only it. The program prints "events N"; the instructions
// callgrind collected, divided by N, are the figure. Exit status 2: a part this build lacks
// (simdjson without mqtt_presence::simdjson) or a bad command line.

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>
#ifdef MQTT_PRESENCE_BENCH_SIMDJSON
#include <mqtt_presence/simdjson.hpp>
#endif

#include "stream.hpp"

// Under callgrind, instrumentation can start at the measured part (--instr-atstart=no), which
// spares the slow instrumented generation of the stream; the requests are no-ops elsewhere.
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define MQTT_PRESENCE_BENCH_START_COUNTING() CALLGRIND_START_INSTRUMENTATION
#define MQTT_PRESENCE_BENCH_STOP_COUNTING() CALLGRIND_STOP_INSTRUMENTATION
#endif
#endif
#ifndef MQTT_PRESENCE_BENCH_START_COUNTING
#define MQTT_PRESENCE_BENCH_START_COUNTING() (void)0
#define MQTT_PRESENCE_BENCH_STOP_COUNTING() (void)0
#endif

namespace {

using mqtt_presence::Event;
using mqtt_presence::bench::JsonLines;

// Each returns something derived from all of its work, so that none of it can be left out.

// (The store is made and destroyed outside: neither is counted.)
[[gnu::noinline]] std::size_t measured_ingest(mqtt_presence::ClientStatusStore<>& store, const std::vector<Event>& events) {
    store.ingest_batch(events.begin(), events.end());
    return store.online_count();
}

// Parses every line with `parse` (bool(line, event, error)); returns how many it accepted plus
// the sum of their times (mod 2^64).
template <class Parse>
std::uint64_t parse_all(const JsonLines& lines, Parse&& parse) {
    Event event;
    std::string error;
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < lines.size(); ++i)
        if (parse(lines.line(i), event, error)) sum += 1 + static_cast<std::uint64_t>(event.time_ms);
    return sum;
}

[[gnu::noinline]] std::uint64_t measured_nlohmann(const JsonLines& lines) {
    return parse_all(lines, [](std::string_view line, Event& event, std::string& error) {
        return mqtt_presence::parse_alibaba_event(line, event, error);
    });
}

#ifdef MQTT_PRESENCE_BENCH_SIMDJSON
[[gnu::noinline]] std::uint64_t measured_simdjson(const JsonLines& lines,
                                                  mqtt_presence::AlibabaSimdjsonParser::Reader reader) {
    mqtt_presence::AlibabaSimdjsonParser parser(reader);
    return parse_all(lines, [&](std::string_view line, Event& event, std::string& error) {
        return static_cast<bool>(parser.parse(line, event, error));
    });
}
#endif

int usage() {
    std::fprintf(stderr, "usage: mqtt_presence_bench_instructions ingest|nlohmann|simdjson|simdjson-od "
                         "[--clients N] [--seed N]\n");
    return 2;
}

int run(int argc, char** argv) {
    if (argc < 2) return usage();
    const std::string_view part = argv[1];
    std::uint64_t clients = 20000;
    std::uint64_t seed = 1;
    // (argv + 1: the options follow the part, and parse_options starts at its second argument)
    if (!mqtt_presence::bench::parse_options(argc - 1, argv + 1,
                                             {{"--clients", &clients, 1, 10000000}, {"--seed", &seed}}))
        return usage();
#ifndef MQTT_PRESENCE_BENCH_SIMDJSON
    if (part == "simdjson" || part == "simdjson-od") {
        std::fprintf(stderr, "mqtt_presence_bench_instructions: built without mqtt_presence::simdjson\n");
        return 2;
    }
#endif
    if (part != "ingest" && part != "nlohmann" && part != "simdjson" && part != "simdjson-od") return usage();

    const std::vector<Event> events = mqtt_presence::bench::generate_events(clients, seed);
    std::uint64_t result = 0;
    if (part == "ingest") {
        mqtt_presence::ClientStatusStore<> store;
        store.storage().reserve(clients);
        MQTT_PRESENCE_BENCH_START_COUNTING();
        result = measured_ingest(store, events);
        MQTT_PRESENCE_BENCH_STOP_COUNTING();
    } else {
        const JsonLines lines = mqtt_presence::bench::to_json_lines(events);
        MQTT_PRESENCE_BENCH_START_COUNTING();
        if (part == "nlohmann") result = measured_nlohmann(lines);
#ifdef MQTT_PRESENCE_BENCH_SIMDJSON
        if (part == "simdjson") result = measured_simdjson(lines, mqtt_presence::AlibabaSimdjsonParser::Reader::flat_first);
        if (part == "simdjson-od") result = measured_simdjson(lines, mqtt_presence::AlibabaSimdjsonParser::Reader::on_demand);
#endif
        MQTT_PRESENCE_BENCH_STOP_COUNTING();
    }
    std::printf("part %s\nclients %llu\nevents %zu\nresult %llu\n", std::string(part).c_str(),
                static_cast<unsigned long long>(clients), events.size(), static_cast<unsigned long long>(result));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    return mqtt_presence::bench::guarded_main("mqtt_presence_bench_instructions", run, argc, argv);
}
