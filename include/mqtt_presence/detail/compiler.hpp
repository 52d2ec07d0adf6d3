#pragma once
// Compiler hints shared by the headers. Plumbing: nothing outside the library should name them.

// Keeps a rarely taken path (an error message's construction, a rare key encoding) out of its
// caller, so that the common path stays small enough to inline.
#if defined(__GNUC__) || defined(__clang__)
#define MQTT_PRESENCE_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define MQTT_PRESENCE_NOINLINE __declspec(noinline)
#else
#define MQTT_PRESENCE_NOINLINE
#endif

// Inlines a function on the ingest path that GCC would otherwise call: CompactString's
// pack_hex16 (a few SSE2 instructions whose constants a call reloads), the rules' decide()
// (called from two places), validate()'s id checks, the field checks in the flat JSON reader's
// walk. Written before `inline` (after [[nodiscard]]); a hint only where the compiler has one
// that combines with `inline` (GCC, Clang).
#if defined(__GNUC__) || defined(__clang__)
#define MQTT_PRESENCE_ALWAYS_INLINE __attribute__((always_inline))
#else
#define MQTT_PRESENCE_ALWAYS_INLINE
#endif
