#pragma once
// What the three translation units of mqtt_presence_bench_compare share: bench_compare.cpp
// (the stream and the rounds), bench_compare_current.cpp (this checkout's library) and
// bench_compare_baseline.cpp (another version's, compiled with `mqtt_presence` renamed to
// `mqtt_presence_baseline`, so that both live in one program). Plain types, and a runner written
// against whichever library the including unit sees; nothing here names the library's namespace.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace mqtt_presence_compare {

/// One event of the stream, viewed in the current library's Event (type: its EventType's value).
struct EventView {
    std::string_view client_id;
    std::string_view channel_id;
    std::string_view client_ip;
    int type = 0;
    std::int64_t time_ms = 0;
};

/// One timed ingest of the whole stream into a fresh store, and the state it ended in.
struct RunResult {
    double ns_per_event = 0;
    std::size_t clients = 0;
    std::size_t online = 0;
    std::uint64_t applied = 0; // counters().applied: the events that changed a record
};

/// One version of the library, holding its own copy of the stream.
class Runner {
public:
    Runner() = default;
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;
    virtual ~Runner() = default;
    /// ingest_batch(begin, end) over the whole stream into a fresh ClientStatusStore<>, with
    /// the storage reserved for `reserve` clients first when it is not 0; timed from the first
    /// event to the last.
    virtual RunResult ingest_batch(std::size_t reserve) = 0;
};

std::unique_ptr<Runner> make_current(const std::vector<EventView>& stream);
std::unique_ptr<Runner> make_baseline(const std::vector<EventView>& stream);

namespace {

// A Runner over the library the including translation unit sees: Store is its
// ClientStatusStore<>, Event its Event. The events are copied one after another in stream order,
// so that reading them is a sequential scan in both versions alike.
template <class Store, class Event>
class StoreRunner final : public Runner {
public:
    explicit StoreRunner(const std::vector<EventView>& stream) {
        m_events.reserve(stream.size());
        for (const EventView& v : stream) {
            Event e;
            e.client_id.assign(v.client_id);
            e.channel_id.assign(v.channel_id);
            e.client_ip.assign(v.client_ip);
            e.type = static_cast<decltype(e.type)>(v.type);
            e.time_ms = v.time_ms;
            m_events.push_back(std::move(e));
        }
    }

    RunResult ingest_batch(std::size_t reserve) override {
        const auto store = std::make_unique<Store>();
        if (reserve != 0) store->storage().reserve(reserve);
        const auto start = std::chrono::steady_clock::now();
        store->ingest_batch(m_events.begin(), m_events.end());
        const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
        RunResult r;
        r.ns_per_event = took.count() / static_cast<double>(m_events.empty() ? 1 : m_events.size());
        r.clients = store->size();
        r.online = store->online_count();
        r.applied = store->counters().applied;
        return r; // the store is destroyed here, after the clock stopped
    }

private:
    std::vector<Event> m_events;
};

} // namespace
} // namespace mqtt_presence_compare
