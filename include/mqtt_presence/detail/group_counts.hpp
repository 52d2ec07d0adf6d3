#pragma once
// Online clients per Group ID, kept by ClientStatusStore from its transitions: +1 on every
// went_online, -1 on every went_offline of a client of the group. A hash map looked up by
// std::string_view without allocating (its keys view names owned by its entries); the one
// allocation is a group's first edge.
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
#include <unordered_map>
#include <utility>
#include <vector>

namespace mqtt_presence::detail {

/// A stripe index per thread, handed out in turn: threads that run at the same time mostly
/// get different stripes of a striped counter.
inline std::size_t thread_stripe() noexcept {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
    return index;
}

// group -> count, looked up by view.
class GroupTable {
public:
    GroupTable() = default;
    GroupTable(const GroupTable&) = delete;
    GroupTable& operator=(const GroupTable&) = delete;
    GroupTable(GroupTable&& other) noexcept
        : m_map(std::move(other.m_map)), m_last(std::exchange(other.m_last, nullptr)) {}
    GroupTable& operator=(GroupTable&& other) noexcept {
        m_map = std::move(other.m_map);
        m_last = std::exchange(other.m_last, nullptr);
        return *this;
    }

    /// Adds `delta` to the group's count, creating it at 0 first if new (strong guarantee).
    void add(std::string_view group, std::int64_t delta) {
        // A consumer of one queue sees one group: the last one is checked before hashing.
        if (m_last == nullptr || m_last->name != group) {
            auto it = m_map.find(group);
            if (it == m_map.end()) {
                auto entry = std::make_unique<Entry>();
                entry->name.assign(group);
                const std::string_view key = entry->name;
                it = m_map.emplace(key, std::move(entry)).first;
            }
            m_last = it->second.get();
        }
        m_last->count += delta;
    }

    [[nodiscard]] std::int64_t get(std::string_view group) const {
        const auto it = m_map.find(group);
        return it == m_map.end() ? 0 : it->second->count;
    }

    /// Calls fn(std::string_view group, std::int64_t count) for every group, in no order.
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (const auto& [name, entry] : m_map) fn(name, entry->count);
    }

    /// Removes the groups that `keep(name)` rejects.
    template <class Keep>
    void retain(Keep&& keep) {
        m_last = nullptr;
        for (auto it = m_map.begin(); it != m_map.end();) it = keep(it->first) ? std::next(it) : m_map.erase(it);
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_map.size(); }

private:
    struct Entry {
        std::string name;
        std::int64_t count = 0;
    };
    std::unordered_map<std::string_view, std::unique_ptr<Entry>> m_map;
    Entry* m_last = nullptr;
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

    [[nodiscard]] std::size_t groups() const {
        return sum().size();
    }

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
                if (it == totals.end()) totals.emplace(std::string(name), count);
                else it->second += count;
            });
        }
        return totals;
    }

    Stripe m_stripes[stripes];
};

} // namespace mqtt_presence::detail
