// mqtt_presence_bench_redis: the ingest rate of ClientStatusStore<RedisStorage>, with one and with
// two consumer processes sharing one state, against what the same Redis does for plain SETs.
//
//   mqtt_presence_bench_redis [--clients N] [--runs N] [--batch N] [--one-by-one N] [--edges N]
//                             [--seed N] [--redis HOST:PORT]
//
// Redis: its own redis-server on a free loopback port (tests/support/redis_server.hpp: no
// persistence), unless --redis names one; it then works under prefixes "bench:<pid>:..." that it
// deletes again, and redis-benchmark writes its key "key:__rand_int__" there.
//
// The stream: the one every bench program times (bench/stream.hpp), of --clients clients
// (default 100,000: about 16 events each). Configurations, each timed --runs times (default 3),
// taking turns, each run on a fresh prefix:
//  (a) ingest_batch, 1 consumer: the whole stream in batches of --batch events (default 256);
//  (b) ingest_batch, 2 consumers: the stream dealt into two halves by client (a hash of the
//      client id, not the storage's bucket hash; each client's events stay in order in one
//      half, as a queue partitioned by client delivers them), each half fed by its own process;
//  (c) ingest(), 1 consumer, one event at a time: the first --one-by-one events (default 20,000).
// Every flip also goes into its bucket's edge stream, kept to about --edges entries (default
// RedisOptions::edge_stream_max; --edges 0: no edge stream, to see what it costs).
// Each consumer is a forked process with its own connection and store; the processes connect,
// then are released together, and the clock runs from their release until the last one is done.
// After each run the shared state must hold the clients and online count that an in-memory
// store ends with on the same events; else the exit status is 1.
// Beside them: redis-benchmark -t set -n 200000 -q against the same server, without and with
// -P 16 pipelining (when the redis-benchmark program is found), and the ratio of each rate to it.
//
// Where the time goes: the server's CPU time per event (INFO cpu, the difference over the run),
// split by command (INFO commandstats: the compare-and-set script, EVALSHA; the record reads,
// HMGET), and the consumers' CPU time per event. With one consumer, its round trips wait for the
// server and the server for them: the two CPU times add up to about the wall time per event.

#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <mqtt_presence/mqtt_presence.hpp>
#include <mqtt_presence/redis.hpp>

#include "../tests/support/redis_server.hpp"
#include "stream.hpp"

namespace {

using mqtt_presence::Event;
using mqtt_presence::bench::Clock;
using mqtt_presence::bench::median;
using mqtt_presence::bench::seconds_since;

constexpr const char* usage =
    "usage: mqtt_presence_bench_redis [--clients N] [--runs N] [--batch N] [--one-by-one N] [--edges N]\n"
    "                                 [--seed N] [--redis HOST:PORT]\n"
    "  --clients N      clients in the generated stream (default 100000; about 16 events each)\n"
    "  --runs N         measurements per configuration; the table gives the median (default 3)\n"
    "  --batch N        events per ingest_batch call (default 256)\n"
    "  --one-by-one N   events ingested one at a time, for comparison (default 20000)\n"
    "  --edges N        flips kept per bucket in the edge stream (RedisOptions::edge_stream_max,\n"
    "                   default 10000); 0: no edge stream\n"
    "  --seed N         seed of the generated stream (default 1)\n"
    "  --redis H:P      use this Redis (under prefixes bench:<pid>:..., deleted again) instead\n"
    "                   of starting a private redis-server\n";

struct Args {
    std::uint64_t clients = 100000;
    std::uint64_t runs = 3;
    std::uint64_t batch = 256;
    std::uint64_t one_by_one = 20000;
    std::uint64_t edges = mqtt_presence::RedisOptions{}.edge_stream_max;
    std::uint64_t seed = 1;
    std::string host;
    int port = 0; // 0: start a private server
};

bool parse_args(int argc, char** argv, Args& args) {
    // --redis takes a text; the rest are numbers (bench/stream.hpp parses those).
    std::vector<char*> numeric{argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (std::string_view(argv[i]) != "--redis") {
            numeric.push_back(argv[i]);
            continue;
        }
        if (i + 1 >= argc) return false;
        const std::string_view address = argv[++i];
        const std::size_t colon = address.rfind(':');
        std::uint64_t port = 0;
        if (colon == std::string_view::npos || colon == 0 ||
            !mqtt_presence::bench::parse_number(address.substr(colon + 1), port) || port < 1 || port > 65535)
            return false;
        args.host = std::string(address.substr(0, colon));
        args.port = static_cast<int>(port);
    }
    return mqtt_presence::bench::parse_options(
        static_cast<int>(numeric.size()), numeric.data(),
        {{"--clients", &args.clients, 1, 100000000}, {"--runs", &args.runs, 1, 1000}, {"--batch", &args.batch, 1, 1000000},
         {"--one-by-one", &args.one_by_one, 1, 100000000}, {"--edges", &args.edges}, {"--seed", &args.seed}});
}

// ---------------------------------------------------------------------------------------------
// Talking to Redis outside the storage: INFO, and deleting a prefix.
// ---------------------------------------------------------------------------------------------

class Admin {
public:
    Admin(const std::string& host, int port) : m_context(redisConnect(host.c_str(), port)) {
        if (m_context == nullptr || m_context->err != 0)
            throw std::runtime_error("cannot reach Redis at " + host + ":" + std::to_string(port) + ": " +
                                     (m_context ? m_context->errstr : "out of memory"));
    }
    Admin(const Admin&) = delete;
    Admin& operator=(const Admin&) = delete;
    ~Admin() { redisFree(m_context); }

    // The text of INFO <section>.
    std::string info(const char* section) {
        redisReply* reply = static_cast<redisReply*>(redisCommand(m_context, "INFO %s", section));
        if (reply == nullptr) throw std::runtime_error(std::string("INFO failed: ") + m_context->errstr);
        std::string text = reply->type == REDIS_REPLY_STRING ? std::string(reply->str, reply->len) : std::string();
        freeReplyObject(reply);
        return text;
    }

private:
    redisContext* m_context;
};

// A number after "<key>:" (INFO fields) or "<key>=" (commandstats) in `text`; 0 if absent.
double field(const std::string& text, const std::string& key) {
    const std::size_t at = text.find(key);
    if (at == std::string::npos) return 0;
    return std::strtod(text.c_str() + at + key.size(), nullptr);
}

// What the server did over a run: INFO cpu and commandstats before and after.
struct ServerWork {
    double cpu_seconds = 0;
    std::map<std::string, std::pair<double, double>> commands; // name -> (calls, microseconds)
};

struct ServerSample {
    std::string cpu;
    std::string commandstats;
};

ServerSample sample(Admin& admin) { return {admin.info("cpu"), admin.info("commandstats")}; }

ServerWork difference(const ServerSample& before, const ServerSample& after) {
    ServerWork work;
    const auto cpu = [](const std::string& text) {
        return field(text, "used_cpu_sys:") + field(text, "used_cpu_user:");
    };
    work.cpu_seconds = cpu(after.cpu) - cpu(before.cpu);
    for (const char* name : {"evalsha", "hmget", "hget", "evalsha_ro"}) {
        const std::string key = std::string("cmdstat_") + name + ":";
        const auto get = [&](const std::string& text, const char* what) {
            const std::size_t at = text.find(key);
            if (at == std::string::npos) return 0.0;
            return field(text.substr(at), what);
        };
        const double calls = get(after.commandstats, "calls=") - get(before.commandstats, "calls=");
        const double usec = get(after.commandstats, "usec=") - get(before.commandstats, "usec=");
        if (calls > 0) work.commands[name] = {calls, usec};
    }
    return work;
}

// ---------------------------------------------------------------------------------------------
// Consumer processes
// ---------------------------------------------------------------------------------------------

using Indexed = mqtt_presence::bench::Indexed<std::size_t>;

// What a consumer process sends back through its pipe (one write, under PIPE_BUF).
struct Report {
    double cpu_seconds = 0;     // the process's CPU time while ingesting
    std::uint64_t invalid = 0;  // events the store refused as invalid (there must be none)
    char error[256] = {};       // what stopped it, if anything
};

double process_cpu_seconds() {
    rusage self{};
    ::getrusage(RUSAGE_SELF, &self);
    const auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return seconds(self.ru_utime) + seconds(self.ru_stime);
}

bool write_all(int fd, const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

bool read_all(int fd, void* data, std::size_t size) {
    char* p = static_cast<char*>(data);
    while (size > 0) {
        const ssize_t n = ::read(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

enum class Mode { batched, one_by_one };

using RedisStore = mqtt_presence::ClientStatusStore<mqtt_presence::RedisStorage>;

// In a consumer process: connects, says so, waits for the release, ingests its events, reports.
[[noreturn]] void consume(const mqtt_presence::RedisOptions& options, const std::vector<Event>& events,
                          const std::vector<std::size_t>& mine, Mode mode, std::size_t batch, int ready_fd, int go_fd,
                          int report_fd) {
    Report report;
    try {
        RedisStore store(mqtt_presence::Options{}, mqtt_presence::RedisStorage(options));
        const char ready = 'r';
        if (!write_all(ready_fd, &ready, 1)) ::_exit(2);
        char go = 0;
        (void)::read(go_fd, &go, 1); // returns 0 when the parent closes its end: the release
        const double cpu_start = process_cpu_seconds();
        if (mode == Mode::batched) {
            const auto count_invalid = [&](const Event&, const mqtt_presence::Outcome& out) {
                if (out.status == mqtt_presence::Status::invalid) ++report.invalid;
            };
            for (std::size_t from = 0; from < mine.size(); from += batch) {
                const std::size_t to = std::min(mine.size(), from + batch);
                store.ingest_batch(Indexed{events.data(), mine.data() + from}, Indexed{events.data(), mine.data() + to},
                                   count_invalid);
            }
        } else {
            for (const std::size_t i : mine)
                if (store.ingest(events[i]).status == mqtt_presence::Status::invalid) ++report.invalid;
        }
        report.cpu_seconds = process_cpu_seconds() - cpu_start;
    } catch (const std::exception& e) {
        std::snprintf(report.error, sizeof report.error, "%s", e.what());
    }
    ::_exit(write_all(report_fd, &report, sizeof report) ? 0 : 2);
}

struct Timing {
    double wall_seconds = 0;
    double client_cpu_seconds = 0; // summed over the consumers
    ServerWork server;
};

// Runs one consumer process per part of `parts` against `options`, released together.
Timing run_consumers(const mqtt_presence::RedisOptions& options, const std::vector<Event>& events,
                     const std::vector<std::vector<std::size_t>>& parts, Mode mode, std::size_t batch, Admin& admin) {
    int go[2];
    if (::pipe(go) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    struct Child {
        pid_t pid = -1;
        int ready = -1;  // the parent's read ends
        int report = -1;
    };
    std::vector<Child> children;
    std::string failure;
    for (const std::vector<std::size_t>& part : parts) {
        int ready[2];
        int report[2];
        if (::pipe(ready) != 0 || ::pipe(report) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
        std::fflush(nullptr);
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
        if (pid == 0) {
            ::close(go[1]); // else the release (the parent closing its end) would never come
            ::close(ready[0]);
            ::close(report[0]);
            for (const Child& sibling : children) { // their pipes are not this child's
                ::close(sibling.ready);
                ::close(sibling.report);
            }
            consume(options, events, part, mode, batch, ready[1], go[0], report[1]);
        }
        ::close(ready[1]);
        ::close(report[1]);
        children.push_back(Child{pid, ready[0], report[0]});
    }
    ::close(go[0]);
    for (const Child& child : children) {
        char ready = 0;
        if (!read_all(child.ready, &ready, 1)) failure = "a consumer could not connect";
    }
    const ServerSample before = sample(admin);
    const Clock::time_point start = Clock::now();
    ::close(go[1]); // the release
    Timing timing;
    for (const Child& child : children) {
        Report report;
        if (!read_all(child.report, &report, sizeof report)) {
            if (failure.empty()) failure = "a consumer died";
        } else if (report.error[0] != '\0') {
            if (failure.empty()) failure = report.error;
        } else if (report.invalid != 0) {
            if (failure.empty()) failure = std::to_string(report.invalid) + " events refused as invalid";
        }
        timing.client_cpu_seconds += report.cpu_seconds;
    }
    timing.wall_seconds = seconds_since(start);
    timing.server = difference(before, sample(admin));
    for (const Child& child : children) {
        ::close(child.ready);
        ::close(child.report);
        int status = 0;
        while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (failure.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) failure = "a consumer failed";
    }
    if (!failure.empty()) throw std::runtime_error("consumer: " + failure);
    return timing;
}

// ---------------------------------------------------------------------------------------------
// redis-benchmark
// ---------------------------------------------------------------------------------------------

// Requests per second of `redis-benchmark -t set -n 200000 -q [-P pipeline]`; 0 if it fails.
double redis_benchmark_set(const std::string& program, const std::string& host, int port, int pipeline) {
    std::string command = "'" + program + "' -h " + host + " -p " + std::to_string(port) + " -t set -n 200000 -q";
    if (pipeline > 1) command += " -P " + std::to_string(pipeline);
    command += " 2>&1";
    std::FILE* out = ::popen(command.c_str(), "r");
    if (out == nullptr) return 0;
    std::string text;
    char buffer[4096];
    for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, out)) > 0;) text.append(buffer, n);
    if (::pclose(out) != 0) return 0;
    // The last "SET: <rate> requests per second" (progress lines come before it).
    const std::size_t at = text.rfind("SET: ");
    if (at == std::string::npos) return 0;
    return std::strtod(text.c_str() + at + 5, nullptr);
}

// ---------------------------------------------------------------------------------------------
// The benchmark
// ---------------------------------------------------------------------------------------------

struct Expected {
    std::size_t clients = 0;
    std::size_t online = 0;
};

// What an in-memory store ends with on events[index...].
Expected in_memory(const std::vector<Event>& events, const std::vector<std::size_t>& index) {
    mqtt_presence::ClientStatusStore<> store;
    store.ingest_batch(Indexed{events.data(), index.data()}, Indexed{events.data(), index.data() + index.size()});
    return {store.size(), store.online_count()};
}

struct Configuration {
    std::string name;
    Mode mode;
    std::vector<std::vector<std::size_t>> parts; // one per consumer process
    Expected expected;
    std::size_t events = 0;
    std::vector<double> rates{};
    std::vector<double> client_us{};  // consumers' CPU µs per event
    std::vector<double> server_us{};  // server CPU µs per event
    std::map<std::string, std::vector<double>> calls_per_event{};
    std::map<std::string, std::vector<double>> us_per_event{};
};

int run(int argc, char** argv) {
    Args args;
    if (!parse_args(argc, argv, args)) {
        std::fputs(usage, stderr);
        return 2;
    }
    const std::string command = mqtt_presence::bench::command_line(argc, argv);

    std::unique_ptr<test_support::RedisServer> server;
    if (args.port == 0) {
        server = std::make_unique<test_support::RedisServer>();
        args.host = server->host();
        args.port = server->port();
    }
    Admin admin(args.host, args.port);
    const std::string server_info = admin.info("server");
    const std::string version = [&] {
        const std::size_t at = server_info.find("redis_version:");
        return at == std::string::npos ? std::string("?") : server_info.substr(at + 14, server_info.find('\r', at) - at - 14);
    }();

    std::fprintf(stderr, "generating %llu clients (seed %llu)...\n", static_cast<unsigned long long>(args.clients),
                 static_cast<unsigned long long>(args.seed));
    std::vector<Event> events;
    {
        // Copied once in stream order, as bench_threads.cpp does: each event's strings follow the
        // previous event's in memory, as a parser's would.
        std::vector<Event> scattered = mqtt_presence::bench::generate_events(args.clients, args.seed);
        events.reserve(scattered.size());
        for (const Event& event : scattered) events.push_back(event);
    }
    mqtt_presence::bench::release_free_memory();
    const std::size_t n = events.size();

    std::vector<std::size_t> all(n);
    for (std::size_t i = 0; i < n; ++i) all[i] = i;
    std::vector<std::vector<std::size_t>> halves(2);
    for (std::size_t i = 0; i < n; ++i) halves[std::hash<std::string_view>{}(events[i].client_id) % 2].push_back(i);
    const std::vector<std::size_t> first(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min<std::uint64_t>(n, args.one_by_one)));

    const Expected whole = in_memory(events, all);
    const std::string batch = std::to_string(args.batch);
    std::vector<Configuration> configurations;
    configurations.push_back({"(a) ingest_batch, batches of " + batch, Mode::batched, {all}, whole});
    configurations.push_back({"(b) ingest_batch, batches of " + batch, Mode::batched, halves, whole});
    configurations.push_back({"(c) ingest, one event at a time", Mode::one_by_one, {first}, in_memory(events, first)});
    for (Configuration& c : configurations)
        for (const auto& part : c.parts) c.events += part.size();

    const std::optional<std::string> redis_benchmark = test_support::find_program("redis-benchmark");
    std::vector<double> set_rates, set_p16_rates;

    const std::string load_before = mqtt_presence::bench::load_average();
    bool consistent = true;
    for (std::uint64_t r = 0; r < args.runs; ++r) {
        for (std::size_t c = 0; c < configurations.size(); ++c) {
            Configuration& configuration = configurations[c];
            mqtt_presence::RedisOptions options;
            options.host = args.host;
            options.port = args.port;
            options.edge_stream_max = static_cast<std::size_t>(args.edges);
            options.prefix = "bench:" + std::to_string(::getpid()) + ":r" + std::to_string(r) + "c" + std::to_string(c) + ":";
            const Timing t = run_consumers(options, events, configuration.parts, configuration.mode,
                                           static_cast<std::size_t>(args.batch), admin);
            const double count = static_cast<double>(configuration.events);
            configuration.rates.push_back(count / t.wall_seconds);
            configuration.client_us.push_back(t.client_cpu_seconds * 1e6 / count);
            configuration.server_us.push_back(t.server.cpu_seconds * 1e6 / count);
            for (const auto& [name, work] : t.server.commands) {
                configuration.calls_per_event[name].push_back(work.first / count);
                configuration.us_per_event[name].push_back(work.second / count);
            }
            // The shared state must be the in-memory store's; then it goes.
            RedisStore check(mqtt_presence::Options{}, mqtt_presence::RedisStorage(options));
            const std::size_t clients = check.size();
            const std::size_t online = check.online_count();
            if (clients != configuration.expected.clients || online != configuration.expected.online) {
                std::fprintf(stderr, "MISMATCH: run %llu, %s: %zu clients, %zu online; in memory %zu, %zu\n",
                             static_cast<unsigned long long>(r + 1), configuration.name.c_str(), clients, online,
                             configuration.expected.clients, configuration.expected.online);
                consistent = false;
            }
            check.storage().clear();
        }
        if (redis_benchmark) {
            set_rates.push_back(redis_benchmark_set(*redis_benchmark, args.host, args.port, 1));
            set_p16_rates.push_back(redis_benchmark_set(*redis_benchmark, args.host, args.port, 16));
        }
        std::fprintf(stderr, "round %llu/%llu done\n", static_cast<unsigned long long>(r + 1),
                     static_cast<unsigned long long>(args.runs));
    }

    const double set = median(set_rates);
    const double set_p16 = median(set_p16_rates);
    std::printf("command: %s\n", command.c_str());
    std::printf("redis:   redis-server %s at %s:%d (%s)\n", version.c_str(), args.host.c_str(), args.port,
                server ? "started by this program, no persistence" : "given by --redis");
    std::printf("stream:  %llu clients, %zu events, seed %llu; final state %zu clients, %zu online%s\n",
                static_cast<unsigned long long>(args.clients), n, static_cast<unsigned long long>(args.seed), whole.clients,
                whole.online, consistent ? "" : " (NOT in every run: see MISMATCH above)");
    const std::string edge_stream =
        args.edges == 0 ? std::string("none") : "about " + std::to_string(args.edges) + " flips per bucket";
    std::printf("         (b) deals it by client: %zu + %zu events; edge stream: %s\n", halves[0].size(), halves[1].size(),
                edge_stream.c_str());
    std::printf("machine: %u hardware threads; load average before %s, after %s\n", std::thread::hardware_concurrency(),
                load_before.c_str(), mqtt_presence::bench::load_average().c_str());
    std::printf("medians of %llu runs, each on a fresh prefix; CPU us/ev: CPU time per event of the consumer\n"
                "processes (summed) and of redis-server (INFO cpu)\n\n",
                static_cast<unsigned long long>(args.runs));
    std::printf("%-34s %9s %9s %12s %12s %12s %10s %10s %8s %8s\n", "configuration", "consumers", "events", "median ev/s",
                "min ev/s", "max ev/s", "client us", "server us", "vs SET", "vs P16");
    for (const Configuration& c : configurations) {
        const double med = median(c.rates);
        const auto [lo, hi] = mqtt_presence::bench::range(c.rates);
        char vs_set[16] = "-", vs_p16[16] = "-";
        if (set > 0) std::snprintf(vs_set, sizeof vs_set, "%.2fx", med / set);
        if (set_p16 > 0) std::snprintf(vs_p16, sizeof vs_p16, "%.2fx", med / set_p16);
        std::printf("%-34s %9zu %9zu %12.0f %12.0f %12.0f %10.2f %10.2f %8s %8s\n", c.name.c_str(), c.parts.size(), c.events,
                    med, lo, hi, median(c.client_us), median(c.server_us), vs_set, vs_p16);
    }
    if (redis_benchmark) {
        std::printf("%-34s %9s %9s %12.0f %12.0f %12.0f\n", "redis-benchmark -t set -q", "1", "200000", set,
                    mqtt_presence::bench::range(set_rates).min, mqtt_presence::bench::range(set_rates).max);
        std::printf("%-34s %9s %9s %12.0f %12.0f %12.0f\n", "redis-benchmark -t set -q -P 16", "1", "200000", set_p16,
                    mqtt_presence::bench::range(set_p16_rates).min, mqtt_presence::bench::range(set_p16_rates).max);
    } else {
        std::printf("redis-benchmark not found: no SET figures\n");
    }
    std::printf("\nserver time by command (medians; calls and INFO commandstats usec per event):\n");
    for (const Configuration& c : configurations) {
        std::printf("  %-34s", (c.name + (c.parts.size() > 1 ? " x2" : "")).c_str());
        for (const auto& [name, calls] : c.calls_per_event)
            std::printf("  %s %.3f calls %.2f us", name.c_str(), median(calls), median(c.us_per_event.at(name)));
        std::printf("\n");
    }
    const double one = median(configurations[0].rates);
    std::printf("\ntarget: >= 100000 ev/s with one batched consumer: %.0f ev/s, %s\n", one, one >= 100000 ? "met" : "NOT met");
    return consistent ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) { return mqtt_presence::bench::guarded_main("mqtt_presence_bench_redis", run, argc, argv); }
