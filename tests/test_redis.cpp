// RedisStorage beyond the behavioural tests every storage runs: its record encoding, key
// layout, failures, optimistic conflicts, several consumer processes, a consumer killed
// mid-batch, a Redis restart, and one store shared by several threads.
//
// The histories come from tests/support/history.hpp (reordering, near and late duplicates,
// flapping clients, lost closes covered by rule 6), with no reconcile answers (ingest_batch takes
// events only). Their expected results come from the true timelines and from a single-process
// in-memory store fed the same events.
//
// Several consumers (processes or threads) deal one delivery among them in epochs of at most 256
// deliveries arrived within at most an hour (as tests/test_concurrent.cpp does, for the same
// reason): within an epoch one client's events are applied in any order, across epochs in
// delivery order. Without the bound one consumer could run a day ahead of another on the same
// client, a delivery the rules do not promise to absorb (rule 5's retention window).
//
// Tests that start their own redis-server, or use SELECT, are tagged [no_cluster], and those of
// the record encoding, which talk to no server, [codec]; the others also run against a
// cluster-mode server (MQTT_PRESENCE_TEST_REDIS_CLUSTER=1), which refuses any command whose keys
// are not in one slot. Forked children never return into Catch: they report through socket
// pairs and leave with _exit. The seed is MQTT_PRESENCE_SEED from the environment, else a fixed
// default.

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <mqtt_presence/redis.hpp>

#include "support/events.hpp"
#include "support/history.hpp"
#include "support/redis_server.hpp"
#include "support/redis_storage.hpp"

namespace {

using namespace mqtt_presence;
using mqtt_presence::testing::Batch;
using mqtt_presence::testing::Delivery;
using mqtt_presence::testing::DeliveryOptions;
using mqtt_presence::testing::HistoryOptions;
using mqtt_presence::testing::Random;
using mqtt_presence::testing::Timeline;
using mqtt_presence::testing::mix_seed;
namespace codec = mqtt_presence::detail::record_codec;
namespace ts = test_support;
using ts::RedisServer;
using ts::RedisServerConfig;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::uint64_t default_seed = 20251201;
std::uint64_t run_seed() { return mqtt_presence::testing::seed_from_environment(default_seed); }

const std::string hex_a = "2b9b1281046046faafe5e0b458e4a1b2";
const std::string hex_b = "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f";
const std::string hex_c = "0123456789abcdef0123456789abcdef";

using RedisStore = ClientStatusStore<RedisStorage>;

long long elapsed_ms(Clock::time_point since) {
    return static_cast<long long>(std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
}

bool cluster_mode() {
    const char* cluster = std::getenv("MQTT_PRESENCE_TEST_REDIS_CLUSTER");
    return cluster != nullptr && std::string(cluster) == "1";
}

// ---------------------------------------------------------------------------------------------
// Records, states and edges, in comparable form
// ---------------------------------------------------------------------------------------------

// Every field of a record, through the snapshot encoder (which writes each one as it is).
std::string fields_of(const ClientRecord& record) {
    std::string out;
    mqtt_presence::detail::snapshot::encode_record(out, "", record);
    return out;
}

template <class Storage>
std::map<std::string, std::string> records_of(const Storage& storage) {
    std::map<std::string, std::string> out;
    storage.for_each([&](std::string_view id, const ClientRecord& record) { out.emplace(std::string(id), fields_of(record)); });
    return out;
}

// The first few ids whose records differ (or exist on one side only), as text; "" if none.
std::string record_differences(const std::map<std::string, std::string>& got, const std::map<std::string, std::string>& want) {
    std::string out;
    std::size_t shown = 0;
    auto note = [&](const std::string& id, const char* what) {
        if (++shown <= 5) out += "  " + id + ": " + what + "\n";
    };
    for (const auto& [id, fields] : want) {
        const auto it = got.find(id);
        if (it == got.end()) note(id, "missing");
        else if (it->second != fields) note(id, "differs");
    }
    for (const auto& [id, fields] : got)
        if (want.count(id) == 0) note(id, "not expected");
    if (shown > 5) out += "  ... " + std::to_string(shown) + " in all\n";
    return out;
}

struct SeenEdge {
    bool online = false;
    std::int64_t time_ms = no_time;
    std::string channel_id;
    Cause cause = Cause::none;
    bool operator==(const SeenEdge& o) const {
        return online == o.online && time_ms == o.time_ms && channel_id == o.channel_id && cause == o.cause;
    }
    bool operator!=(const SeenEdge& o) const { return !(*this == o); }
};
using EdgesByClient = std::map<std::string, std::vector<SeenEdge>>;

std::string text(const SeenEdge& e) {
    return std::string(e.online ? "online" : "offline") + " at " + std::to_string(e.time_ms) + " channel \"" + e.channel_id +
           "\" (" + std::string(to_string(e.cause)) + ")";
}

EdgesByClient stored_edges(const RedisStorage& storage, std::size_t* total = nullptr) {
    EdgesByClient out;
    std::size_t count = 0;
    storage.for_each_edge([&](const StoredEdge& e) {
        ++count;
        out[e.client_id].push_back(SeenEdge{e.online, e.time_ms, e.channel_id, e.cause});
    });
    if (total != nullptr) *total = count;
    return out;
}

template <class Store>
std::set<std::string> online_set(const Store& store) {
    std::set<std::string> ids;
    store.for_each_online([&](std::string_view id) { ids.emplace(id); });
    return ids;
}

// What a store ends with: the online clients, the counts, the size, and (in-memory) the edges
// its transition hook reported per client.
struct State {
    std::set<std::string> online;
    std::size_t online_count = 0;
    std::size_t size = 0;
    std::map<std::string, std::size_t> group_online; ///< online_count(group) for every group asked
    std::map<std::string, std::size_t> groups;       ///< for_each_group
    std::map<std::string, std::string> records;
    EdgesByClient edges;
    std::size_t edge_count = 0;
    Counters counters;
};

template <class Store>
State state_of(const Store& store, const std::set<std::string>& groups) {
    State s;
    s.online = online_set(store);
    s.online_count = store.online_count();
    s.size = store.size();
    for (const std::string& g : groups) s.group_online[g] = store.online_count(g);
    s.groups = ts::group_counts(store);
    s.records = records_of(store.storage());
    s.counters = store.counters();
    return s;
}

// A single-process in-memory store fed `events` in order, one ingest() each.
State in_memory_run(const std::vector<Event>& events, const std::set<std::string>& groups) {
    ClientStatusStore<> store;
    EdgesByClient edges;
    std::size_t count = 0;
    store.on_transition([&](const Edge& e) {
        ++count;
        edges[std::string(e.client_id)].push_back(SeenEdge{e.online, e.time_ms, std::string(e.channel_id), e.cause});
    });
    for (const Event& e : events) (void)store.ingest(e);
    State s = state_of(store, groups);
    s.edges = std::move(edges);
    s.edge_count = count;
    return s;
}

// The checks every shared run makes against the in-memory run: the same online clients, counts
// per group and in all, and clients tracked.
void check_same_state(const State& got, const State& want) {
    CHECK(got.online.size() == want.online.size());
    CHECK(got.online == want.online);
    CHECK(got.online_count == want.online_count);
    CHECK(got.online_count == got.online.size());
    CHECK(got.size == want.size);
    CHECK(got.group_online == want.group_online);
    CHECK(got.groups == want.groups);
}

// Per client: the stored edges alternate, start online, and the last agrees with the final
// state. Returns a description of the first few clients that break it ("" if none).
std::string edge_sequence_problems(const EdgesByClient& edges, const std::set<std::string>& online) {
    std::string out;
    std::size_t bad = 0;
    for (const auto& [id, list] : edges) {
        bool ok = !list.empty() && list.front().online;
        for (std::size_t k = 1; ok && k < list.size(); ++k) ok = list[k].online != list[k - 1].online;
        if (ok) ok = list.back().online == (online.count(id) != 0);
        if (!ok && ++bad <= 3) {
            out += "  " + id + ":";
            for (const SeenEdge& e : list) out += " [" + text(e) + "]";
            out += online.count(id) != 0 ? " (online at the end)\n" : " (offline at the end)\n";
        }
    }
    for (const std::string& id : online)
        if (edges.count(id) == 0 && ++bad <= 3) out += "  " + id + ": online without any edge\n";
    return out;
}

// ---------------------------------------------------------------------------------------------
// The generated history, once per process
// ---------------------------------------------------------------------------------------------

struct History {
    std::uint64_t seed = 0;
    Batch batch;
    std::vector<Event> events;         ///< the delivery, in order (events only)
    std::vector<std::int64_t> arrival; ///< delivered_ms per event
    std::vector<std::size_t> client;   ///< timeline index per event
    std::set<std::string> groups;      ///< every Group ID of the history, and one never seen
    std::set<std::string> truly_online;
    State reference;                   ///< in_memory_run(events)
};

const History& history() {
    static const History fixed = [] {
        History h;
        h.seed = run_seed();
        HistoryOptions options;
        options.reconcile_online_probability = 0; // ingest_batch takes events: no reconcile answers
        options.reconcile_offline_probability = 0;
        DeliveryOptions delivery;
        delivery.near_duplicate_probability = 0.15;
        delivery.late_duplicate_probability = 0.05;
        h.batch = mqtt_presence::testing::generate_batch(mix_seed(h.seed, 0x7ed15), 0, 300, options, delivery);
        for (const Delivery& d : h.batch.deliveries) {
            if (d.kind != Delivery::Kind::event) throw std::logic_error("the history holds a reconcile answer");
            h.events.push_back(d.event);
            h.arrival.push_back(d.delivered_ms);
            h.client.push_back(d.client);
        }
        for (const Timeline& t : h.batch.timelines) {
            h.groups.emplace(group_of(t.client_id));
            if (mqtt_presence::testing::truth(t).online) h.truly_online.insert(t.client_id);
        }
        h.groups.emplace("GID_never_seen");
        h.reference = in_memory_run(h.events, h.groups);
        return h;
    }();
    return fixed;
}

// The oracle itself must hold before anything is compared with it.
void require_reference_is_true(const History& h) {
    INFO("seed " << h.seed << " (set MQTT_PRESENCE_SEED=" << h.seed << " to reproduce)");
    REQUIRE(h.events.size() >= 2000);
    REQUIRE(h.groups.size() >= 4);
    REQUIRE(h.reference.online == h.truly_online);
}

// Epochs of the delivery: [first, last) ranges of at most 256 events arrived within an hour.
std::vector<std::pair<std::size_t, std::size_t>> epochs_of(const History& h) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    std::size_t first = 0;
    for (std::size_t i = 0; i <= h.events.size(); ++i) {
        if (i == h.events.size() || i - first == 256 || h.arrival[i] - h.arrival[first] > mqtt_presence::testing::hour_ms) {
            if (i > first) out.emplace_back(first, i);
            first = i;
        }
    }
    return out;
}

// The history dealt to `workers` consumers: per worker, per epoch, its events in delivery order.
// Each event goes to a random worker, so one client's events go to several.
using Deal = std::vector<std::vector<std::vector<Event>>>; // [worker][epoch] -> events
Deal deal(const History& h, std::size_t workers, std::uint64_t stream, std::size_t* clients_split = nullptr) {
    Random rng(mix_seed(h.seed, stream));
    const auto epochs = epochs_of(h);
    Deal out(workers, std::vector<std::vector<Event>>(epochs.size()));
    std::map<std::size_t, std::set<std::size_t>> workers_of_client;
    for (std::size_t e = 0; e < epochs.size(); ++e) {
        for (std::size_t i = epochs[e].first; i < epochs[e].second; ++i) {
            const std::size_t w = rng.index(workers);
            out[w][e].push_back(h.events[i]);
            workers_of_client[h.client[i]].insert(w);
        }
    }
    if (clients_split != nullptr) {
        *clients_split = 0;
        for (const auto& [c, ws] : workers_of_client) *clients_split += ws.size() > 1 ? 1U : 0U;
    }
    return out;
}

template <class It>
void ingest_in_batches(RedisStore& store, It first, It last, std::size_t batch) {
    while (first != last) {
        const auto n = static_cast<std::size_t>(std::distance(first, last));
        const It end = std::next(first, static_cast<std::ptrdiff_t>(std::min(n, batch)));
        store.ingest_batch(first, end);
        first = end;
    }
}

// ---------------------------------------------------------------------------------------------
// Processes: pipes and children
// ---------------------------------------------------------------------------------------------

// (Over a socket pair, with MSG_NOSIGNAL: a peer that died makes it fail, not kill the sender.)
bool write_all(int fd, const void* data, std::size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t put = ::send(fd, p, n, MSG_NOSIGNAL);
        if (put < 0 && errno == EINTR) continue;
        if (put <= 0) return false;
        p += put;
        n -= static_cast<std::size_t>(put);
    }
    return true;
}

// Reads exactly n bytes within timeout_ms; false on end of file, error or timeout.
bool read_exact(int fd, void* data, std::size_t n, int timeout_ms = 60000) {
    char* p = static_cast<char*>(data);
    const Clock::time_point deadline = Clock::now() + milliseconds(timeout_ms);
    while (n > 0) {
        const long long left = static_cast<long long>(std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
        if (left <= 0) return false;
        pollfd pfd{fd, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return false;
        const ssize_t got = ::read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<std::size_t>(got);
    }
    return true;
}

// One direction of talk between a parent and a child: a socket pair (see write_all).
struct Pipe {
    int read = -1, write = -1;
    Pipe() {
        int fds[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair failed");
        read = fds[0];
        write = fds[1];
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe() {
        close_read();
        close_write();
    }
    void close_read() {
        if (read >= 0) ::close(read);
        read = -1;
    }
    void close_write() {
        if (write >= 0) ::close(write);
        write = -1;
    }
};

// The children a test forked: any still running when it ends (a failed check) are killed and
// reaped, so that none outlives the test.
class Children {
public:
    Children() = default;
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;
    ~Children() {
        for (const pid_t pid : m_pids) {
            ::kill(pid, SIGKILL);
            int status = 0;
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        }
    }
    // Forks; the child runs body() and leaves with _exit (its code, or 99 after an exception).
    template <class Body>
    pid_t fork(Body&& body) {
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            int code = 99;
            try {
                code = body();
            } catch (...) {
            }
            ::_exit(code);
        }
        m_pids.push_back(pid);
        return pid;
    }
    // Waits for the child; returns its wait status.
    int wait(pid_t pid) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        m_pids.erase(std::remove(m_pids.begin(), m_pids.end(), pid), m_pids.end());
        return status;
    }

private:
    std::vector<pid_t> m_pids;
};

// Sends SIGCONT at the end of a scope that stopped the server, whatever happens in between.
struct ResumeOnExit {
    pid_t pid;
    ~ResumeOnExit() { ::kill(pid, SIGCONT); }
};

// Waits until the process is stopped (state T in /proc), so that it can no longer serve.
bool wait_stopped(pid_t pid) {
    for (int i = 0; i < 200; ++i) {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string all((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        const std::size_t paren = all.rfind(')');
        if (paren != std::string::npos && paren + 2 < all.size() && (all[paren + 2] == 'T' || all[paren + 2] == 't')) return true;
        std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
}

// The message of the RedisError f() throws; nullopt if it throws none (any other exception
// leaves the test).
template <class F>
std::optional<std::string> redis_error_of(F&& f) {
    try {
        f();
    } catch (const RedisError& e) {
        return std::string(e.what());
    }
    return std::nullopt;
}

bool contains(const std::optional<std::string>& message, std::string_view part) {
    return message && message->find(part) != std::string::npos;
}

std::string counters_text(const Counters& c) {
    return "events " + std::to_string(c.events) + ", applied " + std::to_string(c.applied) + ", superseded " +
           std::to_string(c.superseded) + ", behind_watermark " + std::to_string(c.behind_watermark) + ", duplicates " +
           std::to_string(c.duplicates) + ", stale " + std::to_string(c.stale) + ", refused " + std::to_string(c.refused) +
           ", invalid " + std::to_string(c.invalid) + ", reconciles " + std::to_string(c.reconciles) + ", went_online " +
           std::to_string(c.went_online) + ", went_offline " + std::to_string(c.went_offline);
}

std::string wait_status_text(int status) {
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
    if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
    return "status " + std::to_string(status);
}

// Sets maxmemory back to 0 (no limit) at the end of a scope that set it.
struct UnlimitedMemoryOnExit {
    RedisServer& server;
    ~UnlimitedMemoryOnExit() {
        try {
            (void)server.command({"CONFIG", "SET", "maxmemory", "0"});
        } catch (...) {
        }
    }
};

// Options on a server of a test's own: quick to give up (small timeouts, few attempts).
RedisOptions own_server_options(const RedisServer& server, const std::string& prefix) {
    RedisOptions o;
    o.port = server.port();
    o.prefix = prefix;
    o.buckets = 4;
    o.edge_stream_max = 1000000;
    o.connect_timeout = milliseconds(300);
    o.command_timeout = milliseconds(300);
    o.connect_attempts = 2;
    o.backoff_initial = milliseconds(10);
    o.backoff_max = milliseconds(20);
    return o;
}

RedisServerConfig with_aof() {
    RedisServerConfig config;
    config.appendonly = true;
    return config;
}

// Redis Cluster's key → slot (the cluster specification): CRC16-XMODEM of the hash tag (the text
// between the first '{' and the next '}', when not empty), else of the whole key, mod 16384.
std::uint16_t crc16_xmodem(std::string_view data) {
    std::uint32_t crc = 0;
    for (const char c : data) {
        crc ^= static_cast<std::uint32_t>(static_cast<unsigned char>(c)) << 8;
        for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000U) != 0 ? ((crc << 1) ^ 0x1021U) : (crc << 1);
        crc &= 0xffffU;
    }
    return static_cast<std::uint16_t>(crc);
}

unsigned key_slot(std::string_view key) {
    const std::size_t open = key.find('{');
    if (open != std::string_view::npos) {
        const std::size_t close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
    }
    return crc16_xmodem(key) & 16383U;
}

// ---------------------------------------------------------------------------------------------
// Records for the encoding tests: the final records of two in-memory stores fed a generated
// history with reconcile answers (synthetic channels, watermarks), one with the default options,
// one closing on disconnect and expiring silent channels (every close cause).
// ---------------------------------------------------------------------------------------------

std::vector<ClientRecord> sample_records() {
    const std::uint64_t seed = run_seed();
    HistoryOptions options;
    options.reconcile_online_probability = 0.2;
    options.reconcile_offline_probability = 0.1;
    const Batch batch = mqtt_presence::testing::generate_batch(mix_seed(seed, 0xc0dec), 0, 300, options, DeliveryOptions{});
    std::vector<ClientRecord> out;
    Options closing;
    closing.close_on_disconnect = true;
    for (const Options& o : {Options{}, closing}) {
        ClientStatusStore<> store(o);
        std::int64_t latest = 0;
        for (const Delivery& d : batch.deliveries) {
            if (d.kind == Delivery::Kind::event) (void)store.ingest(d.event);
            else (void)store.reconcile(d.event.client_id, d.online, d.as_of_ms);
            latest = std::max(latest, d.delivered_ms);
        }
        if (o.close_on_disconnect) (void)store.expire_silent(latest, 6 * mqtt_presence::testing::hour_ms);
        store.storage().for_each([&](std::string_view, const ClientRecord& record) { out.push_back(record); });
    }
    return out;
}

// Decodes `data`: either a std::runtime_error with a message, or a record that passes
// check_record and encodes back to itself. Returns "" when so, else what went wrong.
std::string decode_problem(std::string_view data, const Options& options, bool& refused) {
    refused = false;
    try {
        const ClientRecord record = codec::decode_record(data, options);
        if (const auto problem = mqtt_presence::detail::check_record(record, options))
            return "decoded a record check_record refuses: " + problem.what;
        const std::string again = codec::encode_record(record);
        if (fields_of(codec::decode_record(again, options)) != fields_of(record)) return "decoded a record that does not round-trip";
    } catch (const std::runtime_error& e) {
        refused = true;
        if (std::string(e.what()).empty()) return "refused with an empty message";
    }
    return {};
}

std::string hex_dump(std::string_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : data) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 0xfU];
    }
    return out;
}

} // namespace

// =============================================================================================
// 1. The record encoding
// =============================================================================================

TEST_CASE("every record of a generated history round-trips exactly through the record encoding", "[redis][codec]") {
    const std::vector<ClientRecord> records = sample_records();
    REQUIRE(records.size() >= 400);
    std::size_t synthetic = 0, many_channels = 0, mismatched = 0;
    std::set<Cause> causes;
    std::string first_problem;
    for (const ClientRecord& record : records) {
        for (const Channel& ch : record.channels) {
            synthetic += ch.synthetic ? 1U : 0U;
            causes.insert(ch.close_cause);
        }
        many_channels += record.channels.size() > 8 ? 1U : 0U;
        const std::string encoded = codec::encode_record(record);
        const ClientRecord decoded = codec::decode_record(encoded, Options{});
        if (fields_of(decoded) != fields_of(record)) {
            if (++mismatched == 1) first_problem = hex_dump(encoded);
        }
    }
    INFO("first record that did not round-trip, encoded: " << first_problem);
    CHECK(mismatched == 0);
    // The sample reaches what the format has special cases for.
    CHECK(synthetic > 0);
    CHECK(many_channels > 0);
    CHECK(causes.count(Cause::tcpclean) == 1);
    CHECK(causes.count(Cause::takeover) == 1);
    CHECK(causes.count(Cause::disconnect) == 1);
    CHECK(causes.count(Cause::reconcile) == 1);
    CHECK(causes.count(Cause::expiry) == 1);
}

TEST_CASE("a one-channel online record with a hex channel id and an IPv4 address encodes in at most 64 bytes", "[redis][codec]") {
    ClientStatusStore<> store;
    (void)store.ingest(ts::connect(hex_a, ts::t0, "GID_meter@@@m-00042", "203.0.113.254:65535"));
    std::string encoded;
    store.storage().visit("GID_meter@@@m-00042", [&](const ClientRecord* record) {
        REQUIRE(record != nullptr);
        REQUIRE(record->online());
        REQUIRE(record->channels.size() == 1);
        encoded = codec::encode_record(*record);
        CHECK(fields_of(codec::decode_record(encoded, Options{})) == fields_of(*record));
    });
    INFO("encoded: " << hex_dump(encoded));
    CHECK(encoded.size() <= 64);
}

TEST_CASE("the record encoding is format version 1 byte for byte: records already stored read the same", "[redis][codec]") {
    // Written out from the format in record_codec.hpp: one channel whose id and address are
    // packed, one whose id and address are kept as text.
    ClientRecord record;
    record.last_event_ms = 1000;
    record.latest_connect_ms = 1000;
    record.last_offline_ms = 950;
    Channel open;
    open.key.assign("2b9b1281046046faafe5e0b458e4a1b2");
    open.address.assign("192.0.2.7:13222");
    open.connect_ms = 1000;
    Channel closed;
    closed.key.assign("ch-17");
    closed.address.assign("[::1]:80");
    closed.connect_ms = 900;
    closed.close_ms = 950;
    closed.close_cause = Cause::tcpclean;
    record.channels.push_back(open);
    record.channels.push_back(closed);
    const unsigned char expected[] = {
        0x01,                   // version
        0x00,                   // flags
        0xe9, 0x07,             // base: last_event_ms + 1 = 1001
        0x01, 0x00, 0x64,       // latest_connect_ms (base + 0), closed_through_ms (none), last_offline_ms (base - 50)
        0x02,                   // channels
        0x06,                   // id and address packed, cause none
        0x2b, 0x9b, 0x12, 0x81, 0x04, 0x60, 0x46, 0xfa, 0xaf, 0xe5, 0xe0, 0xb4, 0x58, 0xe4, 0xa1, 0xb2,
        192, 0, 2, 7, 0x33, 0xa6, // 192.0.2.7, port 13222
        0x01, 0x00, 0x00,       // connect (base + 0), no close, no disconnect
        0x20,                   // nothing packed, cause tcpclean (2)
        0x05, 'c', 'h', '-', '1', '7',
        0x08, '[', ':', ':', '1', ']', ':', '8', '0',
        0xc8, 0x01, 0x64, 0x00, // connect (base - 100), close (base - 50), no disconnect
    };
    const std::string golden(reinterpret_cast<const char*>(expected), sizeof expected);
    INFO("encoded: " << hex_dump(codec::encode_record(record)));
    CHECK(codec::encode_record(record) == golden);
    CHECK(fields_of(codec::decode_record(golden, Options{})) == fields_of(record));
}

TEST_CASE("truncated or corrupted record encodings are refused with a message or decode to a valid record", "[redis][codec]") {
    const Options options;
    std::vector<std::string> encodings;
    for (const ClientRecord& record : sample_records()) encodings.push_back(codec::encode_record(record));
    REQUIRE_FALSE(encodings.empty());
    std::size_t decodes = 0, refusals = 0, problems = 0;
    std::string report;
    // what() names the damage; called only to report a problem.
    auto check = [&](const std::string& data, auto&& what) {
        bool refused = false;
        const std::string problem = decode_problem(data, options, refused);
        ++decodes;
        refusals += refused ? 1U : 0U;
        if (!problem.empty() && ++problems <= 3) report += what() + ": " + problem + " (" + hex_dump(data) + ")\n";
        return refused;
    };

    // Every truncation of every record: each one is refused (the format has no optional tail).
    std::size_t truncations = 0, truncations_refused = 0;
    for (const std::string& full : encodings) {
        for (std::size_t n = 0; n < full.size(); ++n) {
            ++truncations;
            truncations_refused += check(full.substr(0, n), [&] { return "truncated to " + std::to_string(n) + " bytes"; }) ? 1U : 0U;
        }
    }
    CHECK(truncations_refused == truncations);

    // All 256 values of every byte, in six records of different sizes (up to 200 bytes).
    std::vector<const std::string*> small;
    for (const std::string& e : encodings)
        if (e.size() <= 200) small.push_back(&e);
    std::sort(small.begin(), small.end(), [](const std::string* a, const std::string* b) { return a->size() < b->size(); });
    REQUIRE(small.size() >= 6);
    for (std::size_t k = 0; k < 6; ++k) {
        const std::string& original = *small[k * (small.size() - 1) / 5];
        std::string damaged = original;
        for (std::size_t pos = 0; pos < original.size(); ++pos) {
            for (unsigned v = 0; v < 256; ++v) {
                if (static_cast<unsigned char>(original[pos]) == v) continue;
                damaged[pos] = static_cast<char>(v);
                check(damaged, [&] { return "byte " + std::to_string(pos) + " set to " + std::to_string(v); });
            }
            damaged[pos] = original[pos];
        }
    }

    // Random single-byte and three-byte damage in every record.
    Random rng(mix_seed(run_seed(), 0xbad));
    for (const std::string& original : encodings) {
        for (int n = 0; n < 24; ++n) {
            std::string damaged = original;
            const int bytes = n % 3 == 0 ? 3 : 1;
            for (int b = 0; b < bytes; ++b) damaged[rng.index(damaged.size())] = static_cast<char>(rng.between(0, 255));
            check(damaged, [] { return std::string("random damage"); });
        }
    }
    INFO(decodes << " decodes, " << refusals << " refused");
    INFO(report);
    CHECK(problems == 0);
    // Damage reaches both ends: refused, and (in a time or an address) still a valid record.
    CHECK(refusals > truncations);
    CHECK(refusals < decodes);
}

// =============================================================================================
// 2. The key layout
// =============================================================================================

TEST_CASE("a prefix already holding another bucket count is refused naming both layouts", "[redis]") {
    RedisOptions options = ts::test_redis_options();
    options.buckets = 8;
    RedisStorage first(options);
    RedisOptions other = options;
    other.buckets = 4;
    const auto message = redis_error_of([&] { RedisStorage second(other); });
    REQUIRE(message);
    CHECK(contains(message, "buckets=8"));
    CHECK(contains(message, "buckets=4"));
    CHECK(contains(message, first.layout_key()));
    // The same layout is welcome, and the refused one left the layout as it was.
    RedisStorage same(options);
    CHECK(ts::test_redis_server().command({"GET", first.layout_key()}) == "mqtt_presence-redis 1 buckets=8");
    // Another prefix is another layout.
    other.prefix = ts::fresh_redis_prefix();
    RedisStorage elsewhere(other);
    CHECK(ts::test_redis_server().command({"GET", elsewhere.layout_key()}) == "mqtt_presence-redis 1 buckets=4");
}

TEST_CASE("a prefix with a brace is refused before connecting", "[redis]") {
    for (const char* prefix : {"mqtt{presence}:", "a{", "b}:"}) {
        RedisOptions options = ts::test_redis_options();
        options.prefix = prefix;
        options.port = 1; // nothing is contacted: the options are refused first
        CHECK_THROWS_AS(RedisStorage(options), std::invalid_argument);
    }
}

TEST_CASE("every key of one client lies in one hash slot", "[redis]") {
    // The slot function itself, against the cluster specification's example.
    REQUIRE(crc16_xmodem("123456789") == 0x31c3);
    RedisOptions options = ts::test_redis_options();
    options.buckets = 16;
    RedisStore store(Options{}, RedisStorage(options));
    const RedisStorage& storage = store.storage();
    std::set<unsigned> slots;
    for (std::uint32_t b = 0; b < 16; ++b) {
        const unsigned slot = key_slot(storage.records_key(b));
        CHECK(key_slot(storage.counts_key(b)) == slot);
        CHECK(key_slot(storage.edges_key(b)) == slot);
        slots.insert(slot);
        if (cluster_mode()) {
            CHECK(ts::test_redis_server().command({"CLUSTER", "KEYSLOT", storage.records_key(b)}) == std::to_string(slot));
            CHECK(ts::test_redis_server().command({"CLUSTER", "KEYSLOT", storage.edges_key(b)}) == std::to_string(slot));
        }
    }
    CHECK(slots.size() > 8); // the buckets spread over slots (so over the nodes of a cluster)

    // A client's data is where bucket_of and the key names say, and its keys share the slot.
    for (const std::string id : {"GID_a@@@dev1", "GID_b@@@dev2", "no-group-id", "GID_c@@@{braces}"}) {
        (void)store.ingest(ts::connect(hex_a, ts::t0, id));
        const std::uint32_t b = storage.bucket_of(id);
        CHECK(key_slot(storage.records_key(b)) == key_slot(storage.counts_key(b)));
        CHECK(key_slot(storage.records_key(b)) == key_slot(storage.edges_key(b)));
        const std::string stored = ts::test_redis_server().command({"HGET", storage.records_key(b), id});
        REQUIRE(stored != "(nil)");
        ClientRecord want;
        (void)apply(want, ts::connect(hex_a, ts::t0, id), Options{});
        CHECK(stored == codec::encode_record(want));
        CHECK(ts::test_redis_server().command({"XLEN", storage.edges_key(b)}) != "0");
    }
    CHECK(store.online_count() == 4);
    CHECK(store.online_count("") == 1);
}

TEST_CASE("storages selecting different databases do not share state", "[redis][no_cluster]") {
    RedisOptions zero = ts::test_redis_options();
    RedisOptions one = zero;
    one.db = 1;
    one.buckets = 2; // a layout of its own: the database holds its own layout key
    RedisStore a(Options{}, RedisStorage(zero));
    RedisStore b(Options{}, RedisStorage(one));
    (void)b.ingest(ts::connect(hex_a, ts::t0, "GID_a@@@dev1"));
    CHECK(b.is_online("GID_a@@@dev1"));
    CHECK(b.size() == 1);
    CHECK_FALSE(a.is_online("GID_a@@@dev1"));
    CHECK(a.size() == 0);
    CHECK(a.online_count() == 0);
}

// =============================================================================================
// 3. Faults
// =============================================================================================

TEST_CASE("nothing listening gives RedisError naming the address within a bounded time", "[redis]") {
    int port = 0;
    const int held = ts::redis_server_detail::bind_free_port(port); // bound, never listening: refused
    RedisOptions options;
    options.port = port;
    options.prefix = ts::fresh_redis_prefix();
    options.connect_attempts = 3;
    options.backoff_initial = milliseconds(20);
    options.backoff_max = milliseconds(40);
    options.connect_timeout = milliseconds(300);
    const Clock::time_point start = Clock::now();
    const auto message = redis_error_of([&] { RedisStorage storage(options); });
    const long long took = elapsed_ms(start);
    ::close(held);
    REQUIRE(message);
    CHECK(contains(message, "cannot reach Redis"));
    CHECK(contains(message, "127.0.0.1:" + std::to_string(port)));
    CHECK(contains(message, "3 attempts"));
    CHECK(took >= 50);   // it did wait between the attempts (20 + 40 ms)
    CHECK(took < 2000);

    RedisOptions by_socket = options;
    by_socket.unix_socket = "/nonexistent/mqtt_presence/redis.sock";
    by_socket.connect_attempts = 1;
    const auto socket_message = redis_error_of([&] { RedisStorage storage(by_socket); });
    CHECK(contains(socket_message, "cannot reach Redis"));
    CHECK(contains(socket_message, by_socket.unix_socket));
}

TEST_CASE("a server killed under a store fails its calls cleanly and the store works again after a restart", "[redis][no_cluster]") {
    RedisServer server(with_aof());
    RedisStore store(Options{}, RedisStorage(own_server_options(server, "killed:")));
    ClientStatusStore<> reference;
    const std::vector<Event> before = {ts::connect(hex_a, ts::t0, "GID_a@@@dev1"), ts::connect(hex_b, ts::t0, "GID_a@@@dev2")};
    for (const Event& e : before) {
        CHECK(store.ingest(e).went_online());
        (void)reference.ingest(e);
    }
    const Counters counted = store.counters();

    server.kill_hard();
    const Event off = ts::tcpclean(hex_a, ts::t0 + ts::minute, "GID_a@@@dev1");
    const Event on = ts::connect(hex_c, ts::t0 + ts::minute, "GID_b@@@dev3");
    const auto single = redis_error_of([&] { (void)store.ingest(off); });
    CHECK(contains(single, "cannot reach Redis"));
    CHECK(contains(single, "127.0.0.1:" + std::to_string(server.port())));
    std::size_t reported = 0;
    const std::vector<Event> batch = {off, on};
    CHECK(redis_error_of([&] { store.ingest_batch(batch.begin(), batch.end(), [&](const Event&, const Outcome&) { ++reported; }); }));
    CHECK(reported == 0);
    CHECK(redis_error_of([&] { (void)store.is_online("GID_a@@@dev1"); }));
    CHECK(redis_error_of([&] { (void)store.online_count(); }));
    // Nothing of the failed calls counts as applied or as a flip.
    const Counters after_failure = store.counters();
    CHECK(counters_text(after_failure) == counters_text(counted));

    server.start();
    // The same store object: it reconnects; the failed events are redelivered.
    CHECK(store.is_online("GID_a@@@dev1"));
    CHECK(store.ingest(off).went_offline());
    store.ingest_batch(batch.begin(), batch.end());
    for (const Event& e : {off, on}) (void)reference.ingest(e);
    CHECK(store.counters().went_online == counted.went_online + 1);
    CHECK(store.counters().went_offline == counted.went_offline + 1);
    CHECK(online_set(store) == std::set<std::string>{"GID_a@@@dev2", "GID_b@@@dev3"});
    CHECK(store.online_count() == 2);
    CHECK(store.size() == 3);
    CHECK(record_differences(records_of(store.storage()), records_of(reference.storage())).empty());
    // Every flip once: two online, one offline, one online.
    std::size_t total = 0;
    const EdgesByClient edges = stored_edges(store.storage(), &total);
    CHECK(total == 4);
    REQUIRE(edges.count("GID_a@@@dev1") == 1);
    CHECK(edges.at("GID_a@@@dev1").size() == 2);
    CHECK(edges.at("GID_a@@@dev1").back() == SeenEdge{false, ts::t0 + ts::minute, hex_a, Cause::tcpclean});
}

TEST_CASE("a frozen server fails a call within about the command timeout and serves again once resumed", "[redis][no_cluster]") {
    RedisServer server;
    RedisOptions options = own_server_options(server, "frozen:");
    options.command_timeout = milliseconds(200);
    options.connect_timeout = milliseconds(200);
    options.connect_attempts = 2;
    RedisStore store(Options{}, RedisStorage(options));
    CHECK(store.ingest(ts::connect(hex_a, ts::t0, "GID_a@@@dev1")).went_online());
    const Counters counted = store.counters();
    const Event off = ts::tcpclean(hex_a, ts::t0 + ts::minute, "GID_a@@@dev1");
    {
        REQUIRE(::kill(server.pid(), SIGSTOP) == 0);
        const ResumeOnExit resume{server.pid()};
        REQUIRE(wait_stopped(server.pid()));
        Clock::time_point start = Clock::now();
        const auto message = redis_error_of([&] { (void)store.ingest(off); });
        long long took = elapsed_ms(start);
        CHECK(message);
        // Two attempts of at most a connect and a command timeout each, and one backoff.
        CHECK(took >= 150);
        CHECK(took < 1500);
        start = Clock::now();
        CHECK(redis_error_of([&] { (void)store.is_online("GID_a@@@dev1"); }));
        took = elapsed_ms(start);
        CHECK(took < 1500);
        CHECK(store.counters().applied == counted.applied);
        CHECK(store.counters().went_offline == 0);
    }
    // Resumed: the same store works; the redelivered close flips the client once.
    CHECK(store.is_online("GID_a@@@dev1"));
    CHECK(store.ingest(off).went_offline());
    CHECK_FALSE(store.is_online("GID_a@@@dev1"));
    CHECK(store.online_count() == 0);
    CHECK(store.size() == 1);
    std::size_t total = 0;
    (void)stored_edges(store.storage(), &total);
    CHECK(total == 2);
}

TEST_CASE("a write lost with its connection is reported maybe stored and its redelivery is harmless", "[redis][no_cluster]") {
    RedisServer server;
    RedisOptions options = own_server_options(server, "lost:");
    options.command_timeout = milliseconds(200);
    options.connect_timeout = milliseconds(200);
    RedisStorage storage(options);
    const Event on = ts::connect(hex_a, ts::t0, "GID_a@@@dev1");
    int calls = 0;
    std::optional<RedisError> error;
    {
        const ResumeOnExit resume{server.pid()};
        try {
            // The server freezes between the read and the compare-and-set: the write is sent, its
            // reply never comes.
            storage.update(on.client_id, [&](ClientRecord& record, EdgeNotes& notes) {
                if (++calls == 1) {
                    ::kill(server.pid(), SIGSTOP);
                    (void)wait_stopped(server.pid());
                }
                const Outcome out = apply(record, on, Options{});
                if (out.transition != Transition::none)
                    notes.push_back(EdgeNote{out.went_online(), out.transition_ms, on.channel_id, out.cause});
            });
        } catch (const RedisError& e) {
            error = e;
        }
    }
    REQUIRE(error);
    INFO(error->what());
    CHECK(error->maybe_stored());
    CHECK(calls == 1);
    // Resumed: the redelivery, applied or a duplicate, leaves exactly one flip and the counts.
    RedisStore redelivery(Options{}, RedisStorage(options));
    const Outcome out = redelivery.ingest(on);
    INFO("the redelivery was " << to_string(out.status));
    CHECK((out.status == Status::applied || out.status == Status::duplicate));
    CHECK(redelivery.is_online(on.client_id));
    CHECK(redelivery.online_count() == 1);
    CHECK(redelivery.online_count("GID_a") == 1);
    CHECK(redelivery.size() == 1);
    // The frozen write may still reach the server after the redelivery: it must find the
    // record changed and store nothing.
    std::this_thread::sleep_for(milliseconds(50));
    std::size_t total = 0;
    const EdgesByClient edges = stored_edges(redelivery.storage(), &total);
    CHECK(total == 1);
    CHECK(redelivery.online_count() == 1);
    CHECK(redelivery.size() == 1);
    REQUIRE(edges.count(on.client_id) == 1);
    CHECK(edges.at(on.client_id).front() == SeenEdge{true, ts::t0, hex_a, Cause::connect});
}

TEST_CASE("the compare-and-set script is loaded again after SCRIPT FLUSH behind the store", "[redis]") {
    RedisStore store(Options{}, RedisStorage(ts::test_redis_options()));
    CHECK(store.ingest(ts::connect(hex_a, ts::t0, "GID_a@@@dev1")).went_online());
    RedisServer& server = ts::test_redis_server();
    const std::string sha = server.command({"SCRIPT", "LOAD", std::string(mqtt_presence::detail::redis::cas_script)});
    REQUIRE(sha.size() == 40);
    REQUIRE(server.command({"SCRIPT", "FLUSH"}) == "OK");
    REQUIRE(server.command({"SCRIPT", "EXISTS", sha}) == "0");
    // Both paths: one ingest, and a batch of several clients.
    CHECK(store.ingest(ts::tcpclean(hex_a, ts::t0 + ts::minute, "GID_a@@@dev1")).went_offline());
    CHECK(server.command({"SCRIPT", "EXISTS", sha}) == "1");
    REQUIRE(server.command({"SCRIPT", "FLUSH"}) == "OK");
    const std::vector<Event> batch = {ts::connect(hex_b, ts::t0, "GID_a@@@dev2"), ts::connect(hex_c, ts::t0, "GID_a@@@dev3"),
                                      ts::connect("ch-4", ts::t0 + 2 * ts::minute, "GID_a@@@dev1")};
    std::size_t flips = 0;
    store.ingest_batch(batch.begin(), batch.end(), [&](const Event&, const Outcome& out) { flips += out.went_online() ? 1U : 0U; });
    CHECK(flips == 3);
    CHECK(store.online_count() == 3);
    CHECK(store.size() == 3);
    std::size_t total = 0;
    (void)stored_edges(store.storage(), &total);
    CHECK(total == 5);
}

TEST_CASE("a record this library did not write is refused naming the client and left as it was", "[redis]") {
    RedisServer& server = ts::test_redis_server();
    ClientRecord valid;
    (void)apply(valid, ts::connect(hex_a, ts::t0, "GID_a@@@bad"), Options{});
    const std::string truncated = codec::encode_record(valid).substr(0, 10);
    for (const std::string& garbage : {std::string("garbage"), truncated}) {
        RedisStore store(Options{}, RedisStorage(ts::test_redis_options()));
        const RedisStorage& storage = store.storage();
        const std::string id = "GID_a@@@bad";
        const std::string key = storage.records_key(storage.bucket_of(id));
        REQUIRE(server.command({"HSET", key, id, garbage}) == "1");
        auto names_it = [&](const std::optional<std::string>& message) {
            INFO(message.value_or("(no RedisError)"));
            CHECK(contains(message, "\"" + id + "\""));
            CHECK(contains(message, "not one this library wrote"));
        };
        names_it(redis_error_of([&] { (void)store.is_online(id); }));
        names_it(redis_error_of([&] { (void)store.ingest(ts::connect(hex_b, ts::t0, id)); }));
        names_it(redis_error_of([&] { (void)store.reconcile(id, false, ts::t0); }));
        names_it(redis_error_of([&] { store.for_each_online([](std::string_view) {}); }));
        // In a batch with a good client: the outcomes reported are the events stored.
        const std::vector<Event> batch = {ts::connect(hex_b, ts::t0, "GID_a@@@good"), ts::tcpclean(hex_a, ts::t0, id)};
        std::set<std::string> reported;
        names_it(redis_error_of([&] {
            store.ingest_batch(batch.begin(), batch.end(), [&](const Event& e, const Outcome&) { reported.insert(e.client_id); });
        }));
        CHECK(reported.count(id) == 0);
        CHECK(store.is_online("GID_a@@@good") == (reported.count("GID_a@@@good") == 1));
        // The garbage is as it was; no count moved for it, no edge recorded for it.
        CHECK(server.command({"HGET", key, id}) == garbage);
        CHECK(store.online_count() == (reported.empty() ? 0U : 1U));
        CHECK(store.counters().applied == reported.size());
        std::size_t total = 0;
        const EdgesByClient edges = stored_edges(storage, &total);
        CHECK(total == reported.size());
        CHECK(edges.count(id) == 0);
    }
}

TEST_CASE("a count or key of the wrong kind fails the update before anything is written", "[redis]") {
    RedisServer& server = ts::test_redis_server();
    const std::string id = "GID_a@@@dev";
    for (int damage = 0; damage < 3; ++damage) {
        RedisStore store(Options{}, RedisStorage(ts::test_redis_options()));
        const RedisStorage& storage = store.storage();
        const std::uint32_t bucket = storage.bucket_of(id);
        std::string expect;
        if (damage == 0) { // another program's string where the counts hash belongs
            REQUIRE(server.command({"SET", storage.counts_key(bucket), "x"}) == "OK");
            expect = "holds a string, not a hash";
        } else if (damage == 1) { // a count that is not a number
            REQUIRE(server.command({"HSET", storage.counts_key(bucket), "g:GID_a", "many"}) == "1");
            expect = "field g:GID_a is not a number";
        } else { // a list where the edge stream belongs
            REQUIRE(server.command({"RPUSH", storage.edges_key(bucket), "x"}) == "1");
            expect = "holds a list, not a stream";
        }
        const auto message = redis_error_of([&] { (void)store.ingest(ts::connect(hex_a, ts::t0, id)); });
        INFO(message.value_or("(no RedisError)"));
        CHECK(contains(message, expect));
        CHECK(contains(message, "nothing was written"));
        // No record was written (Redis keeps a failed script's earlier writes: none were made).
        CHECK(server.command({"HGET", storage.records_key(bucket), id}) == "(nil)");
        CHECK(store.counters().events == 0);
    }
}

TEST_CASE("a call that fails on Redis counts nothing in the store's counters", "[redis]") {
    RedisStore store(Options{}, RedisStorage(ts::test_redis_options()));
    CHECK(store.ingest(ts::connect(hex_a, ts::t0, "GID_a@@@good")).went_online());
    (void)store.reconcile("GID_a@@@good", true, ts::t0 + ts::second);
    const std::string id = "GID_a@@@bad";
    const RedisStorage& storage = store.storage();
    REQUIRE(ts::test_redis_server().command({"HSET", storage.records_key(storage.bucket_of(id)), id, "garbage"}) == "1");
    const Counters before = store.counters();
    CHECK(redis_error_of([&] { (void)store.ingest(ts::connect(hex_a, ts::t0, id)); }));
    CHECK(counters_text(store.counters()) == counters_text(before));
    const std::vector<Event> batch = {ts::connect(hex_b, ts::t0, id)};
    CHECK(redis_error_of([&] { store.ingest_batch(batch.begin(), batch.end()); }));
    CHECK(counters_text(store.counters()) == counters_text(before));
    // A reconcile that fails is counted no more than an event that fails.
    CHECK(redis_error_of([&] { (void)store.reconcile(id, false, ts::t0); }));
    CHECK(counters_text(store.counters()) == counters_text(before));
}

TEST_CASE("a consumer whose Redis dies while it sends a large batch gets RedisError and is not killed by SIGPIPE", "[redis][no_cluster]") {
    RedisServer server;
    const RedisOptions options = own_server_options(server, "pipe:");
    // About 4 MB of request: more than one write() of it reaches the dead server.
    std::vector<Event> events;
    for (std::size_t i = 0; i < 20000; ++i)
        events.push_back(ts::connect(hex_a, ts::t0, "GID_a@@@" + std::string(200, 'd') + std::to_string(i)));
    Children children;
    Pipe ready, go;
    const pid_t pid = children.fork([&] {
        ::signal(SIGPIPE, SIG_DFL); // a consumer that has not chosen to ignore SIGPIPE
        ready.close_read();
        go.close_write();
        RedisStore store(Options{}, RedisStorage(options));
        if (!write_all(ready.write, "r", 1)) return 4;
        char c = 0;
        if (!read_exact(go.read, &c, 1)) return 3;
        try {
            store.ingest_batch(events.begin(), events.end());
        } catch (const RedisError&) {
            return 0;
        }
        return 1;
    });
    ready.close_write();
    go.close_read();
    char c = 0;
    REQUIRE(read_exact(ready.read, &c, 1));
    server.kill_hard();
    REQUIRE(write_all(go.write, "g", 1));
    const int status = children.wait(pid);
    INFO("the consumer " << wait_status_text(status) << " (0: it caught RedisError; 1: no error)");
    CHECK_FALSE(WIFSIGNALED(status));
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
}

TEST_CASE("AUTH with a password or a user and a dropped connection reopened and authenticated again", "[redis][no_cluster]") {
    RedisServer server;
    REQUIRE(server.command({"ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "&*", "+@all"}) == "OK");
    REQUIRE(server.command({"CONFIG", "SET", "requirepass", "s3cret"}) == "OK"); // this connection stays signed in
    const RedisOptions base = own_server_options(server, "auth:");
    RedisOptions by_password = base;
    by_password.password = "s3cret";
    RedisOptions by_user = base;
    by_user.username = "alice";
    by_user.password = "alice-pw";
    RedisStore store(Options{}, RedisStorage(by_password));
    RedisStore alice(Options{}, RedisStorage(by_user));
    CHECK(store.ingest(ts::connect(hex_a, ts::t0, "GID_a@@@dev1")).went_online());
    CHECK(alice.is_online("GID_a@@@dev1"));

    RedisOptions wrong = by_user;
    wrong.password = "not-the-password";
    const auto refused = redis_error_of([&] { RedisStorage storage(wrong); });
    CHECK(contains(refused, "AUTH"));
    CHECK(contains(refused, "127.0.0.1:" + std::to_string(server.port())));
    CHECK_FALSE(contains(refused, "not-the-password"));
    CHECK(contains(redis_error_of([&] { RedisStorage storage(base); }), "NOAUTH"));

    // Redis drops every client connection (as its idle timeout would): the next calls open new
    // ones and sign in again.
    CHECK(std::stoi(server.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"})) >= 2);
    CHECK(store.ingest(ts::tcpclean(hex_a, ts::t0 + ts::minute, "GID_a@@@dev1")).went_offline());
    CHECK_FALSE(alice.is_online("GID_a@@@dev1"));
    CHECK(alice.size() == 1);
}

TEST_CASE("a Redis refusing writes for memory fails the ingest with its reason and changes nothing", "[redis][no_cluster]") {
    RedisServer server;
    RedisStore store(Options{}, RedisStorage(own_server_options(server, "full:")));
    CHECK(store.ingest(ts::connect(hex_a, ts::t0, "GID_a@@@dev1")).went_online());
    const Counters before = store.counters();
    const std::vector<Event> batch = {ts::tcpclean(hex_a, ts::t0 + ts::minute, "GID_a@@@dev1"), ts::connect(hex_b, ts::t0, "GID_a@@@dev3")};
    {
        REQUIRE(server.command({"CONFIG", "SET", "maxmemory", "1"}) == "OK");
        const UnlimitedMemoryOnExit unlimited{server};
        CHECK(contains(redis_error_of([&] { (void)store.ingest(ts::connect(hex_b, ts::t0, "GID_a@@@dev2")); }), "OOM"));
        std::size_t reported = 0;
        CHECK(contains(redis_error_of([&] {
                           store.ingest_batch(batch.begin(), batch.end(), [&](const Event&, const Outcome&) { ++reported; });
                       }),
                       "OOM"));
        CHECK(reported == 0);
        CHECK(counters_text(store.counters()) == counters_text(before));
        // Reads still work, and show nothing of the refused writes.
        CHECK(store.is_online("GID_a@@@dev1"));
        CHECK_FALSE(store.is_online("GID_a@@@dev2"));
        CHECK(store.online_count() == 1);
        CHECK(store.size() == 1);
        std::size_t total = 0;
        (void)stored_edges(store.storage(), &total);
        CHECK(total == 1);
    }
    // Room again: the redelivered events go in.
    store.ingest_batch(batch.begin(), batch.end());
    CHECK(store.ingest(ts::connect(hex_b, ts::t0, "GID_a@@@dev2")).went_online());
    CHECK(online_set(store) == std::set<std::string>{"GID_a@@@dev2", "GID_a@@@dev3"});
    CHECK(store.size() == 3);
    CHECK(store.counters().went_online == before.went_online + 2);
    CHECK(store.counters().went_offline == 1);
}

TEST_CASE("a consumer opens a storage on a full Redis whose prefix already holds its layout", "[redis][no_cluster]") {
    RedisServer server;
    const RedisOptions options = own_server_options(server, "full:");
    RedisStore writer(Options{}, RedisStorage(options));
    CHECK(writer.ingest(ts::connect(hex_a, ts::t0, "GID_a@@@dev1")).went_online());
    REQUIRE(server.command({"CONFIG", "SET", "maxmemory", "1"}) == "OK");
    const UnlimitedMemoryOnExit unlimited{server};
    // A consumer (re)starting while Redis is full can still answer queries: the layout it
    // checks is there, and checking it needs no write.
    const auto message = redis_error_of([&] {
        RedisStore reader(Options{}, RedisStorage(options));
        CHECK(reader.is_online("GID_a@@@dev1"));
        CHECK(reader.online_count() == 1);
    });
    INFO(message.value_or(""));
    CHECK_FALSE(message);
}

TEST_CASE("the edge stream keeps about edge_stream_max flips and none when it is 0", "[redis]") {
    // One client flapping: 1000 flips, all in its bucket's stream.
    std::vector<Event> flaps;
    for (int i = 0; i < 500; ++i) {
        const std::string channel = "ch-" + std::to_string(i);
        flaps.push_back(ts::connect(channel, ts::t0 + i * ts::minute, "GID_f@@@flappy"));
        flaps.push_back(ts::tcpclean(channel, ts::t0 + i * ts::minute + 10 * ts::second, "GID_f@@@flappy"));
    }
    for (const std::size_t keep : {std::size_t{0}, std::size_t{10}}) {
        RedisOptions options = ts::test_redis_options();
        options.edge_stream_max = keep;
        RedisStore store(Options{}, RedisStorage(options));
        ingest_in_batches(store, flaps.begin(), flaps.end(), 100);
        INFO("edge_stream_max " << keep);
        CHECK(store.counters().went_online == 500);
        CHECK(store.counters().went_offline == 500);
        CHECK(store.size() == 1);
        CHECK(store.online_count() == 0);
        std::size_t total = 0;
        const EdgesByClient edges = stored_edges(store.storage(), &total);
        if (keep == 0) {
            CHECK(total == 0);
        } else {
            // Trimmed with MAXLEN ~: whole stream nodes go (100 entries each by default).
            CHECK(total >= keep);
            CHECK(total <= keep + 200);
            REQUIRE(edges.count("GID_f@@@flappy") == 1);
            CHECK(edges.at("GID_f@@@flappy").back() == SeenEdge{false, ts::t0 + 499 * ts::minute + 10 * ts::second, "ch-499", Cause::tcpclean});
        }
    }
}

TEST_CASE("walks over records and edges page through buckets larger than one page", "[redis]") {
    RedisOptions options = ts::test_redis_options();
    options.buckets = 2;
    RedisStore store(Options{}, RedisStorage(options));
    std::vector<Event> events;
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < 2600; ++i) {
        ids.push_back("GID_p@@@dev" + std::to_string(i));
        events.push_back(ts::connect(hex_a, ts::t0 + static_cast<std::int64_t>(i), ids.back()));
    }
    ingest_in_batches(store, events.begin(), events.end(), 500);
    std::map<std::string, int> seen;
    store.for_each_online([&](std::string_view id) { ++seen[std::string(id)]; });
    CHECK(seen.size() == ids.size());
    CHECK(std::all_of(seen.begin(), seen.end(), [](const auto& entry) { return entry.second == 1; }));
    std::size_t total = 0;
    const EdgesByClient edges = stored_edges(store.storage(), &total);
    CHECK(total == ids.size());
    CHECK(edges.size() == ids.size());
    std::vector<char> online;
    store.is_online_batch(ids.begin(), ids.end(), std::back_inserter(online));
    CHECK(std::count(online.begin(), online.end(), 1) == static_cast<std::ptrdiff_t>(ids.size()));
    CHECK(store.online_count() == ids.size());
    CHECK(store.online_count("GID_p") == ids.size());
}

// =============================================================================================
// 4. Optimistic conflicts between consumers
// =============================================================================================

TEST_CASE("a compare-and-set conflict runs the update again on the record as another consumer left it", "[redis]") {
    const RedisOptions options = ts::test_redis_options();
    RedisStore other(Options{}, RedisStorage(options)); // another consumer, its own connection
    RedisStorage first(options);
    const std::string id = "GID_c@@@dev1";
    const Event a_on = ts::connect(hex_a, ts::t0, id);
    const Event a_off = ts::tcpclean(hex_a, ts::t0 + 10 * ts::second, id);
    const Event b_on = ts::connect(hex_b, ts::t0 + 20 * ts::second, id);
    CHECK(other.ingest(a_on).went_online());

    // The first consumer applies b_on; meanwhile the other applies a_off. On the record it read
    // (a open) b_on flips nothing; on the record as it is (a closed) it flips the client online.
    int calls = 0;
    std::vector<Outcome> outcomes;
    first.update(id, [&](ClientRecord& record, EdgeNotes& notes) {
        if (++calls == 1) CHECK(other.ingest(a_off).went_offline());
        const Outcome out = apply(record, b_on, Options{});
        outcomes.push_back(out);
        if (out.transition != Transition::none) notes.push_back(EdgeNote{out.went_online(), out.transition_ms, b_on.channel_id, out.cause});
    });
    CHECK(calls == 2);
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].transition == Transition::none);
    CHECK(outcomes[1].went_online());

    // Both changes are in the record, exactly as one consumer applying all three would have it.
    ClientStatusStore<> reference;
    for (const Event& e : {a_on, a_off, b_on}) (void)reference.ingest(e);
    CHECK(record_differences(records_of(first), records_of(reference.storage())).empty());
    CHECK(first.online_count() == 1);
    CHECK(first.online_count("GID_c") == 1);
    CHECK(first.size() == 1);
    std::size_t total = 0;
    const EdgesByClient edges = stored_edges(first, &total);
    CHECK(total == 3);
    const std::vector<SeenEdge> want = {SeenEdge{true, ts::t0, hex_a, Cause::connect},
                                        SeenEdge{false, ts::t0 + 10 * ts::second, hex_a, Cause::tcpclean},
                                        SeenEdge{true, ts::t0 + 20 * ts::second, hex_b, Cause::connect}};
    REQUIRE(edges.count(id) == 1);
    CHECK(edges.at(id) == want);
}

TEST_CASE("update_batch runs again only the clients that conflicted", "[redis]") {
    const RedisOptions options = ts::test_redis_options();
    RedisStore other(Options{}, RedisStorage(options));
    RedisStorage first(options);
    const std::set<std::size_t> conflicting = {2, 5, 7};
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < 10; ++i) {
        ids.push_back("GID_batch@@@dev" + std::to_string(i));
        CHECK(other.ingest(ts::connect(hex_a, ts::t0, ids.back())).went_online());
    }
    const std::vector<std::string_view> views(ids.begin(), ids.end());
    std::vector<int> calls(ids.size(), 0), stored(ids.size(), 0);
    // The first consumer closes channel a of every client; meanwhile the other opens channel b
    // of three of them, which then stay online.
    first.update_batch(
        views,
        [&](std::size_t i, ClientRecord& record, EdgeNotes& notes) {
            if (++calls[i] == 1 && conflicting.count(i) != 0) (void)other.ingest(ts::connect(hex_b, ts::t0 + 5 * ts::second, ids[i]));
            const Event off = ts::tcpclean(hex_a, ts::t0 + 10 * ts::second, ids[i]);
            const Outcome out = apply(record, off, Options{});
            if (out.transition != Transition::none) notes.push_back(EdgeNote{out.went_online(), out.transition_ms, off.channel_id, out.cause});
        },
        [&](std::size_t i) { ++stored[i]; });
    std::set<std::string> want_online;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        INFO("client " << ids[i]);
        CHECK(calls[i] == (conflicting.count(i) != 0 ? 2 : 1));
        CHECK(stored[i] == 1);
        if (conflicting.count(i) != 0) want_online.insert(ids[i]);
    }
    RedisStore check(Options{}, RedisStorage(options));
    CHECK(online_set(check) == want_online);
    CHECK(check.online_count() == 3);
    CHECK(check.online_count("GID_batch") == 3);
    CHECK(check.size() == 10);
    const EdgesByClient edges = stored_edges(first);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        INFO("client " << ids[i]);
        REQUIRE(edges.count(ids[i]) == 1);
        CHECK(edges.at(ids[i]).size() == (conflicting.count(i) != 0 ? 1U : 2U));
        // Both changes are kept: channel b (other) and the close of channel a (first).
        check.storage().visit(ids[i], [&](const ClientRecord* record) {
            REQUIRE(record != nullptr);
            const Channel* a = record->find(hex_a);
            REQUIRE(a != nullptr);
            CHECK(a->close_cause == Cause::tcpclean);
            CHECK((record->find(hex_b) != nullptr) == (conflicting.count(i) != 0));
        });
    }
}

TEST_CASE("an update that keeps conflicting gives up after max_conflict_rounds and stores nothing of its own", "[redis]") {
    RedisOptions options = ts::test_redis_options();
    RedisStore other(Options{}, RedisStorage(options));
    options.max_conflict_rounds = 3;
    RedisStorage first(options);
    const std::string id = "GID_c@@@busy";
    int calls = 0;
    const auto message = redis_error_of([&] {
        first.update(id, [&](ClientRecord& record, EdgeNotes&) {
            ++calls;
            (void)other.ingest(ts::connect("other-" + std::to_string(calls), ts::t0 + calls * ts::second, id));
            (void)apply(record, ts::connect("mine", ts::t0, id), Options{});
        });
    });
    REQUIRE(message);
    CHECK(contains(message, "3 compare-and-set rounds"));
    CHECK(contains(message, id));
    CHECK(calls == 3);
    first.visit(id, [&](const ClientRecord* record) {
        REQUIRE(record != nullptr);
        CHECK(record->find("mine") == nullptr);
        CHECK(record->channels.size() == 3);
    });
    CHECK(first.online_count() == 1);
    CHECK(first.size() == 1);
}

// =============================================================================================
// 5. Four consumer processes on one prefix
// =============================================================================================

namespace {

struct ChildCounters {
    std::uint64_t events = 0, applied = 0, went_online = 0, went_offline = 0;
};

// One run: the history dealt (deal stream `stream`) to four processes on a fresh prefix.
void run_four_processes(const History& h, std::uint64_t stream) {
    constexpr std::size_t processes = 4;
    std::size_t clients_split = 0;
    const Deal parts = deal(h, processes, stream, &clients_split);
    const std::size_t epochs = parts[0].size();
    INFO("seed " << h.seed << " (set MQTT_PRESENCE_SEED=" << h.seed << " to reproduce), deal " << stream << ", "
                 << h.events.size() << " events, " << h.batch.timelines.size() << " clients, " << epochs << " epochs");
    CHECK(clients_split > h.batch.timelines.size() / 2); // most clients' events go to several processes
    const RedisOptions options = ts::test_redis_options(); // before forking: one prefix for all

    Children children;
    std::vector<std::unique_ptr<Pipe>> go, done;
    std::vector<pid_t> pids;
    for (std::size_t p = 0; p < processes; ++p) {
        go.push_back(std::make_unique<Pipe>());
        done.push_back(std::make_unique<Pipe>());
        const int go_fd = go[p]->read, done_fd = done[p]->write;
        const std::vector<std::vector<Event>>& mine = parts[p];
        pids.push_back(children.fork([&, go_fd, done_fd] {
            try {
                RedisStore store(Options{}, RedisStorage(options));
                for (const std::vector<Event>& part : mine) {
                    char c = 0;
                    if (!read_exact(go_fd, &c, 1)) return 3;
                    ingest_in_batches(store, part.begin(), part.end(), 64);
                    if (!write_all(done_fd, "d", 1)) return 4;
                }
                const Counters c = store.counters();
                const ChildCounters report{c.events, c.applied, c.went_online, c.went_offline};
                if (!write_all(done_fd, "r", 1) || !write_all(done_fd, &report, sizeof report)) return 4;
                return 0;
            } catch (...) {
                (void)write_all(done_fd, "x", 1);
                return 2;
            }
        }));
        go[p]->close_read();
        done[p]->close_write();
    }
    // Epoch by epoch: all four go, all four finish.
    for (std::size_t e = 0; e < epochs; ++e) {
        for (std::size_t p = 0; p < processes; ++p) REQUIRE(write_all(go[p]->write, "g", 1));
        for (std::size_t p = 0; p < processes; ++p) {
            char c = 0;
            INFO("process " << p << ", epoch " << e);
            REQUIRE(read_exact(done[p]->read, &c, 1));
            REQUIRE(c == 'd');
        }
    }
    ChildCounters sum;
    for (std::size_t p = 0; p < processes; ++p) {
        char c = 0;
        ChildCounters report;
        REQUIRE(read_exact(done[p]->read, &c, 1));
        REQUIRE(c == 'r');
        REQUIRE(read_exact(done[p]->read, &report, sizeof report));
        sum.events += report.events;
        sum.applied += report.applied;
        sum.went_online += report.went_online;
        sum.went_offline += report.went_offline;
        const int status = children.wait(pids[p]);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    CHECK(sum.events == h.events.size());

    RedisStore fresh(Options{}, RedisStorage(options));
    const State got = state_of(fresh, h.groups);
    CHECK(got.online == h.truly_online);
    check_same_state(got, h.reference);
    CHECK(sum.went_online - sum.went_offline == got.online_count);
    std::size_t total = 0;
    const EdgesByClient edges = stored_edges(fresh.storage(), &total);
    CHECK(total == sum.went_online + sum.went_offline);
    const std::string problems = edge_sequence_problems(edges, got.online);
    INFO(problems);
    CHECK(problems.empty());
}

} // namespace

TEST_CASE("four consumer processes sharing a prefix end in the true state with every flip recorded once", "[redis]") {
    const History& h = history();
    require_reference_is_true(h);
    for (std::uint64_t stream = 0x4444; stream < 0x4447; ++stream) run_four_processes(h, stream);
}

// =============================================================================================
// 6. A consumer killed mid-batch, its events redelivered
// =============================================================================================

TEST_CASE("a consumer killed mid-batch then redelivered to records every flip exactly once", "[redis]") {
    const History& h = history();
    require_reference_is_true(h);
    constexpr std::size_t batch = 32;
    Random rng(mix_seed(h.seed, 0x6b111));
    for (std::size_t iteration = 0; iteration < 4; ++iteration) {
        // A slice: the events of every other client, in delivery order.
        std::vector<Event> slice;
        for (std::size_t i = 0; i < h.events.size(); ++i)
            if (h.client[i] % 2 == iteration % 2) slice.push_back(h.events[i]);
        const std::size_t batches = (slice.size() + batch - 1) / batch;
        REQUIRE(batches >= 8);
        // Kill points in each quarter of the slice, after a random pause of up to 2 ms.
        const std::size_t kill_after =
            static_cast<std::size_t>(rng.between(static_cast<std::int64_t>(iteration * batches / 4),
                                                 static_cast<std::int64_t>((iteration + 1) * batches / 4 - 1)));
        const auto pause = std::chrono::microseconds(rng.between(0, 2000));
        const State want = in_memory_run(slice, h.groups);
        INFO("seed " << h.seed << ", iteration " << iteration << ": " << slice.size() << " events in " << batches
                     << " batches, killed after batch " << kill_after << " + " << pause.count() << " us");
        const RedisOptions options = ts::test_redis_options();

        Children children;
        Pipe progress, hold;
        const pid_t pid = children.fork([&] {
            progress.close_read();
            hold.close_write();
            RedisStore store(Options{}, RedisStorage(options));
            for (std::size_t b = 0; b < batches; ++b) {
                const auto first = slice.begin() + static_cast<std::ptrdiff_t>(b * batch);
                const auto last = slice.begin() + static_cast<std::ptrdiff_t>(std::min(slice.size(), (b + 1) * batch));
                store.ingest_batch(first, last);
                if (!write_all(progress.write, "b", 1)) return 4;
            }
            char c = 0;
            (void)read_exact(hold.read, &c, 1, 600000); // done: wait to be killed
            return 0;
        });
        progress.close_write();
        hold.close_read();
        for (std::size_t b = 0; b < kill_after; ++b) {
            char c = 0;
            REQUIRE(read_exact(progress.read, &c, 1));
        }
        std::this_thread::sleep_for(pause);
        REQUIRE(::kill(pid, SIGKILL) == 0);
        const int status = children.wait(pid);
        CHECK(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGKILL);

        // What the dead consumer stored: per client, a prefix of the true sequence of flips.
        std::size_t stored_before = 0;
        const EdgesByClient partial = stored_edges(RedisStorage(options), &stored_before);
        std::size_t not_prefix = 0;
        for (const auto& [id, list] : partial) {
            const auto it = want.edges.find(id);
            const bool prefix = it != want.edges.end() && list.size() <= it->second.size() &&
                                std::equal(list.begin(), list.end(), it->second.begin());
            not_prefix += prefix ? 0U : 1U;
        }
        CHECK(not_prefix == 0);
        INFO(stored_before << " of " << want.edge_count << " flips were stored when it was killed");

        // The whole slice redelivered to a new consumer.
        RedisStore redelivery(Options{}, RedisStorage(options));
        ingest_in_batches(redelivery, slice.begin(), slice.end(), batch);
        const State got = state_of(redelivery, h.groups);
        check_same_state(got, want);
        // Rule 5: a copy of an event already applied changes nothing, so every record is the
        // in-memory run's, field for field.
        CHECK(record_differences(got.records, want.records).empty());
        std::size_t total = 0;
        const EdgesByClient edges = stored_edges(redelivery.storage(), &total);
        CHECK(total == want.edge_count);
        std::string report;
        std::size_t differing = 0;
        for (const auto& [id, list] : want.edges) {
            const auto it = edges.find(id);
            if (it != edges.end() && it->second == list) continue;
            if (++differing > 2) continue;
            report += id + ": expected";
            for (const SeenEdge& e : list) report += " [" + text(e) + "]";
            report += "\n  stored:";
            if (it != edges.end())
                for (const SeenEdge& e : it->second) report += " [" + text(e) + "]";
            report += "\n";
        }
        for (const auto& [id, list] : edges) differing += want.edges.count(id) == 0 ? 1U : 0U;
        INFO(report);
        CHECK(differing == 0);
        // The redelivery reported exactly the flips the dead consumer had not stored.
        const Counters c = redelivery.counters();
        CHECK(c.went_online + c.went_offline + stored_before == want.edge_count);
    }
}

// =============================================================================================
// 7. A Redis crash with an append-only file
// =============================================================================================

TEST_CASE("the state survives a Redis crash with appendfsync always", "[redis][no_cluster]") {
    const History& h = history();
    require_reference_is_true(h);
    RedisServer server(with_aof());
    RedisOptions options = own_server_options(server, "aof:");
    options.buckets = 8;
    options.command_timeout = milliseconds(5000);
    const std::size_t half = h.events.size() * 3 / 5;
    const std::vector<Event> first(h.events.begin(), h.events.begin() + static_cast<std::ptrdiff_t>(half));
    {
        RedisStore store(Options{}, RedisStorage(options));
        ingest_in_batches(store, first.begin(), first.end(), 64);
    }
    server.kill_hard();
    server.start();

    const State want_first = in_memory_run(first, h.groups);
    RedisStore store(Options{}, RedisStorage(options));
    State got = state_of(store, h.groups);
    check_same_state(got, want_first);
    CHECK(record_differences(got.records, want_first.records).empty());
    std::size_t total = 0;
    CHECK(stored_edges(store.storage(), &total) == want_first.edges);
    CHECK(total == want_first.edge_count);
    // The layout came back too: a consumer with another bucket count is still refused.
    RedisOptions other = options;
    other.buckets = 2;
    CHECK(contains(redis_error_of([&] { RedisStorage refused(other); }), "buckets=8"));

    // The rest of the history, ingested after the restart.
    ingest_in_batches(store, h.events.begin() + static_cast<std::ptrdiff_t>(half), h.events.end(), 64);
    got = state_of(store, h.groups);
    check_same_state(got, h.reference);
    CHECK(got.online == h.truly_online);
    CHECK(record_differences(got.records, h.reference.records).empty());
    CHECK(stored_edges(store.storage(), &total) == h.reference.edges);
    CHECK(total == h.reference.edge_count);
}

// =============================================================================================
// 8. One store, four threads
// =============================================================================================

namespace {

// A reusable barrier for a fixed number of threads (std::mutex + condition_variable).
class Barrier {
public:
    explicit Barrier(std::size_t parties) : m_parties(parties) {}
    void arrive_and_wait() {
        std::unique_lock<std::mutex> lock(m_mutex);
        const std::size_t generation = m_generation;
        if (++m_waiting == m_parties) {
            m_waiting = 0;
            ++m_generation;
            m_changed.notify_all();
            return;
        }
        m_changed.wait(lock, [&] { return m_generation != generation; });
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::size_t m_parties;
    std::size_t m_waiting = 0;
    std::size_t m_generation = 0;
};

} // namespace

TEST_CASE("one store used from four threads at once ends in the same state as one thread", "[redis]") {
    const History& h = history();
    require_reference_is_true(h);
    constexpr std::size_t threads = 4;
    const Deal parts = deal(h, threads, 0x7777);
    const std::size_t epochs = parts[0].size();
    INFO("seed " << h.seed << " (set MQTT_PRESENCE_SEED=" << h.seed << " to reproduce), " << epochs << " epochs");
    RedisStore store(Options{}, RedisStorage(ts::test_redis_options()));
    Barrier barrier(threads);
    std::vector<std::string> errors(threads);
    std::vector<std::thread> workers;
    for (std::size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (std::size_t e = 0; e < epochs; ++e) {
                try {
                    const std::vector<Event>& part = parts[t][e];
                    if (t % 2 == 0) {
                        for (const Event& event : part) (void)store.ingest(event); // one call per event
                    } else {
                        ingest_in_batches(store, part.begin(), part.end(), 16);
                    }
                } catch (const std::exception& ex) {
                    if (errors[t].empty()) errors[t] = ex.what();
                }
                barrier.arrive_and_wait();
            }
        });
    }
    for (std::thread& w : workers) w.join();
    for (std::size_t t = 0; t < threads; ++t) {
        INFO("thread " << t);
        CHECK(errors[t].empty());
    }
    const State got = state_of(store, h.groups);
    CHECK(got.online == h.truly_online);
    check_same_state(got, h.reference);
    const Counters c = store.counters();
    CHECK(c.events == h.events.size());
    CHECK(c.went_online - c.went_offline == got.online_count);
    std::size_t total = 0;
    const EdgesByClient edges = stored_edges(store.storage(), &total);
    CHECK(total == c.went_online + c.went_offline);
    const std::string problems = edge_sequence_problems(edges, got.online);
    INFO(problems);
    CHECK(problems.empty());
}
