#pragma once
// The storage policy concept: what ClientStatusStore<Storage> needs from a storage.
//
// A storage maps client id → ClientRecord and offers one atomic read-modify-write per client.
// Access goes through callbacks only; no reference into the storage escapes, so a locking or a
// remote storage needs no other API.
//
// | expression (s: Storage, cs: const Storage, id: std::string_view) | requirement                                                                                   |
// |------------------------------------------------------------------|-----------------------------------------------------------------------------------------------|
// | s.update(id, fn)                                                 | calls fn(ClientRecord&) once, atomically for that client; creates an empty record if absent;   |
// |                                                                  | erases the record if fn leaves it empty(); if fn throws, the stored record is as before        |
// | cs.visit(id, fn)                                                 | calls fn(const ClientRecord*) once: the record, or nullptr when absent                         |
// | cs.for_each(fn)                                                  | calls fn(std::string_view client_id, const ClientRecord&) for every record                     |
// | cs.size()                                                        | number of records, convertible to std::size_t                                                   |
// | Storage{}                                                        | default-constructible (so that ClientStatusStore<Storage> is), or pass one to the constructor  |
// | Storage::concurrent (optional)                                   | `static constexpr bool concurrent = true` if every member may be called from many threads at   |
// |                                                                  | once; the store then keeps its counters atomic                                                 |
// | cs.hash(id), cs.prefetch(h, stage),                              | optional, all four or none; for ingest_batch and is_online_batch, which hash each client id    |
// | s.update(id, h, fn), cs.visit(id, h, fn)                         | once and start fetching its data ahead. hash(id): the storage's std::uint64_t hash of id.      |
// |                                                                  | prefetch(h, stage): a hint, no effect on state: start fetching what a lookup of the id with    |
// |                                                                  | hash h needs into the cache; called three times per event: stage locate ~12 events ahead (e.g. |
// |                                                                  | an index), record ~8 ahead (the record), detail ~4 ahead (what the record points to).          |
// |                                                                  | update(id, h, fn) / visit(id, h, fn): update(id, fn) / visit(id, fn), given h == hash(id)      |
// | s.reserve(n) (optional)                                          | prepares for n records; load_snapshot calls it before installing a snapshot's n records        |
//
// ClientStatusStore checks each row with a static_assert that names the missing member.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../rules.hpp"

namespace mqtt_presence {

/// The steps of a lookup a storage's optional prefetch() may start early, each found through
/// what the step before fetched: what finds the record (an index), the record, and what the
/// record points to (e.g. its channels beyond the first).
enum class PrefetchStage : unsigned char { locate, record, detail };

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
                       decltype(std::declval<const S&>().visit(std::string_view{}, std::uint64_t{}, VisitProbe{}))>>>
    : std::true_type {};

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
    return true;
}

} // namespace mqtt_presence::storage_concept
