#pragma once
// ClientRecord and the rules of presence (README.md, "The rules"), as pure functions on one client's record:
//   apply(record, event, options)          an event from the broker
//   reconcile(record, online, as_of, opts) an answer of the broker's synchronous query (rule 8)
//   prune(record, now_ms, options)         maintenance: drop old tombstones, forget old clients
//   expire(record, now_ms, max_age_ms)     maintenance: close channels silent for too long
// Nothing else in the library decides presence. Standard library only; no clock is read.

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "detail/compact_string.hpp"
#include "detail/compiler.hpp"
#include "detail/packed_time.hpp"
#include "detail/small_vector.hpp"
#include "event.hpp"

namespace mqtt_presence {

/// "No such time": a time field that was never set.
inline constexpr std::int64_t no_time = std::numeric_limits<std::int64_t>::min();

/// Behaviour switches, with the defaults of the rules.
struct Options {
    /// Rule 4: a `disconnect` also closes its channel (default: it only marks it graceful).
    bool close_on_disconnect = false;
    /// Rule 5: closed channels are kept this long (event time) to absorb redeliveries.
    std::int64_t tombstone_retention_ms = 24LL * 3600 * 1000;
    /// Rule 6: a channel whose connect is older than another's by more than the tolerance is
    /// closed even if its close was lost. The tolerance absorbs clock skew between broker nodes.
    bool takeover = true;
    std::int64_t takeover_tolerance_ms = 60'000;
    /// Rule 10: at most this many open channels per client (MQTT allows one; overlaps during a
    /// reconnect are brief). When full, a newer connect closes the oldest open channel.
    /// At most max_channel_cap.
    std::uint32_t max_open_channels = 8;
    /// Rule 10: at most this many closed or half-known channels per client; the oldest go first.
    /// At most max_channel_cap.
    std::uint32_t max_tombstones = 32;
    /// Maintenance (prune): a client offline and silent for this long is forgotten entirely.
    std::int64_t forget_offline_after_ms = 7LL * 24 * 3600 * 1000;
    /// Rule 13: connection keys that a broker reuses (AWS IoT's versionNumber starts again at 0
    /// after about an hour offline). When set, an event on a key more than this long before the
    /// connect of the connection holding that key belongs to an older connection, and a connect
    /// (or a real close) more than this long after everything known of it starts a newer one.
    /// It must exceed the broker's clock inaccuracy (AWS: ±2 minutes) and stay below its reuse
    /// period: aws_iot_options() sets 10 minutes. 0 (the default): keys are never reused, and an
    /// event applies to its own channel however far apart the times are (rule 7).
    std::int64_t key_reuse_gap_ms = 0;
    /// Rule 10, for the whole store: at most this many clients are tracked. When the store holds
    /// this many, an event or reconcile of a client it does not hold changes nothing and is
    /// refused (Status::refused); the clients it holds are unaffected, and room comes back when
    /// prune() forgets clients. Bounds the memory that a flood of made-up client ids can take.
    /// 0 (the default): no cap. In-process storages only (a shared storage refuses it).
    std::size_t max_clients = 0;
};

/// The largest value of Options::max_open_channels and Options::max_tombstones.
inline constexpr std::uint32_t max_channel_cap = 1000;

/// The longest duration an option or argument may give: ten years (of 366 days).
inline constexpr std::int64_t max_duration_ms = 10LL * 366 * 24 * 3600 * 1000;

/// Empty if `options` are usable, else which one is not and why.
[[nodiscard]] constexpr std::string_view validate(const Options& options) noexcept {
    if (options.tombstone_retention_ms < 0 || options.tombstone_retention_ms > max_duration_ms)
        return "tombstone_retention_ms must be between 0 and ten years";
    if (options.takeover_tolerance_ms < 0 || options.takeover_tolerance_ms > max_duration_ms)
        return "takeover_tolerance_ms must be between 0 and ten years";
    if (options.forget_offline_after_ms < 0 || options.forget_offline_after_ms > max_duration_ms)
        return "forget_offline_after_ms must be between 0 and ten years";
    if (options.key_reuse_gap_ms < 0 || options.key_reuse_gap_ms > max_duration_ms)
        return "key_reuse_gap_ms must be between 0 and ten years";
    if (options.max_open_channels < 1 || options.max_open_channels > max_channel_cap)
        return "max_open_channels must be between 1 and 1000";
    if (options.max_tombstones < 1 || options.max_tombstones > max_channel_cap)
        return "max_tombstones must be between 1 and 1000";
    return {};
}

/// Why a channel closed, or what made a client flip.
enum class Cause : std::uint8_t {
    none,
    connect,    ///< a connect event opened a channel
    tcpclean,   ///< the channel's tcpclean
    disconnect, ///< the channel's disconnect (only with Options::close_on_disconnect)
    takeover,   ///< rule 6: a newer connect of the same client superseded it
    reconcile,  ///< rule 8: an answer of the broker's synchronous query
    expiry,     ///< maintenance closed it
};

[[nodiscard]] constexpr std::string_view to_string(Cause cause) noexcept {
    switch (cause) {
    case Cause::none: return "none";
    case Cause::connect: return "connect";
    case Cause::tcpclean: return "tcpclean";
    case Cause::disconnect: return "disconnect";
    case Cause::takeover: return "takeover";
    case Cause::reconcile: return "reconcile";
    case Cause::expiry: return "expiry";
    }
    return {};
}

/// What the rules know of one channel (one TCP connection) of a client. 48 bytes, no padding.
/// Times read and assign as std::int64_t (no_time when unset); each is kept in 6 bytes.
struct Channel {
    detail::PackedTime connect_ms;                     ///< time of its connect, if seen
    detail::PackedTime close_ms;                       ///< when it closed, if closed
    detail::PackedTime disconnect_ms;                  ///< time of its disconnect, if seen
    using KeyProbe = detail::CompactString<16>::Probe; ///< a channel id encoded for lookups
    detail::CompactString<16> key;                     ///< channel id (32 hex chars take 16 bytes)
    detail::CompactString<8> address;                  ///< client "ip:port" (IPv4 takes 6 bytes)
    Cause close_cause = Cause::none;                   ///< none while not closed
    bool synthetic = false;                            ///< stands in for a connection a reconcile saw (rule 8)

    [[nodiscard]] bool connected() const noexcept { return !connect_ms.is_none(); }
    [[nodiscard]] bool closed() const noexcept { return close_cause != Cause::none; }
    /// Rule 2: open ⇔ its connect was seen and it is not closed. (The one-byte test first:
    /// most channels a pass meets are tombstones.)
    [[nodiscard]] bool open() const noexcept { return !closed() && connected(); }
    /// The newest time this entry carries (drives retention and eviction of tombstones).
    [[nodiscard]] std::int64_t latest_ms() const noexcept {
        return detail::PackedTime::from_rank(
                std::max(connect_ms.rank(), std::max(close_ms.rank(), disconnect_ms.rank())));
    }
};
static_assert(sizeof(Channel) == 48, "Channel is meant to be 48 bytes");
// A channel moves as bytes within and between channel arrays: its strings own at most a heap
// block each, which the copy then owns, and nothing in it points into itself.
template <>
struct detail::is_relocatable<Channel> : std::true_type {};
// (Each time is read with bytes of the channel after it: see detail/packed_time.hpp.)
static_assert(detail::PackedTime::readable_in(offsetof(Channel, connect_ms), sizeof(Channel)) &&
              detail::PackedTime::readable_in(offsetof(Channel, close_ms), sizeof(Channel)) &&
              detail::PackedTime::readable_in(offsetof(Channel, disconnect_ms), sizeof(Channel)));

/// What ClientRecord::presence remembers of the record's online().
enum class Presence : std::uint8_t {
    unknown = 0, ///< not remembered: online() is asked
    offline = 1,
    online = 2,
};

/// Everything the store keeps about one client. The rules functions below are the only code
/// that modifies it; storages keep it, copy it and may encode its fields. 80 bytes with
/// alignment 2 (one channel inline; more move to the heap); times read and assign as
/// std::int64_t (no_time when unset).
struct ClientRecord {
    /// online() as it was when a rules function last changed the record, so that queries
    /// (is_online(), for_each_online()) read no channel: beyond the first, channels are on the
    /// heap, one more cache miss. Set by the rules functions alone, on every change; unknown in
    /// a record built field by field (a decoder may set it with remember_presence()). First, so
    /// that it is read with the storage's key more often than not.
    Presence presence = Presence::unknown;
    /// Open channels, tombstones (closed) and half-known channels (a close seen, no connect yet).
    detail::SmallVector<Channel, 1> channels;
    /// Newest real connect ever seen (rule 6 compares against it).
    detail::PackedTime latest_connect_ms;
    /// Watermark: a connect at or before it, of a channel not in `channels`, arrives closed.
    /// Raised by reconcile(offline), and when a tombstone is dropped (retention or cap).
    detail::PackedTime closed_through_ms;
    /// Newest event time of this client.
    detail::PackedTime last_event_ms;
    /// Time of the last online→offline flip, and whether a disconnect preceded that close.
    detail::PackedTime last_offline_ms;
    bool last_offline_graceful = false;

    /// Rule 2: online ⇔ at least one open channel. O(channels).
    [[nodiscard]] bool online() const noexcept {
        for (const Channel& ch : channels)
            if (ch.open()) return true;
        return false;
    }
    /// online(), read from `presence` when it is known (no channel read): what queries ask.
    [[nodiscard]] bool online_remembered() const noexcept {
        return presence == Presence::unknown ? online() : presence == Presence::online;
    }
    /// Sets `presence` from the channels.
    void remember_presence() noexcept { presence = online() ? Presence::online : Presence::offline; }
    [[nodiscard]] std::size_t open_channels() const noexcept {
        return static_cast<std::size_t>(
                std::count_if(channels.begin(), channels.end(), [](const Channel& ch) { return ch.open(); }));
    }
    /// True when the record holds nothing worth keeping; storages erase such records.
    [[nodiscard]] bool empty() const noexcept {
        return channels.empty() && latest_connect_ms == no_time && closed_through_ms == no_time &&
               last_event_ms == no_time && last_offline_ms == no_time;
    }
    /// Heap bytes the record owns: channels beyond the inline one, long channel ids.
    [[nodiscard]] std::size_t heap_bytes() const noexcept {
        std::size_t bytes = channels.capacity() > 1 ? channels.capacity() * sizeof(Channel) : 0;
        for (const Channel& ch : channels) {
            if (ch.key.on_heap()) bytes += ch.key.size() + sizeof(std::uint32_t);
            if (ch.address.on_heap()) bytes += ch.address.size() + sizeof(std::uint32_t);
        }
        return bytes;
    }
    /// The real channel with this id, or nullptr.
    [[nodiscard]] const Channel* find(std::string_view channel_id) const noexcept {
        return find(Channel::KeyProbe(channel_id));
    }
    [[nodiscard]] Channel* find(std::string_view channel_id) noexcept { return find(Channel::KeyProbe(channel_id)); }
    /// The same, for an id encoded once (Channel::KeyProbe) and looked up several times.
    [[nodiscard]] const Channel* find(const Channel::KeyProbe& channel_id) const noexcept {
        if (channel_id.on_heap()) {
            for (const Channel& ch : channels)
                if (!ch.synthetic && ch.key.matches(channel_id)) return &ch;
            return nullptr;
        }
        for (const Channel& ch : channels)
            if (ch.key.matches_packed(channel_id) && !ch.synthetic) return &ch;
        return nullptr;
    }
    [[nodiscard]] Channel* find(const Channel::KeyProbe& channel_id) noexcept {
        return const_cast<Channel*>(static_cast<const ClientRecord&>(*this).find(channel_id));
    }
    /// The real open channel with the newest connect (the client's current connection), or
    /// nullptr when none is open or only a reconcile's synthetic channel is.
    [[nodiscard]] const Channel* current() const noexcept {
        const Channel* best = nullptr;
        for (const Channel& ch : channels)
            if (ch.open() && !ch.synthetic && (best == nullptr || ch.connect_ms >= best->connect_ms)) best = &ch;
        return best;
    }
};
static_assert(sizeof(ClientRecord) == 80, "ClientRecord is meant to be 80 bytes");
// (Each time is read with bytes of the record after it: see detail/packed_time.hpp.)
static_assert(detail::PackedTime::readable_in(offsetof(ClientRecord, latest_connect_ms), sizeof(ClientRecord)) &&
              detail::PackedTime::readable_in(offsetof(ClientRecord, closed_through_ms), sizeof(ClientRecord)) &&
              detail::PackedTime::readable_in(offsetof(ClientRecord, last_event_ms), sizeof(ClientRecord)) &&
              detail::PackedTime::readable_in(offsetof(ClientRecord, last_offline_ms), sizeof(ClientRecord)));

/// What an event (or a reconcile) did to the record.
enum class Status : std::uint8_t {
    applied,          ///< new information, recorded
    superseded,       ///< a connect older than another by more than the tolerance: arrived closed (rule 6)
    behind_watermark, ///< a connect at or before a reconcile(offline) watermark: arrived closed (rule 8)
    duplicate,        ///< already known: nothing changed (rule 5)
    stale,            ///< older than what the record still needs to know: nothing changed
    refused,          ///< a cap is full (rule 10): the client's and the event is not newer than what fills it,
                      ///< or the store's (Options::max_clients) and the client is not tracked
    invalid,          ///< bad input: nothing changed, `error` says why (rule 9)
};

[[nodiscard]] constexpr std::string_view to_string(Status status) noexcept {
    switch (status) {
    case Status::applied: return "applied";
    case Status::superseded: return "superseded";
    case Status::behind_watermark: return "behind_watermark";
    case Status::duplicate: return "duplicate";
    case Status::stale: return "stale";
    case Status::refused: return "refused";
    case Status::invalid: return "invalid";
    }
    return {};
}

/// Whether the client's aggregate state flipped (rule 12).
enum class Transition : std::uint8_t { none, went_online, went_offline };

[[nodiscard]] constexpr std::string_view to_string(Transition transition) noexcept {
    switch (transition) {
    case Transition::none: return "none";
    case Transition::went_online: return "went_online";
    case Transition::went_offline: return "went_offline";
    }
    return {};
}

/// The result of one apply or reconcile: what happened and whether the client flipped.
/// Deliberately not [[nodiscard]]: ingesting only for the state change is a normal use.
struct Outcome {
    Status status = Status::applied;
    Transition transition = Transition::none;
    Cause cause = Cause::none;            ///< what made it flip (none without a transition)
    std::int64_t transition_ms = no_time; ///< event time of the flip
    std::string_view error;               ///< why, when status is invalid (a constant string)

    /// Whether the event was accepted and changed what the record knows.
    [[nodiscard]] bool changed() const noexcept {
        return status == Status::applied || status == Status::superseded || status == Status::behind_watermark;
    }
    [[nodiscard]] bool went_online() const noexcept { return transition == Transition::went_online; }
    [[nodiscard]] bool went_offline() const noexcept { return transition == Transition::went_offline; }
};

/// One flip of a client's presence (rule 12), as ClientStatusStore's transition hook receives
/// it. The views are valid during the call only.
struct Edge {
    std::string_view client_id;
    bool online = false;            ///< the new state: true for offline→online
    std::int64_t time_ms = no_time; ///< event time of the flip (Outcome::transition_ms)
    /// The channel that opened (online), or whose close took the client offline; "" for the
    /// synthetic channel of a reconcile(online) answer.
    std::string_view channel_id;
    Cause cause = Cause::none; ///< what made it flip (Outcome::cause)
};

namespace detail {

// Which channel an edge is about, kept without allocating while the rules run: the event's
// own channel id (a view into the Event, which outlives the call), or the image of a stored
// key (Channel::key; the rules never destroy a channel whose close they report).
class EdgeChannel {
public:
    using Scratch = detail::CompactString<16>::Scratch;

    void set(std::string_view text) noexcept {
        m_text = text;
        m_stored = false;
    }
    void set(const Channel& ch) noexcept {
        m_image = ch.key.image();
        m_stored = true;
    }
    /// The channel id ("" for a synthetic channel), decoded into `scratch` when packed.
    [[nodiscard]] std::string_view view(Scratch& scratch) const noexcept {
        return m_stored ? m_image.view(scratch) : m_text;
    }

private:
    std::string_view m_text;
    detail::CompactString<16>::Image m_image; // read only when m_stored
    bool m_stored = false;
};

// Bookkeeping of one call: the state before, and the close that may have taken the client offline.
struct Step {
    bool was_online = false;
    std::int64_t opened_ms = no_time;
    Cause open_cause = Cause::connect;
    std::string_view opened_channel; // the event's channel id; "" for a synthetic channel
    std::int64_t offline_ms = no_time;
    Cause offline_cause = Cause::none;
    bool offline_graceful = false;
    EdgeChannel offline_channel;

    // A close at `at` of channel `which` (a Channel, or a channel id) that may be what takes the
    // client offline: the latest one noted is.
    template <class Which>
    void note_close(std::int64_t at, Cause cause, bool graceful, const Which& which) noexcept {
        if (offline_cause == Cause::none || at >= offline_ms) {
            offline_ms = at;
            offline_cause = cause;
            offline_graceful = graceful;
            offline_channel.set(which);
        }
    }
};

inline void close_channel(Channel& ch, std::int64_t at, Cause cause, Step& step) noexcept {
    if (ch.open()) step.note_close(at, cause, ch.disconnect_ms != no_time, ch);
    ch.close_ms = at;
    ch.close_cause = cause;
}

inline Channel* find_synthetic(ClientRecord& record) noexcept {
    for (Channel& ch : record.channels)
        if (ch.synthetic) return &ch;
    return nullptr;
}

// Rule 6: a connect at `t` older than the newest connect by more than the tolerance.
inline bool is_superseded(const ClientRecord& record, std::int64_t t, const Options& options) noexcept {
    return options.takeover && record.latest_connect_ms != no_time &&
           t + options.takeover_tolerance_ms < record.latest_connect_ms;
}

// Rule 6: a real connect at `t` closes every other open channel connected more than the
// tolerance before it. Synthetic channels are not real connections and are left to rule 8.
inline void take_over(ClientRecord& record, const Channel* by, std::int64_t t, const Options& options,
                      Step& step) noexcept {
    // A client offline before this step had no open channel, and the step opens none but `by`.
#ifndef NDEBUG
    if (!step.was_online)
        for (const Channel& ch : record.channels) assert(&ch == by || !ch.open());
#endif
    if (!options.takeover || !step.was_online) return;
    for (Channel& ch : record.channels)
        if (&ch != by && !ch.synthetic && ch.open() && ch.connect_ms + options.takeover_tolerance_ms < t)
            close_channel(ch, t, Cause::takeover, step);
}

// Rule 8: the synthetic channel of a reconcile(online, T) is taken over by the client's first
// real connect or close at or after T. A close then takes the client offline with it: the
// channel it closed (`channel_id`) is the one the synthetic channel stood for.
// Returns whether it did (erasing it may have moved other channels).
inline bool end_synthetic(ClientRecord& record, std::int64_t t, bool by_close, Cause cause, bool graceful,
                          std::string_view channel_id, Step& step) noexcept {
    // A synthetic channel is open while it exists (every close of one erases it): a client that
    // was offline before this step has none, and no channel needs to be read to know it.
    assert(step.was_online || find_synthetic(record) == nullptr);
    if (!step.was_online) return false;
    Channel* synthetic = find_synthetic(record);
    if (synthetic == nullptr || t < synthetic->connect_ms) return false;
    if (by_close) step.note_close(t, cause, graceful, channel_id);
    record.channels.erase(synthetic);
    return true;
}

// Whatever the tombstone protected against is now covered by the watermark (rules 5, 10).
// A channel whose connect was never seen may see it stamped after its close by a broker node
// whose clock runs ahead: the takeover tolerance, which bounds that skew, covers it too.
inline void drop_tombstone(ClientRecord& record, Channel* ch, const Options& options) noexcept {
    const std::int64_t covered = ch->latest_ms() + (ch->connected() ? 0 : options.takeover_tolerance_ms);
    record.closed_through_ms = std::max<std::int64_t>(record.closed_through_ms, covered);
    record.channels.erase(ch);
}

// a - b without overflow, for "now minus a window" with a caller-supplied now.
constexpr std::int64_t minus(std::int64_t a, std::int64_t b) noexcept {
    return a < std::numeric_limits<std::int64_t>::min() + b ? std::numeric_limits<std::int64_t>::min() : a - b;
}

inline bool is_tombstone(const Channel& ch) noexcept { return !ch.open() && !ch.synthetic; }

// Drops tombstones whose newest time is before `horizon`; returns how many.
inline std::size_t drop_tombstones_before(ClientRecord& record, std::int64_t horizon, const Options& options) noexcept {
    std::size_t dropped = 0;
    for (std::size_t i = record.channels.size(); i-- > 0;) {
        Channel& ch = record.channels[i];
        if (is_tombstone(ch) && ch.latest_ms() < horizon) {
            drop_tombstone(record, &ch, options);
            ++dropped;
        }
    }
    return dropped;
}

// What make_room() makes room for. `opened`: a channel already held that has just opened (its
// close or disconnect came first, its connect now): it counts among the open ones already.
enum class NewChannel : std::uint8_t { open, opened, tombstone, synthetic };

// Rule 10: makes room for one more channel stamped `t`. Returns false, having changed nothing,
// when a new open channel must be refused. A synthetic channel (at most one) is outside the
// open-channel cap. Never allocates; may move channels (dropped tombstones), so pointers into
// record.channels must be found again.
inline bool make_room(ClientRecord& record, NewChannel kind, std::int64_t t, const Options& options,
                      Step& step) noexcept {
    const bool open = kind == NewChannel::open || kind == NewChannel::opened;
    const std::size_t open_cap = std::size_t{options.max_open_channels} + (kind == NewChannel::opened ? 1U : 0U);
    // Rule 5 retention, in event time: tombstones far behind the client's newest event go.
    const std::int64_t newest = std::max<std::int64_t>(record.last_event_ms, t);
    const std::int64_t horizon = newest - options.tombstone_retention_ms;
    const std::size_t limit = options.max_tombstones - (kind == NewChannel::tombstone ? 1U : 0U);
    // One pass finds the open channels (how many, the oldest) and the tombstones (how many,
    // whether any is past retention); most calls need nothing more.
    Channel* oldest_open = nullptr;
    std::size_t open_count = 0;
    std::size_t tombstones = 0;
    bool expired = false;
    for (Channel& ch : record.channels) {
        if (ch.synthetic) continue; // at most one synthetic channel, left to rule 8
        if (ch.open()) {
            ++open_count;
            if (oldest_open == nullptr || ch.connect_ms < oldest_open->connect_ms) oldest_open = &ch;
        } else {
            ++tombstones;
            // A tombstone's close, when it has one, bounds its newest time from below: most
            // are recent enough by it alone, without reading the other two times.
            expired = expired || (ch.close_ms < horizon && ch.latest_ms() < horizon);
        }
    }
    if (open && open_count >= open_cap) {
        if (oldest_open->connect_ms >= t) return false;
        close_channel(*oldest_open, t, Cause::takeover, step); // a tombstone now
        ++tombstones;
        expired = expired || oldest_open->latest_ms() < horizon;
    }
    if (!expired && tombstones <= limit) return true;
    drop_tombstones_before(record, horizon, options);
    for (;;) {
        Channel* oldest = nullptr;
        tombstones = 0;
        for (Channel& ch : record.channels) {
            if (!is_tombstone(ch)) continue;
            ++tombstones;
            if (oldest == nullptr || ch.latest_ms() < oldest->latest_ms()) oldest = &ch;
        }
        if (tombstones <= limit) return true;
        drop_tombstone(record, oldest, options);
    }
}

inline Channel make_channel(const Event& event, const Channel::KeyProbe& key) {
    Channel ch;
    ch.key.assign(key);
    ch.address.assign(event.client_ip);
    return ch;
}

// Rule 13: which connection holding the channel's key an event at `t` is about.
enum class KeyEra : std::uint8_t { same, older, newer };

// older: more than the gap before the connect of the connection holding the key. newer: a
// connect more than the gap after that connection's connect (a broker reuses a key only once
// its connection is gone), or, when its connect was never seen, after its close; a close (or
// disconnect) more than the gap after everything known of a connection already closed (an
// estimated close included: a connection's real close follows the takeover that estimated it).
inline KeyEra key_era(const Channel& ch, std::int64_t t, bool is_connect, const Options& options) noexcept {
    const std::int64_t gap = options.key_reuse_gap_ms;
    if (gap == 0 || ch.synthetic) return KeyEra::same;
    if (ch.connected() && t < ch.connect_ms - gap) return KeyEra::older;
    if (is_connect && ch.connected()) return t > ch.connect_ms + gap ? KeyEra::newer : KeyEra::same;
    return ch.closed() && t > ch.latest_ms() + gap ? KeyEra::newer : KeyEra::same;
}

// Rule 13: the connection that held a reused key is over: closed at `t` if still open (its
// close was lost), then forgotten as a dropped tombstone is, the watermark covering its times.
// For a newer connect at `t` (`for_connect`), a real close or a disconnect of the old entry
// within the gap of `t` cannot be the old connection's (a broker reuses a key only long after
// its connection ended): they are the newer connection's, delivered before its connect, and
// stay under the key (returned), so that the connect arrives closed. Else returns nullptr.
// (`key` is the event's channel id: the edge, if the client goes offline by it, names the key
// through the event, which outlives the call, not through the entry replaced here.)
inline Channel* retire_key(ClientRecord& record, Channel* ch, std::string_view key, std::int64_t t, bool for_connect,
                           const Options& options, Step& step) noexcept {
    const std::int64_t recent = t - options.key_reuse_gap_ms;
    const bool real_close = ch->close_cause == Cause::tcpclean || ch->close_cause == Cause::disconnect;
    Channel moved;
    moved.key = ch->key;
    moved.address = ch->address;
    std::int64_t covered = ch->connect_ms;
    if (for_connect && real_close && ch->close_ms >= recent) {
        moved.close_ms = ch->close_ms;
        moved.close_cause = ch->close_cause;
    } else {
        covered = std::max<std::int64_t>(covered, ch->close_ms); // (an estimate's time too)
    }
    if (for_connect && ch->disconnect_ms != no_time && ch->disconnect_ms >= recent)
        moved.disconnect_ms = ch->disconnect_ms;
    else
        covered = std::max<std::int64_t>(covered, ch->disconnect_ms);
    if (ch->open()) step.note_close(t, Cause::takeover, ch->disconnect_ms != no_time, key);
    record.closed_through_ms = std::max<std::int64_t>(record.closed_through_ms, covered);
    if (moved.close_ms == no_time && moved.disconnect_ms == no_time) {
        record.channels.erase(ch);
        return nullptr;
    }
    *ch = std::move(moved);
    return ch;
}

// `era`: key_era() of `ch` for this event (KeyEra::same when ch is null).
inline Status on_connect(ClientRecord& record, Channel* ch, KeyEra era, const Event& event,
                         const Channel::KeyProbe& key, const Options& options, Step& step) {
    const std::int64_t t = event.time_ms;
    Status status = Status::applied;
    if (ch != nullptr) {
        switch (era) {
        case KeyEra::older: return Status::stale;
        case KeyEra::newer:
            record.channels.reserve(record.channels.size() + 1); // may throw: nothing changed yet
            ch = retire_key(record, record.find(key), event.channel_id, t, true, options,
                            step); // (reserve may have moved it)
            break;
        case KeyEra::same: break;
        }
    }
    if (ch != nullptr) {
        if (ch->connected()) return Status::duplicate; // rule 5: one connect per channel
        // The close (or disconnect) came first. Rule 3: if closed, it arrives closed. If it
        // opens now, rule 10 holds for it as for a new channel.
        if (!ch->closed() && t > record.closed_through_ms && !is_superseded(record, t, options)) {
            ch->connect_ms = t; // open now: counted as such, and not a tombstone make_room could drop
            if (!make_room(record, NewChannel::opened, t, options, step)) {
                ch->connect_ms = no_time; // (make_room changed nothing)
                return Status::refused;
            }
            ch = record.find(key); // make_room may have moved it
        }
        if (!event.client_ip.empty()) ch->address.assign(event.client_ip);
        ch->connect_ms = t;
        if (!ch->closed()) {
            if (t <= record.closed_through_ms) {
                close_channel(*ch, record.closed_through_ms, Cause::reconcile, step);
                status = Status::behind_watermark;
            } else if (is_superseded(record, t, options)) {
                close_channel(*ch, record.latest_connect_ms, Cause::takeover, step);
                status = Status::superseded;
            }
        }
    } else {
        // Unknown channel: if it could only arrive closed, there is nothing to remember of it,
        // but it is still a real connect: rule 6 holds for the channels it supersedes.
        if (t <= record.closed_through_ms) {
            take_over(record, nullptr, t, options, step);
            record.latest_connect_ms = std::max<std::int64_t>(record.latest_connect_ms, t);
            return Status::behind_watermark;
        }
        if (is_superseded(record, t, options)) return Status::superseded;
        Channel fresh = make_channel(event, key);
        fresh.connect_ms = t;
        record.channels.reserve(record.channels.size() + 1); // may throw: nothing changed yet
        if (!make_room(record, NewChannel::open, t, options, step)) return Status::refused;
        record.channels.push_back(std::move(fresh));
        ch = &record.channels.back();
    }
    if (ch->closed()) {
        // Arrived closed: if its connect takes the others over, the client went offline when
        // this, its newest connection, closed.
        step.note_close(ch->close_ms, ch->close_cause, ch->disconnect_ms != no_time, *ch);
    } else {
        step.opened_ms = t;
        step.opened_channel = event.channel_id;
        if (end_synthetic(record, t, false, Cause::connect, false, event.channel_id, step))
            ch = record.find(key); // the erase may have moved it
    }
    take_over(record, ch, t, options, step);
    record.latest_connect_ms = std::max<std::int64_t>(record.latest_connect_ms, t);
    return status;
}

// tcpclean, and disconnect (which closes only with Options::close_on_disconnect).
// `era`: key_era() of `ch` for this event (KeyEra::same when ch is null).
inline Status on_close(ClientRecord& record, Channel* ch, KeyEra era, const Event& event, const Channel::KeyProbe& key,
                       const Options& options, Step& step) {
    const std::int64_t t = event.time_ms;
    const bool is_tcpclean = event.type == EventType::tcpclean;
    const bool closes = is_tcpclean || options.close_on_disconnect;
    const Cause cause = is_tcpclean ? Cause::tcpclean : Cause::disconnect;
    if (ch != nullptr) {
        switch (era) {
        case KeyEra::older: return Status::stale;
        case KeyEra::newer:
            record.channels.reserve(record.channels.size() + 1); // may throw: nothing changed yet
            (void)retire_key(record, record.find(key), event.channel_id, t, false, options, step);
            ch = nullptr;
            break;
        case KeyEra::same: break;
        }
    }
    if (ch != nullptr) {
        if (is_tcpclean ? ch->close_cause == Cause::tcpclean : ch->disconnect_ms != no_time)
            return Status::duplicate; // rule 5
        if (!is_tcpclean) ch->disconnect_ms = t;
        if (closes) {
            if (!ch->closed()) {
                close_channel(*ch, t, cause, step); // rule 3 (and rule 4's option)
            } else if (is_tcpclean) {
                // Closed earlier by an estimate (takeover, reconcile, disconnect): the real close
                // replaces it, so that a copy of this tcpclean is a duplicate.
                ch->close_ms = t;
                ch->close_cause = Cause::tcpclean;
            }
        }
        if (!is_tcpclean && ch->closed() && ch->close_ms == record.last_offline_ms && !record.online())
            record.last_offline_graceful = true;
    } else {
        if (t <= record.closed_through_ms) return Status::stale; // its connect arrives closed anyway
        const std::int64_t newest = std::max<std::int64_t>(record.last_event_ms, t);
        if (t < newest - options.tombstone_retention_ms) {
            // Older than the retention window: remember it by the watermark alone.
            record.closed_through_ms = t;
        } else {
            // Rule 3: remembered, so that its connect arrives closed.
            Channel fresh = make_channel(event, key);
            if (is_tcpclean) {
                fresh.close_ms = t;
                fresh.close_cause = Cause::tcpclean;
            } else {
                fresh.disconnect_ms = t;
                if (closes) {
                    fresh.close_ms = t;
                    fresh.close_cause = Cause::disconnect;
                }
            }
            record.channels.reserve(record.channels.size() + 1); // may throw: nothing changed yet
            (void)make_room(record, NewChannel::tombstone, t, options, step);
            record.channels.push_back(std::move(fresh));
        }
    }
    if (closes) (void)end_synthetic(record, t, true, cause, !is_tcpclean, event.channel_id, step);
    return Status::applied;
}

// Rule 14: a close that names no connection (an empty channel id; EMQX before 5.8.6 sends its
// disconnects so). A tcpclean at `t` ends the connection that was live at `t`: it closes every
// connection that started at or before `t` (in MQTT only the newest of them can still have
// been live), and raises the watermark to `t` so that such a connect arriving later arrives
// closed. A disconnect names a session that a newer connection took over: it closes nothing.
inline Status on_keyless_close(ClientRecord& record, const Event& event, Step& step) noexcept {
    if (event.type != EventType::tcpclean) return Status::stale;
    const std::int64_t t = event.time_ms;
    bool changed = false;
    for (std::size_t i = record.channels.size(); i-- > 0;) {
        Channel& ch = record.channels[i];
        if (!ch.open() || ch.connect_ms > t) continue;
        close_channel(ch, t, Cause::tcpclean, step);
        if (ch.synthetic) record.channels.erase(&ch); // it stood for the connection now closed
        changed = true;
    }
    if (t > record.closed_through_ms) {
        record.closed_through_ms = t;
        changed = true;
    }
    return changed ? Status::applied : Status::duplicate;
}

// Turns the before/after states into the outcome's transition (rule 12); on a flip, tells
// `channel` (if given) which channel it is about.
inline Outcome finish(ClientRecord& record, Status status, const Step& step, EdgeChannel* channel = nullptr) noexcept {
    Outcome out;
    out.status = status;
    // A channel that this step opened (step.opened_ms) is still open: nothing after its opening
    // closes it. Else the channels tell.
    const bool now_online = step.opened_ms != no_time || record.online();
    assert(now_online == record.online());
    record.presence = now_online ? Presence::online : Presence::offline;
    if (!step.was_online && now_online) {
        out.transition = Transition::went_online;
        out.transition_ms = step.opened_ms;
        out.cause = step.open_cause;
        if (channel != nullptr) channel->set(step.opened_channel);
    } else if (step.was_online && !now_online) {
        out.transition = Transition::went_offline;
        out.transition_ms = step.offline_ms;
        out.cause = step.offline_cause;
        record.last_offline_ms = step.offline_ms;
        record.last_offline_graceful = step.offline_graceful;
        if (channel != nullptr) *channel = step.offline_channel;
    }
    return out;
}

inline Outcome invalid(std::string_view why) noexcept {
    Outcome out;
    out.status = Status::invalid;
    out.error = why;
    return out;
}

inline Outcome unchanged(Status status) noexcept {
    Outcome out;
    out.status = status;
    return out;
}

// The rest of apply_valid() once the event's channel `ch` (or null) and its era are known. If
// the event changes nothing (stale, refused, ...), `before` (if given) is put back. Always
// inlined: called from two places, it would otherwise be a call on every event's path.
MQTT_PRESENCE_ALWAYS_INLINE inline Outcome decide(ClientRecord& record, Channel* ch, KeyEra era, const Event& event,
                                                  const Channel::KeyProbe& key, const Options& options, Step& step,
                                                  EdgeChannel* channel, ClientRecord* before) {
    const Status status = event.channel_id.empty()           ? on_keyless_close(record, event, step)
                          : event.type == EventType::connect ? on_connect(record, ch, era, event, key, options, step)
                                                             : on_close(record, ch, era, event, key, options, step);
    if (status == Status::duplicate || status == Status::stale || status == Status::refused ||
        (status == Status::superseded && ch == nullptr)) {
        if (before != nullptr) record = std::move(*before);
        return unchanged(status);
    }
    record.last_event_ms = std::max<std::int64_t>(record.last_event_ms, event.time_ms);
    return finish(record, status, step, channel);
}

// Rule 13 retires the old connection of a reused key before the event is decided; if the
// event then changes nothing, neither may the retirement: the record is kept to put back. Only
// for the rare event that retires a key, out of line (the copy may throw: before any change).
MQTT_PRESENCE_NOINLINE inline Outcome decide_keeping(ClientRecord& record, Channel* ch, KeyEra era, const Event& event,
                                                     const Channel::KeyProbe& key, const Options& options, Step& step,
                                                     EdgeChannel* channel) {
    ClientRecord before(record);
    return decide(record, ch, era, event, key, options, step, channel, &before);
}

// apply() for an event that already passed validate(). On a flip, `channel` (if given) tells
// which channel it is about.
// `key`: the event's channel id, encoded once (Channel::KeyProbe(event.channel_id)).
inline Outcome apply_valid(ClientRecord& record, const Event& event, const Channel::KeyProbe& key,
                           const Options& options, EdgeChannel* channel = nullptr) {
    Step step;
    Channel* ch = nullptr;
    if (event.channel_id.empty()) {
        step.was_online = record.online_remembered();
    } else if (record.presence != Presence::unknown) {
        // Remembered by the last change (finish() sets it on every one): the pass stops at the
        // event's channel.
        step.was_online = record.presence == Presence::online;
        assert(step.was_online == record.online());
        ch = record.find(key);
    } else {
        for (Channel& c : record.channels) { // one pass: record.online() and record.find(key)
            step.was_online = step.was_online || c.open();
            if (ch == nullptr && !c.synthetic && c.key.matches(key)) ch = &c;
        }
    }
    const bool is_connect = event.type == EventType::connect;
    const KeyEra era = ch == nullptr ? KeyEra::same : key_era(*ch, event.time_ms, is_connect, options);
    if (era == KeyEra::newer) return decide_keeping(record, ch, era, event, key, options, step, channel);
    return decide(record, ch, era, event, key, options, step, channel, nullptr);
}
inline Outcome apply_valid(ClientRecord& record, const Event& event, const Options& options,
                           EdgeChannel* channel = nullptr) {
    return apply_valid(record, event, Channel::KeyProbe(event.channel_id), options, channel);
}
} // namespace detail

/// Applies one lifecycle event to one client's record: rules 1–7, 9, 10 and 12.
/// Invalid events (see validate(Event)) change nothing. Strong exception guarantee (only
/// std::bad_alloc can be thrown). O(channels of the client); allocates only for a new channel
/// that does not fit inline. Not thread-safe on one record: the storage serialises access.
inline Outcome apply(ClientRecord& record, const Event& event, const Options& options) {
    if (const auto why = validate(event); !why.empty()) return detail::invalid(why);
    return detail::apply_valid(record, event, options);
}

namespace detail {

// reconcile() below; on a flip, `channel` (if given) tells which channel it is about.
inline Outcome reconcile(ClientRecord& record, bool online, std::int64_t as_of_ms, const Options& options,
                         EdgeChannel* channel) {
    if (as_of_ms < 0) return invalid("as_of_ms is negative");
    if (as_of_ms > max_time_ms) return invalid("as_of_ms is after the year 9999");
    Step step;
    step.was_online = record.online();
    step.open_cause = Cause::reconcile;
    if (!online) {
        bool changed = false;
        for (std::size_t i = record.channels.size(); i-- > 0;) {
            Channel& ch = record.channels[i];
            if (!ch.open() || ch.connect_ms > as_of_ms) continue;
            close_channel(ch, as_of_ms, Cause::reconcile, step);
            if (ch.synthetic) record.channels.erase(&ch); // it stood for nothing but the query
            changed = true;
        }
        if (as_of_ms > record.closed_through_ms) {
            record.closed_through_ms = as_of_ms;
            changed = true;
        }
        if (!changed) return unchanged(Status::duplicate);
        return finish(record, Status::applied, step, channel);
    }
    // A real connection that opened at or after T already explains the answer.
    for (const Channel& ch : record.channels)
        if (ch.open() && !ch.synthetic && ch.connect_ms >= as_of_ms) return unchanged(Status::duplicate);
    if (as_of_ms <= record.closed_through_ms || as_of_ms < record.latest_connect_ms) return unchanged(Status::stale);
    for (const Channel& ch : record.channels)
        if (ch.closed() && ch.close_ms >= as_of_ms) return unchanged(Status::stale);
    // Open channels older than T may have closed before T (their closes still in flight): the
    // synthetic channel keeps the client online until a real event at or after T says more.
    if (Channel* existing = find_synthetic(record)) {
        if (existing->connect_ms >= as_of_ms) return unchanged(Status::duplicate);
        existing->connect_ms = as_of_ms; // the newer answer holds until later events
        return finish(record, Status::applied, step, channel);
    }
    Channel synthetic;
    synthetic.connect_ms = as_of_ms;
    synthetic.synthetic = true;
    record.channels.reserve(record.channels.size() + 1);
    (void)make_room(record, NewChannel::synthetic, as_of_ms, options, step); // cannot refuse
    record.channels.push_back(std::move(synthetic));
    step.opened_ms = as_of_ms;
    return finish(record, Status::applied, step, channel);
}

} // namespace detail

/// Rule 8: applies an answer of the broker's synchronous "is it online?" query, valid as of
/// `as_of_ms`. Offline closes every channel connected at or before `as_of_ms` and raises the
/// watermark so that a late connect at or before it arrives closed. Online adds a synthetic
/// channel (unless a real channel opened at or after `as_of_ms` is open) that the client's
/// first real connect or close at or after `as_of_ms` takes over; so a close older than the
/// answer cannot take the client offline. It is stale (ignored) when a newer close or connect
/// is already known.
inline Outcome reconcile(ClientRecord& record, bool online, std::int64_t as_of_ms, const Options& options) {
    return detail::reconcile(record, online, as_of_ms, options, nullptr);
}

/// What prune() did to one record.
struct PruneResult {
    std::size_t tombstones_dropped = 0;
    bool forgotten = false; ///< the record was cleared (the storage then erases it)
};

/// Whether prune(record, now_ms, options) would change anything. O(channels).
[[nodiscard]] inline bool needs_prune(const ClientRecord& record, std::int64_t now_ms,
                                      const Options& options) noexcept {
    if (record.online()) {
        for (const Channel& ch : record.channels)
            if (detail::is_tombstone(ch) && ch.latest_ms() < detail::minus(now_ms, options.tombstone_retention_ms))
                return true;
        return false;
    }
    const std::int64_t last = std::max<std::int64_t>(record.last_event_ms, record.closed_through_ms);
    if (last < detail::minus(now_ms, options.forget_offline_after_ms)) return true;
    for (const Channel& ch : record.channels)
        if (detail::is_tombstone(ch) && ch.latest_ms() < detail::minus(now_ms, options.tombstone_retention_ms))
            return true;
    return false;
}

/// Maintenance (rule 11: "now" is an argument): drops tombstones older than the retention
/// window (the watermark keeps covering them), and forgets a client that is offline and has
/// been silent for longer than Options::forget_offline_after_ms. Never changes online state.
inline PruneResult prune(ClientRecord& record, std::int64_t now_ms, const Options& options) noexcept {
    PruneResult result;
    const bool online = record.online();
    const std::int64_t last = std::max<std::int64_t>(record.last_event_ms, record.closed_through_ms);
    if (!online && last < detail::minus(now_ms, options.forget_offline_after_ms)) {
        result.tombstones_dropped = record.channels.size();
        result.forgotten = true;
        record = ClientRecord{};
        return result;
    }
    result.tombstones_dropped =
            detail::drop_tombstones_before(record, detail::minus(now_ms, options.tombstone_retention_ms), options);
    return result;
}

/// What expire() did to one record.
struct ExpireResult {
    std::size_t channels_closed = 0;
    /// applied when a channel closed (duplicate when none was due, invalid for bad arguments),
    /// with a went_offline transition (cause expiry) when the client went offline.
    Outcome outcome;
};

namespace detail {

// Empty if expire()'s arguments are usable, else which one is not and why.
[[nodiscard]] constexpr std::string_view check_expiry(std::int64_t now_ms, std::int64_t max_age_ms) noexcept {
    if (now_ms < 0) return "now_ms is negative";
    if (now_ms > max_time_ms) return "now_ms is after the year 9999";
    if (max_age_ms < 0) return "max_age_ms is negative";
    if (max_age_ms > max_duration_ms) return "max_age_ms is longer than ten years";
    return {};
}

// Whether an open channel has been silent for longer than max_age_ms at now_ms: its last sign
// of life (connect, or a later disconnect; for a synthetic channel the answer's time) is
// before now_ms - max_age_ms.
[[nodiscard]] inline bool expired(const Channel& ch, std::int64_t now_ms, std::int64_t max_age_ms) noexcept {
    return ch.open() && ch.latest_ms() < now_ms - max_age_ms;
}

// expire() below; on a flip, `channel` (if given) tells which channel it is about.
inline ExpireResult expire(ClientRecord& record, std::int64_t now_ms, std::int64_t max_age_ms,
                           EdgeChannel* channel) noexcept {
    ExpireResult result;
    if (const auto why = check_expiry(now_ms, max_age_ms); !why.empty()) {
        result.outcome = invalid(why);
        return result;
    }
    Step step;
    step.was_online = record.online();
    for (std::size_t i = record.channels.size(); i-- > 0;) {
        Channel& ch = record.channels[i];
        if (!expired(ch, now_ms, max_age_ms)) continue;
        // Dated when it had been silent for max_age_ms, whenever maintenance runs (rule 11).
        close_channel(ch, ch.latest_ms() + max_age_ms, Cause::expiry, step);
        if (ch.synthetic) record.channels.erase(&ch); // it stood for nothing but the query
        ++result.channels_closed;
    }
    result.outcome =
            result.channels_closed == 0 ? unchanged(Status::duplicate) : finish(record, Status::applied, step, channel);
    return result;
}

} // namespace detail

/// Whether expire(record, now_ms, max_age_ms) would close a channel. O(channels).
[[nodiscard]] inline bool needs_expiry(const ClientRecord& record, std::int64_t now_ms,
                                       std::int64_t max_age_ms) noexcept {
    if (!detail::check_expiry(now_ms, max_age_ms).empty()) return false;
    for (const Channel& ch : record.channels)
        if (detail::expired(ch, now_ms, max_age_ms)) return true;
    return false;
}

/// Maintenance (rule 11: "now" is an argument) for fleets whose clients must reconnect
/// periodically: closes every open channel silent for longer than `max_age_ms` at `now_ms`,
/// i.e. whose last sign of life (its connect, or its disconnect when one was seen; for the
/// synthetic channel of a reconcile(online) answer, the answer's time) is before
/// now_ms - max_age_ms. The channel is closed as of its last sign of life + max_age_ms, with
/// cause expiry, and stays as a tombstone, so that a redelivered connect of it is a duplicate
/// and its real tcpclean, if it comes, replaces the estimate; a synthetic channel is removed.
/// When the client goes offline, the outcome reports the edge (cause expiry) at the latest of
/// those times. The watermark is not moved: a connect of another channel, older than the
/// horizon and delivered later, is applied as any connect is. Bad arguments (negative, or
/// beyond the year 9999 or ten years) change nothing: status invalid. O(channels); never
/// allocates.
inline ExpireResult expire(ClientRecord& record, std::int64_t now_ms, std::int64_t max_age_ms) noexcept {
    return detail::expire(record, now_ms, max_age_ms, nullptr);
}

/// A client's presence in detail, as status() reports it.
struct ClientStatus {
    bool online = false;
    std::size_t open_channels = 0;
    /// Online only through a reconcile(online) answer, no real connection known yet.
    bool by_reconcile = false;
    /// The current connection: the open channel with the newest connect ("" if none is known).
    std::string current_channel;
    std::string client_address;
    std::optional<std::int64_t> connected_since_ms; ///< connect time of the current channel
    std::optional<std::int64_t> online_since_ms;    ///< earliest connect among open channels
    std::optional<std::int64_t> last_event_ms;
    std::optional<std::int64_t> last_offline_ms;
    bool last_offline_graceful = false; ///< the close that took it offline followed a disconnect
    std::size_t channels_kept = 0;      ///< channels remembered, tombstones included
};

[[nodiscard]] inline ClientStatus describe(const ClientRecord& record) {
    auto opt = [](std::int64_t t) {
        return t == no_time ? std::optional<std::int64_t>{} : std::optional<std::int64_t>{t};
    };
    ClientStatus status;
    status.channels_kept = record.channels.size();
    for (const Channel& ch : record.channels) {
        if (!ch.open()) continue;
        ++status.open_channels;
        if (!status.online_since_ms || ch.connect_ms < *status.online_since_ms) status.online_since_ms = ch.connect_ms;
    }
    status.online = status.open_channels > 0;
    status.by_reconcile = status.online && record.current() == nullptr;
    if (const Channel* current = record.current()) {
        current->key.append_to(status.current_channel);
        current->address.append_to(status.client_address);
        status.connected_since_ms = current->connect_ms;
    }
    status.last_event_ms = opt(record.last_event_ms);
    status.last_offline_ms = opt(record.last_offline_ms);
    status.last_offline_graceful = record.last_offline_graceful;
    return status;
}

} // namespace mqtt_presence
