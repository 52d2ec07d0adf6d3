#pragma once
// ConcurrentStorage: a thread-safe storage policy for consumers that call ingest() from many
// threads (RocketMQ's push consumer runs its listener on a pool of 20 threads by default).
//
// Design: the client id's hash picks one of N shards; each shard is a flat hash table (the same
// layout as InMemoryStorage's, about 124 bytes per client) behind its own std::mutex. update() holds the shard's lock while the rules run on the record, so one
// client's read-modify-write is atomic and its transitions are reported exactly once per flip,
// whatever the threads' interleaving. Two events of different clients contend only when their
// clients share a shard (1/N). A plain mutex rather than a reader-writer lock: the workload is
// almost all writes, and std::mutex is the cheaper lock to take uncontended.
//
// A large ingest_batch() takes each lock once for many events: it groups a window of events
// by shard (shard_of) and applies each group inside with_shard(), prefetching the groups after
// it with prefetch_shard() (see ClientStatusStore::ingest_batch for the order this implies).
//
// Thread safety: every member may be called from any number of threads at once.
// - update / visit: hold the client's shard lock while the callback runs; with_shard holds
//   the given shard's lock while its callback runs (and updates through it).
// - for_each: visits the shards one after the other, holding each one's lock while calling back
//   for its records; records of other shards may change meanwhile (it is not a snapshot).
// - A callback must not call back into the same storage (or the store that owns it): the shard
//   lock is not recursive.
// Models the concept in storage/concept.hpp.

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../detail/flat_table.hpp"
#include "../detail/shard_groups.hpp"
#include "../rules.hpp"
#include "in_memory.hpp"

namespace mqtt_presence {

class ConcurrentStorage {
    using Table = detail::RecordTable;

    // One cache line per lock and size, so that threads on different shards do not share one.
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        Table records;
        std::atomic<std::size_t> size{0};
    };

public:
    /// Tells ClientStatusStore to keep its counters thread-safe.
    static constexpr bool concurrent = true;

    /// 256 shards: with a handful of consumer threads, two of them rarely want the same lock.
    static constexpr std::size_t default_shards = 256;

    /// `shards` is rounded up to a power of two (at least 1).
    explicit ConcurrentStorage(std::size_t shards = default_shards)
            : m_mask(round_up(shards) - 1), m_shards(std::make_unique<Shard[]>(m_mask + 1)) {}

    ConcurrentStorage(ConcurrentStorage&&) noexcept = default;
    ConcurrentStorage& operator=(ConcurrentStorage&&) noexcept = default;

    /// Calls fn(ClientRecord&) under the client's shard lock, on the record created empty if
    /// absent; erases the record if fn leaves it empty (also when fn throws).
    template <class Fn>
    void update(std::string_view client_id, Fn&& fn) {
        update(client_id, hash(client_id), std::forward<Fn>(fn));
    }

    /// The same, given h == hash(client_id) (ingest_batch hashes each id once).
    template <class Fn>
    void update(std::string_view client_id, std::uint64_t h, Fn&& fn) {
        Shard& shard = m_shards[index_of(h)];
        const std::lock_guard<std::mutex> lock(shard.mutex);
        update_locked(shard, client_id, h, std::forward<Fn>(fn));
    }

    /// One shard, locked: what with_shard() lends its callback.
    class LockedShard {
    public:
        /// update(client_id, h, fn) without taking the lock again: the client must belong to
        /// this shard (shard_of(h) is its number).
        template <class Fn>
        void update(std::string_view client_id, std::uint64_t h, Fn&& fn) {
            assert(m_owner.index_of(h) == m_number && "LockedShard::update: the client is in another shard");
            ConcurrentStorage::update_locked(m_owner.m_shards[m_number], client_id, h, std::forward<Fn>(fn));
        }

    private:
        friend class ConcurrentStorage;
        LockedShard(ConcurrentStorage& owner, std::size_t number) noexcept : m_owner(owner), m_number(number) {}
        ConcurrentStorage& m_owner;
        std::size_t m_number;
    };

    /// The number of the shard holding the client whose hash() is `h`, below shard_count().
    [[nodiscard]] std::size_t shard_of(std::uint64_t h) const noexcept { return index_of(h); }

    /// Calls fn(LockedShard&) holding shard `shard`'s lock, so that several updates of its
    /// clients take the lock once (ingest_batch groups a large batch so). The callback must
    /// not call the storage's other members on this shard: the lock is not recursive.
    template <class Fn>
    void with_shard(std::size_t shard, Fn&& fn) {
        assert(shard <= m_mask && "with_shard: no such shard");
        const std::lock_guard<std::mutex> lock(m_shards[shard].mutex);
        LockedShard locked(*this, shard);
        std::forward<Fn>(fn)(locked);
    }

    /// prefetch() for the `n` hashes at `hashes`, all of shard `shard`, under one try of its
    /// lock (skipped if another thread holds it). Changes nothing.
    void prefetch_shard(std::size_t shard, const std::uint64_t* hashes, std::size_t n,
                        PrefetchStage stage) const noexcept {
        assert(shard <= m_mask && "prefetch_shard: no such shard");
        const Shard& s = m_shards[shard];
        if (!s.mutex.try_lock()) return;
        const std::lock_guard<std::mutex> lock(s.mutex, std::adopt_lock);
        for (std::size_t i = 0; i < n; ++i) detail::prefetch_stage(s.records, hashes[i], stage);
    }

    /// Calls fn(const ClientRecord*) under the client's shard lock; nullptr when unknown.
    template <class Fn>
    void visit(std::string_view client_id, Fn&& fn) const {
        visit(client_id, hash(client_id), std::forward<Fn>(fn));
    }

    /// The same, given h == hash(client_id).
    template <class Fn>
    void visit(std::string_view client_id, std::uint64_t h, Fn&& fn) const {
        const Shard& shard = m_shards[index_of(h)];
        const std::lock_guard<std::mutex> lock(shard.mutex);
        const auto* entry = shard.records.find_entry(client_id, h);
        std::forward<Fn>(fn)(entry == nullptr ? nullptr : &entry->value);
    }

    /// visit() of every id in `ids`: fn(i, const ClientRecord*) once for each i, nullptr when
    /// ids[i] is unknown, under its shard's lock, in no particular order (is_online_batch keeps
    /// its answers in order). A window of up to 4,096 ids with at least shard_count() of them
    /// is grouped by shard (see ingest_batch): each group under one take of its lock, while
    /// the slots of the group two ahead and the records of the next one are fetched, each
    /// stage under one try of that shard's lock. A smaller window takes each id's lock once,
    /// fetching slots 8 ids ahead and records 4 ahead. fn must not call back into the storage.
    template <class Fn>
    void visit_batch(const std::vector<std::string_view>& ids, Fn&& fn) const {
        constexpr std::size_t window = 4096;
        std::vector<std::uint64_t> hashes;
        detail::ShardGroups groups;
        for (std::size_t from = 0; from < ids.size(); from += window) {
            const std::size_t n = std::min(window, ids.size() - from);
            hashes.resize(n);
            for (std::size_t i = 0; i < n; ++i) hashes[i] = hash(ids[from + i]);
            if (n < shard_count()) {
                constexpr std::size_t slots_ahead = 8;
                constexpr std::size_t records_ahead = 4;
                for (std::size_t i = 0; i < std::min(n, slots_ahead); ++i) prefetch(hashes[i], PrefetchStage::locate);
                for (std::size_t i = 0; i < std::min(n, records_ahead); ++i) prefetch(hashes[i], PrefetchStage::record);
                for (std::size_t i = 0; i < n; ++i) {
                    if (i + slots_ahead < n) prefetch(hashes[i + slots_ahead], PrefetchStage::locate);
                    if (i + records_ahead < n) prefetch(hashes[i + records_ahead], PrefetchStage::record);
                    visit(ids[from + i], hashes[i], [&](const ClientRecord* record) { fn(from + i, record); });
                }
                continue;
            }
            groups.build(hashes.data(), n, shard_count(), [this](std::uint64_t h) { return index_of(h); });
            groups.prefetch(*this, 0, PrefetchStage::locate);
            groups.prefetch(*this, 1, PrefetchStage::locate);
            groups.prefetch(*this, 0, PrefetchStage::record);
            for (std::size_t g = 0; g < groups.count(); ++g) {
                groups.prefetch(*this, g + 2, PrefetchStage::locate);
                groups.prefetch(*this, g + 1, PrefetchStage::record);
                const Shard& shard = m_shards[groups.shard(g)];
                const std::lock_guard<std::mutex> lock(shard.mutex);
                for (std::size_t k = groups.begin(g); k < groups.end(g); ++k) {
                    const std::size_t i = from + groups.item(k);
                    const auto* entry = shard.records.find_entry(ids[i], groups.hash(k));
                    fn(i, entry == nullptr ? nullptr : &entry->value);
                }
            }
        }
    }

    /// Calls fn(std::string_view client_id, const ClientRecord&) for every record, one shard
    /// at a time under that shard's lock. The id view is valid during the call only.
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (std::size_t i = 0; i <= m_mask; ++i) {
            const Shard& shard = m_shards[i];
            const std::lock_guard<std::mutex> lock(shard.mutex);
            shard.records.for_each(fn);
        }
    }

    /// A hint for ingest_batch, as InMemoryStorage's (the index slot, then the entry, then its
    /// channels), taken under the shard's lock only if that lock is free at once: a stage is
    /// skipped rather than waited for when another thread holds the shard (with 256 shards and
    /// a few threads, rarely). The first stage also brings the lock into this core's cache.
    /// Changes nothing.
    void prefetch(std::uint64_t h, PrefetchStage stage) const noexcept {
        const Shard& shard = m_shards[index_of(h)];
        if (!shard.mutex.try_lock()) return;
        const std::lock_guard<std::mutex> lock(shard.mutex, std::adopt_lock);
        detail::prefetch_stage(shard.records, h, stage);
    }

    /// The hash update() and prefetch() take. No effect.
    [[nodiscard]] static std::uint64_t hash(std::string_view client_id) noexcept { return Table::hash(client_id); }

    /// Number of records; exact when no update is in flight. O(shards), takes no lock.
    /// Counts a record being created by an update in flight (the store's max_clients check
    /// relies on it). Sequentially consistent: of two updates creating records in different
    /// shards at once, at least one sees the other's, so both cannot take the last place.
    [[nodiscard]] std::size_t size() const noexcept {
        std::size_t total = 0;
        for (std::size_t i = 0; i <= m_mask; ++i) total += m_shards[i].size.load(std::memory_order_seq_cst);
        return total;
    }

    [[nodiscard]] std::size_t shard_count() const noexcept { return m_mask + 1; }

    /// Prepares for `clients` records, spread evenly over the shards.
    void reserve(std::size_t clients) {
        for (std::size_t i = 0; i <= m_mask; ++i) {
            Shard& shard = m_shards[i];
            const std::lock_guard<std::mutex> lock(shard.mutex);
            shard.records.reserve(clients / (m_mask + 1) + clients / (m_mask + 1) / 8 + 16);
        }
    }

    /// Bytes this storage holds (see InMemoryStorage::memory_bytes), shard by shard under each
    /// shard's lock. O(clients).
    [[nodiscard]] std::size_t memory_bytes() const {
        std::size_t bytes = (m_mask + 1) * sizeof(Shard);
        for (std::size_t i = 0; i <= m_mask; ++i) {
            const Shard& shard = m_shards[i];
            const std::lock_guard<std::mutex> lock(shard.mutex);
            bytes += shard.records.memory_bytes();
            shard.records.for_each([&](std::string_view, const ClientRecord& record) { bytes += record.heap_bytes(); });
        }
        return bytes;
    }

private:
    // update() once the shard is locked.
    template <class Fn>
    static void update_locked(Shard& shard, std::string_view client_id, std::uint64_t h, Fn&& fn) {
        const std::size_t before = shard.records.size();
        const std::size_t i = shard.records.find_or_insert(client_id, h);
        if (shard.records.size() != before) shard.size.store(shard.records.size(), std::memory_order_seq_cst);
        ClientRecord& record = shard.records.entry(i).value;
        struct EraseIfEmpty {
            Shard& shard;
            std::size_t i;
            const ClientRecord& record;
            ~EraseIfEmpty() {
                if (!record.empty()) return;
                shard.records.erase(i);
                shard.size.store(shard.records.size(), std::memory_order_seq_cst);
            }
        } guard{shard, i, record};
        std::forward<Fn>(fn)(record);
    }

    static std::size_t round_up(std::size_t n) noexcept {
        std::size_t p = 1;
        while (p < n && p < (std::size_t{1} << 20)) p <<= 1;
        return p;
    }

    // The table picks slots from the high bits of its hash; the shard comes from the low ones,
    // mixed first.
    [[nodiscard]] std::size_t index_of(std::uint64_t h) const noexcept {
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        return static_cast<std::size_t>(h) & m_mask;
    }

    std::size_t m_mask;
    std::unique_ptr<Shard[]> m_shards;
};

} // namespace mqtt_presence
