#pragma once
// What the libFuzzer targets share: the check macro, the choice of Options from a few input
// bytes, a record digest, the invariants of a store (checked after every change), and the driver
// of the JSON targets (one line per message, every event and reconcile checked, then the state
// saved, loaded, encoded and replayed through ingest_batch and ConcurrentStorage).
// README.md, "Fuzzing", says what each target checks.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mqtt_presence/detail/record_check.hpp>
#include <mqtt_presence/detail/record_codec.hpp>
#include <mqtt_presence/json/alibaba_fields.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

namespace fuzz {

using namespace mqtt_presence;

// --- checks --------------------------------------------------------------------------------

/// Printable form of bytes for a failure message (at most 300 of them).
inline std::string printable(std::string_view text) {
    constexpr std::size_t max_shown = 300;
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < max_shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            constexpr char digits[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0xfU]);
        }
    }
    if (text.size() > max_shown) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

[[noreturn]] inline void fail(const char* file, int line, const char* condition, const std::string& detail) {
    std::fprintf(stderr, "\n%s:%d: invariant failed: %s\n%s\n", file, line, condition, detail.c_str());
    std::fflush(stderr);
    __builtin_trap();
}

/// Aborts (a crash libFuzzer saves) when `condition` is false, printing it and `detail` (an
/// expression evaluated only then).
#define FUZZ_CHECK(condition, detail)                                                                                  \
    do {                                                                                                               \
        if (!(condition)) ::fuzz::fail(__FILE__, __LINE__, #condition, (detail));                                     \
    } while (false)

// --- input ---------------------------------------------------------------------------------

/// The input split at '\n' (a last line without one included; empty lines kept).
inline std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        if (end == std::string_view::npos) {
            lines.push_back(text.substr(start));
            break;
        }
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

/// The store options and the extra operations one input asks for.
struct Choice {
    Options options;
    bool reconcile = false;    ///< after each event, a reconcile(client, online, event time)
    bool maintenance = false;  ///< at the end, expire_silent and prune
    std::int64_t max_age_ms = 0; ///< expire_silent's max_age_ms
    unsigned extra = 0;        ///< target-specific (the simdjson kernel, the tag check)
};

/// Options from up to 9 bytes (the first line of a JSON input, the first bytes of a binary
/// one). Each byte counts from '0', so that "000000000" is the defaults and digits pick the
/// other choices (small caps, no retention, short tolerances...): every choice is valid.
///   0  bits: 1 close_on_disconnect, 2 no takeover, 4 reconcile after each event, 8 maintenance
///   1  max_open_channels   8, 1, 2, 3, 4
///   2  max_tombstones     32, 1, 2, 3, 4
///   3  tombstone_retention_ms   24 h, 0, 1 s, 1 min, 10 min
///   4  takeover_tolerance_ms    60 s, 0, 1 s, 10 min
///   5  key_reuse_gap_ms         0, 1 s, 1 min, 10 min
///   6  forget_offline_after_ms  7 days, 0, 1 min, 1 h
///   7  expire_silent's max_age  3 h, 0, 1 s, 1 min
///   8  target-specific
inline Choice choose(std::string_view bytes) {
    auto pick = [&](std::size_t i, unsigned n) -> unsigned {
        const unsigned b = i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : '0';
        return ((b + 256U - '0') & 0xffU) % n;
    };
    constexpr std::int64_t second = 1000, minute = 60 * second, hour = 60 * minute, day = 24 * hour;
    static constexpr std::uint32_t open_caps[] = {8, 1, 2, 3, 4};
    static constexpr std::uint32_t tombstone_caps[] = {32, 1, 2, 3, 4};
    static constexpr std::int64_t retention[] = {day, 0, second, minute, 10 * minute};
    static constexpr std::int64_t tolerance[] = {minute, 0, second, 10 * minute};
    static constexpr std::int64_t reuse_gap[] = {0, second, minute, 10 * minute};
    static constexpr std::int64_t forget[] = {7 * day, 0, minute, hour};
    static constexpr std::int64_t max_age[] = {3 * hour, 0, second, minute};
    Choice c;
    const unsigned bits = pick(0, 16);
    c.options.close_on_disconnect = (bits & 1U) != 0;
    c.options.takeover = (bits & 2U) == 0;
    c.reconcile = (bits & 4U) != 0;
    c.maintenance = (bits & 8U) != 0;
    c.options.max_open_channels = open_caps[pick(1, 5)];
    c.options.max_tombstones = tombstone_caps[pick(2, 5)];
    c.options.tombstone_retention_ms = retention[pick(3, 5)];
    c.options.takeover_tolerance_ms = tolerance[pick(4, 4)];
    c.options.key_reuse_gap_ms = reuse_gap[pick(5, 4)];
    c.options.forget_offline_after_ms = forget[pick(6, 4)];
    c.max_age_ms = max_age[pick(7, 4)];
    c.extra = pick(8, 256);
    FUZZ_CHECK(validate(c.options).empty(), std::string(validate(c.options)));
    return c;
}

// --- digests -------------------------------------------------------------------------------

/// Everything a record holds, as bytes (its snapshot frame): equal digests, equal records.
inline std::string record_digest(std::string_view client_id, const ClientRecord& record) {
    std::string out;
    detail::snapshot::encode_record(out, client_id, record);
    return out;
}

/// Every record of a store, in client-id order.
template <class Store>
std::string store_digest(const Store& store) {
    std::vector<std::pair<std::string, std::string>> records;
    store.storage().for_each([&](std::string_view id, const ClientRecord& record) {
        records.emplace_back(std::string(id), record_digest(id, record));
    });
    std::sort(records.begin(), records.end());
    std::string out;
    for (const auto& r : records) out += r.second;
    return out;
}

/// The groups with a client online and their counts, as for_each_group reports them; checks
/// that it reports them in byte order, once each, with counts above zero.
template <class Store>
std::map<std::string, std::size_t> reported_groups(const Store& store) {
    std::map<std::string, std::size_t> groups;
    std::string previous;
    bool first = true;
    store.for_each_group([&](std::string_view group, std::size_t online) {
        FUZZ_CHECK(first || previous < group, "for_each_group: \"" + printable(group) + "\" after \"" +
                                                      printable(previous) + "\" (not in byte order, or twice)");
        FUZZ_CHECK(online > 0, "for_each_group: group \"" + printable(group) + "\" with no client online");
        first = false;
        previous.assign(group);
        groups.emplace(std::string(group), online);
    });
    return groups;
}

inline std::string describe(const Outcome& out) {
    return std::string(to_string(out.status)) + "/" + std::string(to_string(out.transition)) + "/" +
           std::string(to_string(out.cause)) + "@" + std::to_string(out.transition_ms) +
           (out.error.empty() ? std::string() : " (" + std::string(out.error) + ")");
}

inline bool same_outcome(const Outcome& a, const Outcome& b) {
    return a.status == b.status && a.transition == b.transition && a.cause == b.cause &&
           a.transition_ms == b.transition_ms && a.error == b.error;
}

inline std::string describe(const Event& e) {
    return "{\"" + printable(e.client_id) + "\", \"" + printable(e.channel_id) + "\", " +
           std::string(to_string(e.type)) + ", " + std::to_string(e.time_ms) + ", \"" + printable(e.client_ip) +
           "\"}";
}

inline bool same_event(const Event& a, const Event& b) {
    return a.client_id == b.client_id && a.channel_id == b.channel_id && a.type == b.type &&
           a.time_ms == b.time_ms && a.client_ip == b.client_ip;
}

inline std::string describe(const ParseResult& r) {
    return r.event ? "event " + describe(*r.event) : "refused: " + printable(r.error);
}

/// Same success, same event, same error text.
inline bool same_result(const ParseResult& a, const ParseResult& b) {
    if (a.event.has_value() != b.event.has_value()) return false;
    if (a.event) return same_event(*a.event, *b.event) && a.error.empty() && b.error.empty();
    return a.error == b.error;
}

// --- invariants ----------------------------------------------------------------------------

/// What a record read back from outside (a snapshot, the Redis encoding) must satisfy, and what
/// every record a store holds must: detail::check_record under the store's options, and the
/// channel counts of rule 10. Open real channels are at most max_open_channels; the other real
/// channels (tombstones, half-known) at most max_tombstones after the channel that was added
/// last made room, but channels closed since (by takeover, a key-less tcpclean, a reconcile,
/// expiry) stay until the next new channel makes room: so the real channels together are at
/// most max_open_channels + max_tombstones, and one synthetic channel may come on top.
/// `from_events`: the record was built by events and reconciles only (not read back), so its
/// newest connect is at least every real channel's connect (rule 6 compares against it) and
/// the bound above holds without the synthetic channel's slot.
inline void check_record_invariants(std::string_view client_id, const ClientRecord& record, const Options& options,
                                    bool from_events) {
    const auto where = [&] { return "client \"" + printable(client_id) + "\""; };
    FUZZ_CHECK(detail::check_id(client_id, true).empty(), where() + ": " + std::string(detail::check_id(client_id, true)));
    const detail::RecordProblem problem = detail::check_record(record, options);
    FUZZ_CHECK(!problem, where() + ", channel " + std::to_string(problem.channel) + ": " + problem.what);
    std::size_t open_real = 0, synthetic = 0, others = 0;
    for (const Channel& ch : record.channels) {
        FUZZ_CHECK(ch.open() == (ch.connected() && !ch.closed()), where() + ": a channel's open() disagrees");
        FUZZ_CHECK(ch.closed() == (ch.close_ms != no_time), where() + ": close time and close cause disagree");
        if (ch.synthetic) {
            FUZZ_CHECK(ch.open(), where() + ": a synthetic channel that is not open");
            ++synthetic;
        } else if (ch.open()) {
            ++open_real;
            if (from_events)
                FUZZ_CHECK(ch.connect_ms <= record.latest_connect_ms,
                           where() + ": an open channel's connect " + std::to_string(ch.connect_ms) +
                                   " is newer than latest_connect_ms " +
                                   std::to_string(static_cast<std::int64_t>(record.latest_connect_ms)));
        } else {
            ++others;
            if (from_events && ch.connected())
                FUZZ_CHECK(ch.connect_ms <= record.latest_connect_ms,
                           where() + ": a channel's connect is newer than latest_connect_ms");
        }
    }
    FUZZ_CHECK(record.online() == (open_real + synthetic > 0), where() + ": online() disagrees with its channels");
    FUZZ_CHECK(record.open_channels() == open_real + synthetic, where() + ": open_channels() miscounts");
    FUZZ_CHECK(synthetic <= 1, where() + ": " + std::to_string(synthetic) + " synthetic channels");
    FUZZ_CHECK(open_real <= options.max_open_channels,
               where() + ": " + std::to_string(open_real) + " open channels, max_open_channels " +
                       std::to_string(options.max_open_channels));
    // (A record read back may hold one real channel more, in the synthetic channel's place:
    // detail::check_record allows max_record_channels() channels of any kind.)
    FUZZ_CHECK(open_real + others + (from_events ? 0U : synthetic) <=
                       std::size_t{options.max_open_channels} + options.max_tombstones + (from_events ? 0U : 1U),
               where() + ": " + std::to_string(open_real) + " open and " + std::to_string(others) +
                       " other channels, caps " + std::to_string(options.max_open_channels) + " + " +
                       std::to_string(options.max_tombstones));
    FUZZ_CHECK(!record.empty(), where() + ": an empty record is kept");
}

/// The store as a whole: size() and online_count() against a recount of the records, every
/// record's invariants, is_online() and for_each_online() per client, the group counts
/// (online_count(group), for_each_group, for_each_online(group)) against a recount.
template <class Store>
void check_store(const Store& store, bool from_events) {
    const Options& options = store.options();
    std::size_t records = 0;
    std::map<std::string, bool> online_of;
    std::map<std::string, std::size_t> groups; // online clients per group, recounted
    std::set<std::string> all_groups;
    store.storage().for_each([&](std::string_view id, const ClientRecord& record) {
        ++records;
        check_record_invariants(id, record, options, from_events);
        const bool fresh = online_of.emplace(std::string(id), record.online()).second;
        FUZZ_CHECK(fresh, "for_each visits client \"" + printable(id) + "\" twice");
        all_groups.emplace(group_of(id));
        if (record.online()) ++groups[std::string(group_of(id))];
    });
    FUZZ_CHECK(records == store.size(), "size() " + std::to_string(store.size()) + ", records " + std::to_string(records));
    std::size_t online = 0;
    for (const auto& [id, on] : online_of) {
        online += on ? 1 : 0;
        FUZZ_CHECK(store.is_online(id) == on, "is_online(\"" + printable(id) + "\") disagrees with its record");
    }
    std::set<std::string> listed;
    store.for_each_online([&](std::string_view id) {
        FUZZ_CHECK(listed.emplace(id).second, "for_each_online lists \"" + printable(id) + "\" twice");
        const auto it = online_of.find(std::string(id));
        FUZZ_CHECK(it != online_of.end() && it->second, "for_each_online lists \"" + printable(id) + "\", not online");
    });
    FUZZ_CHECK(listed.size() == online, "for_each_online lists " + std::to_string(listed.size()) + " of " +
                                                std::to_string(online) + " online clients");
    FUZZ_CHECK(store.online_count() == online,
               "online_count() " + std::to_string(store.online_count()) + ", recount " + std::to_string(online));
    FUZZ_CHECK(reported_groups(store) == groups, "for_each_group disagrees with a recount of the records");
    for (const std::string& group : all_groups) {
        const auto it = groups.find(group);
        const std::size_t expected = it == groups.end() ? 0 : it->second;
        FUZZ_CHECK(store.online_count(group) == expected,
                   "online_count(\"" + printable(group) + "\") " + std::to_string(store.online_count(group)) +
                           ", recount " + std::to_string(expected));
        std::size_t in_group = 0;
        store.for_each_online(group, [&](std::string_view id) {
            ++in_group;
            FUZZ_CHECK(group_of(id) == group, "for_each_online(group) lists a client of another group");
        });
        FUZZ_CHECK(in_group == expected, "for_each_online(\"" + printable(group) + "\") lists " +
                                                 std::to_string(in_group) + ", recount " + std::to_string(expected));
    }
}

/// status(client_id) against the client's record.
template <class Store>
void check_status(const Store& store, std::string_view client_id) {
    const std::optional<ClientStatus> status = store.status(client_id);
    std::optional<ClientRecord> record;
    store.storage().visit(client_id, [&](const ClientRecord* r) {
        if (r != nullptr) record = *r;
    });
    const auto where = [&] { return "status(\"" + printable(client_id) + "\")"; };
    FUZZ_CHECK(status.has_value() == record.has_value(), where() + " and the storage disagree on whether it is known");
    if (!status) return;
    FUZZ_CHECK(status->online == record->online(), where() + ".online");
    FUZZ_CHECK(status->online == store.is_online(client_id), where() + ".online disagrees with is_online");
    FUZZ_CHECK(status->open_channels == record->open_channels(), where() + ".open_channels");
    FUZZ_CHECK(status->channels_kept == record->channels.size(), where() + ".channels_kept");
    FUZZ_CHECK(status->online_since_ms.has_value() == status->online, where() + ".online_since_ms");
    FUZZ_CHECK(status->by_reconcile == (status->online && record->current() == nullptr), where() + ".by_reconcile");
    const bool current = status->online && !status->by_reconcile;
    FUZZ_CHECK(status->connected_since_ms.has_value() == current, where() + ".connected_since_ms");
    FUZZ_CHECK(current ? !status->current_channel.empty() : status->current_channel.empty(),
               where() + ".current_channel \"" + printable(status->current_channel) + "\"");
    if (current) {
        FUZZ_CHECK(*status->online_since_ms <= *status->connected_since_ms, where() + ": online since after connected since");
        const Channel* ch = record->find(status->current_channel);
        FUZZ_CHECK(ch != nullptr && ch->open(), where() + ".current_channel is not an open channel of the record");
    }
    FUZZ_CHECK(status->last_event_ms == (record->last_event_ms == no_time
                                                 ? std::optional<std::int64_t>{}
                                                 : std::optional<std::int64_t>{record->last_event_ms}),
               where() + ".last_event_ms");
}

// --- a checked store -----------------------------------------------------------------------

/// One thing the store was asked to do, kept to replay it on other stores.
struct Op {
    enum Kind : std::uint8_t { ingest, reconcile, expire, prune };
    Kind kind = ingest;
    Event event;               ///< ingest: the event; reconcile: event.client_id
    bool online = false;       ///< reconcile: the answer
    std::int64_t time_ms = 0;  ///< reconcile: as_of_ms; expire, prune: now_ms
    std::int64_t max_age_ms = 0; ///< expire
    Outcome outcome;           ///< ingest, reconcile: what the checked store said
    std::size_t counts[2] = {}; ///< expire: channels_closed, clients_gone_offline; prune: tombstones_dropped, clients_forgotten
};

struct EdgeCopy {
    std::string client_id;
    bool online = false;
    std::int64_t time_ms = no_time;
    std::string channel_id;
    Cause cause = Cause::none;
};

/// A ClientStatusStore<InMemoryStorage> whose every change is checked: the outcome against the
/// change of the state (nothing changes unless the outcome says so; a transition is exactly a
/// flip of is_online, of online_count() and of the group's count, and exactly one hook call with
/// its values), then the invariants of the whole store and status() of the client.
class CheckedStore {
public:
    /// `from_events` false: the state will be loaded from a snapshot (check_record_invariants).
    explicit CheckedStore(const Options& options, bool from_events = true)
            : m_store(options), m_from_events(from_events) {
        m_store.on_transition([this](const Edge& e) {
            m_edges.push_back(EdgeCopy{std::string(e.client_id), e.online, e.time_ms, std::string(e.channel_id), e.cause});
        });
    }

    ClientStatusStore<>& store() noexcept { return m_store; }
    const std::vector<Op>& ops() const noexcept { return m_ops; }
    std::int64_t newest_ms() const noexcept { return m_newest_ms; }

    Outcome ingest(const Event& event) {
        const Outcome out = change(event.client_id, [&] { return m_store.ingest(event); });
        if (out.status == Status::invalid) {
            FUZZ_CHECK(out.error == validate(event), "ingest: invalid with \"" + std::string(out.error) +
                                                              "\", validate says \"" + std::string(validate(event)) + "\"");
        } else {
            m_newest_ms = std::max(m_newest_ms, event.time_ms);
            if (out.went_online() && out.cause == Cause::connect)
                FUZZ_CHECK(m_last_edge.channel_id == event.channel_id,
                           "online edge names channel \"" + printable(m_last_edge.channel_id) + "\", the connect's is \"" +
                                   printable(event.channel_id) + "\"");
        }
        if (out.went_online()) FUZZ_CHECK(out.cause == Cause::connect, "an event's online edge with cause " +
                                                                                std::string(to_string(out.cause)));
        Op op;
        op.kind = Op::ingest;
        op.event = event;
        op.outcome = out;
        m_ops.push_back(std::move(op));
        return out;
    }

    Outcome reconcile(std::string_view client_id, bool online, std::int64_t as_of_ms) {
        const Outcome out = change(client_id, [&] { return m_store.reconcile(client_id, online, as_of_ms); });
        if (out.transition != Transition::none) {
            FUZZ_CHECK(out.cause == Cause::reconcile, "reconcile's edge with cause " + std::string(to_string(out.cause)));
            FUZZ_CHECK(out.went_online() == online, "reconcile(" + std::string(online ? "online" : "offline") +
                                                             ") flipped the other way");
            if (online) FUZZ_CHECK(m_last_edge.channel_id.empty(), "reconcile's online edge names a channel");
        }
        Op op;
        op.kind = Op::reconcile;
        op.event.client_id.assign(client_id);
        op.online = online;
        op.time_ms = as_of_ms;
        op.outcome = out;
        m_ops.push_back(std::move(op));
        return out;
    }

    /// expire_silent(now_ms, max_age_ms), checked: one offline edge (cause expiry) per client
    /// gone offline, and the counts follow; the state changes iff a channel closed.
    ExpiryReport expire(std::int64_t now_ms, std::int64_t max_age_ms) {
        const std::string before = store_digest(m_store);
        const std::size_t online_before = m_store.online_count();
        const std::size_t size_before = m_store.size();
        m_edges.clear();
        const ExpiryReport report = m_store.expire_silent(now_ms, max_age_ms);
        FUZZ_CHECK(online_before - m_store.online_count() == report.clients_gone_offline,
                   "expire_silent: online_count() fell by " + std::to_string(online_before - m_store.online_count()) +
                           ", clients_gone_offline " + std::to_string(report.clients_gone_offline));
        FUZZ_CHECK(m_edges.size() == report.clients_gone_offline, "expire_silent: one edge per client gone offline");
        for (const EdgeCopy& e : m_edges)
            FUZZ_CHECK(!e.online && e.cause == Cause::expiry, "expire_silent: an edge that is not an expiry");
        FUZZ_CHECK((store_digest(m_store) != before) == (report.channels_closed > 0),
                   "expire_silent: channels_closed " + std::to_string(report.channels_closed) +
                           " disagrees with the change of the state");
        FUZZ_CHECK(report.clients_examined == size_before && m_store.size() == size_before,
                   "expire_silent: clients_examined, or a client forgotten");
        check_store(m_store, m_from_events);
        Op op;
        op.kind = Op::expire;
        op.time_ms = now_ms;
        op.max_age_ms = max_age_ms;
        op.counts[0] = report.channels_closed;
        op.counts[1] = report.clients_gone_offline;
        m_ops.push_back(std::move(op));
        return report;
    }

    /// prune(now_ms), checked: no edge, nobody's state changes, forgotten clients are gone.
    PruneReport prune(std::int64_t now_ms) {
        std::set<std::string> online_before;
        m_store.for_each_online([&](std::string_view id) { online_before.emplace(id); });
        const std::size_t size_before = m_store.size();
        const std::string before = store_digest(m_store);
        m_edges.clear();
        const PruneReport report = m_store.prune(now_ms);
        FUZZ_CHECK(m_edges.empty(), "prune reported an edge");
        FUZZ_CHECK(report.clients_examined == size_before, "prune: clients_examined");
        FUZZ_CHECK(m_store.size() == size_before - report.clients_forgotten, "prune: clients_forgotten");
        FUZZ_CHECK((store_digest(m_store) != before) == (report.tombstones_dropped + report.clients_forgotten > 0),
                   "prune: its report disagrees with the change of the state");
        std::set<std::string> online_after;
        m_store.for_each_online([&](std::string_view id) { online_after.emplace(id); });
        FUZZ_CHECK(online_after == online_before, "prune changed who is online");
        check_store(m_store, m_from_events);
        Op op;
        op.kind = Op::prune;
        op.time_ms = now_ms;
        op.counts[0] = report.tombstones_dropped;
        op.counts[1] = report.clients_forgotten;
        m_ops.push_back(std::move(op));
        return report;
    }

private:
    template <class Do>
    Outcome change(std::string_view client_id, Do&& what) {
        const std::string before = store_digest(m_store);
        const bool was_online = m_store.is_online(client_id);
        const std::size_t online_before = m_store.online_count();
        const std::string group(group_of(client_id));
        const std::size_t group_before = m_store.online_count(group);
        const Counters counters_before = m_store.counters();
        m_edges.clear();
        const Outcome out = what();
        const std::string after = store_digest(m_store);
        const auto where = [&] { return "client \"" + printable(client_id) + "\", outcome " + describe(out) + ": "; };
        FUZZ_CHECK((out.status == Status::invalid) != out.error.empty(), where() + "error text and status disagree");
        // Nothing changes unless the outcome says so. (superseded and behind_watermark are
        // changed() but may change nothing: a connect of a channel the record does not hold,
        // arriving closed, leaves nothing to remember.)
        if (!out.changed()) FUZZ_CHECK(after == before, where() + "the state changed");
        if (out.status == Status::applied) FUZZ_CHECK(after != before, where() + "nothing changed");
        const bool now_online = m_store.is_online(client_id);
        const int delta = out.went_online() ? 1 : out.went_offline() ? -1 : 0;
        switch (out.transition) {
        case Transition::none:
            FUZZ_CHECK(now_online == was_online, where() + "the client flipped without a transition");
            FUZZ_CHECK(out.cause == Cause::none && out.transition_ms == no_time, where() + "cause or time without a flip");
            break;
        case Transition::went_online: FUZZ_CHECK(!was_online && now_online, where() + "no such flip"); break;
        case Transition::went_offline: FUZZ_CHECK(was_online && !now_online, where() + "no such flip"); break;
        }
        if (out.transition != Transition::none) {
            FUZZ_CHECK(out.changed(), where() + "a flip by an event that changed nothing");
            FUZZ_CHECK(out.cause != Cause::none, where() + "a flip without a cause");
            // (A snapshot or a Redis record may carry times up to PackedTime::max, after the
            // year 9999 that events stop at: a loaded state may flip as late.)
            const std::int64_t latest = m_from_events ? max_time_ms : detail::PackedTime::max;
            FUZZ_CHECK(out.transition_ms >= 0 && out.transition_ms <= latest, where() + "flip time out of range");
        }
        FUZZ_CHECK(static_cast<std::int64_t>(m_store.online_count()) - static_cast<std::int64_t>(online_before) == delta,
                   where() + "online_count() went from " + std::to_string(online_before) + " to " +
                           std::to_string(m_store.online_count()));
        FUZZ_CHECK(static_cast<std::int64_t>(m_store.online_count(group)) - static_cast<std::int64_t>(group_before) == delta,
                   where() + "online_count(group) went from " + std::to_string(group_before) + " to " +
                           std::to_string(m_store.online_count(group)));
        FUZZ_CHECK(m_edges.size() == (delta != 0 ? 1U : 0U),
                   where() + std::to_string(m_edges.size()) + " hook calls for one operation");
        if (!m_edges.empty()) {
            const EdgeCopy& e = m_edges.front();
            FUZZ_CHECK(e.client_id == client_id && e.online == out.went_online() && e.time_ms == out.transition_ms &&
                               e.cause == out.cause,
                       where() + "the hook's edge differs from the outcome");
            FUZZ_CHECK(e.channel_id.empty() || detail::check_id(e.channel_id, false).empty(),
                       where() + "the hook's edge names an impossible channel \"" + printable(e.channel_id) + "\"");
            m_last_edge = e;
        }
        const Counters c = m_store.counters();
        if (m_from_events) // (a loaded state's online clients were never counted as flips)
            FUZZ_CHECK(c.went_online - c.went_offline == m_store.online_count(),
                       where() + "went_online - went_offline differs from online_count()");
        FUZZ_CHECK(c.went_online - counters_before.went_online == (delta > 0 ? 1U : 0U) &&
                           c.went_offline - counters_before.went_offline == (delta < 0 ? 1U : 0U),
                   where() + "counters() miscount the flip");
        check_store(m_store, m_from_events);
        check_status(m_store, client_id);
        return out;
    }

    ClientStatusStore<> m_store;
    bool m_from_events;
    std::vector<EdgeCopy> m_edges;
    EdgeCopy m_last_edge;
    std::vector<Op> m_ops;
    std::int64_t m_newest_ms = 0;
};

/// A few events about a client whose record came from outside (a snapshot, the Redis
/// encoding), around its times: copies of its channels' connects, closes of its first channel,
/// a new connection opened, disconnected and closed, an old connect, a key-less close.
inline std::vector<Event> probe_events(std::string_view client_id, const ClientRecord& record) {
    std::int64_t t = 0;
    for (const std::int64_t known : {std::int64_t{record.last_event_ms}, std::int64_t{record.latest_connect_ms},
                                     std::int64_t{record.closed_through_ms}})
        t = std::max(t, known);
    const auto at = [&](std::int64_t delta) { return std::clamp<std::int64_t>(t + delta, 0, max_time_ms); };
    const std::string id(client_id);
    std::vector<Event> events;
    detail::CompactString<16>::Scratch scratch;
    for (const Channel& ch : record.channels) {
        if (ch.synthetic) continue;
        const std::string key(ch.key.view(scratch));
        events.push_back(Event{id, key, EventType::connect, ch.connected() ? std::int64_t{ch.connect_ms} : at(0), ""});
        if (events.size() >= 3) break;
    }
    if (!events.empty()) events.push_back(Event{id, events.front().channel_id, EventType::tcpclean, at(1), ""});
    events.push_back(Event{id, "probe-1", EventType::connect, at(2), "192.0.2.1:1"});
    events.push_back(Event{id, "probe-1", EventType::disconnect, at(3), ""});
    events.push_back(Event{id, "probe-2", EventType::connect, at(-3600 * 1000), ""});
    events.push_back(Event{id, "", EventType::tcpclean, at(4), ""});
    events.push_back(Event{id, "probe-1", EventType::tcpclean, at(5), ""});
    events.push_back(Event{id, "probe-3", EventType::connect, at(6), ""});
    return events;
}

// --- whole-state checks --------------------------------------------------------------------

/// The state saved as a snapshot and loaded into a new store with the same options: the same
/// records, counts and groups; the metadata back.
template <class Store>
void check_snapshot_round_trip(const Store& store, bool from_events, const std::string& metadata = "offset 42") {
    std::stringstream stream;
    const std::uint64_t written = store.save_snapshot(stream, metadata);
    FUZZ_CHECK(written == store.size(), "save_snapshot wrote " + std::to_string(written) + " of " +
                                                std::to_string(store.size()) + " records");
    const std::string bytes = stream.str();
    ClientStatusStore<> loaded(store.options());
    std::istringstream in(bytes);
    SnapshotInfo info;
    try {
        info = loaded.load_snapshot(in);
    } catch (const std::exception& e) {
        FUZZ_CHECK(false, std::string("a saved state does not load: ") + e.what());
    }
    FUZZ_CHECK(info.records == written && info.metadata == metadata, "load_snapshot's info");
    FUZZ_CHECK(in.peek() == std::char_traits<char>::eof(), "load_snapshot left bytes of the snapshot unread");
    FUZZ_CHECK(store_digest(loaded) == store_digest(store), "a saved and loaded state differs");
    FUZZ_CHECK(loaded.online_count() == store.online_count(), "online_count() after loading");
    FUZZ_CHECK(reported_groups(loaded) == reported_groups(store), "group counts after loading");
    check_store(loaded, from_events);
}

/// Every record through the Redis encoding (detail/record_codec.hpp) and back.
template <class Store>
void check_record_codec(const Store& store) {
    store.storage().for_each([&](std::string_view id, const ClientRecord& record) {
        const std::string bytes = detail::record_codec::encode_record(record);
        try {
            const ClientRecord back = detail::record_codec::decode_record(bytes, store.options());
            FUZZ_CHECK(record_digest(id, back) == record_digest(id, record), "a record changed through the Redis encoding");
        } catch (const std::exception& e) {
            FUZZ_CHECK(false, "the Redis encoding of client \"" + printable(id) + "\" does not decode: " + e.what());
        }
    });
}

// Runs a non-ingest op on `store` and checks that it ends as it did on the checked store.
template <class Store>
void replay_other(Store& store, const Op& op, const char* which) {
    switch (op.kind) {
    case Op::ingest: break;
    case Op::reconcile: {
        const Outcome out = store.reconcile(op.event.client_id, op.online, op.time_ms);
        FUZZ_CHECK(same_outcome(out, op.outcome), std::string(which) + ": reconcile gave " + describe(out) + ", first " +
                                                          describe(op.outcome));
        break;
    }
    case Op::expire: {
        const ExpiryReport r = store.expire_silent(op.time_ms, op.max_age_ms);
        FUZZ_CHECK(r.channels_closed == op.counts[0] && r.clients_gone_offline == op.counts[1],
                   std::string(which) + ": expire_silent reports otherwise");
        break;
    }
    case Op::prune: {
        const PruneReport r = store.prune(op.time_ms);
        FUZZ_CHECK(r.tombstones_dropped == op.counts[0] && r.clients_forgotten == op.counts[1],
                   std::string(which) + ": prune reports otherwise");
        break;
    }
    }
}

/// The operations again: over a new store through ingest_batch (consecutive events as one batch,
/// the other operations in between) and over a ClientStatusStore<ConcurrentStorage> one by one:
/// the same outcomes, in order, and the same final state.
inline void check_replays(CheckedStore& checked) {
    const std::vector<Op>& ops = checked.ops();
    const Options& options = checked.store().options();
    const std::string expected = store_digest(checked.store());
    {
        ClientStatusStore<> batch(options);
        std::size_t next = 0; // the op whose outcome comes next
        auto on_outcome = [&](const Event& event, const Outcome& out) {
            FUZZ_CHECK(next < ops.size() && ops[next].kind == Op::ingest, "ingest_batch reported an extra outcome");
            FUZZ_CHECK(same_outcome(out, ops[next].outcome), "ingest_batch: " + describe(event) + " gave " + describe(out) +
                                                                     ", ingest gave " + describe(ops[next].outcome));
            ++next;
        };
        std::vector<Event> pending;
        for (std::size_t i = 0; i <= ops.size(); ++i) {
            if (i < ops.size() && ops[i].kind == Op::ingest) {
                pending.push_back(ops[i].event);
                continue;
            }
            batch.ingest_batch(pending.begin(), pending.end(), on_outcome);
            pending.clear();
            FUZZ_CHECK(next == i, "ingest_batch skipped an outcome");
            if (i == ops.size()) break;
            replay_other(batch, ops[i], "after ingest_batch");
            ++next;
        }
        FUZZ_CHECK(store_digest(batch) == expected, "ingest_batch ends in another state than ingest");
        FUZZ_CHECK(batch.online_count() == checked.store().online_count(), "ingest_batch: online_count()");
    }
    {
        ClientStatusStore<ConcurrentStorage> concurrent(options, ConcurrentStorage(4));
        for (const Op& op : ops) {
            if (op.kind != Op::ingest) {
                replay_other(concurrent, op, "ConcurrentStorage");
                continue;
            }
            const Outcome out = concurrent.ingest(op.event);
            FUZZ_CHECK(same_outcome(out, op.outcome), "ConcurrentStorage: " + describe(out) + ", InMemoryStorage: " +
                                                              describe(op.outcome));
        }
        FUZZ_CHECK(store_digest(concurrent) == expected, "ConcurrentStorage ends in another state");
        check_store(concurrent, true);
    }
}

/// What every input of the event targets ends with: the state saved and loaded, every record
/// through the Redis encoding, the operations replayed over ingest_batch and ConcurrentStorage.
inline void check_final_state(CheckedStore& checked) {
    check_snapshot_round_trip(checked.store(), true);
    check_record_codec(checked.store());
    check_replays(checked);
}

// --- the JSON targets' driver --------------------------------------------------------------

/// Runs one input of a JSON target: the first line chooses the options (choose(); `adjust`
/// may change them, e.g. aws_iot_options), every other line goes to `parse(line, choice)`
/// (returning a ParseResult, after its own checks); each event parsed must pass validate()
/// and is ingested, checked, and followed by a checked reconcile when the choice asks. Then
/// maintenance when asked, and check_final_state.
template <class Parse, class Adjust>
void run_json_input(const std::uint8_t* data, std::size_t size, Parse&& parse, Adjust&& adjust) {
    const std::vector<std::string_view> lines = split_lines(std::string_view(reinterpret_cast<const char*>(data), size));
    if (lines.empty()) return;
    Choice choice = choose(lines.front());
    choice.options = adjust(choice.options);
    FUZZ_CHECK(validate(choice.options).empty(), "adjusted options invalid");
    CheckedStore checked(choice.options);
    for (std::size_t i = 1; i < lines.size(); ++i) {
        const ParseResult result = parse(lines[i], choice);
        FUZZ_CHECK(result.event.has_value() == result.error.empty(), "a result with both or neither of event and error");
        if (!result.event) {
            FUZZ_CHECK(result.error != "malformed JSON",
                       "refused as malformed JSON, but the syntax check finds nothing wrong: " + printable(lines[i]));
            continue;
        }
        const Event& event = *result.event;
        FUZZ_CHECK(validate(event).empty(), "a parsed event the store refuses (" + std::string(validate(event)) +
                                                    "): " + describe(event) + " from " + printable(lines[i]));
        checked.ingest(event);
        if (choice.reconcile) checked.reconcile(event.client_id, (lines[i].size() & 1U) != 0, event.time_ms);
    }
    if (choice.maintenance) {
        (void)checked.expire(checked.newest_ms(), choice.max_age_ms);
        (void)checked.prune(checked.newest_ms());
    }
    check_final_state(checked);
}

/// The reusing and throwing forms of an adapter against its try_ form: parse(json, event,
/// error) with an event holding the previous line's values gives the same result (and, when
/// `cleared_on_failure`, leaves the event cleared after a refusal); parse(json) returns the same
/// event or throws ParseError("mqtt_presence: " + the same error).
template <class Reuse, class Throwing>
void check_other_forms(std::string_view line, const ParseResult& reference, Event& reused, Reuse&& reuse,
                       Throwing&& throwing, bool cleared_on_failure) {
    std::string error = "stale error";
    const bool ok = reuse(line, reused, error);
    FUZZ_CHECK(ok == reference.event.has_value(), "the reusing form disagrees on success: " + printable(line));
    if (ok) {
        FUZZ_CHECK(same_event(reused, *reference.event), "the reusing form gives " + describe(reused) + ", try_ " +
                                                                 describe(*reference.event));
    } else {
        FUZZ_CHECK(error == reference.error, "the reusing form says \"" + printable(error) + "\", try_ \"" +
                                                     printable(reference.error) + "\"");
        if (cleared_on_failure)
            FUZZ_CHECK(same_event(reused, Event{}), "the event is not cleared after a refusal: " + describe(reused));
    }
    try {
        const Event e = throwing(line);
        FUZZ_CHECK(reference.event && same_event(e, *reference.event), "the throwing form returned " + describe(e));
    } catch (const ParseError& e) {
        FUZZ_CHECK(!reference.event && e.what() == "mqtt_presence: " + reference.error,
                   std::string("the throwing form threw \"") + printable(e.what()) + "\"");
    }
}

/// An adapter's try_ form, with its reusing and throwing forms checked against it
/// (check_other_forms; the reused event persists from line to line).
template <class TryParse, class Reuse, class Throwing>
ParseResult parse_with_adapter(std::string_view line, TryParse&& try_parse, Reuse&& reuse, Throwing&& throwing,
                               bool cleared_on_failure) {
    static Event reused; // one per adapter: each passes its own lambdas
    ParseResult result = try_parse(line);
    check_other_forms(line, result, reused, reuse, throwing, cleared_on_failure);
    return result;
}

/// A connection key written in decimal, as the AWS, EMQX and Azure adapters write theirs.
inline bool is_decimal_key(std::string_view key) {
    if (key.empty() || key.size() > 20 || (key.size() > 1 && key[0] == '0')) return false;
    for (const char c : key)
        if (c < '0' || c > '9') return false;
    return true;
}

} // namespace fuzz
