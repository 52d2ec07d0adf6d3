#pragma once
// ClientStatusStore<Storage>: options + storage + counters + queries. It decides nothing about
// presence itself: every change goes through the rules (rules.hpp) inside storage.update().

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "event.hpp"
#include "rules.hpp"
#include "storage/concept.hpp"
#include "storage/in_memory.hpp"

namespace mqtt_presence {

/// How many events (and reconcile calls) ended how. Plain numbers: read them between calls.
struct Counters {
    std::uint64_t events = 0;           ///< ingest() calls
    std::uint64_t applied = 0;          ///< Status::applied
    std::uint64_t superseded = 0;       ///< Status::superseded
    std::uint64_t behind_watermark = 0; ///< Status::behind_watermark
    std::uint64_t duplicates = 0;       ///< Status::duplicate
    std::uint64_t stale = 0;            ///< Status::stale
    std::uint64_t refused = 0;          ///< Status::refused
    std::uint64_t invalid = 0;          ///< Status::invalid
    std::uint64_t reconciles = 0;       ///< reconcile() calls
    std::uint64_t went_online = 0;      ///< offline→online flips (events and reconciles)
    std::uint64_t went_offline = 0;     ///< online→offline flips (events and reconciles)
};

namespace detail {

enum Tally : std::size_t {
    tally_events,
    tally_applied,
    tally_superseded,
    tally_behind_watermark,
    tally_duplicates,
    tally_stale,
    tally_refused,
    tally_invalid,
    tally_reconciles,
    tally_went_online,
    tally_went_offline,
    tally_count
};

inline Counters to_counters(const std::uint64_t (&v)[tally_count]) noexcept {
    Counters c;
    c.events = v[tally_events];
    c.applied = v[tally_applied];
    c.superseded = v[tally_superseded];
    c.behind_watermark = v[tally_behind_watermark];
    c.duplicates = v[tally_duplicates];
    c.stale = v[tally_stale];
    c.refused = v[tally_refused];
    c.invalid = v[tally_invalid];
    c.reconciles = v[tally_reconciles];
    c.went_online = v[tally_went_online];
    c.went_offline = v[tally_went_offline];
    return c;
}

// The store's counters and online count for a single-threaded storage: plain numbers.
template <bool Concurrent>
class Tallies {
public:
    void add(Tally which) noexcept { ++m_values[which]; }
    void add_online(std::int64_t delta) noexcept { m_online += delta; }
    [[nodiscard]] Counters read() const noexcept { return to_counters(m_values); }
    [[nodiscard]] std::int64_t online() const noexcept { return m_online; }

private:
    std::uint64_t m_values[tally_count]{};
    std::int64_t m_online = 0;
};

// For a concurrent storage: striped relaxed atomics, one cache line per stripe and a stripe
// per thread (modulo), so that ingesting threads do not bounce one line between their cores.
template <>
class Tallies<true> {
public:
    void add(Tally which) noexcept { stripe().values[which].fetch_add(1, std::memory_order_relaxed); }
    void add_online(std::int64_t delta) noexcept { stripe().online.fetch_add(delta, std::memory_order_relaxed); }
    [[nodiscard]] Counters read() const noexcept {
        std::uint64_t sum[tally_count]{};
        for (const Stripe& s : m_stripes)
            for (std::size_t i = 0; i < tally_count; ++i) sum[i] += s.values[i].load(std::memory_order_relaxed);
        return to_counters(sum);
    }
    [[nodiscard]] std::int64_t online() const noexcept {
        std::int64_t sum = 0;
        for (const Stripe& s : m_stripes) sum += s.online.load(std::memory_order_relaxed);
        return sum;
    }

private:
    static constexpr std::size_t stripes = 16;
    struct alignas(64) Stripe {
        std::atomic<std::uint64_t> values[tally_count]{};
        std::atomic<std::int64_t> online{0};
    };
    Stripe& stripe() noexcept {
        static std::atomic<std::size_t> next{0};
        thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
        return m_stripes[index % stripes];
    }
    Stripe m_stripes[stripes];
};

} // namespace detail

/// What prune() did.
struct PruneReport {
    std::size_t clients_examined = 0;
    std::size_t tombstones_dropped = 0;
    std::size_t clients_forgotten = 0;
};

/// Tracks which MQTT clients are online from their lifecycle events.
///
/// Storage is a policy (see storage/concept.hpp): InMemoryStorage by default. The store adds
/// no locking of its own: its thread safety is the storage's. With a storage that declares
/// `static constexpr bool concurrent = true` (ConcurrentStorage), every member may be called
/// from any number of threads at once, and the counters and online count are atomic; they are
/// exact whenever no call is in flight.
template <class Storage = InMemoryStorage>
class ClientStatusStore {
    static_assert(storage_concept::check<Storage>());

public:
    using storage_type = Storage;

    ClientStatusStore() : ClientStatusStore(Options{}) {}

    /// Throws std::invalid_argument naming the bad option.
    explicit ClientStatusStore(Options options, Storage storage = Storage{})
        : m_options(checked(options)), m_storage(std::move(storage)) {}

    /// Applies one event (rules 1–7, 9, 10, 12). The result tells what happened and whether
    /// the client flipped, at what event time. An invalid event changes nothing and creates no
    /// record. Average O(1) plus O(channels of the client).
    Outcome ingest(const Event& event) {
        return ingest_one(event, [&](auto&& apply) { m_storage.update(event.client_id, apply); });
    }

    /// Applies the events [first, last) in order, exactly as ingest() on each one would, and
    /// calls on_outcome(const Event&, const Outcome&) after each (an edge is reported there
    /// once per flip). Faster than a loop of ingest() on a large store: with a storage that
    /// offers the optional hashed lookup (InMemoryStorage and ConcurrentStorage do), each
    /// client id is hashed once, and the index slots of the events 12 ahead, the records of the
    /// events 8 ahead and their channels 4 ahead are fetched from memory while the current one
    /// is applied.
    /// `It` is a forward iterator over Event.
    template <class It, class OnOutcome>
    void ingest_batch(It first, It last, OnOutcome&& on_outcome) {
        if constexpr (storage_concept::has_prefetch<Storage>::value) {
            // Three cursors run ahead of `first`, `step` events apart: each stage is found
            // through what the stage before it fetched a few events earlier. The first computes
            // the hash of its event's client id into a ring that the others and the update read.
            constexpr std::size_t step = 4;
            constexpr std::size_t ring = 16; // > 3 * step: a hash lives until its event is applied
            std::uint64_t hashes[ring];
            It ahead[3] = {first, first, first};
            std::size_t issued[3] = {0, 0, 0};
            const PrefetchStage stages[3] = {PrefetchStage::locate, PrefetchStage::record, PrefetchStage::detail};
            auto advance = [&](std::size_t k) {
                if (ahead[k] == last) return;
                std::uint64_t& h = hashes[issued[k]++ % ring];
                if (k == 0) h = m_storage.hash(ahead[k]->client_id);
                m_storage.prefetch(h, stages[k]);
                ++ahead[k];
            };
            for (std::size_t i = 0; i < 3 * step; ++i) {
                advance(0);
                if (i >= step) advance(1);
                if (i >= 2 * step) advance(2);
            }
            for (std::size_t applied = 0; first != last; ++first, ++applied) {
                advance(0);
                advance(1);
                advance(2);
                const Event& event = *first;
                const std::uint64_t h = hashes[applied % ring];
                const Outcome out =
                    ingest_one(event, [&](auto&& apply) { m_storage.update(event.client_id, h, apply); });
                on_outcome(event, out);
            }
        } else {
            for (; first != last; ++first) {
                const Event& event = *first;
                const Outcome out = ingest(event);
                on_outcome(event, out);
            }
        }
    }

    /// The same without a callback: the outcomes show in counters() and online_count().
    template <class It>
    void ingest_batch(It first, It last) {
        ingest_batch(first, last, [](const Event&, const Outcome&) {});
    }

    /// Rule 8: applies the broker's synchronous answer "client is (not) online as of as_of_ms".
    Outcome reconcile(std::string_view client_id, bool online, std::int64_t as_of_ms) {
        m_tallies.add(detail::tally_reconciles);
        Outcome out;
        if (const auto why = detail::check_id(client_id, true); !why.empty()) {
            out = detail::invalid(why);
        } else {
            m_storage.update(client_id, [&](ClientRecord& record) {
                out = mqtt_presence::reconcile(record, online, as_of_ms, m_options);
            });
        }
        count_transition(out);
        return out;
    }

    /// Whether the client has an open channel. Average O(1).
    [[nodiscard]] bool is_online(std::string_view client_id) const {
        bool online = false;
        m_storage.visit(client_id, [&](const ClientRecord* record) { online = record != nullptr && record->online(); });
        return online;
    }

    /// is_online() of each client id in [first, last), written to out in order (*out++ = bool);
    /// returns out. `It` is an iterator over std::string, std::string_view or const char*
    /// whose ids stay valid until the call returns (an iterator that makes each id as a
    /// temporary std::string does not compile).
    /// Faster than a loop of is_online() for many ids of a large store: with a storage that
    /// offers the optional hashed lookup, each id is hashed once and the index slots of the ids
    /// 12 ahead, the records of the ids 8 ahead and their channels 4 ahead are fetched while the
    /// current one is answered.
    template <class It, class Out>
    Out is_online_batch(It first, It last, Out out) const {
        using Id = decltype(*first);
        static_assert(std::is_lvalue_reference_v<Id> || std::is_same_v<std::decay_t<Id>, std::string_view> ||
                          std::is_pointer_v<std::decay_t<Id>>,
                      "is_online_batch: the iterator must refer to ids that outlive the call, not make temporaries");
        const auto answer = [](const ClientRecord* record) { return record != nullptr && record->online(); };
        if constexpr (storage_concept::has_prefetch<Storage>::value) {
            // As in ingest_batch: slots 12 ids ahead, records 8 ahead, channels 4 ahead.
            constexpr std::size_t step = 4;
            constexpr std::size_t ring = 16; // > 3 * step
            std::uint64_t hashes[ring];
            std::string_view ids[ring];
            std::size_t located = 0; // ids hashed, their slots requested
            std::size_t recorded = 0; // records requested
            std::size_t detailed = 0; // channels requested
            std::size_t answered = 0;
            bool more = first != last;
            while (answered < located || more) {
                for (; more && located < answered + 3 * step; ++located) {
                    ids[located % ring] = std::string_view(*first);
                    hashes[located % ring] = m_storage.hash(ids[located % ring]);
                    m_storage.prefetch(hashes[located % ring], PrefetchStage::locate);
                    more = ++first != last;
                }
                for (; recorded < located && recorded < answered + 2 * step; ++recorded)
                    m_storage.prefetch(hashes[recorded % ring], PrefetchStage::record);
                for (; detailed < recorded && detailed < answered + step; ++detailed)
                    m_storage.prefetch(hashes[detailed % ring], PrefetchStage::detail);
                bool online = false;
                m_storage.visit(ids[answered % ring], hashes[answered % ring],
                                [&](const ClientRecord* record) { online = answer(record); });
                *out = online;
                ++out;
                ++answered;
            }
        } else {
            for (; first != last; ++first) {
                bool online = false;
                m_storage.visit(std::string_view(*first), [&](const ClientRecord* record) { online = answer(record); });
                *out = online;
                ++out;
            }
        }
        return out;
    }

    /// The client's presence in detail; nullopt for a client the store does not know.
    [[nodiscard]] std::optional<ClientStatus> status(std::string_view client_id) const {
        std::optional<ClientStatus> result;
        m_storage.visit(client_id, [&](const ClientRecord* record) {
            if (record != nullptr) result = describe(*record);
        });
        return result;
    }

    /// Number of online clients. O(1): kept up to date from the transitions. With a concurrent
    /// storage it is exact when no ingest is in flight.
    [[nodiscard]] std::size_t online_count() const noexcept {
        const std::int64_t online = m_tallies.online(); // two racing threads may pass through -1
        return online > 0 ? static_cast<std::size_t>(online) : 0;
    }

    /// Number of clients tracked (online, offline with tombstones, or known offline).
    [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(m_storage.size()); }

    /// Calls fn(std::string_view client_id) for every online client, in no particular order.
    template <class Fn>
    void for_each_online(Fn&& fn) const {
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            if (record.online()) fn(client_id);
        });
    }

    /// Maintenance (rule 11): drops tombstones older than the retention window before now_ms
    /// and forgets clients offline and silent for longer than Options::forget_offline_after_ms.
    /// Never changes anyone's online state. O(clients); call it every few minutes or hours.
    PruneReport prune(std::int64_t now_ms) {
        PruneReport report;
        std::vector<std::string> due;
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            ++report.clients_examined;
            if (needs_prune(record, now_ms, m_options)) due.emplace_back(client_id);
        });
        for (const std::string& client_id : due) {
            m_storage.update(client_id, [&](ClientRecord& record) {
                const PruneResult result = mqtt_presence::prune(record, now_ms, m_options);
                report.tombstones_dropped += result.tombstones_dropped;
                report.clients_forgotten += result.forgotten ? 1 : 0;
            });
        }
        return report;
    }

    /// How many events and reconciles ended how (a copy).
    [[nodiscard]] Counters counters() const noexcept { return m_tallies.read(); }
    [[nodiscard]] const Options& options() const noexcept { return m_options; }
    [[nodiscard]] const Storage& storage() const noexcept { return m_storage; }
    [[nodiscard]] Storage& storage() noexcept { return m_storage; }

private:
    // ingest(): validates, then update(apply) runs `apply` (ClientRecord&) through the storage.
    template <class Update>
    Outcome ingest_one(const Event& event, Update&& update) {
        m_tallies.add(detail::tally_events);
        Outcome out;
        if (const auto why = validate(event); !why.empty()) {
            out = detail::invalid(why);
        } else {
            update([&](ClientRecord& record) { out = detail::apply_valid(record, event, m_options); });
        }
        count(out);
        return out;
    }

    static Options checked(const Options& options) {
        if (const auto why = validate(options); !why.empty())
            throw std::invalid_argument("mqtt_presence: " + std::string(why));
        return options;
    }

    void count(const Outcome& out) noexcept {
        switch (out.status) {
        case Status::applied: m_tallies.add(detail::tally_applied); break;
        case Status::superseded: m_tallies.add(detail::tally_superseded); break;
        case Status::behind_watermark: m_tallies.add(detail::tally_behind_watermark); break;
        case Status::duplicate: m_tallies.add(detail::tally_duplicates); break;
        case Status::stale: m_tallies.add(detail::tally_stale); break;
        case Status::refused: m_tallies.add(detail::tally_refused); break;
        case Status::invalid: m_tallies.add(detail::tally_invalid); break;
        }
        count_transition(out);
    }

    void count_transition(const Outcome& out) noexcept {
        if (out.went_online()) {
            m_tallies.add(detail::tally_went_online);
            m_tallies.add_online(1);
        } else if (out.went_offline()) {
            m_tallies.add(detail::tally_went_offline);
            m_tallies.add_online(-1);
        }
    }

    Options m_options;
    Storage m_storage;
    detail::Tallies<storage_concept::is_concurrent<Storage>::value> m_tallies;
};

} // namespace mqtt_presence
