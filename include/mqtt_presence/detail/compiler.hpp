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

// Inlines a small hot helper that the optimiser would otherwise call (a few SSE2 instructions
// whose constants a call would reload). For `inline` functions only.
#if defined(__GNUC__) || defined(__clang__)
#define MQTT_PRESENCE_ALWAYS_INLINE __attribute__((always_inline))
#elif defined(_MSC_VER)
#define MQTT_PRESENCE_ALWAYS_INLINE __forceinline
#else
#define MQTT_PRESENCE_ALWAYS_INLINE
#endif
