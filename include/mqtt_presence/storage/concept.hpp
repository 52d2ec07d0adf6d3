#pragma once
// The storage policy concept: what ClientStatusStore<Storage> needs from a storage.
//
// A storage maps client id → ClientRecord and offers one atomic read-modify-write per client.
// Access goes through callbacks only; no reference into the storage escapes, so a locking or a
// remote storage needs no other API. A storage that copies or moves records keeps their
// `presence` with them; one that encodes records field by field may leave it unknown (queries
// then read the channels) or call remember_presence() on a decoded record.
//
// | expression (s: Storage, cs: const Storage, id: std::string_view) | requirement                                                                                   |
// |------------------------------------------------------------------|-----------------------------------------------------------------------------------------------|
// | s.update(id, fn)                                                 | calls fn(ClientRecord&) once, atomically for that client; creates an empty record if absent;   |
// |                                                                  | erases the record if fn leaves it empty(); if fn throws, the stored record is as before        |
// | cs.visit(id, fn)                                                 | calls fn(const ClientRecord*) once: the record, or nullptr when absent                         |
// | cs.for_each(fn)                                                  | calls fn(std::string_view client_id, const ClientRecord&) for every record                     |
// | cs.size()                                                        | number of records, convertible to std::size_t; counts a record that an update in flight has    |
// |                                                                  | created (Options::max_clients relies on it: a storage that inserts only after fn returns lets  |
// |                                                                  | the store go one client past the cap)                                                          |
// | Storage{}                                                        | default-constructible (so that ClientStatusStore<Storage> is), or pass one to the constructor  |
// | Storage::concurrent (optional)                                   | `static constexpr bool concurrent = true` if every member may be called from many threads at   |
// |                                                                  | once; the store then keeps its counters atomic                                                 |
// | cs.hash(id), cs.prefetch(h, stage),                              | optional, all four or none; for ingest_batch and is_online_batch, which hash each client id    |
// | s.update(id, h, fn), cs.visit(id, h, fn)                         | once and start fetching its data ahead. hash(id): the storage's std::uint64_t hash of id.      |
// |                                                                  | prefetch(h, stage): a hint, no effect on state: start fetching what a lookup of the id with    |
// |                                                                  | hash h needs into the cache; called three times per event: stage locate ~12 events ahead (e.g. |
// |                                                                  | an index), record ~8 ahead (the record), detail ~4 ahead (what the record points to).          |
// |                                                                  | update(id, h, fn) / visit(id, h, fn): update(id, fn) / visit(id, fn), given h == hash(id)      |
// | cs.prefetch_record(h), cs.prefetch_detail(g),                    | optional, with the four above, all four or none: that lookup done once. prefetch_record(h):    |
// | s.update(id, h, g, fn), cs.visit(id, h, g, fn)                   | stage record of prefetch(h, ·), returning a std::size_t guess g of where the record is;        |
// |                                                                  | prefetch_detail(g): stage detail, from the guess; update(id, h, g, fn) / visit(id, h, g, fn):  |
// |                                                                  | update(id, h, fn) / visit(id, h, fn) starting from the guess. The storage may change between   |
// |                                                                  | the guess and its use: the storage checks a guess before trusting it (any value is safe)       |
// | cs.visit_batch(ids, fn) (optional)                               | visit() of each id (a std::vector<std::string_view>): fn(i, const ClientRecord*) once for each |
// |                                                                  | position i, in any order; is_online_batch then uses it (its answers stay in order)             |
// | s.reserve(n) (optional)                                          | prepares for n records; load_snapshot calls it before installing a snapshot's n records        |
//
// A storage whose state lives outside the process and is shared by several stores (RedisStorage)
// declares `static constexpr bool shared_state = true`, and then, instead of the rules above for
// update:
//
// | expression                                                       | requirement                                                                                   |
// |------------------------------------------------------------------|-----------------------------------------------------------------------------------------------|
// | s.update(id, fn)                                                 | calls fn(ClientRecord&, EdgeNotes&) one or more times (an optimistic retry after a conflict),  |
// |                                                                  | each time on the current record and an empty EdgeNotes; keeps only the last call's record,    |
// |                                                                  | and with it, atomically: the online counts and the EdgeNotes (the flips that call made)        |
// | cs.online_count(), cs.online_count(group)                        | clients online, in all and of one group (group_of), kept by the storage with the records       |
// | cs.for_each_group(fn)                                            | fn(std::string_view group, std::size_t online) per group with a client online, in byte order   |
// | s.update_batch(ids, fn, stored) (optional)                       | update() of each of the distinct ids (a std::vector<std::string_view>), fn(i, record, notes),  |
// |                                                                  | in few round trips; stored(i) once the i-th id's change is kept. If it throws, the changes     |
// |                                                                  | that stored() was called for are kept, and no other                                            |
//
// The store then makes fn free of side effects and settles each outcome (counters, the
// transition hook) once update() has returned, and reads the online counts from the storage.
//
// ClientStatusStore checks each row with a static_assert that names the missing member.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../rules.hpp"

namespace mqtt_presence {

/// The steps of a lookup a storage's optional prefetch() may start early, each found through
/// what the step before fetched: what finds the record (an index), the record, and what the
/// record points to (e.g. its channels beyond the first).
enum class PrefetchStage : unsigned char { locate, record, detail };

} // namespace mqtt_presence

namespace mqtt_presence {

/// A flip as a shared storage keeps it with the record that made it (see shared_state above),
/// so that each flip is recorded exactly once even when a consumer dies after storing it.
struct EdgeNote {
    bool online = false;            ///< the new state
    std::int64_t time_ms = no_time; ///< event time of the flip
    std::string channel_id;         ///< as Edge::channel_id
    Cause cause = Cause::none;      ///< as Edge::cause
};
using EdgeNotes = std::vector<EdgeNote>;

} // namespace mqtt_presence

namespace mqtt_presence::storage_concept {

// Callback types used to probe a storage in unevaluated context.
struct UpdateProbe {
    void operator()(ClientRecord&) const;
};
struct VisitProbe {
    void operator()(const ClientRecord*) const;
};
struct ForEachProbe {
    void operator()(std::string_view, const ClientRecord&) const;
};

template <class S, class = void>
struct has_update : std::false_type {};
template <class S>
struct has_update<S, std::void_t<decltype(std::declval<S&>().update(std::string_view{}, UpdateProbe{}))>>
        : std::true_type {};

template <class S, class = void>
struct has_visit : std::false_type {};
template <class S>
struct has_visit<S, std::void_t<decltype(std::declval<const S&>().visit(std::string_view{}, VisitProbe{}))>>
        : std::true_type {};

template <class S, class = void>
struct has_for_each : std::false_type {};
template <class S>
struct has_for_each<S, std::void_t<decltype(std::declval<const S&>().for_each(ForEachProbe{}))>> : std::true_type {};

template <class S, class = void>
struct has_size : std::false_type {};
template <class S>
struct has_size<S, std::enable_if_t<std::is_convertible_v<decltype(std::declval<const S&>().size()), std::size_t>>>
        : std::true_type {};

/// Whether S offers the optional hashed lookup that ingest_batch and is_online_batch use:
/// `std::uint64_t hash(std::string_view) const`, `prefetch(std::uint64_t, PrefetchStage) const`,
/// `update(std::string_view, std::uint64_t, fn)` and `visit(std::string_view, std::uint64_t, fn) const`.
template <class S, class = void>
struct has_prefetch : std::false_type {};
template <class S>
struct has_prefetch<
        S, std::enable_if_t<
                   std::is_same_v<decltype(std::declval<const S&>().hash(std::string_view{})), std::uint64_t>,
                   std::void_t<decltype(std::declval<const S&>().prefetch(std::uint64_t{}, PrefetchStage::locate)),
                               decltype(std::declval<S&>().update(std::string_view{}, std::uint64_t{}, UpdateProbe{})),
                               decltype(std::declval<const S&>().visit(std::string_view{}, std::uint64_t{},
                                                                       VisitProbe{}))>>> : std::true_type {};

/// Whether S offers, on top of the hashed lookup (has_prefetch), lookups from a guess that its
/// prefetch gave: `std::size_t prefetch_record(std::uint64_t) const`,
/// `prefetch_detail(std::size_t) const`, `update(std::string_view, std::uint64_t, std::size_t, fn)`
/// and `visit(std::string_view, std::uint64_t, std::size_t, fn) const`.
template <class S, class = void>
struct has_guess : std::false_type {};
template <class S>
struct has_guess<
        S, std::enable_if_t<has_prefetch<S>::value &&
                                    std::is_same_v<decltype(std::declval<const S&>().prefetch_record(std::uint64_t{})),
                                                   std::size_t>,
                            std::void_t<decltype(std::declval<const S&>().prefetch_detail(std::size_t{})),
                                        decltype(std::declval<S&>().update(std::string_view{}, std::uint64_t{},
                                                                           std::size_t{}, UpdateProbe{})),
                                        decltype(std::declval<const S&>().visit(std::string_view{}, std::uint64_t{},
                                                                                std::size_t{}, VisitProbe{}))>>>
        : std::true_type {};

struct LockedUpdateProbe {
    template <class Locked>
    void operator()(Locked& locked) const {
        locked.update(std::string_view{}, std::uint64_t{}, UpdateProbe{});
    }
};

/// Whether S offers, on top of the hashed lookup (has_prefetch), locks taken once for several
/// of its clients, as ConcurrentStorage does: `std::size_t shard_count() const`,
/// `std::size_t shard_of(std::uint64_t hash) const` (below shard_count()),
/// `with_shard(std::size_t shard, fn)` calling fn(L&) with that shard locked, where
/// `L::update(std::string_view, std::uint64_t, fn)` updates one of its clients, and
/// `prefetch_shard(std::size_t shard, const std::uint64_t* hashes, std::size_t n, PrefetchStage) const`.
/// ingest_batch then applies a large batch shard by shard (see ClientStatusStore::ingest_batch).
template <class S, class = void>
struct has_shard_lock : std::false_type {};
template <class S>
struct has_shard_lock<
        S, std::enable_if_t<
                   has_prefetch<S>::value &&
                           std::is_same_v<decltype(std::declval<const S&>().shard_of(std::uint64_t{})), std::size_t> &&
                           std::is_convertible_v<decltype(std::declval<const S&>().shard_count()), std::size_t>,
                   std::void_t<decltype(std::declval<S&>().with_shard(std::size_t{}, LockedUpdateProbe{})),
                               decltype(std::declval<const S&>().prefetch_shard(
                                       std::size_t{}, static_cast<const std::uint64_t*>(nullptr), std::size_t{},
                                       PrefetchStage::locate))>>> : std::true_type {};

/// Whether S offers `reserve(std::size_t records)`.
template <class S, class = void>
struct has_reserve : std::false_type {};
template <class S>
struct has_reserve<S, std::void_t<decltype(std::declval<S&>().reserve(std::size_t{}))>> : std::true_type {};

/// Whether S declares `static constexpr bool concurrent = true`: its members may be called from
/// several threads at once, and the store then keeps its own counters thread-safe too.
template <class S, class = void>
struct is_concurrent : std::false_type {};
template <class S>
struct is_concurrent<S, std::enable_if_t<S::concurrent>> : std::true_type {};

/// Whether S declares `static constexpr bool shared_state = true` (see the second table above).
template <class S, class = void>
struct is_shared : std::false_type {};
template <class S>
struct is_shared<S, std::enable_if_t<S::shared_state>> : std::true_type {};

struct BatchUpdateProbe {
    void operator()(std::size_t, ClientRecord&, EdgeNotes&) const;
};
struct StoredProbe {
    void operator()(std::size_t) const;
};
struct BatchVisitProbe {
    void operator()(std::size_t, const ClientRecord*) const;
};
struct GroupProbe {
    void operator()(std::string_view, std::size_t) const;
};

template <class S, class = void>
struct has_update_batch : std::false_type {};
template <class S>
struct has_update_batch<
        S, std::void_t<decltype(std::declval<S&>().update_batch(std::declval<const std::vector<std::string_view>&>(),
                                                                BatchUpdateProbe{}, StoredProbe{}))>> : std::true_type {
};

template <class S, class = void>
struct has_visit_batch : std::false_type {};
template <class S>
struct has_visit_batch<S, std::void_t<decltype(std::declval<const S&>().visit_batch(
                                  std::declval<const std::vector<std::string_view>&>(), BatchVisitProbe{}))>>
        : std::true_type {};

template <class S, class = void>
struct has_shared_counts : std::false_type {};
template <class S>
struct has_shared_counts<
        S, std::enable_if_t<
                   std::is_convertible_v<decltype(std::declval<const S&>().online_count()), std::size_t> &&
                           std::is_convertible_v<decltype(std::declval<const S&>().online_count(std::string_view{})),
                                                 std::size_t>,
                   std::void_t<decltype(std::declval<const S&>().for_each_group(GroupProbe{}))>>> : std::true_type {};

/// Fails to compile, with a message naming the missing member and the fix, unless S models
/// the storage concept.
template <class S>
constexpr bool check() {
    static_assert(has_update<S>::value,
                  "mqtt_presence: Storage must provide update(client_id, fn) calling fn(ClientRecord&); "
                  "see mqtt_presence/storage/concept.hpp");
    static_assert(has_visit<S>::value,
                  "mqtt_presence: Storage must provide visit(client_id, fn) const calling fn(const ClientRecord*); "
                  "see mqtt_presence/storage/concept.hpp");
    static_assert(has_for_each<S>::value,
                  "mqtt_presence: Storage must provide for_each(fn) const calling fn(std::string_view, const "
                  "ClientRecord&); see mqtt_presence/storage/concept.hpp");
    static_assert(has_size<S>::value,
                  "mqtt_presence: Storage must provide size() const returning the number of clients; "
                  "see mqtt_presence/storage/concept.hpp");
    if constexpr (is_shared<S>::value)
        static_assert(has_shared_counts<S>::value,
                      "mqtt_presence: a Storage with shared_state must provide online_count(), online_count(group) and "
                      "for_each_group(fn) const, kept with its records; see mqtt_presence/storage/concept.hpp");
    return true;
}

} // namespace mqtt_presence::storage_concept
