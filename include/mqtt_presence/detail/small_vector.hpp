#pragma once
// A vector that keeps its first N elements inside the object (a client's usual single channel
// needs no allocation) and moves to the heap beyond that. Only what the records need: ordered
// erase, push_back, copy and move. T must be nothrow-move-constructible. At most 65535
// elements. Elements of a type that is_relocatable (trivially copyable types, and those that
// declare it) move as bytes. It adds 4 bytes to the inline elements and no alignment of its
// own (the heap pointer is kept in the inline bytes), so SmallVector<T, 1> of a 48-byte,
// alignment-1 T takes 52 bytes (alignment 2). Heap blocks of up to 64 elements come from the
// process's block pool (block_pool.hpp: huge pages, capacities rounded up to a power of two).
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "block_pool.hpp"

namespace mqtt_presence::detail {

/// Whether a T may be moved by copying its bytes to new storage and then forgetting the old
/// ones (no destructor runs on them): true of trivially copyable types, and of a type that
/// holds nothing that points into itself and says so by a specialisation (Channel: its
/// strings own at most a heap block, which the copy then owns). The elements of a
/// SmallVector<T, N> then move with memcpy/memmove (erase, growth, a move of the vector,
/// push_back of an rvalue, which leaves it a fresh T), not one by one.
template <class T>
struct is_relocatable : std::is_trivially_copyable<T> {};

template <class T, std::size_t N>
class SmallVector {
    static_assert(N >= 1, "SmallVector needs at least one inline element");
    static_assert(std::is_nothrow_move_constructible_v<T>, "SmallVector needs a nothrow move");
    static_assert(N * sizeof(T) >= sizeof(T*), "SmallVector keeps its heap pointer in the inline bytes");
    static_assert(N <= 255, "SmallVector: too many inline elements");
    static_assert(alignof(T) <= 16, "SmallVector: heap blocks are aligned for 16 bytes");

public:
    using value_type = T;
    using iterator = T*;
    using const_iterator = const T*;

    SmallVector() noexcept = default;
    SmallVector(const SmallVector& other) {
        reserve(other.m_size);
        for (const T& item : other) push_back(item);
    }
    SmallVector(SmallVector&& other) noexcept { take(other); }
    SmallVector& operator=(const SmallVector& other) {
        if (this != &other) {
            SmallVector copy(other);
            clear_and_free();
            take(copy);
        }
        return *this;
    }
    SmallVector& operator=(SmallVector&& other) noexcept {
        if (this != &other) {
            clear_and_free();
            take(other);
        }
        return *this;
    }
    ~SmallVector() { clear_and_free(); }

    [[nodiscard]] std::size_t size() const noexcept { return m_size; }
    [[nodiscard]] std::size_t capacity() const noexcept { return m_capacity; }
    [[nodiscard]] bool empty() const noexcept { return m_size == 0; }
    [[nodiscard]] T* data() noexcept { return m_capacity > N ? heap() : inline_data(); }
    [[nodiscard]] const T* data() const noexcept { return m_capacity > N ? heap() : inline_data(); }
    /// The most elements it can hold.
    static constexpr std::size_t max_size() noexcept { return 65535; }
    [[nodiscard]] T* begin() noexcept { return data(); }
    [[nodiscard]] T* end() noexcept { return data() + m_size; }
    [[nodiscard]] const T* begin() const noexcept { return data(); }
    [[nodiscard]] const T* end() const noexcept { return data() + m_size; }
    [[nodiscard]] T& operator[](std::size_t i) noexcept { return data()[i]; }
    [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return data()[i]; }
    [[nodiscard]] T& back() noexcept { return data()[m_size - 1]; }

    /// Makes room for `count` elements; strong guarantee. Throws std::length_error beyond
    /// max_size().
    void reserve(std::size_t count) {
        if (count <= m_capacity) return;
        if (count > max_size()) throw std::length_error("mqtt_presence: SmallVector is full");
        // Doubling, and at least 4 on leaving the inline storage: a record that needs a second
        // channel usually needs a few more soon (tombstones), and each step is an allocation.
        std::size_t capacity = 2 * static_cast<std::size_t>(m_capacity);
        if (capacity < 4) capacity = 4;
        if (capacity < count) capacity = count;
        if (capacity <= Pool::max_elements) capacity = Pool::pooled_capacity(capacity);
        if (capacity > max_size()) capacity = max_size();
        T* fresh = static_cast<T*>(Pool::allocate(capacity));
        T* old = data();
        relocate(old, m_size, fresh);
        if (m_capacity > N) Pool::deallocate(old, m_capacity);
        set_heap(fresh);
        m_capacity = static_cast<std::uint16_t>(capacity);
    }

    /// Appends; strong guarantee (the element is built before anything moves).
    void push_back(T&& item) {
        if (m_size == m_capacity) {
            T kept(std::move(item)); // (item may be one of ours, which reserve() moves)
            reserve(static_cast<std::size_t>(m_size) + 1);
            ::new (static_cast<void*>(data() + m_size)) T(std::move(kept));
        } else if constexpr (is_relocatable<T>::value && std::is_nothrow_default_constructible_v<T>) {
            // Its bytes move; `item` starts over as a fresh T (what it owned is ours now).
            std::memcpy(static_cast<void*>(data() + m_size), static_cast<const void*>(&item), sizeof(T));
            ::new (static_cast<void*>(&item)) T();
        } else {
            ::new (static_cast<void*>(data() + m_size)) T(std::move(item));
        }
        ++m_size;
    }
    void push_back(const T& item) {
        T copy(item); // (item may be one of ours)
        push_back(std::move(copy));
    }

    /// Removes the element at `pos`, keeping the order of the others. No-throw.
    void erase(T* pos) noexcept {
        T* last = end() - 1;
        if constexpr (is_relocatable<T>::value) {
            pos->~T();
            std::memmove(static_cast<void*>(pos), static_cast<const void*>(pos + 1),
                         static_cast<std::size_t>(last - pos) * sizeof(T));
        } else {
            for (; pos != last; ++pos) *pos = std::move(*(pos + 1));
            last->~T();
        }
        --m_size;
    }

    void clear() noexcept {
        for (T& item : *this) item.~T();
        m_size = 0;
    }

private:
    using Pool = BlockPool<sizeof(T)>;

    // Moves `count` elements from `from` to the uninitialised `to` (no overlap), ending the
    // lives of the originals.
    static void relocate(T* from, std::size_t count, T* to) noexcept {
        if constexpr (is_relocatable<T>::value) {
            if (count != 0) std::memcpy(static_cast<void*>(to), static_cast<const void*>(from), count * sizeof(T));
        } else {
            for (std::size_t i = 0; i < count; ++i) {
                ::new (static_cast<void*>(to + i)) T(std::move(from[i]));
                from[i].~T();
            }
        }
    }

    [[nodiscard]] T* heap() const noexcept {
        T* p = nullptr;
        std::memcpy(&p, m_inline, sizeof p); // NOLINT(bugprone-sizeof-expression): the pointer itself
        return p;
    }
    void set_heap(T* p) noexcept {
        std::memcpy(m_inline, &p, sizeof p); // NOLINT(bugprone-sizeof-expression): the pointer itself
    }

    T* inline_data() noexcept { return std::launder(reinterpret_cast<T*>(m_inline)); }
    const T* inline_data() const noexcept { return std::launder(reinterpret_cast<const T*>(m_inline)); }

    void clear_and_free() noexcept {
        clear();
        if (m_capacity > N) Pool::deallocate(heap(), m_capacity);
        m_capacity = N;
    }

    // Precondition: *this is empty with inline capacity.
    void take(SmallVector& other) noexcept {
        if (other.m_capacity > N) {
            set_heap(other.heap());
            m_capacity = other.m_capacity;
            m_size = other.m_size;
            other.m_capacity = N;
            other.m_size = 0;
            return;
        }
        relocate(other.inline_data(), other.m_size, inline_data());
        m_size = other.m_size;
        other.m_size = 0;
    }

    // The inline elements, or (when m_capacity > N) the heap pointer in the first bytes.
    alignas(T) unsigned char m_inline[N * sizeof(T)];
    std::uint16_t m_size = 0;
    std::uint16_t m_capacity = N;
};

} // namespace mqtt_presence::detail
