#pragma once
// Large blocks of memory for the storages' tables, placed where the CPU can map them with
// transparent huge pages.
//
// At a million clients the tables hold over 100 MB, and a lookup touches it at random: with
// 4 KiB pages almost every lookup also misses the TLB, and under virtualisation a TLB miss is
// a two-level page walk that costs about as much as the cache miss itself. A 2 MiB page covers
// 512 times as much memory per TLB entry. So on Linux a block of at least 2 MiB is mapped on
// its own (mmap), aligned to 2 MiB, and, when the table asks for it, advised with
// madvise(MADV_HUGEPAGE): with the kernel's usual setting ("madvise") the kernel then backs it
// with huge pages where it can. It is only advice; without it, or on other systems, the
// memory is ordinary. Define MQTT_PRESENCE_NO_HUGE_PAGES to never advise.
//
// A huge page is resident as a whole once touched, so the tables advise only what they will
// fill: the index once it is 2 MiB or more, and the entry chunks of a table that has
// outgrown its first chunk (a small table never asks).
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace mqtt_presence::detail {

/// The huge page size the layout aims at (x86-64, and AArch64 with 4 KiB pages).
inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

/// Allocates `bytes` (> 0) aligned to 64 bytes at least, and to huge_page_bytes when bytes
/// >= huge_page_bytes on Linux. Throws std::bad_alloc. Free with deallocate_large(p, bytes).
inline void* allocate_large(std::size_t bytes) {
#if defined(__linux__)
    if (bytes >= huge_page_bytes) {
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        const std::size_t rounded = (bytes + page - 1) / page * page;
        const std::size_t span = rounded + huge_page_bytes;
        void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) throw std::bad_alloc();
        const auto begin = reinterpret_cast<std::uintptr_t>(raw);
        const std::uintptr_t aligned = (begin + huge_page_bytes - 1) & ~(std::uintptr_t{huge_page_bytes} - 1);
        const std::uintptr_t end = aligned + rounded;
        // Give back the slack before and after the aligned block (page-aligned both).
        if (aligned > begin) ::munmap(raw, aligned - begin);
        // Pointers from `raw` by offsets (not from the integers): no integer-to-pointer cast.
        char* const block = static_cast<char*>(raw) + (aligned - begin);
        if (begin + span > end) ::munmap(block + rounded, begin + span - end);
        return block;
    }
#endif
    return ::operator new (bytes, std::align_val_t{64});
}

/// Frees a block of allocate_large(bytes).
inline void deallocate_large(void* p, std::size_t bytes) noexcept {
#if defined(__linux__)
    if (bytes >= huge_page_bytes) {
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        ::munmap(p, (bytes + page - 1) / page * page);
        return;
    }
#endif
    ::operator delete (p, std::align_val_t{64});
}

/// Advises the kernel to back the whole huge pages inside a block of allocate_large(bytes)
/// with huge pages (no effect on smaller blocks, other systems, or with
/// MQTT_PRESENCE_NO_HUGE_PAGES). Memory already touched is left to the kernel's background
/// collapsing.
inline void advise_huge_pages(void* p, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE) && !defined(MQTT_PRESENCE_NO_HUGE_PAGES)
    if (bytes >= huge_page_bytes) (void)::madvise(p, bytes / huge_page_bytes * huge_page_bytes, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

/// An owned array of `count` trivial T from allocate_large, advised for huge pages when it is
/// that large (a table's index). Elements start uninitialised.
template <class T>
class LargeArray {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                  "LargeArray holds trivial elements only");

public:
    LargeArray() = default;
    explicit LargeArray(std::size_t count)
            : m_data(static_cast<T*>(allocate_large(count * sizeof(T)))), m_count(count) {
        advise_huge_pages(m_data, count * sizeof(T));
    }
    LargeArray(LargeArray&& other) noexcept
            : m_data(std::exchange(other.m_data, nullptr)), m_count(std::exchange(other.m_count, 0)) {}
    LargeArray& operator=(LargeArray&& other) noexcept {
        if (this != &other) {
            reset();
            m_data = std::exchange(other.m_data, nullptr);
            m_count = std::exchange(other.m_count, 0);
        }
        return *this;
    }
    LargeArray(const LargeArray&) = delete;
    LargeArray& operator=(const LargeArray&) = delete;
    ~LargeArray() { reset(); }

    void reset() noexcept {
        if (m_data != nullptr) deallocate_large(m_data, m_count * sizeof(T));
        m_data = nullptr;
        m_count = 0;
    }
    [[nodiscard]] T* get() const noexcept { return m_data; }
    [[nodiscard]] std::size_t size() const noexcept { return m_count; }
    [[nodiscard]] T& operator[](std::size_t i) const noexcept { return m_data[i]; }

private:
    T* m_data = nullptr;
    std::size_t m_count = 0;
};

} // namespace mqtt_presence::detail
