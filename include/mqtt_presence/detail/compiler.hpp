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
