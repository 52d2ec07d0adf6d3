#pragma once
// Online clients per Group ID, kept by ClientStatusStore from its transitions: +1 on every
// went_online, -1 on every went_offline of a client of the group. A hash table looked up by
// std::string_view without allocating; the one allocation is a group's first edge.
//   GroupCounts<false>  plain numbers, for a single-threaded storage;
//   GroupCounts<true>   striped like the store's counters: a thread adds to its own stripe (a
//                       map behind its own mutex, rarely contended), a read sums the stripes.
// Plumbing: nothing outside the library should name it.

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hash.hpp"

namespace mqtt_presence::detail {

/// A stripe index per thread, handed out in turn: threads that run at the same time mostly
/// get different stripes of a striped counter.
inline std::size_t thread_stripe() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
    return index;
}

// group -> count: an open-addressing table of (hash, entry) slots over entries that never
// move, looked up by view without allocating. Group IDs are few and short, and every edge
// looks one up, so the hash reads 8 bytes at a time and the slot keeps the whole hash: a
// lookup is one hash, one slot and one compare.
class GroupTable {
public:
    GroupTable() = default;
    GroupTable(const GroupTable& other) : m_slots(other.m_slots.size()) {
        m_entries.reserve(other.m_entries.size());
        for (const auto& e : other.m_entries) m_entries.push_back(std::make_unique<Entry>(*e));
        for (const auto& e : m_entries) place(e.get());
    }
    GroupTable& operator=(const GroupTable& other) {
        if (this != &other) *this = GroupTable(other);
        return *this;
    }
    GroupTable(GroupTable&& other) noexcept
            : m_entries(std::move(other.m_entries)), m_slots(std::move(other.m_slots)),
              m_last(std::exchange(other.m_last, nullptr)) {}
    GroupTable& operator=(GroupTable&& other) noexcept {
        m_entries = std::move(other.m_entries);
        m_slots = std::move(other.m_slots);
        m_last = std::exchange(other.m_last, nullptr);
        return *this;
    }

    /// Adds `delta` to the group's count, creating it at 0 first if new (strong guarantee).
    void add(std::string_view group, std::int64_t delta) {
        // A consumer of one queue sees one group: the last one is checked before hashing.
        Entry* e = m_last;
        if (e == nullptr || !equal(e->name, group)) {
            const std::uint64_t h = hash(group);
            e = find(group, h);
            if (e == nullptr) e = insert(group, h);
            m_last = e;
        }
        e->count += delta;
    }

    [[nodiscard]] std::int64_t get(std::string_view group) const {
        const Entry* e = const_cast<GroupTable*>(this)->find(group, hash(group));
        return e == nullptr ? 0 : e->count;
    }

    /// Calls fn(std::string_view group, std::int64_t count) for every group, in no order.
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (const auto& e : m_entries) fn(std::string_view(e->name), e->count);
    }

    /// Removes the groups that `keep(name)` rejects.
    template <class Keep>
    void retain(Keep&& keep) {
        std::vector<std::unique_ptr<Entry>> kept;
        kept.reserve(m_entries.size());
        std::vector<Slot> slots(m_slots.size() < 8 ? 8 : m_slots.size()); // may throw: nothing changed yet
        std::vector<bool> keeps;
        keeps.reserve(m_entries.size());
        for (const auto& e : m_entries) keeps.push_back(keep(std::string_view(e->name)));
        for (std::size_t i = 0; i < m_entries.size(); ++i)
            if (keeps[i]) kept.push_back(std::move(m_entries[i]));
        m_last = nullptr;
        m_entries = std::move(kept);
        m_slots = std::move(slots);
        for (const auto& e : m_entries) place(e.get());
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_entries.size(); }

private:
    struct Entry {
        std::string name;
        std::int64_t count = 0;
        std::uint64_t hash = 0;
    };
    struct Slot {
        std::uint64_t hash = 0;
        Entry* entry = nullptr;
    };

    static std::uint64_t hash(std::string_view s) noexcept { return hash_bytes(s); }

    static bool equal(std::string_view a, std::string_view b) noexcept {
        return a.size() == b.size() && same_bytes(a.data(), b.data(), a.size());
    }

    Entry* find(std::string_view group, std::uint64_t h) noexcept {
        if (m_slots.empty()) return nullptr;
        const std::size_t mask = m_slots.size() - 1;
        for (std::size_t i = static_cast<std::size_t>(h >> 32) & mask;; i = (i + 1) & mask) {
            const Slot& slot = m_slots[i];
            if (slot.entry == nullptr) return nullptr;
            if (slot.hash == h && equal(slot.entry->name, group)) return slot.entry;
        }
    }

    Entry* insert(std::string_view group, std::uint64_t h) {
        auto entry = std::make_unique<Entry>();
        entry->name.assign(group);
        entry->hash = h;
        m_entries.reserve(m_entries.size() + 1);
        if (2 * (m_entries.size() + 1) > m_slots.size())
            rebuild(m_slots.empty() ? 8 : 2 * m_slots.size()); // may throw: nothing changed yet
        Entry* e = entry.get();
        m_entries.push_back(std::move(entry)); // reserved: no throw
        place(e);
        return e;
    }

    void rebuild(std::size_t slots) {
        std::vector<Slot> fresh(slots < 8 ? 8 : slots);
        m_slots.swap(fresh);
        for (const auto& e : m_entries) place(e.get());
    }

    void place(Entry* e) noexcept {
        const std::size_t mask = m_slots.size() - 1;
        std::size_t i = static_cast<std::size_t>(e->hash >> 32) & mask;
        while (m_slots[i].entry != nullptr) i = (i + 1) & mask;
        m_slots[i] = Slot{e->hash, e};
    }

    std::vector<std::unique_ptr<Entry>> m_entries; // owners; entries never move
    std::vector<Slot> m_slots;                     // a power of two, at most half full
    Entry* m_last = nullptr;                       // the group of the last add()
};

template <bool Concurrent>
class GroupCounts {
public:
    void add(std::string_view group, std::int64_t delta) { m_table.add(group, delta); }
    [[nodiscard]] std::int64_t get(std::string_view group) const { return m_table.get(group); }

    /// Calls fn(std::string_view group, std::int64_t online) for every group with clients
    /// online, in byte order of the group.
    template <class Fn>
    void for_each_online(Fn&& fn) const {
        std::vector<std::pair<std::string_view, std::int64_t>> groups;
        m_table.for_each([&](std::string_view name, std::int64_t count) {
            if (count > 0) groups.emplace_back(name, count);
        });
        std::sort(groups.begin(), groups.end());
        for (const auto& [name, count] : groups) fn(name, count);
    }

    /// Forgets the groups with no client online (their memory), keeping the others.
    void trim() {
        m_table.retain([&](std::string_view name) { return m_table.get(name) != 0; });
    }

    [[nodiscard]] std::size_t groups() const noexcept { return m_table.size(); }

private:
    GroupTable m_table;
};

template <>
class GroupCounts<true> {
public:
    void add(std::string_view group, std::int64_t delta) {
        Stripe& s = m_stripes[thread_stripe() % stripes];
        const std::lock_guard<std::mutex> lock(s.mutex);
        s.table.add(group, delta);
    }

    /// The sum over the stripes; exact when no add() is in flight. O(stripes).
    [[nodiscard]] std::int64_t get(std::string_view group) const {
        std::int64_t total = 0;
        for (const Stripe& s : m_stripes) {
            const std::lock_guard<std::mutex> lock(s.mutex);
            total += s.table.get(group);
        }
        return total;
    }

    template <class Fn>
    void for_each_online(Fn&& fn) const {
        const std::map<std::string, std::int64_t, std::less<>> totals = sum();
        for (const auto& [name, count] : totals)
            if (count > 0) fn(std::string_view(name), count);
    }

    /// Forgets the groups whose stripes sum to zero. Holds every stripe's lock (in order).
    void trim() {
        std::vector<std::unique_lock<std::mutex>> locks;
        locks.reserve(stripes);
        for (Stripe& s : m_stripes) locks.emplace_back(s.mutex);
        std::map<std::string, std::int64_t, std::less<>> totals;
        for (const Stripe& s : m_stripes)
            s.table.for_each([&](std::string_view name, std::int64_t count) { totals[std::string(name)] += count; });
        for (Stripe& s : m_stripes)
            s.table.retain([&](std::string_view name) {
                const auto it = totals.find(name);
                return it != totals.end() && it->second != 0;
            });
    }

    [[nodiscard]] std::size_t groups() const { return sum().size(); }

private:
    static constexpr std::size_t stripes = 16;
    struct alignas(64) Stripe {
        mutable std::mutex mutex;
        GroupTable table;
    };

    std::map<std::string, std::int64_t, std::less<>> sum() const {
        std::map<std::string, std::int64_t, std::less<>> totals;
        for (const Stripe& s : m_stripes) {
            const std::lock_guard<std::mutex> lock(s.mutex);
            s.table.for_each([&](std::string_view name, std::int64_t count) {
                const auto it = totals.find(name);
                if (it == totals.end())
                    totals.emplace(std::string(name), count);
                else
                    it->second += count;
            });
        }
        return totals;
    }

    Stripe m_stripes[stripes];
};

} // namespace mqtt_presence::detail
