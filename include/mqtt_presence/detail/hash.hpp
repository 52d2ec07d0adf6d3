#pragma once
// Hashing and comparing short texts (client ids, Group IDs) for the in-memory tables. The hash
// takes a few multiplies for most ids (10 to 40 bytes), with every input bit reaching every
// output bit (the tables take a tag from the low 32 bits and the home slot from a multiply of
// all 64, the group table its home from the high 32).
//
// The construction follows wyhash (public domain): blocks of 16 bytes are folded by a 64×64→128
// bit multiply whose halves are xored ("mum"); an input of 4 to 16 bytes is read as overlapping
// words. Not keyed: like std::hash, it gives the same value for the same text in every run.
// Nothing persists it (snapshots and Redis keep no hashes). Where the compiler has no 128-bit
// integer, mum is a 64-bit multiply-xorshift of each half.
// Plumbing: nothing outside the library should name it.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define MQTT_PRESENCE_HASH_SSE2 1
#endif

namespace mqtt_presence::detail {

inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
    __extension__ using u128 = unsigned __int128;
    const u128 r = static_cast<u128>(a) * b;
    return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
#else
    std::uint64_t h = (a ^ (b >> 29)) * 0x9e3779b97f4a7c15ULL;
    h ^= (b ^ (h >> 32)) * 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 31);
#endif
}

inline std::uint64_t read64(const char* p) noexcept {
    std::uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline std::uint64_t read32(const char* p) noexcept {
    std::uint32_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

[[nodiscard]] inline std::uint64_t hash_bytes(std::string_view text) noexcept {
    constexpr std::uint64_t k0 = 0xa0761d6478bd642fULL;
    constexpr std::uint64_t k1 = 0xe7037ed1a0b428dbULL;
    constexpr std::uint64_t k2 = 0x8ebc6af09c88c6e3ULL;
    const char* p = text.data();
    const std::size_t n = text.size();
    std::uint64_t seed = k0;
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    if (n <= 16) {
        if (n >= 4) {
            const std::size_t middle = (n >> 3) << 2; // 0 below 8 bytes, else 4
            a = read32(p) << 32 | read32(p + middle);
            b = read32(p + n - 4) << 32 | read32(p + n - 4 - middle);
        } else if (n > 0) {
            a = std::uint64_t{static_cast<unsigned char>(p[0])} << 16 |
                std::uint64_t{static_cast<unsigned char>(p[n >> 1])} << 8 | static_cast<unsigned char>(p[n - 1]);
        }
    } else {
        std::size_t left = n;
        for (; left > 16; left -= 16, p += 16) seed = mum(read64(p) ^ k1, read64(p + 8) ^ seed);
        a = read64(p + left - 16);
        b = read64(p + left - 8);
    }
    return mum(k1 ^ n, mum(a ^ k1, b ^ seed ^ k2));
}

/// a[0, n) == b[0, n), a word at a time (the last word overlapping), without calling memcmp:
/// the texts compared are short, and a call costs more than the compare.
[[nodiscard]] inline bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
#if defined(MQTT_PRESENCE_HASH_SSE2)
    // 16 to 32 bytes (most client ids): two blocks of 16, the second overlapping the first.
    if (n >= 16 && n <= 32) {
        const auto block = [](const char* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); };
        const __m128i equal =
                _mm_and_si128(_mm_cmpeq_epi8(block(a), block(b)), _mm_cmpeq_epi8(block(a + n - 16), block(b + n - 16)));
        return _mm_movemask_epi8(equal) == 0xFFFF;
    }
#endif
    if (n >= 8) {
        for (std::size_t i = 0; i + 8 < n; i += 8)
            if (read64(a + i) != read64(b + i)) return false;
        return read64(a + n - 8) == read64(b + n - 8);
    }
    if (n >= 4) return read32(a) == read32(b) && read32(a + n - 4) == read32(b + n - 4);
    for (std::size_t i = 0; i < n; ++i)
        if (a[i] != b[i]) return false;
    return true;
}

} // namespace mqtt_presence::detail
