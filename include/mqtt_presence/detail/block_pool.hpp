#pragma once
// Where records keep their channels beyond the first: blocks of 4, 8, 16, 32 or 64 elements
// (SmallVector rounds its heap capacity up to one of these), carved from 2 MiB chunks advised
// for transparent huge pages (large_block.hpp), with one free list per size.
//
// Why: at millions of clients a lookup reads a record's channel array at a random place, and
// in 4 KiB pages nearly every such read also misses the TLB, whose page walk costs about as
// much as the cache miss itself on a virtual machine. Blocks from huge pages take that away
// (about a fifth of the ingest time at 1 M clients), and need no per-block header.
//
// There is one pool per element size in a process, shared by every storage and thread (a mutex around two
// pointer moves; a block is taken only when a record's channel array grows). Freed blocks go
// back to their free list for the next record that needs one; chunks are not returned to the
// operating system before the process ends, like most allocators' arenas. Larger blocks come
// from operator new.
//
// Compiled out (operator new for every block) with MQTT_PRESENCE_NO_BLOCK_POOL. Under
// AddressSanitizer every free block and a 16-byte gap after every block are poisoned, so that a
// use after free or an overflow past a block is reported as it would be with operator new.
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <mutex>
#include <new>

#include "large_block.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define MQTT_PRESENCE_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MQTT_PRESENCE_POOL_ASAN 1
#endif
#endif
#if defined(MQTT_PRESENCE_POOL_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace mqtt_presence::detail {

// Blocks for vectors of elements of `ElementBytes` bytes (one pool per size: a block freed by
// a vector of one element type is only ever reused for the same size).
template <std::size_t ElementBytes>
class BlockPool {
public:
    /// Size classes: blocks of min_elements << c elements, c < classes.
    static constexpr std::size_t min_elements = 4;
    static constexpr std::size_t classes = 5;
    static constexpr std::size_t max_elements = min_elements << (classes - 1);
    static constexpr std::size_t chunk_bytes = huge_page_bytes;

    /// The capacity a vector asking for `count` elements (count <= max_elements) is given.
    [[nodiscard]] static constexpr std::size_t pooled_capacity(std::size_t count) noexcept {
        std::size_t capacity = min_elements;
        while (capacity < count) capacity *= 2;
        return capacity;
    }

    /// Whether blocks of `capacity` elements come from the pool (else operator new).
    [[nodiscard]] static constexpr bool pooled(std::size_t capacity) noexcept {
#if defined(MQTT_PRESENCE_NO_BLOCK_POOL)
        (void)capacity;
        return false;
#else
        return capacity >= min_elements && capacity <= max_elements && (capacity & (capacity - 1)) == 0;
#endif
    }

    /// A block for `capacity` elements, aligned for alignment 16.
    [[nodiscard]] static void* allocate(std::size_t capacity) {
        if (!pooled(capacity)) return ::operator new(capacity* ElementBytes);
        return instance().take(class_of(capacity), round16(capacity * ElementBytes));
    }

    static void deallocate(void* p, std::size_t capacity) noexcept {
        if (!pooled(capacity)) {
            ::operator delete(p);
            return;
        }
        instance().give(class_of(capacity), p, round16(capacity * ElementBytes));
    }

private:
    struct FreeBlock {
        FreeBlock* next;
    };

    static constexpr std::size_t round16(std::size_t bytes) noexcept { return (bytes + 15) / 16 * 16; }

#if defined(MQTT_PRESENCE_POOL_ASAN)
    static constexpr std::size_t gap = 16; // poisoned after each block
    static void poison(void* p, std::size_t bytes) noexcept { ASAN_POISON_MEMORY_REGION(p, bytes); }
    static void unpoison(void* p, std::size_t bytes) noexcept { ASAN_UNPOISON_MEMORY_REGION(p, bytes); }
#else
    static constexpr std::size_t gap = 0;
    static void poison(void*, std::size_t) noexcept {}
    static void unpoison(void*, std::size_t) noexcept {}
#endif
    static constexpr std::size_t class_of(std::size_t capacity) noexcept {
        std::size_t c = 0;
        while ((min_elements << c) < capacity) ++c;
        return c;
    }

    // Never destroyed: records in static storage may free their blocks after main returns.
    static BlockPool& instance() {
        static BlockPool* const pool = new BlockPool;
        return *pool;
    }

    void* take(std::size_t c, std::size_t bytes) {
        const std::lock_guard<std::mutex> lock(m_mutex);
        if (FreeBlock* block = m_free[c]) {
            unpoison(block, sizeof(FreeBlock));
            m_free[c] = block->next;
            unpoison(block, bytes);
            return block;
        }
        if (static_cast<std::size_t>(m_end - m_cursor) < bytes + gap) {
            char* chunk = static_cast<char*>(allocate_large(chunk_bytes)); // may throw: nothing changed
            advise_huge_pages(chunk, chunk_bytes);
            poison(chunk, chunk_bytes);
            m_cursor = chunk;
            m_end = chunk + chunk_bytes; // (the last chunk's unused tail, under 3 KiB, is left)
        }
        char* block = m_cursor;
        m_cursor += bytes + gap;
        unpoison(block, bytes);
        return block;
    }

    void give(std::size_t c, void* p, std::size_t bytes) noexcept {
        const std::lock_guard<std::mutex> lock(m_mutex);
        poison(p, bytes);
        unpoison(p, sizeof(FreeBlock));
        m_free[c] = ::new (p) FreeBlock{m_free[c]};
        poison(p, sizeof(FreeBlock));
    }

    std::mutex m_mutex;
    FreeBlock* m_free[classes] = {};
    char* m_cursor = nullptr;
    char* m_end = nullptr;
};

} // namespace mqtt_presence::detail
