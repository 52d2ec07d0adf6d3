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
#include <unordered_map>
#include <utility>
#include <vector>

#include "detail/compiler.hpp"
#include "detail/group_counts.hpp"
#include "detail/shard_groups.hpp"
#include "event.hpp"
#include "rules.hpp"
#include "snapshot.hpp"
#include "storage/concept.hpp"
#include "storage/in_memory.hpp"

namespace mqtt_presence {

/// How many events (and reconcile calls) ended how. Plain numbers: read them between calls.
struct Counters {
    std::uint64_t events = 0;           ///< events ingested (with a shared storage: not those whose call threw)
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
///
/// With a shared storage (`shared_state`, e.g. RedisStorage) the state belongs to every store
/// on it: online_count(), online_count(group), for_each_group() and size() read the storage's
/// counts, kept atomically with the records; counters() count this store's calls. Its update
/// may run the rules more than once (an optimistic retry), so the store settles each outcome
/// (counters, hook) after the storage has stored it; the storage keeps each flip with the
/// record (RedisStorage: in its edge stream), so a flip is recorded exactly once even when this
/// process dies right after storing it, before its hook ran.
template <class Storage = InMemoryStorage>
class ClientStatusStore {
    static_assert(storage_concept::check<Storage>());
    static constexpr bool concurrent = storage_concept::is_concurrent<Storage>::value;
    static constexpr bool shared = storage_concept::is_shared<Storage>::value;

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
        if constexpr (shared)
            return ingest_one(event, [](auto&&) {});
        else
            return ingest_one(event, [&](auto&& apply) { m_storage.update(event.client_id, apply); });
    }

    /// Applies the events [first, last) in order, exactly as ingest() on each one would, and
    /// calls on_outcome(const Event&, const Outcome&) after each (an edge is reported there
    /// once per flip). Faster than a loop of ingest() on a large store: with a storage that
    /// offers the optional hashed lookup (InMemoryStorage and ConcurrentStorage do), each
    /// client id is hashed once (and with InMemoryStorage looked up once), and the index
    /// slots of the events 12 ahead, the records of the events 8 ahead and their channels 4
    /// ahead are fetched from memory while the current one is applied. on_outcome runs
    /// outside the storage's locks and may call the store.
    /// With a storage whose locks cover many clients each (ConcurrentStorage: has_shard_lock in
    /// storage/concept.hpp), a window of at least shard_count() events (up to 4,096 at a time)
    /// is grouped by shard and applied group after group, each under one take of its shard's
    /// lock (instead of one take per event, and three tries for the prefetches): every
    /// client's events are applied in input order and with the outcomes ingest() would give,
    /// but different clients' events are not, and on_outcome (as the transition hook) follows
    /// the order of application, once per event. With Options::max_clients set, or fewer
    /// events, the window is applied in input order. If the hook or the storage throws, on_outcome
    /// has run for exactly the events applied before: redeliver the batch.
    /// With a shared storage that offers update_batch (RedisStorage), the batch's events are
    /// grouped by client and stored in a few round trips; on_outcome then runs for each event in
    /// order. If the storage fails part way, on_outcome has run for exactly the events that were
    /// stored (and the invalid ones) when the error propagates: redeliver the batch (the stored
    /// events come back as duplicates).
    /// `It` is a forward iterator over Event.
    template <class It, class OnOutcome>
    void ingest_batch(It first, It last, OnOutcome&& on_outcome) {
        refuse_in_callback("ingest_batch");
        if constexpr (shared && storage_concept::has_update_batch<Storage>::value) {
            ingest_batch_shared(first, last, on_outcome);
        } else if constexpr (storage_concept::has_shard_lock<Storage>::value) {
            ingest_batch_by_shard(first, last, on_outcome);
        } else if constexpr (storage_concept::has_prefetch<Storage>::value) {
            ingest_batch_prefetched(first, last, on_outcome);
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
        Outcome out;
        if (const auto why = detail::check_id(client_id, true); !why.empty()) {
            m_tallies.add(detail::tally_reconciles);
            return detail::invalid(why);
        }
        change(
                client_id,
                [&](ClientRecord& record, detail::EdgeChannel& channel) {
                    if (over_client_cap(record)) return detail::unchanged(Status::refused);
                    return detail::reconcile(record, online, as_of_ms, m_options, &channel);
                },
                [&](const Outcome& result, const detail::EdgeChannel& channel) {
                    m_tallies.add(detail::tally_reconciles); // once applied (a shared storage may throw)
                    out = result;
                    if (out.transition == Transition::none) return;
                    count_transition(out);
                    on_flip(client_id, out, channel);
                });
        return out;
    }

    /// Whether the client has an open channel. Average O(1).
    [[nodiscard]] bool is_online(std::string_view client_id) const {
        refuse_in_callback("is_online");
        bool online = false;
        m_storage.visit(client_id,
                        [&](const ClientRecord* record) { online = record != nullptr && record->online_remembered(); });
        return online;
    }

    /// is_online() of each client id in [first, last), written to out in order (*out++ = bool);
    /// returns out. `It` is an iterator over std::string, std::string_view or const char*
    /// whose ids stay valid until the call returns (an iterator that makes each id as a
    /// temporary std::string does not compile).
    /// Faster than a loop of is_online() for many ids of a large store: with a storage that
    /// offers the optional hashed lookup, each id is hashed once (and with InMemoryStorage
    /// looked up once) and the index slots of the ids 12 ahead and the records of the ids 8
    /// ahead are fetched while the current one is answered (a record remembers its presence,
    /// ClientRecord::presence: no channel is read).
    /// A storage with visit_batch() answers all the ids its own way: ConcurrentStorage one
    /// shard's ids under one take of its lock, RedisStorage in one round trip.
    template <class It, class Out>
    Out is_online_batch(It first, It last, Out out) const {
        refuse_in_callback("is_online_batch");
        using Id = decltype(*first);
        static_assert(std::is_lvalue_reference_v<Id> || std::is_same_v<std::decay_t<Id>, std::string_view> ||
                              std::is_pointer_v<std::decay_t<Id>>,
                      "is_online_batch: the iterator must refer to ids that outlive the call, not make temporaries");
        const auto answer = [](const ClientRecord* record) { return record != nullptr && record->online_remembered(); };
        if constexpr (storage_concept::has_visit_batch<Storage>::value) {
            std::vector<std::string_view> ids;
            for (; first != last; ++first) ids.emplace_back(*first);
            std::vector<char> online(ids.size(), 0);
            m_storage.visit_batch(
                    ids, [&](std::size_t i, const ClientRecord* record) { online[i] = answer(record) ? 1 : 0; });
            for (const char o : online) {
                *out = o != 0;
                ++out;
            }
        } else if constexpr (storage_concept::has_prefetch<Storage>::value) {
            // Slots 12 ids ahead, records 8 ahead (no channels: see above).
            constexpr std::size_t slots_ahead = 12;
            constexpr std::size_t records_ahead = 8;
            constexpr std::size_t ring = 32; // > slots_ahead
            constexpr bool guessing = storage_concept::has_guess<Storage>::value;
            std::uint64_t hashes[ring];
            std::size_t guesses[guessing ? ring : 1]; // where prefetch_record() guessed the record is
            std::string_view ids[ring];
            std::size_t located = 0;  // ids hashed, their slots requested
            std::size_t recorded = 0; // records requested
            std::size_t answered = 0;
            bool more = first != last;
            while (answered < located || more) {
                for (; more && located < answered + slots_ahead; ++located) {
                    ids[located % ring] = std::string_view(*first);
                    hashes[located % ring] = m_storage.hash(ids[located % ring]);
                    m_storage.prefetch(hashes[located % ring], PrefetchStage::locate);
                    more = ++first != last;
                }
                for (; recorded < located && recorded < answered + records_ahead; ++recorded) {
                    if constexpr (guessing)
                        guesses[recorded % ring] = m_storage.prefetch_record(hashes[recorded % ring]);
                    else
                        m_storage.prefetch(hashes[recorded % ring], PrefetchStage::record);
                }
                bool online = false;
                const auto visited = [&](const ClientRecord* record) { online = answer(record); };
                const std::size_t at = answered % ring;
                if constexpr (guessing)
                    m_storage.visit(ids[at], hashes[at], guesses[at], visited);
                else
                    m_storage.visit(ids[at], hashes[at], visited);
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
    [[nodiscard]] std::size_t online_count() const noexcept(!shared) {
        if constexpr (shared) return static_cast<std::size_t>(m_storage.online_count());
        const std::int64_t online = m_tallies.online(); // two racing threads may pass through -1
        return online > 0 ? static_cast<std::size_t>(online) : 0;
    }

    /// Number of online clients of Group ID `group` (the text before "@@@" in their client
    /// ids; "" for client ids without a Group ID, see group_of()); 0 for a group never seen.
    /// O(1): one hash lookup in counts kept up to date from the transitions (with a
    /// concurrent storage, one per stripe of 16, each under its own lock; exact when no call
    /// is in flight). May be called from the transition hook.
    [[nodiscard]] std::size_t online_count(std::string_view group) const {
        if constexpr (shared) return static_cast<std::size_t>(m_storage.online_count(group));
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
            if (record.online_remembered()) fn(client_id);
        });
    }

    /// Calls fn(std::string_view client_id) for every online client of Group ID `group` (see
    /// online_count(group)), in no particular order. O(clients tracked): it visits every record.
    template <class Fn>
    void for_each_online(std::string_view group, Fn&& fn) const {
        refuse_in_callback("for_each_online");
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            if (record.online_remembered() && group_of(client_id) == group) fn(client_id);
        });
    }

    /// Calls fn(std::string_view group, std::size_t online) for every group with at least one
    /// client online, in byte order of the group. O(groups); takes no record lock (the counts
    /// are copied first), so fn may call the store.
    template <class Fn>
    void for_each_group(Fn&& fn) const {
        refuse_in_callback("for_each_group");
        if constexpr (shared) {
            m_storage.for_each_group([&](std::string_view group, std::size_t online) { fn(group, online); });
            return;
        }
        m_groups.for_each_online(
                [&](std::string_view group, std::int64_t online) { fn(group, static_cast<std::size_t>(online)); });
    }

    /// Maintenance (rule 11): drops tombstones older than the retention window before now_ms
    /// and forgets clients offline and silent for longer than Options::forget_offline_after_ms.
    /// Never changes anyone's online state, so it reports no edge; the group counts drop the
    /// groups left with no client online. O(clients); call it every few minutes or hours.
    PruneReport prune(std::int64_t now_ms) {
        refuse_in_callback("prune");
        PruneReport report;
        report.clients_examined =
                maintain([&](const ClientRecord& record) { return needs_prune(record, now_ms, m_options); },
                         [&](ClientRecord& record, detail::EdgeChannel&) {
                             return mqtt_presence::prune(record, now_ms, m_options);
                         },
                         [&](std::string_view, const PruneResult& result, const detail::EdgeChannel&) {
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
                [&](ClientRecord& record, detail::EdgeChannel& channel) {
                    return detail::expire(record, now_ms, max_age_ms, &channel);
                },
                [&](std::string_view client_id, const ExpireResult& result, const detail::EdgeChannel& channel) {
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
    /// With a shared storage (RedisStorage) it runs once the flip is stored, outside any lock;
    /// a flip whose process dies before its hook ran is still in the storage's edge stream.
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
        m_storage.for_each(
                [&](std::string_view client_id, const ClientRecord& record) { writer.record(client_id, record); });
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
        detail::snapshot::write_file_atomically(path,
                                                [&](std::ostream& out) { records = save_snapshot(out, metadata); });
        return records;
    }

    /// Reads a snapshot from `in` into this store, which must be empty (size() == 0: a load
    /// never merges into, nor silently replaces, a state; throws std::logic_error otherwise).
    /// The whole snapshot is read and verified first (snapshot.hpp: checksums, lengths, the
    /// record count, every id and time, this store's channel caps and max_clients): on any problem it throws
    /// SnapshotError naming it and the store is unchanged. Then the records are installed, and
    /// the online count and the group counts follow them; no edge is reported, and counters()
    /// are not restored (they count this store's calls). Returns the snapshot's metadata.
    /// Leaves `in` just after the snapshot. Call it before other threads use the store.
    SnapshotInfo load_snapshot(std::istream& in) {
        refuse_in_callback("load_snapshot");
        refuse_if_not_empty();
        detail::snapshot::LoadedSnapshot loaded = detail::snapshot::read(in, m_options);
        refuse_over_client_cap(loaded);
        install(loaded.clients);
        return std::move(loaded.info);
    }

    /// load_snapshot() from the file `path`, which must hold exactly one snapshot (bytes after
    /// its end are refused). Throws SnapshotError (also when it cannot be opened).
    SnapshotInfo load_snapshot_file(const std::string& path) {
        refuse_in_callback("load_snapshot_file");
        refuse_if_not_empty();
        detail::snapshot::LoadedSnapshot loaded = detail::snapshot::read_file(
                path, [&](std::istream& in) { return detail::snapshot::read(in, m_options); });
        refuse_over_client_cap(loaded);
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
    // (fix is a step and a settle, as change() takes them.)
    template <class IsDue, class Step, class Settle>
    std::size_t maintain(IsDue&& is_due, Step&& step, Settle&& settle) {
        std::size_t examined = 0;
        std::vector<std::string> due;
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            ++examined;
            if (is_due(record)) due.emplace_back(client_id);
        });
        for (const std::string& client_id : due)
            change(client_id, step,
                   [&](const auto& result, const detail::EdgeChannel& channel) { settle(client_id, result, channel); });
        return examined;
    }

    static const Outcome& outcome_of(const Outcome& out) noexcept { return out; }
    static const Outcome& outcome_of(const ExpireResult& result) noexcept { return result.outcome; }
    static const Outcome& outcome_of(const PruneResult&) noexcept {
        static const Outcome unchanged = [] {
            Outcome out;
            out.status = Status::duplicate;
            return out;
        }();
        return unchanged;
    }

    // One change of one client's record: step(ClientRecord&, detail::EdgeChannel&) runs the
    // rules and returns their result (an Outcome, ExpireResult or PruneResult), noting in the
    // EdgeChannel the channel of a flip; settle(result, channel) then applies what the store
    // keeps around the record (counters, group counts, the hook), once:
    //  * in the storage's update(), with the record held, for an in-process storage;
    //  * after update() has returned, for the attempt the storage kept, with a shared storage
    //    (which may run step more than once, and records the flip as an EdgeNote with it).
    template <class Step, class Settle>
    void change(std::string_view client_id, Step&& step, Settle&& settle) {
        if constexpr (shared) {
            detail::EdgeChannel::Scratch scratch;
            using Result =
                    std::decay_t<decltype(step(std::declval<ClientRecord&>(), std::declval<detail::EdgeChannel&>()))>;
            std::optional<Result> kept;
            std::string channel_id;
            m_storage.update(client_id, [&](ClientRecord& record, EdgeNotes& notes) {
                detail::EdgeChannel channel;
                kept.emplace(step(record, channel));
                const Outcome& out = outcome_of(*kept);
                channel_id.clear();
                if (out.transition == Transition::none) return;
                channel_id.assign(channel.view(scratch));
                notes.push_back(EdgeNote{out.went_online(), out.transition_ms, channel_id, out.cause});
            });
            detail::EdgeChannel channel;
            channel.set(channel_id);
            if (kept) settle(*kept, channel);
        } else {
            m_storage.update(client_id, [&](ClientRecord& record) {
                detail::EdgeChannel channel;
                settle(step(record, channel), channel);
            });
        }
    }

    // ingest(): validates, then update(apply) runs `apply` (ClientRecord&) through the storage;
    // with a shared storage, change() does. The callers have refused calls from inside the
    // hook (ingest() per event, ingest_batch() once per batch). A shared storage's event is
    // counted once stored: an event whose update throws is not.
    template <class Update>
    Outcome ingest_one(const Event& event, Update&& update) {
        if constexpr (!shared) m_tallies.add(detail::tally_events);
        Outcome out;
        const Channel::KeyProbe key(event.channel_id); // encoded once, for validate() and the rules
        if (const auto why = detail::validate(event, key.packed_hex()); !why.empty()) {
            if constexpr (shared) m_tallies.add(detail::tally_events);
            out = detail::invalid(why);
            count(out);
            return out;
        }
        const auto step = [&](ClientRecord& record, detail::EdgeChannel& channel) {
            if (over_client_cap(record)) return detail::unchanged(Status::refused);
            return detail::apply_valid(record, event, key, m_options, &channel);
        };
        const auto settle = [&](const Outcome& result, const detail::EdgeChannel& channel) {
            if constexpr (shared) m_tallies.add(detail::tally_events);
            out = result;
            count(out);
            if (out.transition != Transition::none) on_flip(event.client_id, out, channel);
        };
        if constexpr (shared) {
            change(event.client_id, step, settle);
        } else {
            update([&](ClientRecord& record) {
                detail::EdgeChannel channel;
                settle(step(record, channel), channel);
            });
        }
        return out;
    }

    // The cursors of ingest_batch_prefetched() and what its stages pass on, in rings.
    template <class It>
    struct Cursors {
        static constexpr std::size_t step = 4;  // events between two stages
        static constexpr std::size_t ring = 16; // > 3 * step: a hash lives until its event is applied
        Cursors(It first, It end) : ahead{first, first, first}, last(end) {}
        It ahead[3];
        It last;
        std::size_t issued[3] = {0, 0, 0};
        std::uint64_t hashes[ring];
        std::size_t guesses[ring]; // (with a storage that guesses)
    };

    // Stage `Stage` of ingest_batch_prefetched() for the event at c.ahead[Stage], if any.
    template <std::size_t Stage, class It>
    MQTT_PRESENCE_ALWAYS_INLINE void prefetch_ahead(Cursors<It>& c) const noexcept {
        constexpr bool guessing = storage_concept::has_guess<Storage>::value;
        if (c.ahead[Stage] == c.last) return;
        const std::size_t at = c.issued[Stage]++ % Cursors<It>::ring;
        if constexpr (Stage == 0) {
            c.hashes[at] = m_storage.hash(c.ahead[Stage]->client_id);
            m_storage.prefetch(c.hashes[at], PrefetchStage::locate);
        } else if constexpr (Stage == 1 && guessing) {
            c.guesses[at] = m_storage.prefetch_record(c.hashes[at]);
        } else if constexpr (Stage == 1) {
            m_storage.prefetch(c.hashes[at], PrefetchStage::record);
        } else if constexpr (guessing) {
            m_storage.prefetch_detail(c.guesses[at]);
        } else {
            m_storage.prefetch(c.hashes[at], PrefetchStage::detail);
        }
        ++c.ahead[Stage];
    }

    // ingest_batch() with a storage's hashed lookup (has_prefetch), in input order: three
    // cursors run ahead of `first`, `step` events apart: each stage is found through what the
    // stage before it fetched a few events earlier. The first computes the hash of its event's
    // client id into a ring that the others and the update read; with a storage that guesses
    // (has_guess), the second writes its guess of where the record is into another ring, which
    // the third and the update start from: the id is looked up once, not three times.
    template <class It, class OnOutcome>
    void ingest_batch_prefetched(It first, It last, OnOutcome& on_outcome) {
        Cursors<It> c(first, last);
        for (std::size_t i = 0; i < c.step; ++i) prefetch_ahead<0>(c);
        for (std::size_t i = 0; i < c.step; ++i) {
            prefetch_ahead<0>(c);
            prefetch_ahead<1>(c);
        }
        for (std::size_t i = 0; i < c.step; ++i) {
            prefetch_ahead<0>(c);
            prefetch_ahead<1>(c);
            prefetch_ahead<2>(c);
        }
        for (std::size_t applied = 0; first != last; ++first, ++applied) {
            prefetch_ahead<0>(c);
            prefetch_ahead<1>(c);
            prefetch_ahead<2>(c);
            const Event& event = *first;
            const std::size_t at = applied % c.ring;
            const Outcome out = ingest_one(event, [&](auto&& apply) {
                if constexpr (storage_concept::has_guess<Storage>::value)
                    m_storage.update(event.client_id, c.hashes[at], c.guesses[at], apply);
                else
                    m_storage.update(event.client_id, c.hashes[at], apply);
            });
            on_outcome(event, out);
        }
    }

    // ingest_batch() with a storage whose locks cover many clients each (has_shard_lock):
    // events are taken in windows of up to `window`. A window with at least as many events as
    // the storage has shards is grouped by shard (stably, so each client's events keep their
    // order) and applied group after group, each group under one take of its shard's lock,
    // while the groups after it are fetched from memory (index slots three groups ahead,
    // records two, channels one), each stage under one try of that shard's lock; on_outcome
    // runs for a group's events once its lock is released. A smaller
    // window, or any window when Options::max_clients is set (which clients it admits depends
    // on the order), is applied in input order by ingest_batch_prefetched().
    template <class It, class OnOutcome>
    void ingest_batch_by_shard(It first, It last, OnOutcome& on_outcome) {
        constexpr std::size_t window = 4096;
        const std::size_t shards = m_storage.shard_count();
        std::vector<const Event*> events;
        std::vector<std::uint64_t> hashes; // by input position
        detail::ShardGroups groups;
        std::vector<Outcome> outcomes; // of the group being applied
        outcomes.reserve(window);      // so that noting an applied event's outcome cannot throw
        while (first != last) {
            const It begin = first;
            events.clear();
            for (; first != last && events.size() < window; ++first) events.push_back(&*first);
            const std::size_t n = events.size();
            if (n < shards || m_options.max_clients != 0) {
                ingest_batch_prefetched(begin, first, on_outcome);
                continue;
            }
            hashes.resize(n);
            for (std::size_t i = 0; i < n; ++i) hashes[i] = m_storage.hash(events[i]->client_id);
            groups.build(hashes.data(), n, shards, [this](std::uint64_t h) { return m_storage.shard_of(h); });
            for (std::size_t g = 0; g < 3; ++g) groups.prefetch(m_storage, g, PrefetchStage::locate);
            groups.prefetch(m_storage, 0, PrefetchStage::record);
            groups.prefetch(m_storage, 1, PrefetchStage::record);
            groups.prefetch(m_storage, 0, PrefetchStage::detail);
            for (std::size_t g = 0; g < groups.count(); ++g) {
                groups.prefetch(m_storage, g + 3, PrefetchStage::locate);
                groups.prefetch(m_storage, g + 2, PrefetchStage::record);
                groups.prefetch(m_storage, g + 1, PrefetchStage::detail);
                const std::size_t b = groups.begin(g);
                const std::size_t e = groups.end(g);
                outcomes.clear();
                const auto report = [&] {
                    for (std::size_t k = 0; k < outcomes.size(); ++k)
                        on_outcome(*events[groups.item(b + k)], outcomes[k]);
                };
                try {
                    m_storage.with_shard(groups.shard(g), [&](auto& locked) {
                        for (std::size_t k = b; k < e; ++k) {
                            const Event& event = *events[groups.item(k)];
                            const std::uint64_t h = groups.hash(k);
                            outcomes.push_back(
                                    ingest_one(event, [&](auto&& apply) { locked.update(event.client_id, h, apply); }));
                        }
                    });
                } catch (...) {
                    report(); // the group's events applied before the failure, as ingest() tells
                    throw;
                }
                report();
            }
        }
    }

    // ingest_batch() over a shared storage with update_batch(): the batch's events grouped by
    // client (in order within each client), every client's events applied in one update of its
    // record, the updates of all clients in a few round trips; then, in input order, each
    // event's outcome settled and reported. If the storage fails part way, the events it stored
    // and the invalid ones are settled and reported (and no other), then the error propagates:
    // the caller's queue redelivers the batch, and what was stored comes back as duplicates.
    template <class It, class OnOutcome>
    void ingest_batch_shared(It first, It last, OnOutcome& on_outcome) {
        std::vector<const Event*> events;
        for (; first != last; ++first) events.push_back(&*first);
        const std::size_t n = events.size();
        std::vector<Outcome> outcomes(n);
        std::vector<std::size_t> client_of(n, static_cast<std::size_t>(-1));
        std::vector<std::string> channels(n);
        std::vector<std::string_view> ids;
        std::vector<std::vector<std::size_t>> per_client;
        {
            std::unordered_map<std::string_view, std::size_t> index;
            for (std::size_t i = 0; i < n; ++i) {
                if (const auto why = validate(*events[i]); !why.empty()) {
                    outcomes[i] = detail::invalid(why);
                    continue;
                }
                const auto [it, inserted] = index.emplace(events[i]->client_id, ids.size());
                if (inserted) {
                    ids.push_back(events[i]->client_id);
                    per_client.emplace_back();
                }
                client_of[i] = it->second;
                per_client[it->second].push_back(i);
            }
        }
        std::vector<char> stored(ids.size(), 0);
        const auto settle_all = [&] {
            for (std::size_t i = 0; i < n; ++i) {
                if (client_of[i] != static_cast<std::size_t>(-1) && stored[client_of[i]] == 0) continue;
                m_tallies.add(detail::tally_events);
                count(outcomes[i]);
                if (outcomes[i].transition != Transition::none) {
                    detail::EdgeChannel channel;
                    channel.set(channels[i]);
                    on_flip(events[i]->client_id, outcomes[i], channel);
                }
                on_outcome(*events[i], outcomes[i]);
            }
        };
        try {
            m_storage.update_batch(
                    ids,
                    [&](std::size_t c, ClientRecord& record, EdgeNotes& notes) {
                        detail::EdgeChannel::Scratch scratch;
                        for (const std::size_t i : per_client[c]) {
                            detail::EdgeChannel channel;
                            outcomes[i] = detail::apply_valid(record, *events[i], m_options, &channel);
                            channels[i].clear();
                            if (outcomes[i].transition == Transition::none) continue;
                            channels[i].assign(channel.view(scratch));
                            notes.push_back(EdgeNote{outcomes[i].went_online(), outcomes[i].transition_ms, channels[i],
                                                     outcomes[i].cause});
                        }
                    },
                    [&](std::size_t c) { stored[c] = 1; });
        } catch (...) {
            settle_all();
            throw;
        }
        settle_all();
    }

    static Options checked(const Options& options) {
        if (const auto why = validate(options); !why.empty())
            throw std::invalid_argument("mqtt_presence: " + std::string(why));
        if (shared && options.max_clients != 0)
            throw std::invalid_argument("mqtt_presence: max_clients needs an in-process storage; a shared storage "
                                        "keeps its clients elsewhere and does not support it");
        return options;
    }

    // Rule 10 for the whole store (Options::max_clients): whether `record`, just created empty
    // by the storage for a client it did not hold, is one client more than the cap allows. The
    // storage's size() already counts it (its update creates the record before calling fn), so
    // a record that is kept never takes the store past the cap. With ConcurrentStorage, two
    // threads adding the last client that fits may both be refused. O(1) (ConcurrentStorage:
    // O(shards), for a client not yet held only).
    [[nodiscard]] bool over_client_cap(const ClientRecord& record) const noexcept {
        return m_options.max_clients != 0 && record.empty() && m_storage.size() > m_options.max_clients;
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

    void refuse_over_client_cap(const detail::snapshot::LoadedSnapshot& loaded) const {
        if (m_options.max_clients != 0 && loaded.clients.size() > m_options.max_clients)
            detail::snapshot::fail("it holds " + std::to_string(loaded.clients.size()) +
                                   " clients, more than this store's max_clients (" +
                                   std::to_string(m_options.max_clients) + ")");
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
        if constexpr (!shared)
            for (const detail::snapshot::Loaded& c : clients)
                if (c.record.online()) m_groups.add(group_of(c.client_id), 0);
        std::size_t installed = 0;
        try {
            for (; installed < clients.size(); ++installed) {
                detail::snapshot::Loaded& c = clients[installed];
                install_one(c.client_id, std::move(c.record));
            }
        } catch (...) {
            for (std::size_t i = 0; i < installed; ++i) install_one(clients[i].client_id, ClientRecord{});
            throw;
        }
    }

    // Replaces a client's record with `with` (a shared storage keeps its own counts).
    void install_one(std::string_view client_id, ClientRecord with) {
        if constexpr (shared)
            m_storage.update(client_id, [&](ClientRecord& record, EdgeNotes&) { record = with; });
        else
            m_storage.update(client_id, [&](ClientRecord& record) { replace(client_id, record, std::move(with)); });
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
    // (With a shared storage: after update() has returned; the storage keeps the group counts.)
    void on_flip(std::string_view client_id, const Outcome& out, const detail::EdgeChannel& channel) {
        if constexpr (!shared) m_groups.add(group_of(client_id), out.went_online() ? 1 : -1);
        if (!m_hook) return;
        Edge edge;
        edge.client_id = client_id;
        edge.online = out.went_online();
        edge.time_ms = out.transition_ms;
        detail::EdgeChannel::Scratch scratch;
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
