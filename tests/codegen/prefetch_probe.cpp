// Compiled to assembly by the codegen.prefetch_kept test, which counts the prefetch
// instructions: the storages' prefetch() must still emit them once inlined and optimised
// (GCC 12 at -O2 once deleted every one of them, and ingest_batch silently lost its lead).
#include <cstdint>

#include <mqtt_presence/storage/concurrent.hpp>
#include <mqtt_presence/storage/in_memory.hpp>

using mqtt_presence::ConcurrentStorage;
using mqtt_presence::InMemoryStorage;
using mqtt_presence::PrefetchStage;

// One prefetch: the index slot.
void probe_locate(const InMemoryStorage& storage, std::uint64_t h) { storage.prefetch(h, PrefetchStage::locate); }
// Two: both cache lines of the entry.
void probe_record(const InMemoryStorage& storage, std::uint64_t h) { storage.prefetch(h, PrefetchStage::record); }
// One: the channel array.
void probe_detail(const InMemoryStorage& storage, std::uint64_t h) { storage.prefetch(h, PrefetchStage::detail); }
// Two: both cache lines of the shard.
void probe_shard(const ConcurrentStorage& storage, std::uint64_t h) { storage.prefetch(h, PrefetchStage::locate); }
