#pragma once
// RedisStorage: a storage policy whose state lives in Redis, shared by every consumer process
// (and thread) that points at the same Redis and prefix. ClientStatusStore<RedisStorage> runs
// the same rules function as the in-process storages; only where the record lives changes.
// Needs hiredis (target mqtt_presence::redis; Debian: libhiredis-dev).
//
// Read-modify-write: optimistic, by a server-side compare-and-set script. update() reads the
// client's encoded record (HMGET), runs the rules on it in this process, and sends one EVALSHA
// that, atomically on the server, stores the new record only if the stored one is still the one
// read, and with it adjusts the online counts and appends the flips to the edge stream. When
// another consumer changed the record in between, the script answers with the record as it now
// is and the rules run again on that (no second read). update_batch() does the same for many
// clients in two pipelined round trips: one HMGET and one script run per bucket the batch
// touches, each script run covering all of the bucket's clients (its counts change once per
// run). Why this rather than WATCH/MULTI/EXEC:
//  * the rules stay in C++, in one place (a script cannot run them; it only compares and sets);
//  * WATCH is per connection and one EXEC covers everything watched, so one conflicting client
//    would abort a whole batch; a compare per client lets a batch of many clients go in one
//    pipelined round trip and retries only the clients that conflicted;
//  * the counts and the edge stream change in the same atomic step as the record, so they can
//    never disagree with the records, whoever dies when.
// Comparing whole encoded records (45 bytes for one channel, 30 more per further channel) rather
// than a version number is exact: the rules' result depends only on the record, so a record that
// went A → B → A meanwhile still gives the right answer.
//
// Key layout (Redis Cluster-ready: every command touches the keys of one bucket, which share a
// hash tag and so one slot). A client belongs to bucket FNV-1a-64(client id) mod `buckets`:
//   <prefix>{b<N>}:records   hash  client id → encoded record (detail/record_codec.hpp)
//   <prefix>{b<N>}:counts    hash  clients, online, and g:<group> → clients online of that group
//   <prefix>{b<N>}:edges     stream of flips: client, online (1/0), time, channel, cause;
//                            trimmed to about edge_stream_max entries (0: not kept)
//   <prefix>layout           string "mqtt_presence-redis 1 buckets=<B>", checked at connect:
//                            every process sharing a prefix must use the same bucket count
// online_count(), online_count(group) and size() add up `buckets` counters (one pipelined round
// trip) and never scan keys. Redis Cluster: the layout keeps each command within one slot (the
// tests run against a cluster-mode server, which refuses any command that is not); this class
// talks to one node, so reach a cluster through a cluster-aware proxy, or give each node's
// buckets their own storage.
//
// Failures: connect and command timeouts (RedisOptions), and on a lost connection a reconnect
// with exponential backoff. A call that cannot reach Redis throws RedisError saying so, and
// never reports an event as stored when it was not: an update whose compare-and-set reply was
// lost throws RedisError with maybe_stored() true, the caller does not acknowledge the message,
// and the redelivery is harmless (rule 5: it comes back a duplicate; its flip, if it was stored,
// is in the edge stream exactly once). ingest_batch reports the events that were stored before
// it throws (storage/concept.hpp, update_batch).
//
// Thread safety: every member may be called from any number of threads at once; calls share one
// connection under a mutex and run one after the other (for throughput, give each consumer
// thread its own storage and store, or use ingest_batch). The transition hook of a store over
// this storage runs after the record is stored, outside any lock.

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../detail/record_codec.hpp"
#include "../event.hpp"
#include "../rules.hpp"
#include "concept.hpp"

namespace mqtt_presence {

/// An error talking to Redis, or in what it holds. maybe_stored(): an update was in flight when
/// the connection failed, so it may or may not have been stored (redeliver; rule 5 makes the
/// redelivery harmless).
class RedisError : public std::runtime_error {
public:
    explicit RedisError(const std::string& what, bool maybe_stored = false)
            : std::runtime_error(what), m_maybe_stored(maybe_stored) {}
    [[nodiscard]] bool maybe_stored() const noexcept { return m_maybe_stored; }

private:
    bool m_maybe_stored;
};

struct RedisOptions {
    std::string host = "127.0.0.1";
    int port = 6379;
    std::string unix_socket; ///< a Unix socket path; used instead of host and port when set
    std::string username;    ///< AUTH username (Redis 6 ACLs); empty: AUTH with the password alone
    std::string password;    ///< AUTH password; empty: no AUTH
    int db = 0;              ///< SELECT (only 0 exists on Redis Cluster)
    /// Prepended to every key; no '{' or '}' (the layout's hash tags follow it).
    std::string prefix = "mqtt_presence:";
    /// Buckets the clients spread over (1 to 16384): on Redis Cluster, each bucket is one slot.
    /// Part of the layout: every process sharing the prefix must use the same number.
    std::uint32_t buckets = 16;
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds command_timeout{2000};
    /// Connection attempts per call (the first included) before it throws RedisError; the waits
    /// between them double from backoff_initial up to backoff_max.
    unsigned connect_attempts = 5;
    std::chrono::milliseconds backoff_initial{20};
    std::chrono::milliseconds backoff_max{1000};
    /// Compare-and-set rounds per update (each after another consumer changed the record)
    /// before it throws RedisError.
    unsigned max_conflict_rounds = 100;
    /// Flips kept per bucket in its edge stream (approximately: trimmed with MAXLEN ~); 0: none.
    std::size_t edge_stream_max = 10000;
};

/// One flip read back from the edge stream.
struct StoredEdge {
    std::string stream_id; ///< the entry's id in its bucket's stream
    std::string client_id;
    bool online = false;
    std::int64_t time_ms = no_time;
    std::string channel_id;
    Cause cause = Cause::none;
};

namespace detail::redis {

struct ReplyDeleter {
    void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

struct ContextDeleter {
    void operator()(redisContext* context) const noexcept { redisFree(context); }
};

// The connection failed (or timed out): the context is unusable.
struct ConnectionLost : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline timeval to_timeval(std::chrono::milliseconds ms) noexcept {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
    return tv;
}

inline std::uint64_t fnv1a(std::string_view text) noexcept {
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : text) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

inline std::string_view text(const redisReply& reply) noexcept { return {reply.str, reply.len}; }

// A command as binary-safe arguments.
class Command {
public:
    Command& arg(std::string_view a) {
        m_args.emplace_back(a);
        return *this;
    }
    Command& arg(long long v) { return arg(std::string_view(std::to_string(v))); }
    [[nodiscard]] const std::vector<std::string>& args() const noexcept { return m_args; }

private:
    std::vector<std::string> m_args;
};

// While it lives, a SIGPIPE raised on this thread (a write to a connection the server closed)
// is held back and then discarded rather than killing the process: hiredis writes with plain
// write(), and a library must not change the process's signal dispositions.
class SigpipeGuard {
public:
    SigpipeGuard() noexcept {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        sigset_t pending;
        sigemptyset(&pending);
        sigpending(&pending);
        m_was_pending = sigismember(&pending, SIGPIPE) == 1;
        m_blocked = pthread_sigmask(SIG_BLOCK, &pipe, &m_old) == 0;
    }
    SigpipeGuard(const SigpipeGuard&) = delete;
    SigpipeGuard& operator=(const SigpipeGuard&) = delete;
    ~SigpipeGuard() {
        if (!m_blocked) return;
        if (!m_was_pending) {
            sigset_t pipe;
            sigemptyset(&pipe);
            sigaddset(&pipe, SIGPIPE);
            const timespec zero{0, 0};
            while (sigtimedwait(&pipe, nullptr, &zero) == SIGPIPE) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &m_old, nullptr);
    }

private:
    sigset_t m_old{};
    bool m_was_pending = false;
    bool m_blocked = false;
};

// One hiredis connection: pipelined commands, replies checked for transport errors.
class Connection {
public:
    [[nodiscard]] bool connected() const noexcept { return m_context != nullptr; }
    void reset() noexcept { m_context.reset(); }

    void open(const RedisOptions& o) {
        reset();
        redisContext* c = o.unix_socket.empty()
                                  ? redisConnectWithTimeout(o.host.c_str(), o.port, to_timeval(o.connect_timeout))
                                  : redisConnectUnixWithTimeout(o.unix_socket.c_str(), to_timeval(o.connect_timeout));
        if (c == nullptr) throw ConnectionLost("cannot allocate a connection");
        std::unique_ptr<redisContext, ContextDeleter> context(c);
        if (c->err != 0) throw ConnectionLost(c->errstr);
        if (redisSetTimeout(c, to_timeval(o.command_timeout)) != REDIS_OK) throw ConnectionLost(c->errstr);
        // TCP keepalive (a Unix socket has none: hiredis 0.14 would fail the connection).
        if (o.unix_socket.empty() && redisEnableKeepAlive(c) != REDIS_OK) throw ConnectionLost(c->errstr);
        m_context = std::move(context);
    }

    // Sends every command, then reads one reply per command, in order. Error replies are
    // returned as such; a transport failure resets the connection and throws ConnectionLost.
    std::vector<Reply> pipeline(const std::vector<Command>& commands) {
        const SigpipeGuard no_sigpipe;
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        for (const Command& command : commands) {
            argv.clear();
            lengths.clear();
            for (const std::string& a : command.args()) {
                argv.push_back(a.data());
                lengths.push_back(a.size());
            }
            if (redisAppendCommandArgv(m_context.get(), static_cast<int>(argv.size()), argv.data(), lengths.data()) !=
                REDIS_OK)
                fail();
        }
        std::vector<Reply> replies;
        replies.reserve(commands.size());
        for (std::size_t i = 0; i < commands.size(); ++i) {
            void* reply = nullptr;
            if (redisGetReply(m_context.get(), &reply) != REDIS_OK || reply == nullptr) fail();
            replies.emplace_back(static_cast<redisReply*>(reply));
        }
        return replies;
    }

    Reply command(const Command& command) { return std::move(pipeline({command}).front()); }

private:
    [[noreturn]] void fail() {
        const std::string why = m_context && m_context->errstr[0] != '\0' ? m_context->errstr : "connection lost";
        reset();
        throw ConnectionLost(why);
    }

    std::unique_ptr<redisContext, ContextDeleter> m_context;
};

// The compare-and-set script, for any number of clients of one bucket. KEYS: records, counts,
// edges of the bucket. ARGV[1]: edge stream length (0: none); then per client: client id,
// expected record ("" when absent), new record ("" to erase), online delta (-1, 0, 1), group,
// number of edges, then per edge: online, time, channel, cause. Each client's record is stored
// only if it is still the expected one; the counts change by the stored clients' deltas and
// their edges are appended, all in one atomic step. Answers one element per client, in order:
// 1 when stored, else (a string) the record as it now is. Everything is checked before the
// first write (Redis does not undo a script's writes when it fails part way): a key of the
// wrong type, or a count that is not a number, is an error and nothing is written.
inline constexpr std::string_view cas_script = R"lua(
local keep = tonumber(ARGV[1])
local out, stores, clients, online, groups = {}, {}, 0, 0, {}
local a = 2
while a <= #ARGV do
  local id, expected, new, d, g, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], tonumber(ARGV[a + 5])
  local cur = redis.call('HGET', KEYS[1], id) or ''
  if cur ~= expected then
    out[#out + 1] = cur
  else
    out[#out + 1] = 1
    stores[#stores + 1] = a
    if new == '' and cur ~= '' then clients = clients - 1 end
    if new ~= '' and cur == '' then clients = clients + 1 end
    if d ~= 0 then
      online = online + d
      groups[g] = (groups[g] or 0) + d
    end
  end
  a = a + 6 + 4 * n
end
local function check_type(key, want)
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    return redis.error_reply('mqtt_presence: ' .. key .. ' holds a ' .. t .. ', not a ' .. want .. '; nothing was written')
  end
end
local function check_count(field)
  local v = redis.call('HGET', KEYS[2], field)
  if v and not tonumber(v) then
    return redis.error_reply('mqtt_presence: ' .. KEYS[2] .. ' field ' .. field .. ' is not a number; nothing was written')
  end
end
if #stores == 0 then return out end
local bad = check_type(KEYS[1], 'hash') or check_type(KEYS[2], 'hash') or (keep > 0 and check_type(KEYS[3], 'stream'))
  or check_count('clients') or check_count('online')
if bad then return bad end
for g, d in pairs(groups) do
  if d ~= 0 then
    bad = check_count('g:' .. g)
    if bad then return bad end
  end
end
for _, s in ipairs(stores) do
  local id, new, n = ARGV[s], ARGV[s + 2], tonumber(ARGV[s + 5])
  if new == '' then
    redis.call('HDEL', KEYS[1], id)
  else
    redis.call('HSET', KEYS[1], id, new)
  end
  if keep > 0 then
    for i = 0, n - 1 do
      local e = s + 6 + 4 * i
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', keep, '*', 'client', id, 'online', ARGV[e],
                 'time', ARGV[e + 1], 'channel', ARGV[e + 2], 'cause', ARGV[e + 3])
    end
  end
end
if clients ~= 0 then redis.call('HINCRBY', KEYS[2], 'clients', clients) end
if online ~= 0 then redis.call('HINCRBY', KEYS[2], 'online', online) end
for g, d in pairs(groups) do
  if d ~= 0 and redis.call('HINCRBY', KEYS[2], 'g:' .. g, d) == 0 then redis.call('HDEL', KEYS[2], 'g:' .. g) end
end
return out
)lua";

inline Cause cause_from(std::string_view name) noexcept {
    for (const Cause c :
         {Cause::connect, Cause::tcpclean, Cause::disconnect, Cause::takeover, Cause::reconcile, Cause::expiry})
        if (to_string(c) == name) return c;
    return Cause::none;
}

} // namespace detail::redis

class RedisStorage {
public:
    /// The state lives in Redis, shared with every storage on the same prefix (concept.hpp).
    static constexpr bool shared_state = true;
    /// Every member may be called from many threads at once (one after the other).
    static constexpr bool concurrent = true;

    /// Connects (RedisOptions: timeouts, attempts), authenticates, selects the database and
    /// checks the layout. Throws std::invalid_argument for bad options, RedisError when Redis
    /// cannot be reached or holds another layout under the prefix.
    explicit RedisStorage(RedisOptions options = {}) : RedisStorage(std::move(options), true) {}

    RedisStorage(RedisStorage&&) noexcept = default;
    RedisStorage& operator=(RedisStorage&&) noexcept = default;

    // --- the storage concept (shared_state) ------------------------------------------------

    /// Calls fn(ClientRecord&, EdgeNotes&) on the client's record (empty when absent) and stores
    /// the result, with its online counts and its flips, by compare-and-set; after a conflict,
    /// calls fn again on the record as another consumer left it. Throws RedisError (nothing
    /// stored, or maybe_stored() when the connection failed with the write in flight).
    template <class Fn>
    void update(std::string_view client_id, Fn&& fn) {
        const std::vector<std::string_view> ids{client_id};
        update_batch(
                ids, [&](std::size_t, ClientRecord& record, EdgeNotes& notes) { fn(record, notes); },
                [](std::size_t) {});
    }

    /// update() of each of the distinct `ids`: one pipelined round trip reads every record, one
    /// sends every compare-and-set, and only the clients that conflicted go round again.
    /// fn(i, ClientRecord&, EdgeNotes&) may run more than once per id; stored(i) runs once the
    /// i-th change is stored (or needed no write). If it throws, the changes stored() was
    /// called for are stored, and no other (but maybe_stored() ones).
    template <class Fn, class Stored>
    void update_batch(const std::vector<std::string_view>& ids, Fn&& fn, Stored&& stored) {
        if (ids.empty()) return;
        const std::lock_guard<std::mutex> lock(m_state->mutex);
        // Read every record: safe to repeat after a reconnect.
        std::vector<std::string> current = read_records(ids);
        std::vector<std::size_t> pending(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) pending[i] = i;
        const std::string& sha = script_sha();
        for (unsigned round = 0; !pending.empty(); ++round) {
            if (round == m_options.max_conflict_rounds)
                throw RedisError("RedisStorage: " + std::to_string(pending.size()) +
                                 " client records still changed by other "
                                 "consumers after " +
                                 std::to_string(round) +
                                 " compare-and-set rounds; first: " + quoted(ids[pending.front()]));
            // Run the rules; the clients with something to write, by bucket: one script each.
            std::vector<std::pair<std::uint32_t, std::size_t>> writing; // (bucket, i)
            std::vector<std::string> next(ids.size());
            std::vector<long long> delta(ids.size());
            std::vector<EdgeNotes> notes(ids.size());
            for (const std::size_t i : pending) {
                ClientRecord record = decode(ids[i], current[i]);
                const bool was_online = record.online();
                notes[i].clear();
                fn(i, record, notes[i]);
                next[i].clear();
                if (!record.empty()) detail::record_codec::encode_record(next[i], record);
                if (next[i] == current[i] && notes[i].empty()) {
                    stored(i); // nothing to write: the event changed nothing
                    continue;
                }
                delta[i] = (record.online() ? 1 : 0) - (was_online ? 1 : 0);
                writing.emplace_back(bucket_of(ids[i]), i);
            }
            pending.clear();
            if (writing.empty()) break;
            std::sort(writing.begin(), writing.end());
            std::vector<detail::redis::Command> writes;
            std::vector<std::pair<std::size_t, std::size_t>> spans; // [from, to) of `writing` per script
            for (std::size_t from = 0; from < writing.size();) {
                std::size_t to = from;
                const BucketKeys& keys = m_state->keys[writing[from].first];
                detail::redis::Command command;
                command.arg("EVALSHA").arg(sha).arg(3).arg(keys.records).arg(keys.counts).arg(keys.edges);
                command.arg(static_cast<long long>(m_options.edge_stream_max));
                for (; to < writing.size() && writing[to].first == writing[from].first; ++to) {
                    const std::size_t i = writing[to].second;
                    command.arg(ids[i]).arg(current[i]).arg(next[i]).arg(delta[i]).arg(group_of(ids[i]));
                    command.arg(static_cast<long long>(notes[i].size()));
                    for (const EdgeNote& note : notes[i])
                        command.arg(note.online ? "1" : "0")
                                .arg(note.time_ms)
                                .arg(note.channel_id)
                                .arg(to_string(note.cause));
                }
                writes.push_back(std::move(command));
                spans.emplace_back(from, to);
                from = to;
            }
            std::vector<detail::redis::Reply> replies;
            try {
                ensure_connected();
                replies = m_state->connection.pipeline(writes);
            } catch (const detail::redis::ConnectionLost& e) {
                throw RedisError("RedisStorage: the connection to " + where() + " failed (" + e.what() + ") with " +
                                         std::to_string(writing.size()) +
                                         " client updates in flight; they may or may not be stored: redeliver them",
                                 true);
            }
            std::string server_error;
            for (std::size_t k = 0; k < writes.size(); ++k) {
                const redisReply& reply = *replies[k];
                const auto [from, to] = spans[k];
                if (reply.type == REDIS_REPLY_ERROR) {
                    if (detail::redis::text(reply).substr(0, 8) == "NOSCRIPT") {
                        m_state->sha.clear(); // Redis restarted: load the script, go again
                        for (std::size_t w = from; w < to; ++w) pending.push_back(writing[w].second);
                    } else if (server_error.empty()) {
                        server_error = std::string(detail::redis::text(reply));
                    }
                    continue;
                }
                if (reply.type != REDIS_REPLY_ARRAY || reply.elements != to - from)
                    throw RedisError("RedisStorage: unexpected reply to the compare-and-set script");
                for (std::size_t w = from; w < to; ++w) {
                    const std::size_t i = writing[w].second;
                    const redisReply& result = *reply.element[w - from];
                    if (result.type == REDIS_REPLY_INTEGER && result.integer == 1) {
                        stored(i);
                    } else if (result.type == REDIS_REPLY_STRING) {
                        current[i].assign(detail::redis::text(result)); // changed meanwhile: again
                        pending.push_back(i);
                    } else {
                        throw RedisError("RedisStorage: unexpected reply to the compare-and-set script");
                    }
                }
            }
            if (!server_error.empty()) throw RedisError("RedisStorage: Redis refused an update: " + server_error);
            if (m_state->sha.empty() && !pending.empty()) script_sha();
        }
    }

    /// Calls fn(const ClientRecord*): the client's record, or nullptr when Redis holds none.
    template <class Fn>
    void visit(std::string_view client_id, Fn&& fn) const {
        const std::vector<std::string_view> ids{client_id};
        visit_batch(ids, [&](std::size_t, const ClientRecord* record) { fn(record); });
    }

    /// visit() of each of `ids` in one pipelined round trip: fn(i, const ClientRecord*).
    template <class Fn>
    void visit_batch(const std::vector<std::string_view>& ids, Fn&& fn) const {
        std::vector<std::string> values;
        {
            const std::lock_guard<std::mutex> lock(m_state->mutex);
            values = read_records(ids);
        }
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if (values[i].empty()) {
                fn(i, static_cast<const ClientRecord*>(nullptr));
            } else {
                const ClientRecord record = decode(ids[i], values[i]);
                fn(i, &record);
            }
        }
    }

    /// Calls fn(std::string_view client_id, const ClientRecord&) for every record, bucket by
    /// bucket (HSCAN, a page at a time, fn called outside the lock). Not a snapshot: records
    /// may change meanwhile; one changed during the walk is seen once, as it was or as it is
    /// (HSCAN may return a field twice while Redis resizes the hash: the second is skipped).
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (std::uint32_t b = 0; b < m_options.buckets; ++b) {
            std::unordered_set<std::string> seen;
            std::string cursor = "0";
            do {
                std::vector<std::pair<std::string, std::string>> page;
                {
                    const std::lock_guard<std::mutex> lock(m_state->mutex);
                    const detail::redis::Reply reply = run(detail::redis::Command()
                                                                   .arg("HSCAN")
                                                                   .arg(m_state->keys[b].records)
                                                                   .arg(cursor)
                                                                   .arg("COUNT")
                                                                   .arg(1000));
                    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                        reply->element[1]->type != REDIS_REPLY_ARRAY)
                        throw RedisError("RedisStorage: unexpected reply to HSCAN");
                    cursor.assign(detail::redis::text(*reply->element[0]));
                    const redisReply& items = *reply->element[1];
                    for (std::size_t k = 0; k + 1 < items.elements; k += 2)
                        page.emplace_back(detail::redis::text(*items.element[k]),
                                          detail::redis::text(*items.element[k + 1]));
                }
                for (const auto& [id, value] : page) {
                    if (!seen.insert(id).second) continue;
                    const ClientRecord record = decode(id, value);
                    fn(std::string_view(id), record);
                }
            } while (cursor != "0");
        }
    }

    /// Clients tracked, over all consumers.
    [[nodiscard]] std::size_t size() const { return count_field("clients"); }
    /// Clients online, over all consumers.
    [[nodiscard]] std::size_t online_count() const { return count_field("online"); }
    /// Clients of Group ID `group` online, over all consumers.
    [[nodiscard]] std::size_t online_count(std::string_view group) const {
        return count_field("g:" + std::string(group));
    }

    /// fn(std::string_view group, std::size_t online) for every group with a client online, in
    /// byte order of the group.
    template <class Fn>
    void for_each_group(Fn&& fn) const {
        std::map<std::string, long long> groups;
        {
            const std::lock_guard<std::mutex> lock(m_state->mutex);
            std::vector<detail::redis::Command> commands;
            for (const BucketKeys& keys : m_state->keys)
                commands.push_back(detail::redis::Command().arg("HGETALL").arg(keys.counts));
            for (const detail::redis::Reply& reply : run_all(commands)) {
                if (reply->type != REDIS_REPLY_ARRAY) throw RedisError("RedisStorage: unexpected reply to HGETALL");
                for (std::size_t k = 0; k + 1 < reply->elements; k += 2) {
                    const std::string_view field = detail::redis::text(*reply->element[k]);
                    if (field.substr(0, 2) == "g:")
                        groups[std::string(field.substr(2))] += integer(*reply->element[k + 1]);
                }
            }
        }
        for (const auto& [group, online] : groups)
            if (online > 0) fn(std::string_view(group), static_cast<std::size_t>(online));
    }

    // --- beyond the concept ----------------------------------------------------------------

    /// Calls fn(const StoredEdge&) for every flip kept in the edge streams, bucket by bucket,
    /// each bucket's in the order stored (one client's flips are in order).
    template <class Fn>
    void for_each_edge(Fn&& fn) const {
        for (std::uint32_t b = 0; b < m_options.buckets; ++b) {
            std::string from = "-";
            for (;;) {
                std::vector<StoredEdge> page;
                {
                    const std::lock_guard<std::mutex> lock(m_state->mutex);
                    const detail::redis::Reply reply = run(detail::redis::Command()
                                                                   .arg("XRANGE")
                                                                   .arg(m_state->keys[b].edges)
                                                                   .arg(from)
                                                                   .arg("+")
                                                                   .arg("COUNT")
                                                                   .arg(1000));
                    if (reply->type != REDIS_REPLY_ARRAY) throw RedisError("RedisStorage: unexpected reply to XRANGE");
                    for (std::size_t k = 0; k < reply->elements; ++k) page.push_back(parse_edge(*reply->element[k]));
                }
                if (page.empty()) break;
                from = "(" + page.back().stream_id;
                for (const StoredEdge& edge : page) fn(edge);
            }
        }
    }

    /// Deletes the state stored under the prefix (records, counts, edges): every store on it
    /// then sees no client. The layout stays (this storage goes on using it).
    void clear() {
        const std::lock_guard<std::mutex> lock(m_state->mutex);
        std::vector<detail::redis::Command> commands;
        for (const BucketKeys& keys : m_state->keys)
            commands.push_back(detail::redis::Command().arg("DEL").arg(keys.records).arg(keys.counts).arg(keys.edges));
        run_all(commands);
    }

    /// Deletes everything stored under `options.prefix`, the layout included, whatever bucket
    /// count it was created with (read from its layout; options.buckets when it has none), so
    /// that the prefix may be used again with another one. Only while no process uses the
    /// prefix. Returns the bucket count the deleted state had (0: there was none). Throws
    /// RedisError when Redis cannot be reached or refuses.
    static std::uint32_t erase(RedisOptions options) {
        RedisStorage probe(options, false);
        const std::string layout = probe.stored_layout();
        std::uint32_t buckets = 0;
        const std::string head = layout_head();
        if (layout.compare(0, head.size(), head) == 0) {
            const std::string count = layout.substr(head.size());
            if (!count.empty() && count.size() <= 5 && count.find_first_not_of("0123456789") == std::string::npos)
                buckets = static_cast<std::uint32_t>(std::stoul(count));
        }
        if (buckets >= 1 && buckets <= 16384 && buckets != options.buckets) {
            options.buckets = buckets;
            probe = RedisStorage(options, false);
        }
        probe.clear();
        const std::lock_guard<std::mutex> lock(probe.m_state->mutex);
        probe.run(detail::redis::Command().arg("DEL").arg(probe.layout_key()));
        return layout.empty() ? 0 : probe.m_options.buckets;
    }

    /// The bucket of a client id, and the keys of a bucket (for tools that read the streams).
    [[nodiscard]] std::uint32_t bucket_of(std::string_view client_id) const noexcept {
        return static_cast<std::uint32_t>(detail::redis::fnv1a(client_id) % m_options.buckets);
    }
    [[nodiscard]] std::string records_key(std::uint32_t bucket) const { return m_state->keys.at(bucket).records; }
    [[nodiscard]] std::string counts_key(std::uint32_t bucket) const { return m_state->keys.at(bucket).counts; }
    [[nodiscard]] std::string edges_key(std::uint32_t bucket) const { return m_state->keys.at(bucket).edges; }
    [[nodiscard]] std::string layout_key() const { return m_options.prefix + "layout"; }
    [[nodiscard]] const RedisOptions& options() const noexcept { return m_options; }

private:
    struct BucketKeys {
        std::string records, counts, edges;
    };
    // Behind a pointer so that the storage moves (a mutex does not).
    struct State {
        std::mutex mutex;
        detail::redis::Connection connection;
        std::vector<BucketKeys> keys;
        std::string sha;
        bool layout_checked = false;
    };

    // check_layout false: connects without writing or checking the layout (erase()).
    RedisStorage(RedisOptions options, bool check_layout)
            : m_options(checked(std::move(options))), m_state(std::make_unique<State>()) {
        m_state->keys.reserve(m_options.buckets);
        for (std::uint32_t b = 0; b < m_options.buckets; ++b) {
            const std::string tag = m_options.prefix + "{b" + std::to_string(b) + "}:";
            m_state->keys.push_back(BucketKeys{tag + "records", tag + "counts", tag + "edges"});
        }
        m_state->layout_checked = !check_layout;
        const std::lock_guard<std::mutex> lock(m_state->mutex);
        with_connection([] {});
    }

    static std::string layout_head() { return "mqtt_presence-redis 1 buckets="; }

    // What the layout key holds ("" when nothing).
    std::string stored_layout() const {
        const std::lock_guard<std::mutex> lock(m_state->mutex);
        const detail::redis::Reply got = run(detail::redis::Command().arg("GET").arg(layout_key()));
        if (got->type == REDIS_REPLY_ERROR)
            throw RedisError("RedisStorage: GET refused by " + where() + error_text(*got));
        return got->type == REDIS_REPLY_STRING ? std::string(detail::redis::text(*got)) : std::string();
    }

    static RedisOptions checked(RedisOptions o) {
        if (o.prefix.find_first_of("{}") != std::string::npos)
            throw std::invalid_argument("mqtt_presence: RedisOptions::prefix must not contain '{' or '}'");
        if (o.buckets < 1 || o.buckets > 16384)
            throw std::invalid_argument("mqtt_presence: RedisOptions::buckets must be between 1 and 16384");
        if (o.unix_socket.empty() && (o.port < 1 || o.port > 65535))
            throw std::invalid_argument("mqtt_presence: RedisOptions::port must be between 1 and 65535");
        if (o.connect_attempts < 1)
            throw std::invalid_argument("mqtt_presence: RedisOptions::connect_attempts must be at least 1");
        if (o.max_conflict_rounds < 1)
            throw std::invalid_argument("mqtt_presence: RedisOptions::max_conflict_rounds must be at least 1");
        if (o.connect_timeout.count() <= 0 || o.command_timeout.count() <= 0)
            throw std::invalid_argument("mqtt_presence: RedisOptions timeouts must be positive");
        if (o.db < 0) throw std::invalid_argument("mqtt_presence: RedisOptions::db must not be negative");
        return o;
    }

    [[nodiscard]] std::string where() const {
        return m_options.unix_socket.empty() ? m_options.host + ":" + std::to_string(m_options.port)
                                             : m_options.unix_socket;
    }

    static std::string quoted(std::string_view id) {
        std::string out = "\"";
        out.append(id.substr(0, 64));
        if (id.size() > 64) out += "...";
        return out + "\"";
    }

    [[nodiscard]] ClientRecord decode(std::string_view client_id, const std::string& value) const {
        if (value.empty()) return ClientRecord{};
        try {
            return detail::record_codec::decode_record(value, record_limits());
        } catch (const std::runtime_error& e) {
            throw RedisError("RedisStorage: the record of client " + quoted(client_id) + " in " +
                             m_state->keys[bucket_of(client_id)].records +
                             " is not one this library wrote: " + e.what());
        }
    }

    // Records read back are checked against the widest caps the rules allow (any store's).
    static const Options& record_limits() noexcept {
        static const Options limits = [] {
            Options o;
            o.max_open_channels = max_channel_cap;
            o.max_tombstones = max_channel_cap;
            return o;
        }();
        return limits;
    }

    // The records of `ids` ("" when absent): one HMGET per bucket. Called with the mutex held.
    std::vector<std::string> read_records(const std::vector<std::string_view>& ids) const {
        std::vector<std::pair<std::uint32_t, std::size_t>> order; // (bucket, i)
        order.reserve(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) order.emplace_back(bucket_of(ids[i]), i);
        std::sort(order.begin(), order.end());
        std::vector<detail::redis::Command> commands;
        for (std::size_t from = 0; from < order.size();) {
            detail::redis::Command command;
            command.arg("HMGET").arg(m_state->keys[order[from].first].records);
            std::size_t to = from;
            for (; to < order.size() && order[to].first == order[from].first; ++to) command.arg(ids[order[to].second]);
            commands.push_back(std::move(command));
            from = to;
        }
        std::vector<std::string> values(ids.size());
        std::size_t next = 0;
        for (const detail::redis::Reply& reply : run_all(commands)) {
            if (reply->type != REDIS_REPLY_ARRAY)
                throw RedisError("RedisStorage: unexpected reply to HMGET" + error_text(*reply));
            for (std::size_t k = 0; k < reply->elements; ++k) {
                if (next == order.size()) throw RedisError("RedisStorage: unexpected reply to HMGET");
                const redisReply& value = *reply->element[k];
                if (value.type == REDIS_REPLY_STRING)
                    values[order[next].second].assign(detail::redis::text(value));
                else if (value.type != REDIS_REPLY_NIL)
                    throw RedisError("RedisStorage: unexpected reply to HMGET");
                ++next;
            }
        }
        if (next != order.size()) throw RedisError("RedisStorage: unexpected reply to HMGET");
        return values;
    }

    std::size_t count_field(const std::string& field) const {
        const std::lock_guard<std::mutex> lock(m_state->mutex);
        std::vector<detail::redis::Command> commands;
        for (const BucketKeys& keys : m_state->keys)
            commands.push_back(detail::redis::Command().arg("HGET").arg(keys.counts).arg(field));
        long long sum = 0;
        for (const detail::redis::Reply& reply : run_all(commands)) {
            if (reply->type == REDIS_REPLY_NIL) continue;
            if (reply->type != REDIS_REPLY_STRING)
                throw RedisError("RedisStorage: unexpected reply to HGET" + error_text(*reply));
            sum += integer(*reply);
        }
        return sum > 0 ? static_cast<std::size_t>(sum) : 0;
    }

    static long long integer(const redisReply& reply) {
        if (reply.type == REDIS_REPLY_INTEGER) return reply.integer;
        const std::string s(detail::redis::text(reply));
        try {
            std::size_t used = 0;
            const long long v = std::stoll(s, &used);
            if (used == s.size()) return v;
        } catch (const std::exception&) {
        }
        throw RedisError("RedisStorage: a count holds \"" + s.substr(0, 32) + "\", not a number");
    }

    static std::string error_text(const redisReply& reply) {
        return reply.type == REDIS_REPLY_ERROR ? ": " + std::string(detail::redis::text(reply)) : std::string();
    }

    static StoredEdge parse_edge(const redisReply& entry) {
        if (entry.type != REDIS_REPLY_ARRAY || entry.elements != 2 || entry.element[1]->type != REDIS_REPLY_ARRAY)
            throw RedisError("RedisStorage: unexpected stream entry");
        StoredEdge edge;
        edge.stream_id.assign(detail::redis::text(*entry.element[0]));
        const redisReply& fields = *entry.element[1];
        for (std::size_t k = 0; k + 1 < fields.elements; k += 2) {
            const std::string_view name = detail::redis::text(*fields.element[k]);
            const std::string_view value = detail::redis::text(*fields.element[k + 1]);
            if (name == "client")
                edge.client_id.assign(value);
            else if (name == "online")
                edge.online = value == "1";
            else if (name == "time")
                edge.time_ms = integer(*fields.element[k + 1]);
            else if (name == "channel")
                edge.channel_id.assign(value);
            else if (name == "cause")
                edge.cause = detail::redis::cause_from(value);
        }
        return edge;
    }

    // Runs one command / a pipeline (read-only or idempotent: retried after a reconnect).
    // Called with the mutex held.
    detail::redis::Reply run(const detail::redis::Command& command) const {
        return std::move(run_all({command}).front());
    }
    std::vector<detail::redis::Reply> run_all(const std::vector<detail::redis::Command>& commands) const {
        std::vector<detail::redis::Reply> replies;
        with_connection([&] { replies = m_state->connection.pipeline(commands); });
        return replies;
    }

    // The SHA1 of the compare-and-set script, loaded into Redis (again after a restart).
    const std::string& script_sha() const {
        if (m_state->sha.empty()) {
            const detail::redis::Reply reply =
                    run(detail::redis::Command().arg("SCRIPT").arg("LOAD").arg(detail::redis::cas_script));
            if (reply->type != REDIS_REPLY_STRING)
                throw RedisError("RedisStorage: SCRIPT LOAD failed" + error_text(*reply));
            m_state->sha.assign(detail::redis::text(*reply));
        }
        return m_state->sha;
    }

    void ensure_connected() const {
        if (!m_state->connection.connected()) with_connection([] {});
    }

    // Runs op() on a live connection, connecting first when needed; after a failure, reconnects
    // with backoff and runs op() again, up to connect_attempts times. Called with the mutex held.
    template <class Op>
    void with_connection(Op&& op) const {
        std::chrono::milliseconds wait = m_options.backoff_initial;
        std::string last_error;
        for (unsigned attempt = 0; attempt < m_options.connect_attempts; ++attempt) {
            if (attempt > 0) {
                std::this_thread::sleep_for(wait);
                wait = std::min(wait * 2, m_options.backoff_max);
            }
            try {
                if (!m_state->connection.connected()) open_session();
                op();
                return;
            } catch (const detail::redis::ConnectionLost& e) {
                m_state->connection.reset();
                last_error = e.what();
            }
        }
        throw RedisError("RedisStorage: cannot reach Redis at " + where() + " (" +
                         std::to_string(m_options.connect_attempts) + " attempts): " + last_error);
    }

    // A new connection: AUTH, SELECT, and (once) the layout check.
    void open_session() const {
        detail::redis::Connection& c = m_state->connection;
        c.open(m_options);
        auto expect_ok = [&](const detail::redis::Reply& reply, const char* what) {
            if (reply->type == REDIS_REPLY_ERROR) {
                c.reset();
                throw RedisError(std::string("RedisStorage: ") + what + " refused by " + where() + error_text(*reply));
            }
        };
        if (!m_options.password.empty()) {
            detail::redis::Command auth;
            auth.arg("AUTH");
            if (!m_options.username.empty()) auth.arg(m_options.username);
            auth.arg(m_options.password);
            expect_ok(c.command(auth), "AUTH");
        }
        if (m_options.db != 0) expect_ok(c.command(detail::redis::Command().arg("SELECT").arg(m_options.db)), "SELECT");
        m_state->sha.clear(); // perhaps a restarted server: load the script again when needed
        if (m_state->layout_checked) return;
        const std::string layout = layout_head() + std::to_string(m_options.buckets);
        // Read first: a Redis at its memory limit refuses every SET, even one that would change
        // nothing, and a prefix in use already holds its layout.
        detail::redis::Reply got = c.command(detail::redis::Command().arg("GET").arg(layout_key()));
        expect_ok(got, "GET");
        if (got->type == REDIS_REPLY_NIL) {
            expect_ok(c.command(detail::redis::Command().arg("SET").arg(layout_key()).arg(layout).arg("NX")), "SET");
            got = c.command(detail::redis::Command().arg("GET").arg(layout_key()));
            expect_ok(got, "GET");
        }
        if (got->type != REDIS_REPLY_STRING || detail::redis::text(*got) != layout) {
            const std::string found =
                    got->type == REDIS_REPLY_STRING ? std::string(detail::redis::text(*got)) : "(nothing)";
            c.reset();
            throw RedisError("RedisStorage: " + layout_key() + " at " + where() + " holds \"" + found +
                             "\", but this storage is configured for \"" + layout +
                             "\": every consumer sharing a prefix must use the same buckets");
        }
        m_state->layout_checked = true;
    }

    RedisOptions m_options;
    std::unique_ptr<State> m_state;
};

} // namespace mqtt_presence
