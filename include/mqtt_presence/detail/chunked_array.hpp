#pragma once
// A growable array of T in fixed chunks of 2^ChunkBits elements that never move: growing
// allocates one more chunk and copies nothing, so there is no moment with two copies of a large
// table, no pause to move millions of records, and no freed block left behind in the heap. A
// chunk's memory is touched only as far as elements are built in it. Indexing costs one more
// (cached) load than a vector: the chunk pointer.
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace mqtt_presence::detail {

template <class T, unsigned ChunkBits>
class ChunkedArray {
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>,
                  "ChunkedArray needs nothrow moves");

public:
    static constexpr std::size_t chunk_size = std::size_t{1} << ChunkBits;

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
    [[nodiscard]] T& operator[](std::size_t i) noexcept { return m_chunks[i >> ChunkBits][i & (chunk_size - 1)]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept {
        return m_chunks[i >> ChunkBits][i & (chunk_size - 1)];
    }
    [[nodiscard]] T& back() noexcept { return (*this)[m_size - 1]; }

    /// Elements the allocated chunks hold.
    [[nodiscard]] std::size_t capacity() const noexcept { return m_chunks.size() * chunk_size; }

    /// Room for `n` elements in the chunk list (the chunks themselves come as needed).
    void reserve(std::size_t n) { m_chunks.reserve((n + chunk_size - 1) >> ChunkBits); }

    /// Appends; strong guarantee.
    void push_back(T&& item) {
        if (m_size == capacity()) {
            m_chunks.reserve(m_chunks.size() + 1); // may throw: nothing changed yet
            m_chunks.push_back(std::allocator<T>{}.allocate(chunk_size));
        }
        ::new (static_cast<void*>(&(*this)[m_size])) T(std::move(item));
        ++m_size;
    }

    /// Removes the last element. Keeps at most one empty chunk at the end.
    void pop_back() noexcept {
        back().~T();
        --m_size;
        release_chunks((m_size + chunk_size) >> ChunkBits);
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
            std::allocator<T>{}.deallocate(m_chunks.back(), chunk_size);
            m_chunks.pop_back();
        }
    }

    std::vector<T*> m_chunks;
    std::size_t m_size = 0;
};

} // namespace mqtt_presence::detail
