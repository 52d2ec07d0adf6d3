#pragma once
// Cache prefetch hints that the optimiser keeps.
//
// GCC 12 at -O2 drops a __builtin_prefetch reached through a small inline function: its
// mod/ref analysis sees no side effect in the function and deletes the call. An asm statement
// marked volatile is never deleted, so on x86-64 and AArch64 the hint is written as the
// instruction itself; elsewhere it falls back to __builtin_prefetch.
// A prefetch never faults: `p` need not point to valid memory.
// Plumbing: nothing outside the library should name it.

namespace mqtt_presence::detail {

/// Starts fetching the cache line at p for reading.
inline void prefetch_read(const void* p) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    asm volatile("prfm pldl1keep, %a0" : : "p"(p));
#elif defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0);
#else
    (void)p;
#endif
}

} // namespace mqtt_presence::detail
