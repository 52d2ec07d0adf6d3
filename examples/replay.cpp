// mqtt_presence_replay: replays a dump of MQTT broker lifecycle events (Alibaba Cloud MQTT, AWS IoT
// Core, EMQX or Azure Event Grid MQTT) and reports who is online at the end, so that an operator
// can rebuild state after an outage, check a consumer against a captured stream, or measure the
// ingest rate on real data.
//
//   mqtt_presence_replay [--format NAME] [--online-out FILE] [--threads N] [--parser NAME]
//                        [options] [FILE ...]
//
//   mqtt_presence_replay --online-out online.txt events-*.jsonl
//   zcat dump.jsonl.gz | mqtt_presence_replay --quiet --threads 2
//   mqtt_presence_replay --format emqx --online-out online.txt emqx-events.jsonl
//   mqtt_presence_replay --snapshot-out day1.snap day1.jsonl
//   mqtt_presence_replay --snapshot-in day1.snap --group-counts day2.jsonl
//
// Input: JSON Lines, one event per line, in the format named by --format (default alibaba):
//   alibaba        Alibaba Cloud MQTT (parse_alibaba_event), e.g.
//     {"clientId":"GID_XXX@@@dev1","time":1570795200000,"eventType":"connect",
//      "channelId":"2b9b1281046046faafe5e0b458e4a1b2","clientIp":"192.0.2.7:13222"}
//   aws-iot        AWS IoT Core lifecycle events (parse_aws_iot_event; the store's options are
//                  aws_iot_options(): versionNumbers reused after an hour offline), e.g.
//     {"clientId":"c1","timestamp":1573002230757,"eventType":"connected",
//      "sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967",
//      "principalIdentifier":"12345678901234567890123456789012","ipAddress":"192.0.2.0","versionNumber":0}
//   emqx           EMQX client events, from the rule engine, a webhook or $SYS (parse_emqx_event), e.g.
//     {"event":"client.connected","clientid":"c1","connected_at":1645003578000,
//      "peername":"192.0.2.1:5000","timestamp":1645003578001,"node":"emqx@127.0.0.1"}
//   azure-eg-mqtt  Azure Event Grid MQTT session events, as CloudEvents or in the Event Grid schema
//                  (parse_azure_eg_mqtt_event), e.g.
//     {"specversion":"1.0","type":"Microsoft.EventGrid.MQTTClientSessionConnected",
//      "time":"2024-01-01T00:00:00.000Z","subject":"clients/dev1/sessions/c1",...,
//      "data":{"clientAuthenticationName":"dev1","clientSessionName":"c1","sequenceNumber":1,...}}
// The format's adapter (<mqtt_presence/json.hpp>) decides which client and which connection an
// event is about; everything after it is the same for every format.
// Files are replayed in the order given into one state; no FILE, or "-", reads standard input.
// Input is streamed, so a dump of any size fits; a line longer than 1 MiB is rejected. CRLF
// line ends are accepted and whitespace-only lines are ignored. A bad line (not JSON, a missing
// or mistyped field, an unknown event type, an absurd time: whatever the format's adapter
// refuses, in its words) is reported on standard error as
// "mqtt_presence_replay: FILE:LINE: reason", counted as rejected and skipped; after 100 such
// reports the rest are only counted (--quiet: only counted).
//
// Options set the rules (README.md, "The rules"): --close-on-disconnect (rule 4), --no-takeover and
// --takeover-tolerance-ms N (rule 6), --retention-ms N (rule 5). See --help.
//
// Snapshots (README.md, "Snapshots"): --snapshot-in FILE loads a state saved by --snapshot-out (or
// by ClientStatusStore::save_snapshot_file) before the first line is read, so that a dump can be
// replayed in parts; a damaged or unreadable snapshot is refused before anything is replayed, with
// a message naming the file and the problem, and exit status 1. --snapshot-out FILE saves the state
// at the end, atomically (a failure leaves a previous FILE as it was); its metadata records the
// inputs, their format and the number of lines replayed. --group-counts adds "groups" to the summary: the
// number of online clients per Group ID (the text before "@@@"; "" for ids without one).
//
// Parser: for --format alibaba, --parser simdjson (AlibabaSimdjsonParser,
// <mqtt_presence/simdjson.hpp>; the default when the tool was built with simdjson) or --parser
// nlohmann (parse_alibaba_event, <mqtt_presence/json.hpp>). Both accept exactly the same lines
// and word every refusal the same, so the summary (but for its timings and "parser") and the
// reports do not depend on the choice. The other formats have only their nlohmann adapter: it is
// their default, and --parser simdjson with them is a command-line error, as is naming a parser
// the tool was built without.
//
// Output: one JSON object on one line on standard output, e.g.
//   {"events":17,"applied":15,"duplicates":2,"refused":0,"rejected":0,...,"events_per_sec":...}
// where events (non-blank lines) = applied + duplicates + refused + rejected, and applied
// counts every event that was accepted and not a duplicate (superseded, behind_watermark and
// stale included; they are also given on their own). seconds is the wall time of reading,
// parsing and ingesting, and events_per_sec events / seconds; "parser" names the parser used and
// "format" the input format. --online-out FILE also writes the online client ids, sorted
// bytewise, one per line. With --snapshot-in, clients and online count the loaded clients too, while the
// other counts are of this run's lines. On a terminal, standard error shows the progress of a
// long replay.
//
// Exit status: 0 when the input was read (bad lines included); 1 when a file cannot be opened
// or read (the replay stops there, with no summary), --snapshot-in cannot be loaded (nothing is
// replayed), --online-out or --snapshot-out cannot be written, or Redis (--redis) cannot be
// reached or fails; 2 for a bad command line.
//
// Redis (when built with mqtt_presence::redis): --redis HOST:PORT[/PREFIX] (or unix:PATH, with
// --redis-prefix) keeps the state in Redis (ClientStatusStore<RedisStorage>) instead of in this
// process, so that several replays, or a replay and live consumers, build one state together:
// each process replays its share of the input, and a run after all of them (with no input, if
// need be) lists everybody with --online-out.
// The summary's outcome counts (events, applied, duplicates, ...) are this run's; clients,
// online, groups, --online-out and --snapshot-out are of the shared state at the end. Every
// process on one prefix must use the same rule options and --redis-buckets (the bucket count is
// checked, the rule options are not). Split the input between processes by client (as a
// partitioned queue does), or give each the same input; two processes replaying different days
// of one client's events at the same time may apply them more than --retention-ms apart, where
// rule 5 promises nothing. --redis-clear deletes the prefix's state before the replay, whatever
// its bucket count (so it is how a prefix moves to another --redis-buckets).
// A password is read from the environment (MQTT_PRESENCE_REDIS_PASSWORD, and a user name from
// MQTT_PRESENCE_REDIS_USER), never from the command line. Not with --threads N > 1: the store
// talks to Redis over one connection, so threads would only queue for it; run several
// processes instead. If Redis fails part way, the replay stops with exit status 1 and no
// summary; replaying the same input again is harmless (what was stored comes back as
// duplicates, rule 5).
//
// Threads: --threads 1 (the default) reads, parses and ingests on one thread, into the default
// single-threaded store. --threads N > 1 is how a consumer with a pool of listener threads
// feeds one store: the reading thread deals the lines round-robin, in blocks of a few hundred,
// to N workers that parse and ingest them into a store over ConcurrentStorage. Lines near each
// other then race, so one client's events may be applied in another order than the file's,
// though never further apart than the blocks in flight (a few thousand lines: the queues are
// bounded). Within the limits of the rules (README.md, "The rules"; above all rule 5: no event
// applied after an event of its client newer by more than --retention-ms), the final state does
// not depend on that order, so events, rejected, clients, online and the --online-out list are
// those of a one-thread run. The outcome breakdown (applied, duplicates, refused, superseded,
// behind_watermark, stale, went_online, went_offline) says what each event did in the order it
// was applied, and may differ from run to run. Bad lines are reported with their own FILE:LINE,
// but not necessarily in file order.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>
#ifdef MQTT_PRESENCE_REPLAY_SIMDJSON
#include <mqtt_presence/simdjson.hpp>
#endif
#ifdef MQTT_PRESENCE_REPLAY_REDIS
#include <mqtt_presence/redis.hpp>
#endif

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#define MQTT_PRESENCE_REPLAY_ISATTY(f) (_isatty(_fileno(f)) != 0)
#else
#include <unistd.h>
#define MQTT_PRESENCE_REPLAY_ISATTY(f) (isatty(fileno(f)) != 0)
#endif

namespace {

constexpr std::string_view program = "mqtt_presence_replay";

// Far above any real lifecycle event (a few hundred bytes); the cap keeps a corrupt dump (a
// missing newline in a multi-gigabyte file) from being buffered whole.
constexpr std::size_t max_line_bytes = std::size_t{1} << 20;
// Small enough to stay in cache while its lines are parsed, large enough to make reads cheap.
constexpr std::size_t read_chunk_bytes = std::size_t{1} << 18;
constexpr std::uint64_t max_reported_lines = 100;
constexpr std::size_t max_reason_bytes = 300;
// Progress must cost nothing measurable: the clock is looked at every 64K lines only.
constexpr std::uint64_t progress_check_mask = (std::uint64_t{1} << 16) - 1;

// --threads: far more than any machine this runs on needs; the cap only catches typos.
constexpr std::uint64_t max_threads = 256;
// A block of lines handed to a worker. A few hundred lines make the hand-off (a lock and a
// wake-up) cost a fraction of a percent of parsing them, and a block stays small enough to
// stay in cache while it is copied in and parsed.
constexpr std::size_t batch_lines = 256;
constexpr std::size_t batch_bytes = std::size_t{64} << 10;
// Blocks per worker in flight (being filled, queued or parsed). Enough that neither side waits
// for the other while both are busy; few enough to bound memory: N x 4 blocks of about 64 KiB
// (a block grows past that only to hold a single line of up to 1 MiB), and to bound how far
// apart two lines ingested at the same time can be in the input: about N x 5 blocks.
constexpr std::size_t batches_per_worker = 4;

constexpr const char* usage_text =
    "usage: mqtt_presence_replay [--format NAME] [--online-out FILE] [--threads N] [--parser NAME]\n"
    "                            [options] [FILE ...]\n"
    "\n"
    "Replays MQTT broker lifecycle events (JSON Lines, one event per line) and prints a one-line\n"
    "JSON summary. With no FILE, or when FILE is -, reads standard input.\n"
    "\n"
    "options:\n"
    "  --format NAME              the input format (default alibaba):\n"
    "                               alibaba        Alibaba Cloud MQTT (connect, disconnect,\n"
    "                                              tcpclean)\n"
    "                               aws-iot        AWS IoT Core lifecycle events (connected,\n"
    "                                              disconnected); versionNumbers reused after\n"
    "                                              an hour offline are told apart (rule 13)\n"
    "                               emqx           EMQX client.connected, client.disconnected\n"
    "                                              (rule engine, webhook or $SYS messages)\n"
    "                               azure-eg-mqtt  Azure Event Grid MQTT MQTTClientSessionConnected,\n"
    "                                              ...Disconnected (CloudEvents or Event Grid schema)\n"
    "  --online-out FILE          write the online client ids, sorted, one per line\n"
    "  --threads N                parse and ingest on N threads (default 1); nearby lines then\n"
    "                             race: the final state (clients, online, --online-out) is that\n"
    "                             of one thread unless the input holds events more than the\n"
    "                             retention late, but the outcome counts (applied, duplicates,\n"
    "                             superseded, went_online, ...) may differ from run to run\n"
    "  --snapshot-in FILE         start from the state saved in FILE (by --snapshot-out); a\n"
    "                             damaged snapshot is refused and nothing is replayed\n"
    "  --snapshot-out FILE        save the state at the end in FILE (atomically)\n"
    "  --group-counts             add \"groups\" to the summary: online clients per Group ID\n"
    "  --parser NAME              the JSON parser, simdjson or nlohmann: both accept the same\n"
    "                             lines and report the same errors (default: "
#ifdef MQTT_PRESENCE_REPLAY_SIMDJSON
    "simdjson"
#else
    "nlohmann;\n"
    "                             this build has no simdjson"
#endif
    ").\n"
    "                             simdjson reads only --format alibaba: the other formats are\n"
    "                             read with nlohmann\n"
    "  --redis ADDRESS            keep the state in Redis, shared with every process using the\n"
    "                             same ADDRESS and prefix: HOST:PORT[/PREFIX] ([IPv6]:PORT too)\n"
    "                             or unix:PATH; the prefix goes before every key (default\n"
    "                             mqtt_presence:). The outcome counts are then this run's;\n"
    "                             clients, online, groups and --online-out are of the shared\n"
    "                             state. Every process on a prefix must use the same rule options\n"
    "                             and --redis-buckets. A password is read from the environment:\n"
    "                             MQTT_PRESENCE_REDIS_PASSWORD (and MQTT_PRESENCE_REDIS_USER).\n"
    "                             Not with --threads: run several processes instead"
#ifndef MQTT_PRESENCE_REPLAY_REDIS
    ";\n                             this build has no Redis support"
#endif
    "\n"
    "  --redis-prefix PREFIX      the key prefix (with unix:PATH, the only way to give one)\n"
    "  --redis-buckets N          buckets the clients spread over, 1 to 16384 (default 16)\n"
    "  --redis-clear              delete the prefix's state before replaying (whatever its\n"
    "                             bucket count: the way to change --redis-buckets); only while\n"
    "                             no other process uses the prefix\n"
    "  --close-on-disconnect      a disconnect closes its connection too (default: only tcpclean)\n"
    "  --no-takeover              a newer connect never closes an older connection whose close\n"
    "                             was lost\n"
    "  --takeover-tolerance-ms N  how much older than the newest connect a connection must be to\n"
    "                             be taken over (default 60000)\n"
    "  --retention-ms N           how long, in event time, closed connections are remembered to\n"
    "                             absorb redelivered events (default 86400000)\n"
    "  --quiet                    do not report bad lines one by one (they are still counted)\n"
    "  -h, --help                 show this help\n"
    "\n"
    "exit status: 0 done (bad lines included), 1 a file or snapshot could not be read or\n"
    "written, or Redis could not be reached or failed, 2 bad command line\n";

enum class ParserName { nlohmann, simdjson };

// --format: the broker whose lifecycle messages the input holds, each read by its own adapter.
enum class Format { alibaba, aws_iot, emqx, azure_eg_mqtt };

struct FormatName {
    Format format;
    std::string_view name; // as --format and the summary's "format" give it
};
constexpr FormatName format_names[] = {
    {Format::alibaba, "alibaba"},
    {Format::aws_iot, "aws-iot"},
    {Format::emqx, "emqx"},
    {Format::azure_eg_mqtt, "azure-eg-mqtt"},
};
constexpr std::string_view format_list = "alibaba, aws-iot, emqx or azure-eg-mqtt";

std::string_view format_name(Format format) {
    for (const FormatName& known : format_names)
        if (known.format == format) return known.name;
    return "?";
}

#ifdef MQTT_PRESENCE_REPLAY_SIMDJSON
constexpr ParserName default_parser = ParserName::simdjson;
#else
constexpr ParserName default_parser = ParserName::nlohmann;
#endif

// --redis and its companions, as given (checked in parse_args).
struct RedisTarget {
    bool wanted = false;         // --redis given
    std::string address;         // as given, for messages
    std::string host;            // with port, unless unix_socket is set
    int port = 0;
    std::string unix_socket;
    std::string prefix = "mqtt_presence:";
    bool prefix_in_address = false;
    bool prefix_option = false;  // --redis-prefix given
    std::uint32_t buckets = 16;  // RedisOptions' default
    bool buckets_given = false;
    bool clear = false;
};

struct Config {
    mqtt_presence::Options options;
    RedisTarget redis;
    std::string online_out;
    std::string snapshot_in;
    std::string snapshot_out;
    bool group_counts = false;
    bool quiet = false;
    std::size_t threads = 1;
    Format format = Format::alibaba;
    ParserName parser = default_parser;
    bool parser_given = false; // --parser named one; else each format has its default
    std::vector<std::string> files;
};

enum class ArgsResult { run, help, error };

using Clock = std::chrono::steady_clock;

// Every message starts with the program's name, so that it can be told apart in a shared log.
void complain(std::string_view message) {
    std::string line(program);
    line.append(": ").append(message).push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

bool parse_int64(std::string_view text, std::int64_t& value) {
    const char* first = text.data();
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, value);
    return ec == std::errc{} && end == last && first != last;
}

// A key prefix: not empty (a bare "layout" key would be left in the database), and no '{' or '}'
// (the key layout's hash tags follow it). "" when it is fine, else what it must be.
std::string_view check_prefix(std::string_view prefix) {
    if (prefix.empty()) return "a prefix that is not empty";
    if (prefix.find_first_of("{}") != std::string_view::npos) return "a prefix without '{' or '}'";
    return "";
}

// --redis HOST:PORT[/PREFIX], [IPv6]:PORT[/PREFIX] or unix:PATH. "" when it parses, else why not.
std::string parse_redis_address(std::string_view text, RedisTarget& target) {
    std::string expected = "needs HOST:PORT[/PREFIX] or unix:PATH, got \"" + std::string(text) + "\"";
    target.address = std::string(text);
    if (text.substr(0, 5) == "unix:") {
        if (text.size() == 5) return expected;
        target.unix_socket = std::string(text.substr(5));
        return "";
    }
    std::string_view rest;
    if (!text.empty() && text[0] == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos || close == 1) return expected;
        target.host = std::string(text.substr(1, close - 1));
        rest = text.substr(close + 1);
        if (rest.empty() || rest[0] != ':') return expected;
    } else {
        const std::string_view host_port = text.substr(0, text.find('/'));
        if (std::count(host_port.begin(), host_port.end(), ':') > 1)
            return "needs an IPv6 address in brackets ([::1]:6379), got \"" + std::string(text) + "\"";
        const std::size_t colon = host_port.find(':');
        if (colon == std::string_view::npos || colon == 0) return expected;
        target.host = std::string(text.substr(0, colon));
        rest = text.substr(colon);
    }
    rest.remove_prefix(1); // the ':'
    const std::size_t slash = rest.find('/');
    std::int64_t port = 0;
    if (!parse_int64(rest.substr(0, slash), port) || port < 1 || port > 65535)
        return "needs a port from 1 to 65535 after the host, got \"" + std::string(text) + "\"";
    target.port = static_cast<int>(port);
    if (slash != std::string_view::npos) {
        const std::string_view prefix = rest.substr(slash + 1);
        if (const std::string_view must = check_prefix(prefix); !must.empty())
            return "needs " + std::string(must) + " after the '/', got \"" + std::string(text) + "\"";
        target.prefix = std::string(prefix);
        target.prefix_in_address = true;
    }
    return "";
}

// The options that only make sense together: "" when they do, else why not.
std::string check_combinations(const Config& config) {
    if (config.format != Format::alibaba && config.parser_given && config.parser == ParserName::simdjson)
        return "option --parser simdjson reads only --format alibaba; --format " +
               std::string(format_name(config.format)) +
               " is read with nlohmann (drop --parser, or give --parser nlohmann)";
    const RedisTarget& redis = config.redis;
    if (!redis.wanted) {
        if (redis.prefix_option) return "option --redis-prefix needs --redis";
        if (redis.buckets_given) return "option --redis-buckets needs --redis";
        if (redis.clear) return "option --redis-clear needs --redis";
        return "";
    }
    if (config.threads > 1)
        return "options --redis and --threads cannot be combined: the store talks to Redis over one "
               "connection, so threads would only queue for it; run several processes on the same prefix instead";
    if (redis.prefix_option && redis.prefix_in_address)
        return "--redis " + redis.address + " gives a prefix already; drop --redis-prefix or the /PREFIX";
    return "";
}

ArgsResult parse_args(int argc, char** argv, Config& config) {
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (options_done || arg == "-" || arg.empty() || arg[0] != '-') {
            config.files.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        if (arg == "-h" || arg == "--help") return ArgsResult::help;
        if (arg == "--close-on-disconnect") {
            config.options.close_on_disconnect = true;
            continue;
        }
        if (arg == "--no-takeover") {
            config.options.takeover = false;
            continue;
        }
        if (arg == "--quiet") {
            config.quiet = true;
            continue;
        }
        if (arg == "--group-counts") {
            config.group_counts = true;
            continue;
        }
        if (arg == "--redis-clear") {
#ifndef MQTT_PRESENCE_REPLAY_REDIS
            complain("option --redis-clear: this build has no Redis support (it was built without the hiredis library)");
            return ArgsResult::error;
#else
            config.redis.clear = true;
            continue;
#endif
        }
        // Options with a value: "--name VALUE" or "--name=VALUE".
        std::string_view name = arg;
        std::string_view value;
        bool has_value = false;
        if (const auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        const bool redis_option = name == "--redis" || name == "--redis-prefix" || name == "--redis-buckets";
        const bool known = name == "--online-out" || name == "--threads" || name == "--parser" || name == "--format" ||
                           name == "--takeover-tolerance-ms" || name == "--retention-ms" || name == "--snapshot-in" ||
                           name == "--snapshot-out" || redis_option;
        if (!known) {
            complain("unknown option " + std::string(arg));
            return ArgsResult::error;
        }
#ifndef MQTT_PRESENCE_REPLAY_REDIS
        if (redis_option) {
            complain("option " + std::string(name) +
                     ": this build has no Redis support (it was built without the hiredis library)");
            return ArgsResult::error;
        }
#endif
        if (!has_value) {
            if (i + 1 >= argc) {
                complain("option " + std::string(name) + " needs an argument");
                return ArgsResult::error;
            }
            value = argv[++i];
        }
        if (name == "--online-out" || name == "--snapshot-in" || name == "--snapshot-out") {
            if (value.empty()) {
                complain("option " + std::string(name) + " needs a file name");
                return ArgsResult::error;
            }
            (name == "--online-out" ? config.online_out : name == "--snapshot-in" ? config.snapshot_in : config.snapshot_out) =
                std::string(value);
            continue;
        }
        if (name == "--redis") {
            if (config.redis.wanted) {
                complain("option --redis given twice");
                return ArgsResult::error;
            }
            config.redis.wanted = true;
            if (const std::string why = parse_redis_address(value, config.redis); !why.empty()) {
                complain("option --redis " + why);
                return ArgsResult::error;
            }
            continue;
        }
        if (name == "--redis-prefix") {
            if (const std::string_view must = check_prefix(value); !must.empty()) {
                complain("option --redis-prefix needs " + std::string(must) + ", got \"" + std::string(value) + "\"");
                return ArgsResult::error;
            }
            config.redis.prefix = std::string(value);
            config.redis.prefix_option = true;
            continue;
        }
        if (name == "--format") {
            const auto known_format = std::find_if(std::begin(format_names), std::end(format_names),
                                                   [&](const FormatName& f) { return f.name == value; });
            if (known_format == std::end(format_names)) {
                complain("option --format needs " + std::string(format_list) + ", got \"" + std::string(value) + "\"");
                return ArgsResult::error;
            }
            config.format = known_format->format;
            continue;
        }
        if (name == "--parser") {
            config.parser_given = true;
            if (value == "nlohmann") {
                config.parser = ParserName::nlohmann;
            } else if (value == "simdjson") {
#ifdef MQTT_PRESENCE_REPLAY_SIMDJSON
                config.parser = ParserName::simdjson;
#else
                complain("option --parser: simdjson was not built into this mqtt_presence_replay "
                         "(it was built without the simdjson library); use --parser nlohmann");
                return ArgsResult::error;
#endif
            } else {
                complain("option --parser needs simdjson or nlohmann, got \"" + std::string(value) + "\"");
                return ArgsResult::error;
            }
            continue;
        }
        std::int64_t number = 0;
        if (!parse_int64(value, number)) {
            complain("option " + std::string(name) + " needs an integer, got \"" + std::string(value) + "\"");
            return ArgsResult::error;
        }
        if (name == "--threads") {
            if (number < 1 || static_cast<std::uint64_t>(number) > max_threads) {
                complain("option --threads needs a number from 1 to " + std::to_string(max_threads) + ", got " +
                         std::string(value));
                return ArgsResult::error;
            }
            config.threads = static_cast<std::size_t>(number);
        } else if (name == "--redis-buckets") {
            if (number < 1 || number > 16384) {
                complain("option --redis-buckets needs a number from 1 to 16384, got " + std::string(value));
                return ArgsResult::error;
            }
            config.redis.buckets = static_cast<std::uint32_t>(number);
            config.redis.buckets_given = true;
        } else if (name == "--takeover-tolerance-ms") {
            config.options.takeover_tolerance_ms = number;
        } else {
            config.options.tombstone_retention_ms = number;
        }
    }
    if (const std::string why = check_combinations(config); !why.empty()) {
        complain(why);
        return ArgsResult::error;
    }
    // The other formats have only their nlohmann adapter.
    if (config.format != Format::alibaba) config.parser = ParserName::nlohmann;
    // AWS IoT reuses its connection keys (versionNumber) after about an hour offline: rule 13.
    if (config.format == Format::aws_iot) config.options = mqtt_presence::aws_iot_options(config.options);
    if (config.files.empty()) config.files.emplace_back("-");
    return ArgsResult::run;
}

// Standard error: the bad-line reports and, on a terminal, the progress line. With --threads
// every worker reports its own bad lines, so both go through one lock: a report is never split,
// never lands in the middle of the progress line, and the first 100 are the ones printed.
class Reporter {
public:
    Reporter(bool quiet, bool progress) : m_quiet(quiet), m_progress(progress) { m_message.reserve(256); }

    [[nodiscard]] bool wants_progress() const noexcept { return m_progress; }

    void start(Clock::time_point now) {
        m_started = now;
        m_last_progress = now;
    }

    // Reports bad line `line` of `file`. Counting it is the caller's business: --quiet reports
    // nothing, and after max_reported_lines only the final note speaks for the rest.
    void reject(const std::string& file, std::uint64_t line, std::string_view reason) {
        if (m_quiet) return;
        const std::lock_guard<std::mutex> lock(m_mutex);
        if (++m_reported > max_reported_lines) return; // counted for the final note
        clear_progress_locked();
        // One write per report: stderr is unbuffered and may be shared with other writers.
        m_message.assign(program);
        m_message.append(": ").append(file).push_back(':');
        m_message.append(std::to_string(line)).append(": ");
        // Reasons are short (they quote at most 64 bytes of a value); the cap is only a guard.
        if (reason.size() > max_reason_bytes) m_message.append(reason.substr(0, max_reason_bytes)).append("...");
        else m_message.append(reason);
        m_message.push_back('\n');
        std::fwrite(m_message.data(), 1, m_message.size(), stderr);
    }

    // At most once a second: "N events, R events/s", overwritten in place.
    void progress(std::uint64_t events) {
        const std::lock_guard<std::mutex> lock(m_mutex);
        const Clock::time_point now = Clock::now();
        if (now - m_last_progress < std::chrono::seconds(1)) return;
        m_last_progress = now;
        const double seconds = std::chrono::duration<double>(now - m_started).count();
        char text[128];
        const int n = std::snprintf(text, sizeof text, "\r%s: %llu events, %.0f events/s", program.data(),
                                    static_cast<unsigned long long>(events),
                                    seconds > 0 ? static_cast<double>(events) / seconds : 0.0);
        if (n <= 0) return;
        const auto length = std::min(static_cast<std::size_t>(n), sizeof text - 1);
        std::fwrite(text, 1, length, stderr);
        m_progress_width = length - 1; // without the '\r'
    }

    // Before another message: the progress line must not be left under it.
    void clear_progress() {
        const std::lock_guard<std::mutex> lock(m_mutex);
        clear_progress_locked();
    }

    // Once every line has been ingested: the progress line goes, the note on unreported lines comes.
    void finish() {
        clear_progress();
        if (m_reported > max_reported_lines) {
            const std::uint64_t more = m_reported - max_reported_lines;
            complain(std::to_string(more) + " more bad line" + (more == 1 ? "" : "s") +
                     " not reported (all are counted in \"rejected\")");
        }
    }

private:
    void clear_progress_locked() {
        if (m_progress_width == 0) return;
        std::string blank(m_progress_width + 2, ' ');
        blank.front() = '\r';
        blank.back() = '\r';
        std::fwrite(blank.data(), 1, blank.size(), stderr);
        m_progress_width = 0;
    }

    const bool m_quiet;
    const bool m_progress;
    std::mutex m_mutex;
    std::string m_message;
    std::uint64_t m_reported = 0;
    std::size_t m_progress_width = 0;
    Clock::time_point m_started{};
    Clock::time_point m_last_progress{};
};

// The ways to read a line: parser(text, event, error) -> bool, with the names of the parser and
// of the format for the summary. One per format and parser.
struct NlohmannParser {
    static constexpr const char* name = "nlohmann";
    static constexpr Format format = Format::alibaba;
    bool operator()(std::string_view text, mqtt_presence::Event& event, std::string& error) {
        return mqtt_presence::parse_alibaba_event(text, event, error);
    }
};

struct AwsIotParser {
    static constexpr const char* name = "nlohmann";
    static constexpr Format format = Format::aws_iot;
    bool operator()(std::string_view text, mqtt_presence::Event& event, std::string& error) {
        return mqtt_presence::parse_aws_iot_event(text, event, error);
    }
};

struct EmqxParser {
    static constexpr const char* name = "nlohmann";
    static constexpr Format format = Format::emqx;
    bool operator()(std::string_view text, mqtt_presence::Event& event, std::string& error) {
        return mqtt_presence::parse_emqx_event(text, event, error);
    }
};

struct AzureEgMqttParser {
    static constexpr const char* name = "nlohmann";
    static constexpr Format format = Format::azure_eg_mqtt;
    bool operator()(std::string_view text, mqtt_presence::Event& event, std::string& error) {
        return mqtt_presence::parse_azure_eg_mqtt_event(text, event, error);
    }
};

#ifdef MQTT_PRESENCE_REPLAY_SIMDJSON
struct SimdjsonParser {
    static constexpr const char* name = "simdjson";
    static constexpr Format format = Format::alibaba;
    bool operator()(std::string_view text, mqtt_presence::Event& event, std::string& error) {
        return parser.parse(text, event, error);
    }
    mqtt_presence::AlibabaSimdjsonParser parser; // keeps its buffers: one per thread
};
#endif

// Events per ingest_batch() call: over an in-process store, enough for its prefetching (it
// fetches the records of the events ahead from memory while it applies the current one); over
// Redis, each call costs two round trips (read the records, then compare-and-set them) and a
// script run per bucket, so a larger group makes them cheap per event: replaying a 30,000-client
// stream, 1024 gave about 1.25 times the rate of 256 (4096: 1.4 times).
constexpr std::size_t local_group = 64;
constexpr std::size_t redis_group = 1024;

// Parses lines and ingests them into the store, in groups of up to `group` through
// ingest_batch(). One per ingesting thread, with its own parser: the parser, the events and the
// error message are reused, so that once warm a line costs no allocation of ours. A bad line
// first ingests the lines before it, so that reports keep the input's order.
template <class Store, class Parser>
class Ingester {
public:
    Ingester(Store& store, Reporter& reporter, std::size_t group = local_group)
        : m_store(store), m_reporter(reporter), m_group(group), m_events(group), m_where(group) {
        m_error.reserve(256);
    }

    void operator()(const std::string& file, std::uint64_t line, std::string_view text) {
        if (!m_parser(text, m_events[m_count], m_error)) {
            flush();
            reject(file, line, m_error);
            return;
        }
        m_where[m_count] = Where{&file, line};
        if (++m_count == m_group) flush();
    }

    // Ingests the lines still held; every line handed over has been ingested once this returns.
    void finish() { flush(); }

    [[nodiscard]] std::uint64_t rejected() const noexcept { return m_rejected; }

private:
    struct Where {
        const std::string* file = nullptr;
        std::uint64_t line = 0;
    };

    void flush() {
        const auto first = m_events.begin();
        const std::size_t count = std::exchange(m_count, 0);
        m_store.ingest_batch(first, first + static_cast<std::ptrdiff_t>(count),
                             [&](const mqtt_presence::Event& event, const mqtt_presence::Outcome& outcome) {
                                 if (outcome.status != mqtt_presence::Status::invalid) return;
                                 const Where& where = m_where[static_cast<std::size_t>(&event - m_events.data())];
                                 reject(*where.file, where.line, outcome.error);
                             });
    }

    void reject(const std::string& file, std::uint64_t line, std::string_view reason) {
        ++m_rejected;
        m_reporter.reject(file, line, reason);
    }

    Store& m_store;
    Reporter& m_reporter;
    const std::size_t m_group;
    Parser m_parser;
    std::vector<mqtt_presence::Event> m_events; // parsed, waiting for their group's ingest
    std::vector<Where> m_where;                 // where each came from, for a report
    std::size_t m_count = 0;
    std::string m_error;
    std::uint64_t m_rejected = 0;
};

// A block of lines on its way from the reading thread to a worker. The lines are copied: the
// read buffer they came from is reused for the next chunk while the worker is still parsing.
struct Batch {
    struct Line {
        std::uint64_t number; // within the file, for reports
        std::size_t offset;   // into text
        std::size_t size;
    };
    const std::string* file = nullptr; // every line of a block is from the same file
    std::string text;                  // the lines back to back; its capacity is kept for reuse
    std::vector<Line> lines;
};

// A bounded queue of reusable blocks from the reading thread (the only producer) to one worker
// (its only consumer). The reader fills the next free slot in place and publishes it; the
// worker takes it, ingests it and releases it. With every slot in flight the reader waits for
// this worker, so memory stays bounded however far behind the workers are.
//
// One condition variable serves both directions: the reader waits only when every slot is in
// flight and the worker only when none is, so they never wait at the same time.
class BatchQueue {
public:
    explicit BatchQueue(std::size_t depth) : m_slots(depth) {}

    // Reader: the next free slot, emptied, to fill and then publish().
    Batch& acquire() {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_ready.wait(lock, [&] { return m_in_flight < m_slots.size(); });
        Batch& batch = m_slots[m_tail];
        lock.unlock();
        batch.file = nullptr;
        batch.text.clear();
        batch.lines.clear();
        return batch;
    }

    // Reader: hands the slot from acquire() to the worker.
    void publish() {
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            m_tail = (m_tail + 1) % m_slots.size();
            ++m_in_flight;
        }
        m_ready.notify_one();
    }

    // Reader: nothing more will be published.
    void close() {
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            m_closed = true;
        }
        m_ready.notify_one();
    }

    // Worker: the oldest published block, or nullptr once the queue is closed and drained.
    Batch* next() {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_ready.wait(lock, [&] { return m_in_flight > 0 || m_closed; });
        return m_in_flight > 0 ? &m_slots[m_head] : nullptr;
    }

    // Worker: done with the block from next(); its slot is free again.
    void release() {
        {
            const std::lock_guard<std::mutex> lock(m_mutex);
            m_head = (m_head + 1) % m_slots.size();
            --m_in_flight;
        }
        m_ready.notify_one();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_ready;
    std::vector<Batch> m_slots;
    std::size_t m_head = 0;      // the worker's next slot
    std::size_t m_tail = 0;      // the reader's next slot
    std::size_t m_in_flight = 0; // published and not yet released
    bool m_closed = false;
};

using ConcurrentStore = mqtt_presence::ClientStatusStore<mqtt_presence::ConcurrentStorage>;

// What a store over Redis throws when Redis cannot be reached or fails; in a build without
// Redis, a type nothing throws, so that replay() reads the same either way.
#ifdef MQTT_PRESENCE_REPLAY_REDIS
using RedisFailure = mqtt_presence::RedisError;
#else
struct RedisFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
#endif

// --threads N > 1: deals the lines, in blocks, round-robin to N workers that parse (each with its
// own Parser) and ingest them into one concurrent store. Used as the line sink of the reading
// thread, like Ingester.
template <class Parser>
class Dispatcher {
public:
    using Store = ConcurrentStore;

    Dispatcher(Store& store, Reporter& reporter, std::size_t threads) {
        m_workers.reserve(threads);
        for (std::size_t i = 0; i < threads; ++i) m_workers.push_back(std::make_unique<Worker>(store, reporter));
        try {
            for (const auto& worker : m_workers) worker->thread = std::thread(&Worker::run, worker.get());
        } catch (...) {
            stop();
            throw;
        }
    }

    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    // Also on the way out of an error: the workers must be gone before the store is.
    ~Dispatcher() { stop(); }

    void operator()(const std::string& file, std::uint64_t line, std::string_view text) {
        if (m_batch != nullptr && m_batch->file != &file) publish(); // a block holds one file's lines
        if (m_batch == nullptr) {
            m_batch = &m_workers[m_next]->queue.acquire();
            m_batch->file = &file;
        }
        m_batch->lines.push_back(Batch::Line{line, m_batch->text.size(), text.size()});
        m_batch->text.append(text);
        if (m_batch->lines.size() == batch_lines || m_batch->text.size() >= batch_bytes) publish();
    }

    // Hands over the last block and waits until every line has been ingested. Rethrows what
    // stopped a worker (only std::bad_alloc and the like: bad input is reported, not thrown).
    void finish() {
        if (m_batch != nullptr) publish();
        stop();
        for (const auto& worker : m_workers)
            if (worker->failure) std::rethrow_exception(worker->failure);
    }

    // Lines the workers rejected; complete after finish().
    [[nodiscard]] std::uint64_t rejected() const noexcept {
        std::uint64_t total = 0;
        for (const auto& worker : m_workers) total += worker->ingester.rejected();
        return total;
    }

private:
    struct Worker {
        Worker(Store& store, Reporter& reporter) : queue(batches_per_worker), ingester(store, reporter) {}

        void run() {
            while (Batch* batch = queue.next()) {
                // After a failure the worker still drains its queue, so that the reader never
                // waits for it forever; finish() reports the failure.
                if (!failure) {
                    try {
                        const std::string_view text = batch->text;
                        for (const Batch::Line& line : batch->lines)
                            ingester(*batch->file, line.number, text.substr(line.offset, line.size));
                        ingester.finish(); // the block is ingested before its slot is released
                    } catch (...) {
                        failure = std::current_exception();
                    }
                }
                queue.release();
            }
        }

        BatchQueue queue;
        Ingester<Store, Parser> ingester;
        std::exception_ptr failure; // written by the worker, read after it is joined
        std::thread thread;
    };

    void publish() {
        m_workers[m_next]->queue.publish();
        m_batch = nullptr;
        m_next = (m_next + 1) % m_workers.size();
    }

    // Closes every queue and joins every worker, once they have drained their queues.
    void stop() noexcept {
        for (const auto& worker : m_workers) worker->queue.close();
        for (const auto& worker : m_workers)
            if (worker->thread.joinable()) worker->thread.join();
    }

    std::vector<std::unique_ptr<Worker>> m_workers; // Worker holds a mutex: it stays put
    Batch* m_batch = nullptr;                       // the block being filled, if any
    std::size_t m_next = 0;                         // the worker it is for
};

// Splits the input into lines and hands every non-blank one, with its file name and line
// number, to a sink: sink(file, line, text). One instance reads every input file, in order.
class LineReader {
public:
    explicit LineReader(Reporter& reporter) : m_reporter(reporter) {
        // Room for the longest acceptable partial line (plus a '\r') and one more chunk after it.
        m_buffer.resize(max_line_bytes + 1 + read_chunk_bytes);
    }

    // Reads one input to its end. Returns false when it cannot (read_error() then says why).
    template <class Sink>
    bool run(std::FILE* in, const std::string& name, Sink& sink) {
        m_file = &name;
        m_line = 0;
        char* const buffer = m_buffer.data();
        std::size_t begin = 0; // first byte of the line being assembled
        std::size_t end = 0;   // end of the bytes read so far
        bool skipping = false; // inside a line already rejected as too long
        for (;;) {
            const std::size_t got = std::fread(buffer + end, 1, read_chunk_bytes, in);
            if (got == 0) {
                if (std::ferror(in) != 0) {
                    m_read_error = errno;
                    return false;
                }
                if (!skipping && end > begin) on_line(buffer + begin, end - begin, sink); // no final newline
                return true;
            }
            end += got;
            while (const void* found = std::memchr(buffer + begin, '\n', end - begin)) {
                const auto length = static_cast<std::size_t>(static_cast<const char*>(found) - (buffer + begin));
                if (skipping)
                    skipping = false; // the tail of a line already counted and reported
                else
                    on_line(buffer + begin, length, sink);
                begin += length + 1;
            }
            if (!skipping && end - begin > max_line_bytes + 1) {
                // Rejected now rather than at its newline, which may be gigabytes away.
                ++m_line;
                ++m_events;
                reject("line longer than 1 MiB");
                skipping = true;
            }
            if (skipping) begin = end;
            if (begin != 0) {
                std::memmove(buffer, buffer + begin, end - begin);
                end -= begin;
                begin = 0;
            }
        }
    }

    [[nodiscard]] int read_error() const noexcept { return m_read_error; }
    [[nodiscard]] std::uint64_t events() const noexcept { return m_events; }
    // Lines rejected here, before any parsing (too long); the sink counts the rest.
    [[nodiscard]] std::uint64_t rejected() const noexcept { return m_rejected; }

private:
    template <class Sink>
    void on_line(const char* data, std::size_t size, Sink& sink) {
        ++m_line;
        if (m_reporter.wants_progress() && (++m_lines_total & progress_check_mask) == 0) m_reporter.progress(m_events);
        if (size != 0 && data[size - 1] == '\r') --size;
        if (size > max_line_bytes) { // whatever it holds, as when it is caught before its end
            ++m_events;
            reject("line longer than 1 MiB");
            return;
        }
        std::size_t first = 0;
        while (first < size && (data[first] == ' ' || data[first] == '\t' || data[first] == '\r')) ++first;
        if (first == size) return;
        ++m_events;
        sink(*m_file, m_line, std::string_view(data, size));
    }

    void reject(std::string_view reason) {
        ++m_rejected;
        m_reporter.reject(*m_file, m_line, reason);
    }

    Reporter& m_reporter;
    std::vector<char> m_buffer;
    const std::string* m_file = nullptr;
    std::uint64_t m_line = 0; // 1-based within the current file, blank lines included
    std::uint64_t m_events = 0;
    std::uint64_t m_rejected = 0;
    std::uint64_t m_lines_total = 0;
    int m_read_error = 0;
};

template <class Store>
nlohmann::ordered_json summary(const Store& store, std::uint64_t events, std::uint64_t rejected, double wall_seconds,
                               const char* parser, Format format, bool group_counts) {
    const mqtt_presence::Counters c = store.counters();
    nlohmann::ordered_json out;
    out["events"] = events;
    out["applied"] = c.applied + c.superseded + c.behind_watermark + c.stale;
    out["duplicates"] = c.duplicates;
    out["refused"] = c.refused;
    out["rejected"] = rejected;
    out["superseded"] = c.superseded;
    out["behind_watermark"] = c.behind_watermark;
    out["stale"] = c.stale;
    out["went_online"] = c.went_online;
    out["went_offline"] = c.went_offline;
    out["clients"] = store.size();
    out["online"] = store.online_count();
    if (group_counts) {
        nlohmann::ordered_json groups = nlohmann::ordered_json::object();
        store.for_each_group([&](std::string_view group, std::size_t online) { groups[std::string(group)] = online; });
        out["groups"] = std::move(groups);
    }
    // Microseconds are plenty, and keep the number short.
    const double seconds = static_cast<double>(std::llround(wall_seconds * 1e6)) / 1e6;
    out["seconds"] = seconds;
    out["events_per_sec"] = seconds > 0 ? static_cast<std::uint64_t>(std::llround(static_cast<double>(events) / wall_seconds))
                                        : std::uint64_t{0};
    out["parser"] = parser;
    out["format"] = format_name(format);
    return out;
}

// The online client ids in byte order, so that two runs can be compared with diff.
template <class Store>
std::vector<std::string> online_ids(const Store& store) {
    std::vector<std::string> ids;
    ids.reserve(store.online_count());
    store.for_each_online([&](std::string_view id) { ids.emplace_back(id); });
    std::sort(ids.begin(), ids.end());
    return ids;
}

bool write_online(const std::string& path, const std::vector<std::string>& ids) {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    if (out == nullptr) {
        complain("cannot write " + path + ": " + std::strerror(errno));
        return false;
    }
    for (const std::string& id : ids) {
        std::fwrite(id.data(), 1, id.size(), out);
        std::fputc('\n', out);
    }
    const bool failed = std::ferror(out) != 0;
    const int err = errno;
    if (std::fclose(out) != 0 || failed) {
        complain("cannot write " + path + ": " + std::strerror(failed ? err : errno));
        return false;
    }
    return true;
}

// --snapshot-in: loads the saved state into the (empty) store. False, having said why (the file
// and the problem), when it cannot be read or is damaged: then nothing is replayed.
template <class Store>
bool load_snapshot(const Config& config, Store& store) {
    try {
        (void)store.load_snapshot_file(config.snapshot_in);
        return true;
    } catch (const mqtt_presence::SnapshotError& e) {
        complain(config.snapshot_in + ": " + e.what());
    } catch (const std::bad_alloc&) {
        complain(config.snapshot_in + ": out of memory while loading the snapshot");
    }
    return false;
}

// --snapshot-out: saves the state atomically, with the inputs and the number of lines replayed
// as metadata. False, having said why, when it cannot be written.
template <class Store>
bool save_snapshot(const Config& config, const Store& store, std::uint64_t events) {
    nlohmann::ordered_json metadata;
    metadata["written_by"] = program;
    metadata["snapshot_in"] = config.snapshot_in;
    metadata["inputs"] = config.files;
    metadata["format"] = format_name(config.format);
    metadata["events"] = events;
    try {
        (void)store.save_snapshot_file(config.snapshot_out, metadata.dump());
        return true;
    } catch (const mqtt_presence::SnapshotError& e) {
        complain(config.snapshot_out + ": " + e.what());
    }
    return false;
}

// The store, or nullptr having said why the options are unusable.
template <class Store>
std::unique_ptr<Store> make_store(const mqtt_presence::Options& options) {
    try {
        return std::make_unique<Store>(options);
    } catch (const std::invalid_argument& e) {
        complain(e.what());
        return nullptr;
    }
}

// Closes an input file however the replay leaves it (Redis may fail in the middle).
struct FileCloser {
    void operator()(std::FILE* file) const noexcept { std::fclose(file); }
};

// Replays every input, in order, through `sink` into `store`; then writes --online-out and
// the summary. Returns the exit status.
template <class Parser, class Store, class Sink>
int replay(const Config& config, Reporter& reporter, const Store& store, Sink& sink) {
    LineReader reader(reporter);
    const std::string stdin_name = "<stdin>";
    const Clock::time_point started = Clock::now();
    reporter.start(started);
    // A read error stops the replay; the lines already handed over are ingested first, so that
    // their reports come before the error.
    const auto cannot_read = [&](const std::string& name) {
        const int err = reader.read_error();
        sink.finish();
        reporter.clear_progress();
        complain("cannot read " + name + ": " + std::strerror(err));
        return 1;
    };
    // Every input, then the lines still held: 0, or the exit status of the error that stopped it.
    const auto replay_all = [&]() -> int {
        for (const std::string& file : config.files) {
            if (file == "-") {
#ifdef _WIN32
                (void)_setmode(_fileno(stdin), _O_BINARY); // CRLF is handled here, and ^Z is data
#endif
                if (!reader.run(stdin, stdin_name, sink)) return cannot_read(stdin_name);
                std::clearerr(stdin); // "-" may be given again; it then reads nothing more
                continue;
            }
            const std::unique_ptr<std::FILE, FileCloser> in(std::fopen(file.c_str(), "rb"));
            if (in == nullptr) {
                const int err = errno;
                sink.finish();
                reporter.finish();
                complain("cannot open " + file + ": " + std::strerror(err));
                return 1;
            }
            if (!reader.run(in.get(), file, sink)) return cannot_read(file);
        }
        sink.finish();
        return 0;
    };
    try {
        if (const int status = replay_all(); status != 0) return status;
    } catch (const RedisFailure& e) {
        reporter.clear_progress();
        complain("Redis failed after " + std::to_string(reader.events()) +
                 " lines and the replay stopped there; replaying the same input again is harmless (what was "
                 "stored comes back as duplicates): " + e.what());
        return 1;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    reporter.finish();

    int status = 0;
    std::string line;
    try {
        if (!config.online_out.empty() && !write_online(config.online_out, online_ids(store))) status = 1;
        if (!config.snapshot_out.empty() && !save_snapshot(config, store, reader.events())) status = 1;
        line = summary(store, reader.events(), reader.rejected() + sink.rejected(), seconds, Parser::name,
                       Parser::format, config.group_counts)
                   .dump();
    } catch (const RedisFailure& e) {
        complain(std::string("Redis failed after the replay, reading the shared state: ") + e.what());
        return 1;
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
    if (std::fflush(stdout) != 0) {
        complain(std::string("cannot write the summary: ") + std::strerror(errno));
        return 1;
    }
    return status;
}

#ifdef MQTT_PRESENCE_REPLAY_REDIS
using RedisStore = mqtt_presence::ClientStatusStore<mqtt_presence::RedisStorage>;

mqtt_presence::RedisOptions redis_options(const RedisTarget& target) {
    mqtt_presence::RedisOptions options;
    if (target.unix_socket.empty()) {
        options.host = target.host;
        options.port = target.port;
    } else {
        options.unix_socket = target.unix_socket;
    }
    options.prefix = target.prefix;
    options.buckets = target.buckets;
    if (const char* user = std::getenv("MQTT_PRESENCE_REDIS_USER")) options.username = user;
    if (const char* password = std::getenv("MQTT_PRESENCE_REDIS_PASSWORD")) options.password = password;
    return options;
}

// --redis: one store over Redis, fed by this thread in groups of redis_group events.
template <class Parser>
int run_redis(const Config& config, Reporter& reporter) {
    if (const std::string_view why = mqtt_presence::validate(config.options); !why.empty()) {
        complain("mqtt_presence: " + std::string(why)); // as make_store says it, before connecting
        return 2;
    }
    const mqtt_presence::RedisOptions options = redis_options(config.redis);
    std::unique_ptr<RedisStore> store;
    try {
        // --redis-clear: the state goes, whatever bucket count it had, and its layout with it;
        // the storage below writes its own.
        if (config.redis.clear) mqtt_presence::RedisStorage::erase(options);
        store = std::make_unique<RedisStore>(config.options, mqtt_presence::RedisStorage(options));
        if (!config.snapshot_in.empty()) {
            if (const std::size_t clients = store->size(); clients != 0) {
                complain("--snapshot-in needs an empty state, but Redis holds " + std::to_string(clients) +
                         " clients under the prefix \"" + options.prefix + "\" (--redis-clear deletes them first)");
                return 1;
            }
            if (!load_snapshot(config, *store)) return 1;
        }
    } catch (const mqtt_presence::RedisError& e) {
        complain(std::string("cannot use Redis: ") + e.what());
        return 1;
    } catch (const std::invalid_argument& e) { // parse_args checked the options; only a guard
        complain(e.what());
        return 2;
    }
    Ingester<RedisStore, Parser> sink(*store, reporter, redis_group);
    return replay<Parser>(config, reporter, *store, sink);
}
#endif

template <class Parser>
int run_with(const Config& config, Reporter& reporter) {
#ifdef MQTT_PRESENCE_REPLAY_REDIS
    if (config.redis.wanted) return run_redis<Parser>(config, reporter);
#endif
    if (config.threads == 1) {
        // One thread: the single-threaded store, no locks and no hand-off.
        using Store = mqtt_presence::ClientStatusStore<>;
        const std::unique_ptr<Store> store = make_store<Store>(config.options);
        if (store == nullptr) return 2;
        if (!config.snapshot_in.empty() && !load_snapshot(config, *store)) return 1;
        Ingester<Store, Parser> sink(*store, reporter);
        return replay<Parser>(config, reporter, *store, sink);
    }
    const std::unique_ptr<ConcurrentStore> store = make_store<ConcurrentStore>(config.options);
    if (store == nullptr) return 2;
    if (!config.snapshot_in.empty() && !load_snapshot(config, *store)) return 1; // before the workers start
    Dispatcher<Parser> sink(*store, reporter, config.threads); // declared after the store: joined before it goes
    return replay<Parser>(config, reporter, *store, sink);
}

int run(int argc, char** argv) {
    Config config;
    switch (parse_args(argc, argv, config)) {
    case ArgsResult::help: std::fputs(usage_text, stdout); return std::fflush(stdout) == 0 ? 0 : 1;
    case ArgsResult::error: std::fputs(usage_text, stderr); return 2;
    case ArgsResult::run: break;
    }

    Reporter reporter(config.quiet, MQTT_PRESENCE_REPLAY_ISATTY(stderr));
    switch (config.format) {
    case Format::aws_iot: return run_with<AwsIotParser>(config, reporter);
    case Format::emqx: return run_with<EmqxParser>(config, reporter);
    case Format::azure_eg_mqtt: return run_with<AzureEgMqttParser>(config, reporter);
    case Format::alibaba: break;
    }
#ifdef MQTT_PRESENCE_REPLAY_SIMDJSON
    if (config.parser == ParserName::simdjson) return run_with<SimdjsonParser>(config, reporter);
#endif
    return run_with<NlohmannParser>(config, reporter);
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc&) {
        complain("out of memory");
    } catch (const std::exception& e) {
        complain(e.what());
    }
    return 1;
}
