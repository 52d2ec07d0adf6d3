// mqtt_presence_replay: replays a dump of Alibaba Cloud MQTT lifecycle events and reports who is
// online at the end, so that an operator can rebuild state after an outage, check a consumer
// against a captured stream, or measure the ingest rate on real data.
//
//   mqtt_presence_replay [--online-out FILE] [options] [FILE ...]
//
//   mqtt_presence_replay --online-out online.txt events-*.jsonl
//   zcat dump.jsonl.gz | mqtt_presence_replay --quiet
//
// Input: JSON Lines, one Alibaba event per line, e.g.
//   {"clientId":"GID_XXX@@@dev1","time":1570795200000,"eventType":"connect",
//    "channelId":"2b9b1281046046faafe5e0b458e4a1b2","clientIp":"192.0.2.7:13222"}
// Files are replayed in the order given into one state; no FILE, or "-", reads standard input.
// Input is streamed, so a dump of any size fits; a line longer than 1 MiB is rejected. CRLF
// line ends are accepted and whitespace-only lines are ignored. A bad line (not JSON, a missing
// or mistyped field, an unknown event type, an absurd time) is reported on standard error as
// "mqtt_presence_replay: FILE:LINE: reason", counted as rejected and skipped; after 100 such
// reports the rest are only counted (--quiet: only counted).
//
// Options set the rules (README.md, "The rules"): --close-on-disconnect (rule 4), --no-takeover and
// --takeover-tolerance-ms N (rule 6), --retention-ms N (rule 5). See --help.
//
// Output: one JSON object on one line on standard output, e.g.
//   {"events":17,"applied":15,"duplicates":2,"refused":0,"rejected":0,...,"events_per_sec":...}
// where events (non-blank lines) = applied + duplicates + refused + rejected, and applied
// counts every event that was accepted and not a duplicate (superseded, behind_watermark and
// stale included; they are also given on their own). seconds is the wall time of reading,
// parsing and ingesting. --online-out FILE also writes the online client ids, sorted bytewise,
// one per line. On a terminal, standard error shows the progress of a long replay.
//
// Exit status: 0 when the input was read (bad lines included); 1 when a file cannot be opened
// or read (the replay stops there, with no summary) or --online-out cannot be written; 2 for a
// bad command line.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

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

constexpr const char* usage_text =
    "usage: mqtt_presence_replay [--online-out FILE] [options] [FILE ...]\n"
    "\n"
    "Replays Alibaba Cloud MQTT lifecycle events (JSON Lines: connect, disconnect, tcpclean)\n"
    "and prints a one-line JSON summary. With no FILE, or when FILE is -, reads standard input.\n"
    "\n"
    "options:\n"
    "  --online-out FILE          write the online client ids, sorted, one per line\n"
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
    "exit status: 0 done (bad lines included), 1 a file could not be read or written,\n"
    "2 bad command line\n";

struct Config {
    mqtt_presence::Options options;
    std::string online_out;
    bool quiet = false;
    std::vector<std::string> files;
};

enum class ArgsResult { run, help, error };

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
        // Options with a value: "--name VALUE" or "--name=VALUE".
        std::string_view name = arg;
        std::string_view value;
        bool has_value = false;
        if (const auto eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        const bool known = name == "--online-out" || name == "--takeover-tolerance-ms" || name == "--retention-ms";
        if (!known) {
            complain("unknown option " + std::string(arg));
            return ArgsResult::error;
        }
        if (!has_value) {
            if (i + 1 >= argc) {
                complain("option " + std::string(name) + " needs an argument");
                return ArgsResult::error;
            }
            value = argv[++i];
        }
        if (name == "--online-out") {
            if (value.empty()) {
                complain("option --online-out needs a file name");
                return ArgsResult::error;
            }
            config.online_out = std::string(value);
            continue;
        }
        std::int64_t number = 0;
        if (!parse_int64(value, number)) {
            complain("option " + std::string(name) + " needs an integer, got \"" + std::string(value) + "\"");
            return ArgsResult::error;
        }
        if (name == "--takeover-tolerance-ms")
            config.options.takeover_tolerance_ms = number;
        else
            config.options.tombstone_retention_ms = number;
    }
    if (config.files.empty()) config.files.emplace_back("-");
    return ArgsResult::run;
}

// Streams JSON Lines into one store. One instance replays every input file, in order.
class Replay {
public:
    using Clock = std::chrono::steady_clock;

    // Throws std::invalid_argument (the store's message) for unusable options.
    Replay(const mqtt_presence::Options& options, bool quiet, bool progress)
        : m_store(options), m_quiet(quiet), m_progress(progress) {
        // Room for the longest acceptable partial line (plus a '\r') and one more chunk after it.
        m_buffer.resize(max_line_bytes + 1 + read_chunk_bytes);
        m_message.reserve(256);
        m_error.reserve(256);
    }

    void start() {
        m_started = Clock::now();
        m_last_progress = m_started;
    }

    void stop() {
        m_seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
        clear_progress();
        if (m_reported > max_reported_lines) {
            const std::uint64_t more = m_reported - max_reported_lines;
            complain(std::to_string(more) + " more bad line" + (more == 1 ? "" : "s") +
                     " not reported (all are counted in \"rejected\")");
        }
    }

    // Replays one input. Returns false, having said why, when it cannot be read to the end.
    bool run(std::FILE* in, const std::string& name) {
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
                    const int err = errno;
                    clear_progress();
                    complain("cannot read " + name + ": " + std::strerror(err));
                    return false;
                }
                if (!skipping && end > begin) on_line(buffer + begin, end - begin); // no final newline
                return true;
            }
            end += got;
            while (const void* found = std::memchr(buffer + begin, '\n', end - begin)) {
                const auto length = static_cast<std::size_t>(static_cast<const char*>(found) - (buffer + begin));
                if (skipping)
                    skipping = false; // the tail of a line already counted and reported
                else
                    on_line(buffer + begin, length);
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

    [[nodiscard]] nlohmann::ordered_json summary() const {
        const mqtt_presence::Counters& c = m_store.counters();
        nlohmann::ordered_json out;
        out["events"] = m_events;
        out["applied"] = c.applied + c.superseded + c.behind_watermark + c.stale;
        out["duplicates"] = c.duplicates;
        out["refused"] = c.refused;
        out["rejected"] = m_rejected;
        out["superseded"] = c.superseded;
        out["behind_watermark"] = c.behind_watermark;
        out["stale"] = c.stale;
        out["went_online"] = c.went_online;
        out["went_offline"] = c.went_offline;
        out["clients"] = m_store.size();
        out["online"] = m_store.online_count();
        // Microseconds are plenty, and keep the number short.
        const double seconds = static_cast<double>(static_cast<std::int64_t>(m_seconds * 1e6 + 0.5)) / 1e6;
        out["seconds"] = seconds;
        out["events_per_sec"] =
            seconds > 0 ? static_cast<std::uint64_t>(static_cast<double>(m_events) / m_seconds + 0.5) : std::uint64_t{0};
        return out;
    }

    // The online client ids in byte order, so that two runs can be compared with diff.
    [[nodiscard]] std::vector<std::string> online_ids() const {
        std::vector<std::string> ids;
        ids.reserve(m_store.online_count());
        m_store.for_each_online([&](std::string_view id) { ids.emplace_back(id); });
        std::sort(ids.begin(), ids.end());
        return ids;
    }

private:
    void on_line(const char* data, std::size_t size) {
        ++m_line;
        if (m_progress && (++m_lines_total & progress_check_mask) == 0) show_progress();
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
        if (!mqtt_presence::parse_alibaba_event(std::string_view(data, size), m_event, m_error)) {
            reject(m_error);
            return;
        }
        const mqtt_presence::Outcome outcome = m_store.ingest(m_event);
        if (outcome.status == mqtt_presence::Status::invalid) reject(outcome.error);
    }

    void reject(std::string_view reason) {
        ++m_rejected;
        if (m_quiet) return;
        if (++m_reported > max_reported_lines) return; // counted for the final note
        clear_progress();
        // One write per report: stderr is unbuffered and may be shared with other writers.
        m_message.assign(program);
        m_message.append(": ").append(*m_file).push_back(':');
        m_message.append(std::to_string(m_line)).append(": ");
        // A JSON syntax error quotes the text it gave up on, which can be the whole line.
        if (reason.size() > max_reason_bytes) m_message.append(reason.substr(0, max_reason_bytes)).append("...");
        else m_message.append(reason);
        m_message.push_back('\n');
        std::fwrite(m_message.data(), 1, m_message.size(), stderr);
    }

    void show_progress() {
        const Clock::time_point now = Clock::now();
        if (now - m_last_progress < std::chrono::seconds(1)) return;
        m_last_progress = now;
        const double seconds = std::chrono::duration<double>(now - m_started).count();
        char text[128];
        const int n = std::snprintf(text, sizeof text, "\r%s: %llu events, %.0f events/s", program.data(),
                                    static_cast<unsigned long long>(m_events),
                                    seconds > 0 ? static_cast<double>(m_events) / seconds : 0.0);
        if (n <= 0) return;
        const auto length = std::min(static_cast<std::size_t>(n), sizeof text - 1);
        std::fwrite(text, 1, length, stderr);
        m_progress_width = length - 1; // without the '\r'
    }

    // The progress line must not be left under an error report or the final summary.
    void clear_progress() {
        if (m_progress_width == 0) return;
        std::string blank(m_progress_width + 2, ' ');
        blank.front() = '\r';
        blank.back() = '\r';
        std::fwrite(blank.data(), 1, blank.size(), stderr);
        m_progress_width = 0;
    }

    mqtt_presence::ClientStatusStore<> m_store;
    // Reused for every line: once warm, a line costs no allocation of ours.
    mqtt_presence::Event m_event;
    std::string m_error;
    std::string m_message;
    std::vector<char> m_buffer;

    const std::string* m_file = nullptr;
    std::uint64_t m_line = 0; // 1-based within the current file, blank lines included
    std::uint64_t m_events = 0;
    std::uint64_t m_rejected = 0;
    std::uint64_t m_reported = 0;

    bool m_quiet;
    bool m_progress;
    std::uint64_t m_lines_total = 0;
    std::size_t m_progress_width = 0;
    Clock::time_point m_started{};
    Clock::time_point m_last_progress{};
    double m_seconds = 0;
};

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

int run(int argc, char** argv) {
    Config config;
    switch (parse_args(argc, argv, config)) {
    case ArgsResult::help: std::fputs(usage_text, stdout); return std::fflush(stdout) == 0 ? 0 : 1;
    case ArgsResult::error: std::fputs(usage_text, stderr); return 2;
    case ArgsResult::run: break;
    }

    std::unique_ptr<Replay> replay;
    try {
        replay = std::make_unique<Replay>(config.options, config.quiet, MQTT_PRESENCE_REPLAY_ISATTY(stderr));
    } catch (const std::invalid_argument& e) {
        complain(e.what());
        return 2;
    }

    const std::string stdin_name = "<stdin>";
    replay->start();
    for (const std::string& file : config.files) {
        if (file == "-") {
#ifdef _WIN32
            (void)_setmode(_fileno(stdin), _O_BINARY); // CRLF is handled here, and ^Z is data
#endif
            if (!replay->run(stdin, stdin_name)) return 1;
            std::clearerr(stdin); // "-" may be given again; it then reads nothing more
            continue;
        }
        std::FILE* in = std::fopen(file.c_str(), "rb");
        if (in == nullptr) {
            const int err = errno;
            replay->stop();
            complain("cannot open " + file + ": " + std::strerror(err));
            return 1;
        }
        const bool ok = replay->run(in, file);
        std::fclose(in);
        if (!ok) return 1;
    }
    replay->stop();

    int status = 0;
    if (!config.online_out.empty() && !write_online(config.online_out, replay->online_ids())) status = 1;

    std::string line = replay->summary().dump();
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
    if (std::fflush(stdout) != 0) {
        complain(std::string("cannot write the summary: ") + std::strerror(errno));
        return 1;
    }
    return status;
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
