#pragma once
// A window of hashed items (a batch's events or ids) grouped by the shard of a sharded storage,
// so that each shard's lock is taken once per group: a stable counting sort (the items of one
// shard keep their order), the groups listed from a per-thread starting point (threads
// sweeping the shards at once start far apart, so that one does not trail another shard by
// shard, waiting for each lock it holds), and the hashes copied group by group (a group's
// prefetch reads them contiguously). Reused from window to window: allocates only to grow.
// Plumbing: nothing outside the library should name it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../storage/concept.hpp" // PrefetchStage
#include "group_counts.hpp"       // thread_stripe()

namespace mqtt_presence::detail {

class ShardGroups {
public:
    /// Groups the n items whose hashes are hashes[0, n); shard_of(h) < shards.
    template <class ShardOf>
    void build(const std::uint64_t* hashes, std::size_t n, std::size_t shards, const ShardOf& shard_of) {
        m_shard_at.resize(n);
        m_ends.assign(shards + 1, 0);
        for (std::size_t i = 0; i < n; ++i) {
            m_shard_at[i] = static_cast<std::uint32_t>(shard_of(hashes[i]));
            ++m_ends[m_shard_at[i] + 1];
        }
        m_groups.clear();
        for (std::size_t s = 0; s < shards; ++s) {
            if (m_ends[s + 1] != 0) m_groups.push_back(static_cast<std::uint32_t>(s));
            m_ends[s + 1] += m_ends[s];
        }
        const std::size_t offset = static_cast<std::size_t>(
                (std::uint64_t{static_cast<std::uint32_t>(thread_stripe() * 0x9E3779B9U)} * m_groups.size()) >> 32);
        std::rotate(m_groups.begin(), m_groups.begin() + static_cast<std::ptrdiff_t>(offset), m_groups.end());
        m_order.resize(n);
        m_hashes.resize(n);
        for (std::size_t i = 0; i < n; ++i) { // m_ends[s]: where group s begins, then where it ends
            const std::uint32_t k = m_ends[m_shard_at[i]]++;
            m_order[k] = static_cast<std::uint32_t>(i);
            m_hashes[k] = hashes[i];
        }
    }

    /// Number of groups (shards with items), in the order to apply them.
    [[nodiscard]] std::size_t count() const noexcept { return m_groups.size(); }
    /// The shard of group g.
    [[nodiscard]] std::size_t shard(std::size_t g) const noexcept { return m_groups[g]; }
    /// Group g's items are positions [begin(g), end(g)) of the grouped order.
    [[nodiscard]] std::size_t begin(std::size_t g) const noexcept {
        return m_groups[g] == 0 ? 0 : m_ends[m_groups[g] - 1];
    }
    [[nodiscard]] std::size_t end(std::size_t g) const noexcept { return m_ends[m_groups[g]]; }
    /// The input position of the item at grouped position k, and its hash.
    [[nodiscard]] std::size_t item(std::size_t k) const noexcept { return m_order[k]; }
    [[nodiscard]] std::uint64_t hash(std::size_t k) const noexcept { return m_hashes[k]; }
    /// Group g's hashes, contiguous: end(g) - begin(g) of them.
    [[nodiscard]] const std::uint64_t* hashes(std::size_t g) const noexcept { return m_hashes.data() + begin(g); }

    /// storage.prefetch_shard() of group g's hashes at `stage`; nothing past the last group.
    template <class Storage>
    void prefetch(const Storage& storage, std::size_t g, PrefetchStage stage) const noexcept {
        if (g < count()) storage.prefetch_shard(shard(g), hashes(g), end(g) - begin(g), stage);
    }

private:
    std::vector<std::uint32_t> m_shard_at; // by input position
    std::vector<std::uint32_t> m_ends;     // by shard: where its group ends in the grouped order
    std::vector<std::uint32_t> m_order;    // input positions, grouped by shard
    std::vector<std::uint64_t> m_hashes;   // by grouped position
    std::vector<std::uint32_t> m_groups;   // the shards with items, from this thread's start
};

} // namespace mqtt_presence::detail
