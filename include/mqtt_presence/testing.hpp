#pragma once
/// \file
/// mqtt_presence::testing: realistic delivery to test a consumer with, and the truth to check it
/// against. Standard library and the core only (no JSON library, no test framework).
///
///   namespace mpt = mqtt_presence::testing;
///   const mpt::History history = mpt::generate_history(42);   // seed 42: 100 clients
///   for (const mpt::Delivery& d : history.deliveries)
///       my_consumer.handle(d);   // d.kind: an event (d.event) or a reconcile answer (d.online, d.as_of_ms)
///   const mpt::Comparison result =
///           mpt::compare_online(history, [&](const std::string& id) { return my_consumer.is_online(id); });
///   if (!result.ok()) std::cerr << result.report();   // which clients, what differs, their story
///
/// A *timeline* is what really happened to one client: its TCP connections ("channels"), when
/// each came up and when each really closed. From a timeline come
///  * the lifecycle events the broker publishes (`connect`, `disconnect`, `tcpclean`), each
///    stamped by a broker node whose clock is slightly off, some of them lost;
///  * a *delivery*: the order in which a consumer receives them — late, reordered, duplicated,
///    or in order — together with the answers of the broker's synchronous "is it online?"
///    query that the consumer applies with `reconcile`;
///  * the *truth*: the client's final state, its open channel, and its number of
///    offline→online flips, read off the timeline alone, never off the code under test.
///
/// The generator produces only what the rules promise to get right:
///  * a close is lost only when a later connect of the same client is more than the takeover
///    tolerance + 2 × the clock skew + a margin newer than its connect (rule 6 then closes it);
///  * a connect is lost only where a reconcile(online) answer stands in for it, and the final
///    close only where a reconcile(offline) answer covers it (rule 8);
///  * a reconcile(online) answer is true at its time T of exactly one connection, with no event
///    within the clock skew of T; out of order it arrives at T + a random delay, so before or
///    after events older than T that are still on their way, and before or after newer ones
///    (see `deliver`);
///  * duplicates arrive within the tombstone retention window (rule 5).
///
/// Deterministic for a given seed on every platform: one std::mt19937_64 (whose output the
/// standard fixes) and integer distributions written here (the standard library's
/// distributions differ between implementations).
///
/// The entry points are at the end of this file: generate_history(), store_options(), feed(),
/// to_alibaba_json(), compare_online() and compare_store(). The building blocks above them
/// (generate_timeline(), deliver(), generate_batch(), truth(), describe()) are public too.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "event.hpp"
#include "rules.hpp"
#include "store.hpp"

namespace mqtt_presence::testing {

/// The seed named by the environment variable MQTT_PRESENCE_SEED, else `fallback`, so that a
/// failing run can be repeated exactly. Throws std::invalid_argument for a value that is not a number.
inline std::uint64_t seed_from_environment(std::uint64_t fallback) {
    const char* text = std::getenv("MQTT_PRESENCE_SEED");
    if (text == nullptr || *text == '\0') return fallback;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 0);
    if (end == nullptr || *end != '\0')
        throw std::invalid_argument(std::string("MQTT_PRESENCE_SEED is not a number: ") + text);
    return static_cast<std::uint64_t>(value);
}

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

/// A deterministic source of random numbers: std::mt19937_64 plus distributions built from its
/// raw output with integer arithmetic only, so that a seed gives the same numbers everywhere.
class Random {
public:
    explicit Random(std::uint64_t seed) noexcept : m_engine(seed) {}

    /// 64 random bits.
    std::uint64_t bits() noexcept { return m_engine(); }

    /// A uniform integer in [lo, hi]. Requires lo <= hi. Unbiased (rejection sampling).
    std::int64_t between(std::int64_t lo, std::int64_t hi) noexcept {
        const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
        return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + up_to(span));
    }

    /// A uniform index in [0, n). Requires n > 0.
    std::size_t index(std::size_t n) noexcept {
        return static_cast<std::size_t>(up_to(static_cast<std::uint64_t>(n) - 1));
    }

    /// True with probability `p` (0 <= p <= 1).
    bool chance(double p) noexcept { return unit() < p; }

    /// A uniform double in [0, 1) with 53 random bits (exact in IEEE double arithmetic).
    double unit() noexcept { return static_cast<double>(bits() >> 11) * (1.0 / 9007199254740992.0); }

    /// An integer in [lo, hi] spread over orders of magnitude: a binary octave is chosen
    /// uniformly among those that meet [lo, hi], then a value uniformly inside it. So that
    /// "milliseconds to hours" gives as many milliseconds as hours. Requires 0 <= lo <= hi < 2^62.
    std::int64_t spread(std::int64_t lo, std::int64_t hi) noexcept {
        const int first = octave(lo);
        const int last = octave(hi);
        const auto b = static_cast<int>(between(first, last));
        const std::int64_t bucket_lo = b == 0 ? 0 : std::int64_t{1} << (b - 1);
        const std::int64_t bucket_hi = b == 0 ? 0 : bucket_lo * 2 - 1;
        return between(std::max(lo, bucket_lo), std::min(hi, bucket_hi));
    }

    /// One element of a non-empty vector, chosen uniformly.
    template <class T>
    const T& pick(const std::vector<T>& items) noexcept {
        return items[index(items.size())];
    }

private:
    // Uniform in [0, span].
    std::uint64_t up_to(std::uint64_t span) noexcept {
        if (span == std::numeric_limits<std::uint64_t>::max()) return bits();
        const std::uint64_t n = span + 1;
        const std::uint64_t threshold = (std::uint64_t{0} - n) % n; // 2^64 mod n
        for (;;) {
            const std::uint64_t r = bits();
            if (r >= threshold) return r % n;
        }
    }

    // Number of significant bits: 0 for 0, 1 for 1, 2 for 2..3, ...
    static int octave(std::int64_t x) noexcept {
        int bits_needed = 0;
        for (auto u = static_cast<std::uint64_t>(x); u != 0; u >>= 1) ++bits_needed;
        return bits_needed;
    }

    std::mt19937_64 m_engine;
};

/// SplitMix64: derives well-mixed, independent seeds (per batch, per scenario) from one seed.
[[nodiscard]] constexpr std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
    std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// ---------------------------------------------------------------------------------------------
// Timelines
// ---------------------------------------------------------------------------------------------

inline constexpr std::int64_t second_ms = 1000;
inline constexpr std::int64_t minute_ms = 60 * second_ms;
inline constexpr std::int64_t hour_ms = 60 * minute_ms;
inline constexpr std::int64_t day_ms = 24 * hour_ms;

/// How a timeline is generated. The defaults match the store's default Options.
struct HistoryOptions {
    /// The store's Options::takeover_tolerance_ms.
    std::int64_t takeover_tolerance_ms = 60 * second_ms;
    /// The store's Options::takeover. Without rule 6 no close is ever lost.
    bool takeover = true;
    /// Largest difference between a broker node's clock and true time (per event).
    std::int64_t max_skew_ms = 2 * second_ms;
    /// A lost close's superseding connect comes more than tolerance + 2 × skew + this later.
    std::int64_t lost_close_margin_ms = 1 * second_ms;
    /// When a client connects while an older connection is up, the broker drops the old one
    /// within this long after the new connect.
    std::int64_t takeover_drop_max_ms = 5 * second_ms;
    /// Shortest time between two connects of one client.
    std::int64_t min_reconnect_ms = 1 * second_ms;

    /// A connection is still up when the next one connects (the broker then drops it).
    double overlap_probability = 0.35;
    /// A connection that ends on its own ends with a DISCONNECT packet (else: TCP just dies).
    double graceful_probability = 0.4;
    /// The last connection is still up at the end of the timeline.
    double open_at_end_probability = 0.5;
    /// The last connection, still up, has sent DISCONNECT but its TCP close comes after the end.
    double pending_disconnect_probability = 0.03;
    /// A client whose connections are mostly quick flaps (shorter than the tolerance).
    double flappy_client_probability = 0.1;
    /// A client with 30..60 connections (exercises the per-client caps of rule 10).
    double many_connections_probability = 0.03;
    /// Per eligible connection (see the file comment): its disconnect and tcpclean are lost.
    double lost_close_probability = 0.2;
    /// Per client: the final close is lost; a reconcile(offline) after the end covers it.
    double reconcile_offline_probability = 0.05;
    /// Per client: a reconcile(online) answer while one connection is the only one up; mostly
    /// that connection's connect is lost and the answer stands in for it.
    double reconcile_online_probability = 0.05;
    /// Per online answer: its connection's connect is not lost (the answer only confirms it).
    double reconcile_online_known_probability = 0.25;
    /// Per online answer: the consumer asks again within the same window and gets a second
    /// online answer (the same T, an older or a newer one).
    double reconcile_online_twice_probability = 0.25;
    /// Per connection: the channel id is one already used by another client of the batch.
    double shared_channel_probability = 0.02;
    /// When set, channel ids are AWS IoT's versionNumbers: "0" for a client's first connection,
    /// then increasing (skipping values now and then), and "0" again for a connection that comes
    /// more than this long after every earlier connection of the client ended: keys are reused
    /// (the store needs Options::key_reuse_gap_ms). 0: fresh ids.
    std::int64_t versioned_keys_reset_after_ms = 0;
    /// Per connection: the channel id is not 32 lowercase hex digits.
    double odd_channel_probability = 0.12;
    /// Only losses that hide no flip, so that in-order delivery must show exactly the true
    /// flips: a lost close only on a connection still up when the next one connects (no
    /// offline period is hidden), a lost connect only after an offline period (the reconcile
    /// answer then flips the client online once, as the lost connect would have).
    bool observable_flips = false;

    /// Clients of a batch start at start_ms + [0, start_spread_ms].
    std::int64_t start_ms = 1570795200000; // 2019-10-11T12:00:00Z
    std::int64_t start_spread_ms = 2 * day_ms;
};

/// One TCP connection of a client, in true time.
struct Connection {
    std::string channel_id;
    std::string client_ip;                     ///< "ip:port", or empty
    std::int64_t connect_ms = 0;               ///< when it came up
    std::optional<std::int64_t> close_ms;      ///< when the TCP connection closed; none: up at the end
    std::optional<std::int64_t> disconnect_ms; ///< when the client sent DISCONNECT, if it did
    bool connect_lost = false;                 ///< its connect never reaches the consumer
    bool close_lost = false;                   ///< its disconnect and tcpclean never reach the consumer

    [[nodiscard]] bool open_at_end() const noexcept { return !close_ms.has_value(); }
};

/// An answer of the broker's synchronous "is it online?" query, which the consumer applies with
/// `reconcile(client_id, online, as_of_ms)`. Always true of the timeline at `as_of_ms`.
struct ReconcileCall {
    bool online = false;
    std::int64_t as_of_ms = 0;
};

/// One lifecycle event as the broker publishes it.
struct Published {
    Event event;                ///< event.time_ms = true_ms + the broker node's clock skew
    std::int64_t true_ms = 0;   ///< when it really happened
    std::size_t connection = 0; ///< index into Timeline::connections
    bool lost = false;          ///< never reaches the consumer
};

/// What really happened to one client, and what the broker published about it.
struct Timeline {
    std::string client_id;
    std::vector<Connection> connections; ///< by connect time, strictly increasing
    /// Per connection, in order: connect, disconnect (if any), tcpclean (if closed). Ties in true
    /// time are ordered as listed here (the truth and in-order delivery both use this order).
    std::vector<Published> events;
    /// At most two online answers (true of the same connection) and one offline answer.
    std::vector<ReconcileCall> reconciles;
    std::int64_t start_ms = 0; ///< the first connect
    std::int64_t end_ms = 0;   ///< after every true time and every as_of_ms
};

/// The true final state of a client, from its timeline.
struct Truth {
    std::string client_id;      ///< the client (Timeline::client_id)
    bool online = false;        ///< a connection is up at the end
    std::string channel_id;     ///< that connection's channel id ("" when offline)
    bool channel_known = false; ///< its connect reached the consumer (else only a reconcile says it is online)
    std::size_t flips = 0;      ///< offline→online flips over the whole timeline
};

namespace detail {

inline std::string hex_digits(Random& rng, std::size_t digits, bool upper) {
    static constexpr char lower_set[] = "0123456789abcdef";
    static constexpr char upper_set[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(digits);
    for (std::size_t i = 0; i < digits; ++i) out.push_back((upper ? upper_set : lower_set)[rng.index(16)]);
    return out;
}

inline std::string alphanumeric(Random& rng, std::size_t length) {
    static constexpr char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string out;
    out.reserve(length);
    for (std::size_t i = 0; i < length; ++i) out.push_back(set[rng.index(sizeof(set) - 1)]);
    return out;
}

inline std::string padded(std::size_t number, std::size_t width) {
    std::string digits = std::to_string(number);
    if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
    return digits;
}

inline std::string fresh_channel_id(Random& rng, const HistoryOptions& options) {
    if (!rng.chance(options.odd_channel_probability)) return hex_digits(rng, 32, false); // Alibaba's form
    switch (rng.between(0, 6)) {
    case 0: return hex_digits(rng, 32, true);
    case 1: return "ch-" + std::to_string(rng.between(0, 999));
    case 2: return hex_digits(rng, 40, false); // longer than the 16 bytes kept inline
    case 3: return "session/" + alphanumeric(rng, 24);
    case 4: return hex_digits(rng, 31, false); // odd length: not packable as hex
    case 5: return "\xd0\xba\xd0\xb0\xd0\xbd\xd0\xb0\xd0\xbb-" + std::to_string(rng.between(0, 9999)); // UTF-8
    default: return hex_digits(rng, 8, false);
    }
}

inline std::string random_address(Random& rng) {
    const std::int64_t kind = rng.between(0, 99);
    const std::string port = std::to_string(rng.between(1024, 65535));
    if (kind < 85) {
        std::string ip;
        for (int i = 0; i < 4; ++i) {
            if (i != 0) ip.push_back('.');
            ip += std::to_string(rng.between(1, 254));
        }
        return ip + ":" + port;
    }
    if (kind < 93) return "[2001:db8::" + hex_digits(rng, 4, false) + "]:" + port;
    return {};
}

// How long a connection lasts when nothing cuts it short.
inline std::int64_t session_length(Random& rng, bool flappy, const HistoryOptions& options) {
    const std::int64_t tolerance = std::max<std::int64_t>(options.takeover_tolerance_ms, 2 * second_ms);
    const std::int64_t kind = rng.between(0, 99);
    if (kind < (flappy ? 85 : 35)) return rng.spread(200, tolerance - 1 * second_ms); // quick flap
    if (kind < (flappy ? 95 : 60)) return rng.between(tolerance, 20 * minute_ms);
    return rng.spread(20 * minute_ms, 30 * hour_ms);
}

// Offline time between a close and the next connect.
inline std::int64_t offline_gap(Random& rng) {
    const std::int64_t kind = rng.between(0, 99);
    if (kind < 35) return rng.between(1, 5 * second_ms);
    if (kind < 65) return rng.spread(5 * second_ms, 10 * minute_ms);
    if (kind < 95) return rng.spread(10 * minute_ms, 12 * hour_ms);
    return rng.spread(day_ms, 2 * day_ms); // longer than the tombstone retention
}

// True times of every event of connections [0, before) — for the reconcile(online) window.
inline std::int64_t latest_true_time_before(const Timeline& t, std::size_t before) {
    std::int64_t latest = std::numeric_limits<std::int64_t>::min();
    for (std::size_t j = 0; j < before; ++j) {
        const Connection& c = t.connections[j];
        latest = std::max(latest, c.connect_ms);
        if (c.close_ms) latest = std::max(latest, *c.close_ms);
        if (c.disconnect_ms) latest = std::max(latest, *c.disconnect_ms);
    }
    return latest;
}

inline Published publish(Random& rng, const Timeline& t, std::size_t index, EventType type, std::int64_t true_ms,
                         bool lost, std::int64_t max_skew_ms) {
    const Connection& c = t.connections[index];
    Published p;
    p.event.client_id = t.client_id;
    p.event.channel_id = c.channel_id;
    p.event.type = type;
    p.event.time_ms = std::max<std::int64_t>(0, true_ms + rng.between(-max_skew_ms, max_skew_ms));
    p.event.client_ip = c.client_ip;
    p.true_ms = true_ms;
    p.connection = index;
    p.lost = lost;
    return p;
}

} // namespace detail

/// A client id of the Alibaba form `GID_xxx@@@device`, unique per `number` (mostly
/// `GID_test@@@dev00042`, some in other groups).
[[nodiscard]] inline std::string make_client_id(Random& rng, std::size_t number) {
    const std::string n = detail::padded(number, 5);
    switch (rng.between(0, 9)) {
    case 7: return "GID_meter@@@m-" + n;
    case 8: return "GID_car@@@VIN" + n;
    case 9: return "GID_lab-2@@@probe_" + n;
    default: return "GID_test@@@dev" + n;
    }
}

/// Generates the true timeline of one client starting at `start_ms`. Channel ids are unique
/// within the client; with HistoryOptions::shared_channel_probability one is taken from
/// `foreign_channel_ids` (channel ids of other clients: rule 1 keeps them apart).
[[nodiscard]] inline Timeline generate_timeline(Random& rng, std::string client_id, std::int64_t start_ms,
                                                const HistoryOptions& options,
                                                const std::vector<std::string>& foreign_channel_ids = {}) {
    Timeline t;
    t.client_id = std::move(client_id);
    t.start_ms = start_ms;
    const std::int64_t skew = options.max_skew_ms;

    const bool flappy = rng.chance(options.flappy_client_probability);
    std::size_t count = 0;
    if (rng.chance(options.many_connections_probability)) {
        count = static_cast<std::size_t>(rng.between(30, 60));
    } else {
        const std::int64_t kind = rng.between(0, 99);
        count = static_cast<std::size_t>(kind < 30   ? rng.between(1, 2)
                                         : kind < 80 ? rng.between(3, 8)
                                                     : rng.between(9, 16));
    }
    const bool offline_reconcile = rng.chance(options.reconcile_offline_probability);

    // 1. Connections: connect times strictly increasing; only the last may be up at the end.
    std::unordered_set<std::string> used;
    std::vector<bool> overlapped(count, false);
    std::int64_t at = start_ms;
    std::int64_t still_up_until = at; // the last connection, when up at the end: observed until then
    for (std::size_t i = 0; i < count; ++i) {
        Connection c;
        if (!foreign_channel_ids.empty() && rng.chance(options.shared_channel_probability)) {
            c.channel_id = rng.pick(foreign_channel_ids);
        }
        while (c.channel_id.empty() || used.count(c.channel_id) != 0)
            c.channel_id = detail::fresh_channel_id(rng, options);
        used.insert(c.channel_id);
        c.client_ip = detail::random_address(rng);
        c.connect_ms = at;
        const std::int64_t length = detail::session_length(rng, flappy, options);
        std::int64_t next = at;
        if (i + 1 == count) {
            if (!offline_reconcile && rng.chance(options.open_at_end_probability)) {
                still_up_until = at + length;
                if (rng.chance(options.pending_disconnect_probability))
                    c.disconnect_ms = still_up_until - rng.between(1, std::min<std::int64_t>(second_ms, length / 2));
            } else {
                c.close_ms = at + length;
            }
        } else if (rng.chance(options.overlap_probability)) {
            // The client reconnects while this connection is still up; the broker drops this one
            // shortly after the new connect (its tcpclean follows the new connect). The drop time
            // is chosen below, once the next connection's life is known.
            overlapped[i] = true;
            next = at + std::max(length, options.min_reconnect_ms);
        } else {
            c.close_ms = at + length;
            next = std::max(*c.close_ms + detail::offline_gap(rng), at + options.min_reconnect_ms);
        }
        if (c.close_ms && rng.chance(options.graceful_probability)) // sessions last >= 200 ms
            c.disconnect_ms = *c.close_ms - rng.between(1, std::min<std::int64_t>(2 * second_ms, length / 2));
        t.connections.push_back(std::move(c));
        at = next;
    }
    std::vector<Connection>& conns = t.connections;
    const std::size_t last = conns.size() - 1;

    // The drops of overlapped connections. The old connection i is always closed before the
    // connect after the new one (i + 2): at most two connections are up at once. And when rule 6
    // may take it over (the new connect is about the tolerance or more newer), it is also closed
    // before the new connection's own disconnect or close: MQTT closes the old connection as part
    // of accepting the new CONNECT, and rule 6 dates its end at the new connect, so a timeline in
    // which the taken-over connection outlives the new one would call the client online through a
    // connection that is already gone. Within the tolerance the old one may outlive the new one:
    // rule 6 leaves it open and its own tcpclean decides.
    constexpr std::int64_t unbounded = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < last; ++i) {
        if (!overlapped[i]) continue;
        const Connection& next = conns[i + 1];
        const std::int64_t following = i + 2 < conns.size() ? conns[i + 2].connect_ms : unbounded;
        std::int64_t limit = following;
        const bool may_be_taken_over =
                options.takeover && next.connect_ms - conns[i].connect_ms >=
                                            options.takeover_tolerance_ms - 2 * skew - options.lost_close_margin_ms;
        if (may_be_taken_over) {
            if (next.disconnect_ms) limit = std::min(limit, *next.disconnect_ms);
            if (next.close_ms) limit = std::min(limit, *next.close_ms); // not yet set when it is overlapped too
            if (next.open_at_end() && i + 1 == last) limit = std::min(limit, still_up_until);
        }
        const std::int64_t room = limit == unbounded ? options.takeover_drop_max_ms : limit - next.connect_ms - 1;
        conns[i].close_ms = next.connect_ms + rng.between(1, std::min(options.takeover_drop_max_ms, room));
    }

    // AWS IoT's keys: versions that start again at 0 after a long enough offline period.
    if (options.versioned_keys_reset_after_ms > 0) {
        std::int64_t version = 0;
        std::int64_t ended = std::numeric_limits<std::int64_t>::min(); // latest close so far
        for (std::size_t i = 0; i < conns.size(); ++i) {
            if (i > 0) {
                const bool reset = conns[i].connect_ms - ended > options.versioned_keys_reset_after_ms;
                version = reset ? 0 : version + 1 + rng.between(0, 2);
            }
            conns[i].channel_id = std::to_string(version);
            if (conns[i].close_ms)
                ended = std::max(ended, *conns[i].close_ms);
            else
                ended = std::numeric_limits<std::int64_t>::max(); // up at the end: never reset
        }
    }

    // 2. Answers of the broker's "is it online?" query (rule 8), true of the timeline at T: one
    // connection k, and no other, is up at T. Mostly k's connect is lost and the answer stands
    // in for it (the store keeps a synthetic channel); else k's connect arrives too and the
    // answer only confirms it. T keeps more than the skew away from every event, so that event
    // times order exactly as true times around it: the events of the connections before k, and
    // k's connect, carry event times before T (a close older than T must not end the synthetic
    // channel), and k's disconnect and close and every event after them, times after T (the
    // first connect or close after T delivered after the answer takes the synthetic channel over;
    // delivered before it, it makes the answer stale or a duplicate).
    //
    // Excluded: an answer while two connections are up (k and the one it is replacing, during an
    // overlap). The store cannot tell which of them the broker saw, and rule 8 lets the first
    // close at or after T take the synthetic channel over: right when the connection that closes
    // is the one the broker saw, wrong when it is the other one (a lost connect then stays
    // unseen). The rules promise nothing there, so the oracle would have to guess.
    if (rng.chance(options.reconcile_online_probability)) {
        std::vector<std::size_t> candidates;
        std::int64_t latest_close_before = std::numeric_limits<std::int64_t>::min();
        for (std::size_t k = 0; k < conns.size(); ++k) {
            // Observable flips: only after an offline period. Were another connection up at the
            // lost connect, the store would see a false offline period before the answer.
            if (!options.observable_flips || latest_close_before < conns[k].connect_ms) candidates.push_back(k);
            latest_close_before =
                    std::max(latest_close_before, conns[k].close_ms.value_or(std::numeric_limits<std::int64_t>::max()));
        }
        if (!candidates.empty()) {
            const std::size_t k = candidates.back() == last && rng.chance(0.5) ? last : rng.pick(candidates);
            const Connection& c = conns[k];
            const std::int64_t lo = std::max(c.connect_ms, detail::latest_true_time_before(t, k)) + skew + 1;
            std::int64_t hi = std::numeric_limits<std::int64_t>::max();
            if (c.disconnect_ms) hi = std::min(hi, *c.disconnect_ms - skew - 1);
            if (c.close_ms) hi = std::min(hi, *c.close_ms - skew - 1);
            if (k < last) hi = std::min(hi, conns[k + 1].connect_ms - skew - 1);
            if (hi == std::numeric_limits<std::int64_t>::max()) hi = lo + 10 * minute_ms; // up at the end
            if (lo <= hi) {
                conns[k].connect_lost = !rng.chance(options.reconcile_online_known_probability);
                // A second answer within the same window: a copy of the first (same T), or one
                // older or newer (rule 8 moves the synthetic channel forward to the newer T; no
                // event lies between the two, so either order is right).
                const std::size_t answers = rng.chance(options.reconcile_online_twice_probability) ? 2 : 1;
                for (std::size_t n = 0; n < answers; ++n) {
                    // Half of the answers soon after the window opens (often within seconds of
                    // the close or connect before it), where delivery reorders them most.
                    const std::int64_t as_of = n == 1 && rng.chance(0.3) ? t.reconciles.back().as_of_ms
                                               : rng.chance(0.5)         ? lo + rng.spread(0, hi - lo)
                                                                         : rng.between(lo, hi);
                    t.reconciles.push_back(ReconcileCall{true, as_of});
                    if (!c.close_ms) still_up_until = std::max(still_up_until, as_of);
                }
            }
        }
    }

    // 3. Lost closes: only where a later, delivered connect supersedes them (rule 6).
    if (options.takeover) {
        const std::int64_t needed = options.takeover_tolerance_ms + 2 * skew + options.lost_close_margin_ms;
        for (std::size_t j = 0; j < last; ++j) {
            Connection& c = conns[j];
            const Connection& next = conns[j + 1];
            if (next.connect_lost || next.connect_ms - c.connect_ms <= needed) continue;
            // Observable flips: a lost close followed by an offline period would hide that
            // period (the store closes it only at the next connect).
            if (options.observable_flips && *c.close_ms < next.connect_ms) continue;
            if (rng.chance(options.lost_close_probability)) c.close_lost = true;
        }
    }

    // 4. The final close lost, covered by a reconcile(offline) answer after every event.
    std::int64_t latest = std::max(still_up_until, detail::latest_true_time_before(t, conns.size()));
    for (const ReconcileCall& r : t.reconciles) latest = std::max(latest, r.as_of_ms);
    if (offline_reconcile) {
        conns[last].close_lost = true;
        const std::int64_t as_of = latest + skew + 1 + rng.spread(0, 10 * minute_ms);
        t.reconciles.push_back(ReconcileCall{false, as_of});
        latest = as_of;
    }
    t.end_ms = latest + rng.between(1, minute_ms);

    // 5. What the broker publishes: each event stamped with its node's skewed clock.
    for (std::size_t i = 0; i < conns.size(); ++i) {
        const Connection& c = conns[i];
        t.events.push_back(detail::publish(rng, t, i, EventType::connect, c.connect_ms, c.connect_lost, skew));
        if (c.disconnect_ms)
            t.events.push_back(detail::publish(rng, t, i, EventType::disconnect, *c.disconnect_ms, c.close_lost, skew));
        if (c.close_ms)
            t.events.push_back(detail::publish(rng, t, i, EventType::tcpclean, *c.close_ms, c.close_lost, skew));
    }
    return t;
}

/// The truth of a timeline: a sweep over its connections in true time (ties in the order of
/// Timeline::events). Online ⇔ at least one connection is up; a flip is a connect while none is.
[[nodiscard]] inline Truth truth(const Timeline& t) {
    std::vector<const Published*> steps;
    for (const Published& p : t.events)
        if (p.event.type != EventType::disconnect) steps.push_back(&p);
    std::stable_sort(steps.begin(), steps.end(),
                     [](const Published* a, const Published* b) { return a->true_ms < b->true_ms; });
    Truth out;
    out.client_id = t.client_id;
    std::size_t up = 0;
    for (const Published* p : steps) {
        if (p->event.type == EventType::connect) {
            if (up == 0) ++out.flips;
            ++up;
        } else {
            --up;
        }
    }
    out.online = up > 0;
    for (const Connection& c : t.connections) {
        if (!c.open_at_end()) continue;
        out.channel_id = c.channel_id;
        out.channel_known = !c.connect_lost;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------

/// How the consumer receives the published events.
struct DeliveryOptions {
    /// In true-time order (duplicates still come, near and late); else each event arrives at its
    /// event time + a random delay (mostly ms..seconds, sometimes minutes, rarely over an hour)
    /// and the consumer sees them by arrival.
    bool in_order = false;
    /// Per event: a second copy arrives with another small delay (up to 10 s).
    double near_duplicate_probability = 0.1;
    /// Per event: a copy is redelivered 1 h to (retention − 4 h) later. Every event delivered
    /// before it is older than its arrival, so the copy is within the retention window of the
    /// client's newest event (rule 5 promises to absorb it).
    double late_duplicate_probability = 0.03;
    /// The store's Options::tombstone_retention_ms.
    std::int64_t tombstone_retention_ms = day_ms;
    /// Out of order, per reconcile(online) answer as of T: it arrives as an event at T would,
    /// at T + a random delay, wherever that falls among its client's deliveries; else after at
    /// least one copy of every event older than T (a consumer that asks the broker once it has
    /// caught up). See `deliver`.
    double online_answer_anywhere_probability = 0.7;
};

/// Which copy of a published event a delivery is.
enum class Copy : std::uint8_t { original, near_duplicate, late_duplicate };

[[nodiscard]] constexpr std::string_view to_string(Copy copy) noexcept {
    switch (copy) {
    case Copy::original: return "original";
    case Copy::near_duplicate: return "near duplicate";
    case Copy::late_duplicate: return "late duplicate";
    }
    return {};
}

/// One step the consumer takes: ingest an event, or apply a reconcile answer.
struct Delivery {
    enum class Kind : std::uint8_t { event, reconcile };
    Kind kind = Kind::event;
    Event event;                   ///< the event; for a reconcile only client_id is set
    bool online = false;           ///< reconcile: the answer
    std::int64_t as_of_ms = 0;     ///< reconcile: the answer's time
    Copy copy = Copy::original;    ///< event: which copy
    std::int64_t delivered_ms = 0; ///< arrival (the order key)
    std::int64_t true_ms = 0;      ///< when the event really happened (as_of_ms for a reconcile)
    std::size_t client = 0;        ///< index of its timeline in the batch
};

namespace detail {

inline std::int64_t delivery_delay(Random& rng) {
    const std::int64_t kind = rng.between(0, 999);
    if (kind < 800) return rng.spread(0, 3 * second_ms);
    if (kind < 950) return rng.spread(3 * second_ms, 5 * minute_ms);
    if (kind < 990) return rng.spread(5 * minute_ms, hour_ms);
    return rng.spread(hour_ms, 90 * minute_ms);
}

} // namespace detail

/// The consumer's view of `timelines`: every event not lost, at least once, plus duplicates and
/// the reconcile answers, sorted by arrival (stable: ties keep generation order).
///
/// A reconcile(offline) answer, after every event by construction, arrives anywhere.
///
/// A reconcile(online) answer as of T is the broker's word at T: it arrives at T or later,
/// never before (an answer cannot be about the future). Out of order it arrives as an event at
/// T would, at T + a random delay (DeliveryOptions::online_answer_anywhere_probability), so at a
/// random point of its client's deliveries: before events older than T still on their way (a
/// close of a connection that ended just before T, the flap before the connection the answer
/// saw), and after events newer than T that overtook it. Rule 8 gets the final state right
/// wherever it arrives, because of how the timeline places T (step 2 of `generate_timeline`):
///  * an event older than T carries an event time before T: delivered after the answer, a
///    close of an older channel does not take the client offline and a connect does not end the
///    synthetic channel, whatever older channels the store saw open when the answer came;
///  * the first connect or close newer than T delivered after the answer takes the synthetic
///    channel over; one delivered before the answer makes it stale (a newer close or connect is
///    known) or a duplicate (a channel opened after T is open), and the connection the answer
///    stood for has closed or been replaced by then; at least one such event is delivered unless
///    that connection is the last and up at the end (its close is lost only when the next
///    connect supersedes it, or, for the last one, when a reconcile(offline) answer covers it);
///  * a DISCONNECT newer than T (the last connection's, when its TCP close comes after the end)
///    closes nothing, so it neither ends the synthetic channel nor makes the answer stale.
/// Excluded, as for events (rule 5): an answer applied while events older than T by more than
/// the tombstone retention are still to come. Rule 5 counts T as the client's newest time, so
/// an answer that adds a synthetic channel drops the client's tombstones older than
/// T − retention into the watermark; a connect of such a channel arriving later is then judged
/// by the watermark alone, which is not exact for a connect stamped after its own close (a flap
/// shorter than the clock skew): that channel opens again, for good. Delivering answers before
/// their T (at a random point of the whole delivery) does exactly that, and cannot happen: an
/// answer is about the present. Also excluded: an answer delivered more than the retention
/// after a DISCONNECT newer than T; it would find that DISCONNECT's channel dropped into the
/// watermark (by maintenance or by newer events) and be stale, although its connection is
/// still up. An answer here arrives at most 90 minutes after T.
///
/// In order, the answer arrives at T: the in-order scenario checks the exact true flips, which
/// needs it between the events around T. Arriving earlier, during an offline period before an
/// older connection, it would flip the client online early and its synthetic channel would hide
/// the flips up to T; arriving after the close of its connection, it would be stale and the
/// flip of the lost connect would go unseen.
[[nodiscard]] inline std::vector<Delivery> deliver(Random& rng, const std::vector<Timeline>& timelines,
                                                   const DeliveryOptions& options) {
    std::vector<Delivery> out;
    const std::int64_t late_max = std::max<std::int64_t>(hour_ms, options.tombstone_retention_ms - 4 * hour_ms);
    for (std::size_t client = 0; client < timelines.size(); ++client) {
        const Timeline& t = timelines[client];
        std::vector<std::int64_t> first_arrival(t.events.size(), std::numeric_limits<std::int64_t>::max());
        for (std::size_t e = 0; e < t.events.size(); ++e) {
            const Published& p = t.events[e];
            if (p.lost) continue;
            const std::int64_t base = options.in_order ? p.true_ms : p.event.time_ms;
            auto add = [&](Copy copy, std::int64_t delay) {
                Delivery d;
                d.event = p.event;
                d.copy = copy;
                d.delivered_ms = base + delay;
                d.true_ms = p.true_ms;
                d.client = client;
                first_arrival[e] = std::min(first_arrival[e], d.delivered_ms);
                out.push_back(std::move(d));
            };
            add(Copy::original, options.in_order ? 0 : detail::delivery_delay(rng));
            if (rng.chance(options.near_duplicate_probability))
                add(Copy::near_duplicate, rng.spread(0, 10 * second_ms));
            if (rng.chance(options.late_duplicate_probability))
                add(Copy::late_duplicate, rng.between(hour_ms, late_max));
        }
        for (const ReconcileCall& r : t.reconciles) {
            Delivery d;
            d.kind = Delivery::Kind::reconcile;
            d.event.client_id = t.client_id;
            d.online = r.online;
            d.as_of_ms = r.as_of_ms;
            d.true_ms = r.as_of_ms;
            d.client = client;
            if (options.in_order) {
                d.delivered_ms = r.as_of_ms;
            } else if (r.online && rng.chance(options.online_answer_anywhere_probability)) {
                d.delivered_ms = r.as_of_ms + detail::delivery_delay(rng); // as an event at T would
            } else if (r.online) {
                std::int64_t after = r.as_of_ms;
                for (std::size_t e = 0; e < t.events.size(); ++e)
                    if (!t.events[e].lost && t.events[e].true_ms < r.as_of_ms)
                        after = std::max(after, first_arrival[e]);
                d.delivered_ms = after + rng.between(1, minute_ms);
            } else {
                d.delivered_ms = rng.between(t.start_ms, r.as_of_ms + 10 * minute_ms);
            }
            out.push_back(std::move(d));
        }
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const Delivery& a, const Delivery& b) { return a.delivered_ms < b.delivered_ms; });
    return out;
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

/// Several clients' timelines and one interleaved delivery of all of them.
struct Batch {
    std::uint64_t seed = 0;
    std::vector<Timeline> timelines;
    std::vector<Delivery> deliveries;
};

/// Generates `clients` timelines (client numbers first_client_number, ...) from `seed`, some
/// sharing channel ids across clients, and delivers them interleaved.
[[nodiscard]] inline Batch generate_batch(std::uint64_t seed, std::size_t first_client_number, std::size_t clients,
                                          const HistoryOptions& history, const DeliveryOptions& delivery) {
    Batch batch;
    batch.seed = seed;
    Random rng(seed);
    std::vector<std::string> seen_channel_ids;
    batch.timelines.reserve(clients);
    for (std::size_t i = 0; i < clients; ++i) {
        const std::int64_t start = history.start_ms + rng.between(0, history.start_spread_ms);
        std::string client_id = make_client_id(rng, first_client_number + i);
        batch.timelines.push_back(generate_timeline(rng, std::move(client_id), start, history, seen_channel_ids));
        for (const Connection& c : batch.timelines.back().connections) seen_channel_ids.push_back(c.channel_id);
    }
    batch.deliveries = deliver(rng, batch.timelines, delivery);
    return batch;
}

// ---------------------------------------------------------------------------------------------
// Diagnostics
// ---------------------------------------------------------------------------------------------

/// A timeline as text, one connection per line, times in ms relative to its start.
[[nodiscard]] inline std::string describe(const Timeline& t) {
    auto rel = [&](std::int64_t ms) { return "+" + std::to_string(ms - t.start_ms); };
    std::string out = t.client_id + ": start " + std::to_string(t.start_ms) + ", end " + rel(t.end_ms) + "\n";
    for (std::size_t i = 0; i < t.connections.size(); ++i) {
        const Connection& c = t.connections[i];
        out += "  #" + std::to_string(i) + " " + c.channel_id + " up " + rel(c.connect_ms);
        if (c.disconnect_ms) out += " disconnect " + rel(*c.disconnect_ms);
        out += c.close_ms ? " closed " + rel(*c.close_ms) : std::string(" up at end");
        if (c.connect_lost) out += " [connect lost]";
        if (c.close_lost) out += " [close lost]";
        out += "\n";
    }
    for (const ReconcileCall& r : t.reconciles)
        out += std::string("  reconcile ") + (r.online ? "online" : "offline") + " as of " + rel(r.as_of_ms) + "\n";
    return out;
}

/// One delivery as text: what, which channel, event time (absolute, ms), and which copy.
[[nodiscard]] inline std::string describe(const Delivery& d) {
    if (d.kind == Delivery::Kind::reconcile)
        return std::string("reconcile(") + d.event.client_id + ", " + (d.online ? "true" : "false") + ", " +
               std::to_string(d.as_of_ms) + ")";
    std::string out = std::string(to_string(d.event.type)) + " " + d.event.channel_id + " time " +
                      std::to_string(d.event.time_ms);
    out += " (true " + std::to_string(d.true_ms) + ")";
    if (d.copy != Copy::original) out += " [" + std::string(to_string(d.copy)) + "]";
    return out;
}

// ---------------------------------------------------------------------------------------------
// Histories: generate one, feed it to a consumer, render it as JSON Lines, compare the result
// ---------------------------------------------------------------------------------------------

/// What generate_history() makes. The defaults: 100 clients, delivered late, reordered and
/// duplicated, with reconcile answers, for a store with default Options.
struct GeneratorOptions {
    std::size_t clients = 100;           ///< clients in the history
    std::size_t first_client_number = 0; ///< client ids are numbered from here (GID_test@@@dev00000, ...)
    HistoryOptions history;              ///< what happens to each client (flaps, overlaps, lost closes, ...)
    DeliveryOptions delivery;            ///< how the consumer receives it (in order or not, duplicates)
    /// false: no reconcile answers, so no connect and no final close is lost either: a stream of
    /// events only, as JSON Lines carry it. Lost closes that a newer connect covers (rule 6) remain.
    bool reconcile_answers = true;
};

/// A generated history: what really happened, what the consumer receives, and the truth.
struct History {
    std::uint64_t seed = 0;
    std::vector<Timeline> timelines;  ///< per client: what really happened
    std::vector<Delivery> deliveries; ///< every client's, interleaved, in the order the consumer receives them
    std::vector<Truth> truth;         ///< per client, in the order of `timelines`: the true final state

    /// The ids of the clients truly online at the end, sorted bytewise. O(clients · log clients).
    [[nodiscard]] std::vector<std::string> online_clients() const {
        std::vector<std::string> out;
        for (const Truth& t : truth)
            if (t.online) out.push_back(t.client_id);
        std::sort(out.begin(), out.end());
        return out;
    }
};

/// Generates `options.clients` client timelines from `seed`, one interleaved delivery of them,
/// and the truth of each client. The same seed and options give the same history on every
/// platform (generate_batch() with the same arguments gives the same timelines and deliveries).
/// Cost: linear in the clients; about 17 deliveries and a few kilobytes per client with the
/// default options.
[[nodiscard]] inline History generate_history(std::uint64_t seed, const GeneratorOptions& options = {}) {
    HistoryOptions history = options.history;
    if (!options.reconcile_answers) {
        history.reconcile_offline_probability = 0;
        history.reconcile_online_probability = 0;
    }
    Batch batch = generate_batch(seed, options.first_client_number, options.clients, history, options.delivery);
    History out;
    out.seed = seed;
    out.timelines = std::move(batch.timelines);
    out.deliveries = std::move(batch.deliveries);
    out.truth.reserve(out.timelines.size());
    for (const Timeline& t : out.timelines) out.truth.push_back(truth(t));
    return out;
}

/// The store Options that a history generated with `options` is made for: rule 6 as
/// HistoryOptions::takeover and takeover_tolerance_ms say, the tombstone retention of
/// DeliveryOptions, and, with versioned keys (HistoryOptions::versioned_keys_reset_after_ms),
/// rule 13 with key_reuse_gap_ms = 10 minutes (as aws_iot_options()), at most half the reset
/// period. Every other option keeps its default (close_on_disconnect must stay false: the truth
/// counts a connection up until its tcpclean). O(1).
[[nodiscard]] inline Options store_options(const GeneratorOptions& options) {
    Options out;
    out.takeover = options.history.takeover;
    out.takeover_tolerance_ms = options.history.takeover_tolerance_ms;
    out.tombstone_retention_ms = options.delivery.tombstone_retention_ms;
    if (options.history.versioned_keys_reset_after_ms > 0)
        out.key_reuse_gap_ms =
                std::min<std::int64_t>(10 * minute_ms, options.history.versioned_keys_reset_after_ms / 2);
    return out;
}

/// Hands one delivery to `store`: ingest(delivery.event) for an event, reconcile(client,
/// online, as_of_ms) for a reconcile answer. Returns the outcome; costs what that call costs.
template <class Storage>
Outcome feed(ClientStatusStore<Storage>& store, const Delivery& delivery) {
    if (delivery.kind == Delivery::Kind::reconcile)
        return store.reconcile(delivery.event.client_id, delivery.online, delivery.as_of_ms);
    return store.ingest(delivery.event);
}

namespace detail {

inline void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (u < 0x20) {
                out += "\\u00";
                out.push_back(hex[u >> 4]);
                out.push_back(hex[u & 0xf]);
            } else {
                out.push_back(c);
            }
        }
    }
    out.push_back('"');
}

} // namespace detail

/// One event as an Alibaba Cloud MQTT lifecycle message, on one line, without a line end:
///
///   {"channelId":"2b9b...","clientId":"GID_test@@@dev00001","clientIp":"192.0.2.7:13222","eventType":"connect","time":1570795200000}
///
/// "clientIp" only when not empty; the keys in byte order, as nlohmann::json writes them (so the
/// text equals nlohmann::json(event).dump() with <mqtt_presence/json.hpp>). Strings are escaped
/// as JSON requires (quote, backslash, control characters); other bytes are written as they are,
/// so ids must be UTF-8 for the line to be JSON. parse_alibaba_event() reads it back. O(length).
[[nodiscard]] inline std::string to_alibaba_json(const Event& event) {
    std::string out;
    out.reserve(96 + event.client_id.size() + event.channel_id.size() + event.client_ip.size());
    out += "{\"channelId\":";
    detail::append_json_string(out, event.channel_id);
    out += ",\"clientId\":";
    detail::append_json_string(out, event.client_id);
    if (!event.client_ip.empty()) {
        out += ",\"clientIp\":";
        detail::append_json_string(out, event.client_ip);
    }
    out += ",\"eventType\":";
    detail::append_json_string(out, to_string(event.type));
    out += ",\"time\":";
    out += std::to_string(event.time_ms);
    out.push_back('}');
    return out;
}

/// Every event of `history.deliveries`, in delivery order (duplicates included), as Alibaba
/// JSON Lines: to_alibaba_json() and '\n' each. Reconcile answers have no place in such a stream
/// and are left out: generate the history with GeneratorOptions::reconcile_answers = false to
/// get a stream whose truth needs none. O(deliveries).
[[nodiscard]] inline std::string to_alibaba_json_lines(const History& history) {
    std::string out;
    for (const Delivery& d : history.deliveries) {
        if (d.kind != Delivery::Kind::event) continue;
        out += to_alibaba_json(d.event);
        out.push_back('\n');
    }
    return out;
}

/// One client whose state at the end differs from the truth.
struct Mismatch {
    std::string client_id;
    std::string problems; ///< what differs, one indented line each: "  is_online: expected true, got false"
    std::string story;    ///< its true timeline and its deliveries in order (the first few mismatches only)
};

/// What compare_online() and compare_store() found.
struct Comparison {
    std::uint64_t seed = 0;              ///< the history's seed: generate it again to reproduce
    std::size_t clients = 0;             ///< clients compared (all of the history's)
    std::size_t expected_online = 0;     ///< clients truly online at the end
    std::vector<Mismatch> mismatches;    ///< clients whose state differs, in the order of History::timelines
    std::vector<std::string> store_wide; ///< problems of the store as a whole (its counts), one line each

    /// True when nothing differs from the truth. O(1).
    [[nodiscard]] bool ok() const noexcept { return mismatches.empty() && store_wide.empty(); }

    /// A readable account: one summary line, the store-wide problems, then the first
    /// `max_clients` mismatching clients with their problems and story. O(length of the text).
    [[nodiscard]] std::string report(std::size_t max_clients = 10) const {
        std::string out = std::to_string(mismatches.size()) + " of " + std::to_string(clients) +
                          " clients differ from the truth (" + std::to_string(expected_online) +
                          " truly online; seed " + std::to_string(seed) + ")\n";
        for (const std::string& line : store_wide) out += "store: " + line + "\n";
        for (std::size_t i = 0; i < mismatches.size() && i < max_clients; ++i) {
            const Mismatch& m = mismatches[i];
            out += "client " + m.client_id + "\n" + m.problems + m.story;
        }
        if (mismatches.size() > max_clients)
            out += "... and " + std::to_string(mismatches.size() - max_clients) + " more clients\n";
        return out;
    }
};

namespace detail {

inline constexpr std::size_t story_deliveries = 120;

// A client's true timeline and its deliveries, in order, for a report.
inline std::string story(const History& history, std::size_t client) {
    std::string out = "  true timeline:\n";
    const std::string timeline = describe(history.timelines[client]);
    std::size_t from = 0;
    while (from < timeline.size()) {
        const std::size_t end = timeline.find('\n', from);
        out += "    " + timeline.substr(from, end - from) + "\n";
        if (end == std::string::npos) break;
        from = end + 1;
    }
    out += "  delivered (in order):\n";
    std::size_t shown = 0;
    for (const Delivery& d : history.deliveries) {
        if (d.client != client) continue;
        if (++shown > story_deliveries) {
            out += "    ...\n";
            break;
        }
        out += "    " + describe(d) + "\n";
    }
    return out;
}

inline void add_mismatch(Comparison& result, const History& history, std::size_t client, std::string problems,
                         std::size_t stories) {
    Mismatch m;
    m.client_id = history.timelines[client].client_id;
    m.problems = std::move(problems);
    if (result.mismatches.size() < stories) m.story = story(history, client);
    result.mismatches.push_back(std::move(m));
}

inline std::string yes_no(bool value) { return value ? "true" : "false"; }

} // namespace detail

/// Compares a consumer's final answers with the truth. `is_online(const std::string& client_id)
/// -> bool` is called once per client of the history and must say whether the consumer holds
/// the client online. The first `stories` mismatching clients get their story (timeline and
/// deliveries). O(clients + stories × deliveries), plus the calls.
template <class IsOnline>
[[nodiscard]] Comparison compare_online(const History& history, IsOnline&& is_online, std::size_t stories = 3) {
    Comparison result;
    result.seed = history.seed;
    result.clients = history.truth.size();
    for (std::size_t c = 0; c < history.truth.size(); ++c) {
        const Truth& want = history.truth[c];
        if (want.online) ++result.expected_online;
        const bool got = static_cast<bool>(is_online(want.client_id));
        if (got == want.online) continue;
        std::string problems = "  is_online: expected " + detail::yes_no(want.online) + ", got " + detail::yes_no(got);
        if (want.online)
            problems += want.channel_known ? " (online through channel " + want.channel_id + ")"
                                           : " (online by a reconcile answer: its connect was lost)";
        detail::add_mismatch(result, history, c, problems + "\n", stories);
    }
    return result;
}

/// Compares a store fed the history, and nothing else, with the truth: per client is_online()
/// and, for a client online, status(): current_channel (the true connection's channel id, or ""
/// when only a reconcile answer knows it) and by_reconcile; for the whole store online_count()
/// and the clients for_each_online() lists. The first `stories` mismatching clients get their
/// story. O(clients) lookups, a walk of the store, and O(stories × deliveries).
template <class Storage>
[[nodiscard]] Comparison compare_store(const History& history, const ClientStatusStore<Storage>& store,
                                       std::size_t stories = 3) {
    Comparison result;
    result.seed = history.seed;
    result.clients = history.truth.size();
    std::unordered_set<std::string> truly_online;
    for (std::size_t c = 0; c < history.truth.size(); ++c) {
        const Truth& want = history.truth[c];
        std::string problems;
        const bool online = store.is_online(want.client_id);
        if (online != want.online)
            problems +=
                    "  is_online: expected " + detail::yes_no(want.online) + ", got " + detail::yes_no(online) + "\n";
        if (want.online) {
            ++result.expected_online;
            truly_online.insert(want.client_id);
            const std::string expected_channel = want.channel_known ? want.channel_id : std::string();
            const std::optional<ClientStatus> status = store.status(want.client_id);
            if (!status) {
                problems += "  status: client unknown to the store\n";
            } else {
                if (status->current_channel != expected_channel)
                    problems += "  status.current_channel: expected \"" + expected_channel + "\", got \"" +
                                status->current_channel + "\"\n";
                if (status->by_reconcile == want.channel_known)
                    problems += "  status.by_reconcile: expected " + detail::yes_no(!want.channel_known) + "\n";
            }
        }
        if (!problems.empty()) detail::add_mismatch(result, history, c, std::move(problems), stories);
    }
    if (store.online_count() != result.expected_online)
        result.store_wide.push_back("online_count() is " + std::to_string(store.online_count()) + ", expected " +
                                    std::to_string(result.expected_online));
    std::size_t listed = 0;
    std::size_t listed_wrongly = 0;
    store.for_each_online([&](std::string_view client_id) {
        ++listed;
        if (truly_online.count(std::string(client_id)) == 0) ++listed_wrongly;
    });
    if (listed != result.expected_online || listed_wrongly != 0)
        result.store_wide.push_back("for_each_online() lists " + std::to_string(listed) + " clients, " +
                                    std::to_string(listed_wrongly) + " of them not truly online; expected " +
                                    std::to_string(result.expected_online));
    return result;
}

} // namespace mqtt_presence::testing
