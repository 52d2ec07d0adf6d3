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

/// Stage record of a prefetch in `table`: starts fetching the entry that the index (fetched at
/// stage locate) points to for hash h, and returns its number, a guess (see FlatTable::peek).
inline std::size_t prefetch_record(const RecordTable& table, std::uint64_t h) noexcept {
    const std::size_t guess = table.peek(h);
    table.prefetch_entry(guess);
    return guess;
}

/// Stage detail of a prefetch in `table`, from the guess of stage record: every cache line of
/// the record's channels kept outside it, up to four (the rules read them all, and a client
/// with more channels is rare).
inline void prefetch_detail(const RecordTable& table, std::size_t guess) noexcept {
    if (guess >= table.size()) return;
    const ClientRecord& record = table.entry(guess).value;
    if (record.channels.size() <= 1) return;
    const char* first = reinterpret_cast<const char*>(record.channels.data());
    const std::size_t bytes = std::min<std::size_t>(record.channels.size() * sizeof(Channel), std::size_t{4} * 64);
    for (std::size_t offset = 0; offset < bytes; offset += 64) RecordTable::prefetch(first + offset);
    RecordTable::prefetch(first + bytes - 1);
}

/// One stage of a prefetch in `table` (see InMemoryStorage::prefetch).
inline void prefetch_stage(const RecordTable& table, std::uint64_t h, PrefetchStage stage) noexcept {
    switch (stage) {
    case PrefetchStage::locate: table.prefetch_slot(h); break;
    case PrefetchStage::record: (void)prefetch_record(table, h); break;
    case PrefetchStage::detail: prefetch_detail(table, table.peek(h)); break;
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
        update_entry(m_table.find_or_insert(client_id, h), std::forward<Fn>(fn));
    }

    /// The same, given a guess of where the record is, from prefetch_record(h) (see there).
    template <class Fn>
    void update(std::string_view client_id, std::uint64_t h, std::size_t guess, Fn&& fn) {
        update_entry(m_table.find_or_insert(client_id, h, guess), std::forward<Fn>(fn));
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

    /// The same, given a guess from prefetch_record(h).
    template <class Fn>
    void visit(std::string_view client_id, std::uint64_t h, std::size_t guess, Fn&& fn) const {
        const auto* entry = m_table.find_entry(client_id, h, guess);
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

    /// Stage record of prefetch(h, ·), returning a guess of where the record is, which
    /// prefetch_detail() and the update() and visit() that take one start from: they look the
    /// id up once, not three times. The guess is checked before use (the storage may have
    /// changed since; any value is safe).
    [[nodiscard]] std::size_t prefetch_record(std::uint64_t h) const noexcept {
        return detail::prefetch_record(m_table, h);
    }
    /// Stage detail of prefetch(h, ·), given prefetch_record(h)'s guess.
    void prefetch_detail(std::size_t guess) const noexcept { detail::prefetch_detail(m_table, guess); }

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

    // update() of entry i: erases the record if fn leaves it empty (also when fn throws).
    template <class Fn>
    void update_entry(std::size_t i, Fn&& fn) {
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

    Table m_table;
};

static_assert(InMemoryStorage::entry_bytes == 106, "an InMemoryStorage entry is meant to be 106 bytes");

} // namespace mqtt_presence
