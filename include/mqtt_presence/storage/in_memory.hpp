#pragma once
// InMemoryStorage: the default storage policy. One flat hash table, no locking.
//
// Layout (detail/flat_table.hpp): an index of 8-byte slots (linear probing, at most 7/8 full)
// over one dense array of 106-byte entries, each a client id of up to 24 bytes kept inline
// (longer ids take one heap block of their length + 4 bytes) and its 80-byte ClientRecord with
// one channel inline. A lookup by std::string_view hashes once, reads one slot and one entry,
// and never allocates. At 1 M clients that is about 124 bytes per client.
//
// Thread safety: none. Use it from one thread at a time; concurrent const calls are safe only
// when no call modifies it.
// Models the concept in storage/concept.hpp, with the optional hashed lookup and prefetch().

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>

#include "../detail/flat_table.hpp"
#include "../rules.hpp"
#include "concept.hpp"

namespace mqtt_presence {

namespace detail {
/// The client id table of the in-memory storages.
using RecordTable = FlatTable<ClientRecord, 24>;

/// One stage of a prefetch in `table` (see InMemoryStorage::prefetch). At stage detail, every
/// cache line of the record's channels kept outside it, up to four: the rules read them all,
/// and a client with more channels is rare.
inline void prefetch_stage(const RecordTable& table, std::uint64_t h, PrefetchStage stage) noexcept {
    switch (stage) {
    case PrefetchStage::locate: table.prefetch_slot(h); break;
    case PrefetchStage::record: table.prefetch_entry(h); break;
    case PrefetchStage::detail:
        if (const auto* e = table.peek(h); e != nullptr && e->value.channels.size() > 1) {
            const char* first = reinterpret_cast<const char*>(e->value.channels.data());
            const std::size_t bytes =
                    std::min<std::size_t>(e->value.channels.size() * sizeof(Channel), std::size_t{4} * 64);
            for (std::size_t offset = 0; offset < bytes; offset += 64) RecordTable::prefetch(first + offset);
            RecordTable::prefetch(first + bytes - 1);
        }
        break;
    }
}
} // namespace detail

class InMemoryStorage {
public:
    /// Client ids of at most this many bytes are kept inside the entry.
    static constexpr std::size_t inline_id_bytes = 24;
    static_assert(std::is_same_v<detail::RecordTable, detail::FlatTable<ClientRecord, inline_id_bytes>>);

    /// Calls fn(ClientRecord&) on the client's record, created empty if absent, and erases the
    /// record if fn leaves it empty (also when fn throws). Average O(1) plus fn.
    template <class Fn>
    void update(std::string_view client_id, Fn&& fn) {
        update(client_id, hash(client_id), std::forward<Fn>(fn));
    }

    /// The same, given h == hash(client_id) (ingest_batch hashes each id once).
    template <class Fn>
    void update(std::string_view client_id, std::uint64_t h, Fn&& fn) {
        const std::size_t i = m_table.find_or_insert(client_id, h);
        ClientRecord& record = m_table.entry(i).value;
        struct EraseIfEmpty {
            Table& table;
            std::size_t i;
            const ClientRecord& record;
            ~EraseIfEmpty() {
                if (record.empty()) table.erase(i);
            }
        } guard{m_table, i, record};
        std::forward<Fn>(fn)(record);
    }

    /// Calls fn(const ClientRecord*), nullptr when the client is unknown. Average O(1) plus fn.
    template <class Fn>
    void visit(std::string_view client_id, Fn&& fn) const {
        visit(client_id, hash(client_id), std::forward<Fn>(fn));
    }

    /// The same, given h == hash(client_id).
    template <class Fn>
    void visit(std::string_view client_id, std::uint64_t h, Fn&& fn) const {
        const auto* entry = m_table.find_entry(client_id, h);
        std::forward<Fn>(fn)(entry == nullptr ? nullptr : &entry->value);
    }

    /// Calls fn(std::string_view client_id, const ClientRecord&) for every record, in no order.
    /// The id view is valid during the call only.
    template <class Fn>
    void for_each(Fn&& fn) const {
        m_table.for_each(std::forward<Fn>(fn));
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_table.size(); }

    /// Prepares for `clients` records without rehashing.
    void reserve(std::size_t clients) { m_table.reserve(clients); }

    /// The hash update() and prefetch() take. No effect.
    [[nodiscard]] static std::uint64_t hash(std::string_view client_id) noexcept { return Table::hash(client_id); }

    /// A hint: starts fetching what the lookup of the id with hash h needs: the index slot
    /// (stage locate), a little later the entry (stage record), then its channels beyond the
    /// first (stage detail), each found through what the stage before fetched. Changes nothing.
    void prefetch(std::uint64_t h, PrefetchStage stage) const noexcept { detail::prefetch_stage(m_table, h, stage); }

    /// Bytes this storage holds: index, entries, long ids, and channels beyond the first.
    /// O(clients).
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
        std::size_t bytes = m_table.memory_bytes();
        m_table.for_each([&](std::string_view, const ClientRecord& record) { bytes += record.heap_bytes(); });
        return bytes;
    }

    /// One stored entry: the client id (inline up to inline_id_bytes) and its record.
    using entry_type = detail::FlatTable<ClientRecord, inline_id_bytes>::Entry;
    static constexpr std::size_t entry_bytes = sizeof(entry_type);

private:
    using Table = detail::FlatTable<ClientRecord, inline_id_bytes>;
    Table m_table;
};

static_assert(InMemoryStorage::entry_bytes == 106, "an InMemoryStorage entry is meant to be 106 bytes");

} // namespace mqtt_presence
