#pragma once
// A growable array of T in fixed chunks of ChunkBytes bytes that never move: growing
// allocates one more chunk and copies nothing, so there is no moment with two copies of a large
// table, no pause to move millions of records, and no freed block left behind in the heap. A
// chunk's memory is touched only as far as elements are built in it. Indexing costs one more
// (cached) load than a vector: the chunk pointer, and a division by a constant (a multiply).
// Chunks come from allocate_large (large_block.hpp): a chunk of 2 MiB is one huge page's worth,
// and every chunk is advised for huge pages once there is more than one (a small array never
// holds a huge page that it does not fill).
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "large_block.hpp"

namespace mqtt_presence::detail {

template <class T, std::size_t ChunkBytes>
class ChunkedArray {
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>,
                  "ChunkedArray needs nothrow moves");
    static_assert(ChunkBytes >= sizeof(T), // NOLINT(bugprone-sizeof-expression): a size, compared on purpose
                  "ChunkedArray: a chunk must hold an element");
    static_assert(alignof(T) <= 64, "ChunkedArray: chunks are aligned to 64 bytes");

public:
    /// Elements per chunk.
    static constexpr std::size_t chunk_size = ChunkBytes / sizeof(T);

    ChunkedArray() = default;
    ChunkedArray(const ChunkedArray& other) {
        try {
            reserve(other.m_size);
            for (std::size_t i = 0; i < other.m_size; ++i) push_back(T(other[i]));
        } catch (...) {
            clear();
            release_chunks(0);
            throw;
        }
    }
    ChunkedArray(ChunkedArray&& other) noexcept
            : m_chunks(std::move(other.m_chunks)), m_size(std::exchange(other.m_size, 0)) {
        other.m_chunks.clear();
    }
    ChunkedArray& operator=(const ChunkedArray& other) {
        if (this != &other) {
            ChunkedArray copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    ChunkedArray& operator=(ChunkedArray&& other) noexcept {
        if (this != &other) {
            clear();
            release_chunks(0);
            m_chunks = std::move(other.m_chunks);
            other.m_chunks.clear();
            m_size = std::exchange(other.m_size, 0);
        }
        return *this;
    }
    ~ChunkedArray() {
        clear();
        release_chunks(0);
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
    [[nodiscard]] T& operator[](std::size_t i) noexcept { return m_chunks[i / chunk_size][i % chunk_size]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return m_chunks[i / chunk_size][i % chunk_size]; }
    [[nodiscard]] T& back() noexcept { return (*this)[m_size - 1]; }

    /// Elements the allocated chunks hold.
    [[nodiscard]] std::size_t capacity() const noexcept { return m_chunks.size() * chunk_size; }

    /// About the bytes resident: the chunks, whole once they are advised for huge pages (two
    /// or more), else the first one's pages as far as elements were built in it.
    [[nodiscard]] std::size_t resident_bytes() const noexcept {
        if (m_chunks.size() >= 2 && ChunkBytes >= huge_page_bytes) return m_chunks.size() * ChunkBytes;
        constexpr std::size_t page = 4096;
        const std::size_t touched = (m_size * sizeof(T) + page - 1) / page * page;
        const std::size_t whole = m_chunks.size() * ChunkBytes;
        return touched < whole ? touched : whole;
    }

    /// Room for `n` elements in the chunk list (the chunks themselves come as needed).
    void reserve(std::size_t n) { m_chunks.reserve((n + chunk_size - 1) / chunk_size); }

    /// Appends; strong guarantee.
    void push_back(T&& item) {
        if (m_size == capacity()) {
            m_chunks.reserve(m_chunks.size() + 1); // may throw: nothing changed yet
            m_chunks.push_back(static_cast<T*>(allocate_large(ChunkBytes)));
            if (m_chunks.size() == 2) advise_huge_pages(m_chunks[0], ChunkBytes); // outgrew the first
            if (m_chunks.size() >= 2) advise_huge_pages(m_chunks.back(), ChunkBytes);
        }
        ::new (static_cast<void*>(&(*this)[m_size])) T(std::move(item));
        ++m_size;
    }

    /// Removes the last element. Keeps at most one empty chunk at the end.
    void pop_back() noexcept {
        back().~T();
        --m_size;
        release_chunks((m_size + chunk_size) / chunk_size);
    }

    void clear() noexcept {
        while (m_size > 0) {
            back().~T();
            --m_size;
        }
    }

private:
    // Frees the chunks beyond the first `keep`.
    void release_chunks(std::size_t keep) noexcept {
        while (m_chunks.size() > keep) {
            deallocate_large(m_chunks.back(), ChunkBytes);
            m_chunks.pop_back();
        }
    }

    std::vector<T*> m_chunks;
    std::size_t m_size = 0;
};

} // namespace mqtt_presence::detail
