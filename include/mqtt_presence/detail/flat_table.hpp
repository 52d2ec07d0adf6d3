#pragma once
// The hash table under the in-memory storages: client id → value, built for millions of small
// records looked up by std::string_view, with no allocation per lookup and two memory accesses
// (one index slot, one entry) for most of them.
//
//   index    a power-of-two array of 8-byte slots {32 bits of the key's hash, entry number},
//            linear probing, at most 7/8 full, backward-shift deletion (no tombstones to age)
//   entries  one dense array of Entry{key, value} in 2 MiB chunks that never move
//            (chunked_array.hpp): no per-record node, no pointer to chase, no copy on growth;
//            erase moves the last entry into the hole
//   memory   index and chunks of 2 MiB or more are advised for transparent huge pages
//            (large_block.hpp): at millions of clients that saves most TLB misses
//   keys     CompactString<KeyBytes>: the id inline when it has at most KeyBytes bytes (or is
//            hex, packed two digits a byte), else in one heap block of its length + 4 bytes
//
// At most 2^32 - 2 entries. Not thread-safe; the storages add what they promise.
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "chunked_array.hpp"
#include "compact_string.hpp"
#include "hash.hpp"
#include "large_block.hpp"
#include "prefetch.hpp"

namespace mqtt_presence::detail {

template <class Value, std::size_t KeyBytes>
class FlatTable {
public:
    using Key = CompactString<KeyBytes>;
    struct Entry {
        Key key;
        Value value;
    };

    /// "No such entry".
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    FlatTable() = default;
    FlatTable(FlatTable&&) noexcept = default;
    FlatTable& operator=(FlatTable&&) noexcept = default;
    FlatTable(const FlatTable& other) : m_entries(other.m_entries) { rebuild(other.slot_count()); }
    // (the copy's index is rebuilt: entries keep their numbers, so the slots would do too, but
    // rebuilding keeps this the one place that fills an index)
    FlatTable& operator=(const FlatTable& other) {
        if (this != &other) {
            FlatTable copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    ~FlatTable() = default;

    /// The hash every member below expects for a key.
    [[nodiscard]] static std::uint64_t hash(std::string_view key) noexcept { return hash_bytes(key); }

    [[nodiscard]] std::size_t size() const noexcept { return m_entries.size(); }
    [[nodiscard]] Entry& entry(std::size_t i) noexcept { return m_entries[i]; }
    [[nodiscard]] const Entry& entry(std::size_t i) const noexcept { return m_entries[i]; }

    /// The number of the entry with this key, or npos.
    [[nodiscard]] std::size_t find(std::string_view key, std::uint64_t h) const noexcept {
        return locate(key, h).number;
    }

    /// The entry with this key, or nullptr (no second walk from its number to its chunk).
    [[nodiscard]] const Entry* find_entry(std::string_view key, std::uint64_t h) const noexcept {
        return locate(key, h).entry;
    }

    /// The same, given a guess of the entry's number (peek(h), taken earlier: the table may
    /// have changed since, so the guess counts only if its entry holds the key).
    [[nodiscard]] const Entry* find_entry(std::string_view key, std::uint64_t h, std::size_t guess) const noexcept {
        if (guess < m_entries.size() && m_entries[guess].key.equals(key)) return &m_entries[guess];
        return locate(key, h).entry;
    }

    /// The number of the entry with this key, inserted with a value-initialised Value if
    /// absent. Strong guarantee: if it throws (std::bad_alloc, std::length_error), nothing
    /// changed.
    std::size_t find_or_insert(std::string_view key, std::uint64_t h) {
        const std::size_t found = find(key, h);
        if (found != npos) return found;
        if (m_entries.size() >= max_entries) throw std::length_error("mqtt_presence: too many clients for one table");
        if ((m_entries.size() + 1) * 8 > slot_count() * 7) rebuild(slot_count() == 0 ? 16 : slot_count() * 2);
        m_entries.push_back(Entry{Key(key), Value{}});
        const auto number = static_cast<std::uint32_t>(m_entries.size() - 1);
        std::size_t s = home(h);
        while (m_slots[s].entry != empty) s = (s + 1) & m_mask;
        m_slots[s] = Slot{static_cast<std::uint32_t>(h), number};
        return number;
    }

    /// The same, given a guess of the entry's number (as find_entry).
    std::size_t find_or_insert(std::string_view key, std::uint64_t h, std::size_t guess) {
        if (guess < m_entries.size() && m_entries[guess].key.equals(key)) return guess;
        return find_or_insert(key, h);
    }

    /// Removes entry `i`; the last entry takes its number. No-throw.
    void erase(std::size_t i) noexcept {
        typename Key::Scratch scratch;
        release_slot(slot_of(i, scratch));
        const std::size_t last = m_entries.size() - 1;
        if (i != last) {
            m_slots[slot_of(last, scratch)].entry = static_cast<std::uint32_t>(i);
            m_entries[i] = std::move(m_entries[last]);
        }
        m_entries.pop_back();
    }

    /// Makes room for `n` entries without rebuilding the index.
    void reserve(std::size_t n) {
        m_entries.reserve(n);
        std::size_t slots = slot_count() == 0 ? 16 : slot_count();
        while (n * 8 > slots * 7) slots *= 2;
        if (slots != slot_count()) rebuild(slots);
    }

    /// Starts fetching the index slot where a lookup of this hash begins.
    void prefetch_slot(std::uint64_t h) const noexcept {
        if (m_slots.get() != nullptr) prefetch(&m_slots[home(h)]);
    }

    /// The number of the entry of the first slot whose tag matches h, or npos: a guess, for
    /// prefetching and for the lookups that take one (a tag can match another key, and the
    /// table can change before the guess is used). Cheap once the slot is cached, as after
    /// prefetch_slot().
    [[nodiscard]] std::size_t peek(std::uint64_t h) const noexcept {
        if (m_slots.get() == nullptr) return npos;
        const auto tag = static_cast<std::uint32_t>(h);
        for (std::size_t s = home(h);; s = (s + 1) & m_mask) {
            const Slot slot = m_slots[s];
            if (slot.entry == empty) return npos;
            if (slot.tag == tag) return slot.entry;
        }
    }

    /// Starts fetching entry i (both of its cache lines); nothing for npos.
    void prefetch_entry(std::size_t i) const noexcept {
        if (i >= m_entries.size()) return;
        const Entry* e = &m_entries[i];
        prefetch(e);
        prefetch(reinterpret_cast<const char*>(e) + sizeof(Entry) - 1);
    }

    /// Starts fetching the memory at p (a hint; p need not be valid to dereference).
    static void prefetch(const void* p) noexcept { prefetch_read(p); }

    /// Calls fn(std::string_view key, const Value&) for every entry, in no order.
    template <class Fn>
    void for_each(Fn&& fn) const {
        typename Key::Scratch scratch;
        for (std::size_t i = 0; i < m_entries.size(); ++i) fn(m_entries[i].key.view(scratch), m_entries[i].value);
    }

    /// Bytes held: index, entries (what is resident of their chunks), and keys kept on the
    /// heap. Values' own heap memory is not included (ask the values).
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
        std::size_t bytes = slot_count() * sizeof(Slot) + m_entries.resident_bytes();
        for (std::size_t i = 0; i < m_entries.size(); ++i)
            if (m_entries[i].key.on_heap()) bytes += m_entries[i].key.size() + sizeof(std::uint32_t);
        return bytes;
    }

    [[nodiscard]] std::size_t slot_count() const noexcept { return m_slots.get() == nullptr ? 0 : m_mask + 1; }

private:
    struct Slot {
        std::uint32_t tag;
        std::uint32_t entry;
    };
    static constexpr std::uint32_t empty = 0xffffffffU;
    static constexpr std::size_t max_entries = 0xfffffffeU;

    struct Hit {
        std::size_t number; // npos when absent
        const Entry* entry; // nullptr when absent
    };
    [[nodiscard]] Hit locate(std::string_view key, std::uint64_t h) const noexcept {
        if (m_slots.get() == nullptr) return {npos, nullptr};
        const auto tag = static_cast<std::uint32_t>(h);
        for (std::size_t s = home(h);; s = (s + 1) & m_mask) {
            const Slot slot = m_slots[s];
            if (slot.entry == empty) return {npos, nullptr};
            if (slot.tag != tag) continue;
            const Entry& candidate = m_entries[slot.entry];
            if (candidate.key.equals(key)) return {slot.entry, &candidate};
        }
    }

    // Where the probe for hash h starts: the high bits of a Fibonacci multiply, so that every
    // bit of the hash counts and the slot does not repeat the tag's bits.
    [[nodiscard]] std::size_t home(std::uint64_t h) const noexcept {
        return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ULL) >> m_shift);
    }

    // The slot that holds entry i.
    std::size_t slot_of(std::size_t i, typename Key::Scratch& scratch) const noexcept {
        const std::uint64_t h = hash(m_entries[i].key.view(scratch));
        std::size_t s = home(h);
        while (m_slots[s].entry != i) s = (s + 1) & m_mask;
        return s;
    }

    // Backward-shift deletion: pulls later members of the probe run into the hole, so that
    // every key stays reachable from its home slot without tombstones.
    void release_slot(std::size_t hole) noexcept {
        typename Key::Scratch scratch;
        for (std::size_t s = (hole + 1) & m_mask;; s = (s + 1) & m_mask) {
            const Slot slot = m_slots[s];
            if (slot.entry == empty) break;
            const std::size_t h = home(hash(m_entries[slot.entry].key.view(scratch)));
            // Movable into the hole when the hole lies on its probe path, from h to s.
            if (((s - h) & m_mask) >= ((s - hole) & m_mask)) {
                m_slots[hole] = slot;
                hole = s;
            }
        }
        m_slots[hole] = Slot{0, empty};
    }

    // A fresh index of `slots` slots (a power of two) for the current entries.
    void rebuild(std::size_t slots) {
        if (slots == 0) {
            m_slots.reset();
            return;
        }
        LargeArray<Slot> fresh(slots);
        for (std::size_t s = 0; s < slots; ++s) fresh[s] = Slot{0, empty};
        unsigned bits = 0;
        while ((std::size_t{1} << bits) < slots) ++bits;
        const unsigned shift = 64 - bits;
        const std::size_t mask = slots - 1;
        typename Key::Scratch scratch;
        for (std::size_t i = 0; i < m_entries.size(); ++i) {
            const std::uint64_t h = hash(m_entries[i].key.view(scratch));
            std::size_t s = static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ULL) >> shift);
            while (fresh[s].entry != empty) s = (s + 1) & mask;
            fresh[s] = Slot{static_cast<std::uint32_t>(h), static_cast<std::uint32_t>(i)};
        }
        m_slots = std::move(fresh);
        m_mask = mask;
        m_shift = shift;
    }

    LargeArray<Slot> m_slots;
    std::size_t m_mask = 0;
    unsigned m_shift = 64;
    ChunkedArray<Entry, huge_page_bytes> m_entries; // 2 MiB chunks: 19,784 entries of 106 bytes
};

} // namespace mqtt_presence::detail
