#pragma once
// ClientStatusStore<Storage>: options + storage + counters + queries. It decides nothing about
// presence itself: every change goes through the rules (rules.hpp) inside storage.update().
// Around the rules it keeps the online count and the per-group counts up to date from the
// transitions, calls the transition hook once per flip, and saves and loads snapshots
// (snapshot.hpp) through the storage's for_each and update.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "detail/group_counts.hpp"
#include "event.hpp"
#include "rules.hpp"
#include "snapshot.hpp"
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
    std::uint64_t went_offline = 0;     ///< online→offline flips (events, reconciles and expiry)
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
    Stripe& stripe() noexcept { return m_stripes[thread_stripe() % stripes]; }
    Stripe m_stripes[stripes];
};

// The transition hooks this thread is running, innermost first: a call back into a store whose
// hook is running on this thread is refused, also from a second store's hook that the first
// hook's call led to (A's hook feeds B, whose hook would call A).
class CallbackScope {
public:
    explicit CallbackScope(const void* store) noexcept : m_store(store), m_outer(innermost()) { innermost() = this; }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;
    ~CallbackScope() { innermost() = m_outer; }

    /// Whether this thread is inside a hook of `store`.
    [[nodiscard]] static bool inside(const void* store) noexcept {
        for (const CallbackScope* scope = innermost(); scope != nullptr; scope = scope->m_outer)
            if (scope->m_store == store) return true;
        return false;
    }

private:
    static const CallbackScope*& innermost() noexcept {
        thread_local const CallbackScope* scope = nullptr;
        return scope;
    }

    const void* m_store;
    const CallbackScope* m_outer;
};

} // namespace detail

/// What prune() did.
struct PruneReport {
    std::size_t clients_examined = 0;
    std::size_t tombstones_dropped = 0;
    std::size_t clients_forgotten = 0;
};

/// What expire_silent() did.
struct ExpiryReport {
    std::size_t clients_examined = 0;
    std::size_t channels_closed = 0;      ///< channels silent for too long, now closed (cause expiry)
    std::size_t clients_gone_offline = 0; ///< clients that went offline by it (one edge each)
};

/// The transition hook: called once per flip (see ClientStatusStore::on_transition).
using TransitionHook = std::function<void(const Edge&)>;

/// Tracks which MQTT clients are online from their lifecycle events.
///
/// Storage is a policy (see storage/concept.hpp): InMemoryStorage by default. The store adds
/// no locking of its own: its thread safety is the storage's. With a storage that declares
/// `static constexpr bool concurrent = true` (ConcurrentStorage), every member may be called
/// from any number of threads at once, and the counters, the online count and the group
/// counts are atomic; they are exact whenever no call is in flight.
///
/// Transition hook (on_transition): called once per flip, on the thread whose call caused it,
/// inside storage.update() while the client's record is held (under the client's shard lock
/// with ConcurrentStorage), so that one client's edges arrive in order. From inside it, every
/// member that reads or changes records throws std::logic_error; the counts (online_count,
/// size, counters) may be read, and already include the flip.
template <class Storage = InMemoryStorage>
class ClientStatusStore {
    static_assert(storage_concept::check<Storage>());
    static constexpr bool concurrent = storage_concept::is_concurrent<Storage>::value;

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
        refuse_in_callback("ingest");
        return ingest_one(event, [&](auto&& apply) { m_storage.update(event.client_id, apply); });
    }

    /// Applies the events [first, last) in order, exactly as ingest() on each one would, and
    /// calls on_outcome(const Event&, const Outcome&) after each (an edge is reported there
    /// once per flip). Faster than a loop of ingest() on a large store: with a storage that
    /// offers the optional hashed lookup (InMemoryStorage and ConcurrentStorage do), each
    /// client id is hashed once, and the index slots of the events 12 ahead, the records of the
    /// events 8 ahead and their channels 4 ahead are fetched from memory while the current one
    /// is applied. on_outcome runs outside the storage's locks and may call the store.
    /// `It` is a forward iterator over Event.
    template <class It, class OnOutcome>
    void ingest_batch(It first, It last, OnOutcome&& on_outcome) {
        refuse_in_callback("ingest_batch");
        if constexpr (storage_concept::has_prefetch<Storage>::value) {
            // Three cursors run ahead of `first`, `step` events apart: each stage is found
            // through what the stage before it fetched a few events earlier. The first computes
            // the hash of its event's client id into a ring that the others and the update read.
            // (Plain loops rather than a helper lambda, which the compiler may leave out of line.)
            constexpr std::size_t step = 4;
            constexpr std::size_t ring = 16; // > 3 * step: a hash lives until its event is applied
            std::uint64_t hashes[ring];
            It ahead[3] = {first, first, first};
            std::size_t issued[3] = {0, 0, 0};
            constexpr PrefetchStage stages[3] = {PrefetchStage::locate, PrefetchStage::record, PrefetchStage::detail};
            for (std::size_t i = 0; i < 3 * step; ++i) {
                for (std::size_t k = 0; k <= i / step; ++k) {
                    if (ahead[k] == last) continue;
                    std::uint64_t& h = hashes[issued[k]++ % ring];
                    if (k == 0) h = m_storage.hash(ahead[k]->client_id);
                    m_storage.prefetch(h, stages[k]);
                    ++ahead[k];
                }
            }
            for (std::size_t applied = 0; first != last; ++first, ++applied) {
                for (std::size_t k = 0; k < 3; ++k) {
                    if (ahead[k] == last) continue;
                    std::uint64_t& h = hashes[issued[k]++ % ring];
                    if (k == 0) h = m_storage.hash(ahead[k]->client_id);
                    m_storage.prefetch(h, stages[k]);
                    ++ahead[k];
                }
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
        refuse_in_callback("reconcile");
        m_tallies.add(detail::tally_reconciles);
        Outcome out;
        if (const auto why = detail::check_id(client_id, true); !why.empty()) return detail::invalid(why);
        m_storage.update(client_id, [&](ClientRecord& record) {
            detail::EdgeChannel channel;
            out = detail::reconcile(record, online, as_of_ms, m_options, &channel);
            if (out.transition != Transition::none) {
                count_transition(out);
                on_flip(client_id, out, channel);
            }
        });
        return out;
    }

    /// Whether the client has an open channel. Average O(1).
    [[nodiscard]] bool is_online(std::string_view client_id) const {
        refuse_in_callback("is_online");
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
        refuse_in_callback("is_online_batch");
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
        refuse_in_callback("status");
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

    /// Number of online clients of Group ID `group` (the text before "@@@" in their client
    /// ids; "" for client ids without a Group ID, see group_of()); 0 for a group never seen.
    /// O(1): one hash lookup in counts kept up to date from the transitions (with a
    /// concurrent storage, one per stripe of 16, each under its own lock; exact when no call
    /// is in flight). May be called from the transition hook.
    [[nodiscard]] std::size_t online_count(std::string_view group) const {
        const std::int64_t online = m_groups.get(group);
        return online > 0 ? static_cast<std::size_t>(online) : 0;
    }

    /// Number of clients tracked (online, offline with tombstones, or known offline).
    [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(m_storage.size()); }

    /// Calls fn(std::string_view client_id) for every online client, in no particular order.
    template <class Fn>
    void for_each_online(Fn&& fn) const {
        refuse_in_callback("for_each_online");
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            if (record.online()) fn(client_id);
        });
    }

    /// Calls fn(std::string_view client_id) for every online client of Group ID `group` (see
    /// online_count(group)), in no particular order. O(clients tracked): it visits every record.
    template <class Fn>
    void for_each_online(std::string_view group, Fn&& fn) const {
        refuse_in_callback("for_each_online");
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            if (record.online() && group_of(client_id) == group) fn(client_id);
        });
    }

    /// Calls fn(std::string_view group, std::size_t online) for every group with at least one
    /// client online, in byte order of the group. O(groups); takes no record lock (the counts
    /// are copied first), so fn may call the store.
    template <class Fn>
    void for_each_group(Fn&& fn) const {
        refuse_in_callback("for_each_group");
        m_groups.for_each_online([&](std::string_view group, std::int64_t online) { fn(group, static_cast<std::size_t>(online)); });
    }

    /// Maintenance (rule 11): drops tombstones older than the retention window before now_ms
    /// and forgets clients offline and silent for longer than Options::forget_offline_after_ms.
    /// Never changes anyone's online state, so it reports no edge; the group counts drop the
    /// groups left with no client online. O(clients); call it every few minutes or hours.
    PruneReport prune(std::int64_t now_ms) {
        refuse_in_callback("prune");
        PruneReport report;
        report.clients_examined = maintain(
            [&](const ClientRecord& record) { return needs_prune(record, now_ms, m_options); },
            [&](std::string_view, ClientRecord& record) {
                const PruneResult result = mqtt_presence::prune(record, now_ms, m_options);
                report.tombstones_dropped += result.tombstones_dropped;
                report.clients_forgotten += result.forgotten ? 1 : 0;
            });
        m_groups.trim();
        return report;
    }

    /// Maintenance (rule 11) for fleets whose clients must reconnect periodically: closes every
    /// channel silent for longer than max_age_ms at now_ms (see expire() in rules.hpp: its
    /// last sign of life, connect or disconnect, before now_ms - max_age_ms), as of the moment
    /// it had been silent for max_age_ms; each client that goes offline by it gets one edge
    /// with cause expiry, through the transition hook. Closed channels stay as tombstones (a
    /// redelivered connect stays closed). Throws std::invalid_argument, having changed nothing,
    /// for a negative max_age_ms or now_ms, or beyond ten years or the year 9999. Pass as now
    /// the event time up to which the consumer has caught up (or the wall clock when it keeps
    /// up): a backlog in the queue is not silence. O(clients); call it every few minutes.
    ExpiryReport expire_silent(std::int64_t now_ms, std::int64_t max_age_ms) {
        refuse_in_callback("expire_silent");
        if (const auto why = detail::check_expiry(now_ms, max_age_ms); !why.empty())
            throw std::invalid_argument("mqtt_presence: expire_silent: " + std::string(why));
        ExpiryReport report;
        report.clients_examined = maintain(
            [&](const ClientRecord& record) { return needs_expiry(record, now_ms, max_age_ms); },
            [&](std::string_view client_id, ClientRecord& record) {
                detail::EdgeChannel channel;
                const ExpireResult result = detail::expire(record, now_ms, max_age_ms, &channel);
                report.channels_closed += result.channels_closed;
                if (result.outcome.transition == Transition::none) return;
                if (result.outcome.went_offline()) ++report.clients_gone_offline;
                count_transition(result.outcome);
                on_flip(client_id, result.outcome, channel);
            });
        return report;
    }

    /// Sets the transition hook, called once per flip with the client id, the new state, the
    /// event time, the channel and the cause (Edge), from ingest, ingest_batch, reconcile and
    /// expire_silent (prune and load_snapshot never flip anyone). It runs on the calling
    /// thread, inside storage.update() once the rules have run and the counts include the flip:
    ///  * InMemoryStorage: on the one thread using the store, no lock;
    ///  * ConcurrentStorage: on the thread whose call caused the flip, under the client's shard
    ///    lock: one client's edges are delivered one at a time, in order; other clients' edges
    ///    run at the same time on other threads (the hook must be thread-safe) and clients of
    ///    the same shard wait for it (keep it short: queue the work).
    /// From inside it, the members that read or change records throw std::logic_error (a call
    /// back into the store would otherwise deadlock on the shard lock); online_count(),
    /// online_count(group), size(), counters() and options() may be called. If it throws, the
    /// exception leaves the call that caused the flip; the flip stays applied and counted.
    /// An empty function removes the hook. Not thread-safe: set it before sharing the store.
    /// (ingest_batch's on_outcome, by contrast, runs outside the storage's locks and may call
    /// the store.)
    void on_transition(TransitionHook hook) {
        refuse_in_callback("on_transition");
        m_hook = std::move(hook);
    }

    /// Writes every record to `out` in the snapshot format (snapshot.hpp), with the caller's
    /// `metadata` (at most 1 MiB; e.g. the consumer offset the state covers). Returns the
    /// number of records written. With ConcurrentStorage other threads may keep ingesting:
    /// each record is written under its shard's lock, whole, but records of other shards may
    /// change meanwhile (README.md, "Snapshots", pairs this with the consumer offset). Throws
    /// std::invalid_argument for metadata over 1 MiB (nothing written), SnapshotError when
    /// `out` fails. O(clients).
    std::uint64_t save_snapshot(std::ostream& out, std::string_view metadata = {}) const {
        refuse_in_callback("save_snapshot");
        check_metadata(metadata);
        detail::snapshot::Writer writer(out);
        writer.header(metadata);
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) { writer.record(client_id, record); });
        writer.end();
        return writer.records();
    }

    /// save_snapshot() into the file `path`, atomically: into a temporary file in the same
    /// directory, flushed to the disk (fsync), renamed over `path`, and the directory synced.
    /// A crash or an error at any point leaves the previous file at `path` intact (and no
    /// temporary file behind, but after a crash). Throws SnapshotError naming the file and the
    /// system's reason.
    std::uint64_t save_snapshot_file(const std::string& path, std::string_view metadata = {}) const {
        refuse_in_callback("save_snapshot_file");
        check_metadata(metadata);
        std::uint64_t records = 0;
        detail::snapshot::write_file_atomically(path, [&](std::ostream& out) { records = save_snapshot(out, metadata); });
        return records;
    }

    /// Reads a snapshot from `in` into this store, which must be empty (size() == 0: a load
    /// never merges into, nor silently replaces, a state; throws std::logic_error otherwise).
    /// The whole snapshot is read and verified first (snapshot.hpp: checksums, lengths, the
    /// record count, every id and time, this store's channel caps): on any problem it throws
    /// SnapshotError naming it and the store is unchanged. Then the records are installed, and
    /// the online count and the group counts follow them; no edge is reported, and counters()
    /// are not restored (they count this store's calls). Returns the snapshot's metadata.
    /// Leaves `in` just after the snapshot. Call it before other threads use the store.
    SnapshotInfo load_snapshot(std::istream& in) {
        refuse_in_callback("load_snapshot");
        refuse_if_not_empty();
        detail::snapshot::LoadedSnapshot loaded = detail::snapshot::read(in, m_options);
        install(loaded.clients);
        return std::move(loaded.info);
    }

    /// load_snapshot() from the file `path`, which must hold exactly one snapshot (bytes after
    /// its end are refused). Throws SnapshotError (also when it cannot be opened).
    SnapshotInfo load_snapshot_file(const std::string& path) {
        refuse_in_callback("load_snapshot_file");
        refuse_if_not_empty();
        detail::snapshot::LoadedSnapshot loaded =
            detail::snapshot::read_file(path, [&](std::istream& in) { return detail::snapshot::read(in, m_options); });
        install(loaded.clients);
        return std::move(loaded.info);
    }

    /// How many events and reconciles ended how (a copy).
    [[nodiscard]] Counters counters() const noexcept { return m_tallies.read(); }
    [[nodiscard]] const Options& options() const noexcept { return m_options; }
    [[nodiscard]] const Storage& storage() const noexcept { return m_storage; }
    [[nodiscard]] Storage& storage() noexcept { return m_storage; }

private:
    // A maintenance pass: collects the clients whose record is_due(record) says (for_each
    // cannot change records), then runs fix(client_id, record) on each through update(), where
    // the rules check again (a record may have changed in between). Returns the clients seen.
    template <class IsDue, class Fix>
    std::size_t maintain(IsDue&& is_due, Fix&& fix) {
        std::size_t examined = 0;
        std::vector<std::string> due;
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            ++examined;
            if (is_due(record)) due.emplace_back(client_id);
        });
        for (const std::string& client_id : due)
            m_storage.update(client_id, [&](ClientRecord& record) { fix(client_id, record); });
        return examined;
    }

    // ingest(): validates, then update(apply) runs `apply` (ClientRecord&) through the storage.
    template <class Update>
    // (The callers have refused calls from inside the hook: ingest() per event, ingest_batch()
    // once per batch.)
    Outcome ingest_one(const Event& event, Update&& update) {
        m_tallies.add(detail::tally_events);
        Outcome out;
        if (const auto why = validate(event); !why.empty()) {
            out = detail::invalid(why);
            count(out);
            return out;
        }
        update([&](ClientRecord& record) {
            detail::EdgeChannel channel;
            out = detail::apply_valid(record, event, m_options, &channel);
            count(out);
            if (out.transition != Transition::none) on_flip(event.client_id, out, channel);
        });
        return out;
    }

    static Options checked(const Options& options) {
        if (const auto why = validate(options); !why.empty())
            throw std::invalid_argument("mqtt_presence: " + std::string(why));
        return options;
    }

    static void check_metadata(std::string_view metadata) {
        if (metadata.size() > max_snapshot_metadata_bytes)
            throw std::invalid_argument("mqtt_presence: snapshot metadata of " + std::to_string(metadata.size()) +
                                        " bytes is longer than 1 MiB");
    }

    // A call back into the store from its transition hook would deadlock on the shard lock
    // that the hook runs under (ConcurrentStorage), or change the record the rules are
    // changing (InMemoryStorage): refused alike with both.
    void refuse_in_callback(const char* member) const {
        if (detail::CallbackScope::inside(this))
            throw std::logic_error(std::string("mqtt_presence: ClientStatusStore::") + member +
                                   "() called from inside the store's transition hook, which runs while the client's "
                                   "record is locked; queue the work and do it after the hook returns");
    }

    void refuse_if_not_empty() const {
        if (const std::size_t clients = size(); clients != 0)
            throw std::logic_error("mqtt_presence: load_snapshot needs an empty store; this one tracks " +
                                   std::to_string(clients) + " clients");
    }

    // Installs verified records into the (empty) storage. If an install fails (std::bad_alloc),
    // the records installed so far are removed again.
    void install(std::vector<detail::snapshot::Loaded>& clients) {
        if constexpr (storage_concept::has_reserve<Storage>::value) m_storage.reserve(clients.size());
        // Every group with a client online gets its entry first: installing then allocates
        // nothing but records.
        for (const detail::snapshot::Loaded& c : clients)
            if (c.record.online()) m_groups.add(group_of(c.client_id), 0);
        std::size_t installed = 0;
        try {
            for (; installed < clients.size(); ++installed) {
                detail::snapshot::Loaded& c = clients[installed];
                m_storage.update(c.client_id, [&](ClientRecord& record) { replace(c.client_id, record, std::move(c.record)); });
            }
        } catch (...) {
            for (std::size_t i = 0; i < installed; ++i)
                m_storage.update(clients[i].client_id, [&](ClientRecord& record) { replace(clients[i].client_id, record, ClientRecord{}); });
            throw;
        }
    }

    // Replaces a record, keeping the online and group counts right whatever it held.
    void replace(std::string_view client_id, ClientRecord& record, ClientRecord&& with) {
        const int before = record.online() ? 1 : 0;
        record = std::move(with);
        const int delta = (record.online() ? 1 : 0) - before;
        if (delta == 0) return;
        m_tallies.add_online(delta);
        m_groups.add(group_of(client_id), delta); // the entry exists: no allocation
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

    // Once per flip, inside storage.update() with the client's record held: the group count,
    // then the hook. (The counters were counted just before.)
    void on_flip(std::string_view client_id, const Outcome& out, const detail::EdgeChannel& channel) {
        m_groups.add(group_of(client_id), out.went_online() ? 1 : -1);
        if (!m_hook) return;
        detail::EdgeChannel::Scratch scratch;
        Edge edge;
        edge.client_id = client_id;
        edge.online = out.went_online();
        edge.time_ms = out.transition_ms;
        edge.channel_id = channel.view(scratch);
        edge.cause = out.cause;
        const detail::CallbackScope scope(this);
        m_hook(edge);
    }

    Options m_options;
    Storage m_storage;
    detail::Tallies<concurrent> m_tallies;
    detail::GroupCounts<concurrent> m_groups;
    TransitionHook m_hook;
};

} // namespace mqtt_presence
