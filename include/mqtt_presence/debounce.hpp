#pragma once
// Debouncer: "offline for at least N ms before acting". Flaps are common (a client on a weak
// network reconnects within seconds), and an action on every offline edge (an alert, a
// failover) fires for each of them. Fed the edges of a store (its transition hook, or the
// outcomes of ingest), a Debouncer tells which clients have now been offline continuously for
// at least N ms and have not come back since; each offline period is told at most once.
// Standard library only.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "event.hpp"
#include "rules.hpp"

namespace mqtt_presence {

/// Holds offline edges back until the client has stayed offline for `min_offline_ms` of event
/// time, and forgets them when the client comes back online first:
///
///   Debouncer debouncer(60'000);                       // act after a minute offline
///   store.on_transition([&](const Edge& e) { debouncer.observe(e); });
///   ...                                                // every few seconds:
///   for (const auto& due : debouncer.poll(now_ms)) act(due.client_id, due.offline_since_ms);
///
/// Time is event time, as in the store (rule 11: no clock is read): `now_ms` given to poll() is
/// the caller's. A client is due at now_ms when its offline edge is at or before
/// now_ms - min_offline_ms and no online edge has come since; an online edge cancels the wait
/// whatever its time (one stamped before the offline edge too: the edges of a store alternate
/// per client, so it came later). So a flap shorter than min_offline_ms never fires, provided
/// that poll's now_ms is a time up to which the edges have been observed (e.g. the newest
/// event time ingested, or the wall clock when the consumer keeps up with its queue): an
/// online edge still in the queue cannot cancel anything. A client that goes offline again
/// after it fired starts a new offline period, told again after min_offline_ms.
///
/// Thread safety: every member may be called from any number of threads at once (one mutex;
/// observe() from a ConcurrentStorage store's hook is fine: it takes this mutex under the
/// client's shard lock, and poll() takes no store lock). Memory: one entry per client offline
/// and not yet told; poll() removes those it returns.
class Debouncer {
public:
    /// A client offline for at least min_offline_ms, as poll() returns it.
    struct Due {
        std::string client_id;
        std::int64_t offline_since_ms = 0; ///< the time of its offline edge
        Cause cause = Cause::none;         ///< what took it offline (the edge's cause)
        std::string channel_id;            ///< the edge's channel ("" for a synthetic one)
    };

    /// Throws std::invalid_argument for a negative `min_offline_ms`.
    explicit Debouncer(std::int64_t min_offline_ms) : m_min_offline_ms(checked(min_offline_ms)) {}

    Debouncer(const Debouncer&) = delete;
    Debouncer& operator=(const Debouncer&) = delete;

    /// Records one edge of a store: an offline edge starts the wait for its client, an online
    /// edge cancels it. A second offline edge without an online one between them (edges from
    /// two sources) keeps the earlier time. Throws std::invalid_argument (changing nothing) for
    /// an invalid client id or a time outside 0 .. year 9999. O(log clients waiting).
    void observe(const Edge& edge) { observe(edge.client_id, edge.online, edge.time_ms, edge.cause, edge.channel_id); }

    /// The same from an ingest() or reconcile() outcome of `client_id` (nothing without a
    /// transition); the channel is then unknown ("").
    void observe(std::string_view client_id, const Outcome& outcome) {
        if (outcome.transition == Transition::none) return;
        observe(client_id, outcome.went_online(), outcome.transition_ms, outcome.cause, {});
    }

    /// The same from its parts.
    void observe(std::string_view client_id, bool online, std::int64_t time_ms, Cause cause = Cause::none,
                 std::string_view channel_id = {}) {
        if (const auto why = detail::check_id(client_id, true); !why.empty())
            throw std::invalid_argument("mqtt_presence: Debouncer::observe: " + std::string(why));
        if (time_ms < 0 || time_ms > max_time_ms)
            throw std::invalid_argument("mqtt_presence: Debouncer::observe: time_ms is outside 0 .. the year 9999");
        const std::lock_guard<std::mutex> lock(m_mutex);
        const auto it = m_waiting.find(client_id);
        if (online) {
            if (it != m_waiting.end()) forget(it);
            return;
        }
        if (it != m_waiting.end()) {
            Waiting& w = *it->second;
            if (time_ms < w.since_ms) { // keep the earlier start
                std::string channel(channel_id);
                m_by_time.emplace(time_ms, std::string_view(w.client_id)); // may throw: nothing changed yet
                m_by_time.erase({w.since_ms, std::string_view(w.client_id)});
                w.since_ms = time_ms;
                w.cause = cause;
                w.channel_id = std::move(channel);
            }
            return;
        }
        auto w = std::make_unique<Waiting>();
        w->client_id.assign(client_id);
        w->since_ms = time_ms;
        w->cause = cause;
        w->channel_id.assign(channel_id);
        const std::string_view key = w->client_id;
        const auto inserted = m_waiting.emplace(key, std::move(w)).first;
        try {
            m_by_time.emplace(time_ms, key);
        } catch (...) {
            m_waiting.erase(inserted);
            throw;
        }
    }

    /// The clients offline for at least min_offline_ms at `now_ms` (offline edge at or before
    /// now_ms - min_offline_ms) and not back online since, oldest offline edge first (ties by
    /// client id); each is returned once and then forgotten until its next offline edge.
    /// Throws std::invalid_argument for a now_ms outside 0 .. year 9999. O(due · log waiting).
    std::vector<Due> poll(std::int64_t now_ms) {
        if (now_ms < 0 || now_ms > max_time_ms)
            throw std::invalid_argument("mqtt_presence: Debouncer::poll: now_ms is outside 0 .. the year 9999");
        std::vector<Due> due;
        const std::lock_guard<std::mutex> lock(m_mutex);
        const std::int64_t horizon = now_ms - m_min_offline_ms;
        while (!m_by_time.empty() && m_by_time.begin()->first <= horizon) {
            const auto it = m_waiting.find(m_by_time.begin()->second);
            Waiting& w = *it->second;
            Due d;
            d.client_id = w.client_id;
            d.offline_since_ms = w.since_ms;
            d.cause = w.cause;
            d.channel_id = w.channel_id;
            due.push_back(std::move(d)); // may throw: nothing forgotten yet for this one
            forget(it);
        }
        return due;
    }

    /// Clients offline and not yet returned by poll().
    [[nodiscard]] std::size_t waiting() const {
        const std::lock_guard<std::mutex> lock(m_mutex);
        return m_waiting.size();
    }

    /// Whether `client_id` is offline and not yet returned by poll().
    [[nodiscard]] bool is_waiting(std::string_view client_id) const {
        const std::lock_guard<std::mutex> lock(m_mutex);
        return m_waiting.find(client_id) != m_waiting.end();
    }

    [[nodiscard]] std::int64_t min_offline_ms() const noexcept { return m_min_offline_ms; }

private:
    struct Waiting {
        std::string client_id;
        std::int64_t since_ms = 0;
        Cause cause = Cause::none;
        std::string channel_id;
    };
    // Keyed by views of the entries' own ids, so that a lookup by view allocates nothing.
    using Map = std::unordered_map<std::string_view, std::unique_ptr<Waiting>>;

    static std::int64_t checked(std::int64_t min_offline_ms) {
        if (min_offline_ms < 0) throw std::invalid_argument("mqtt_presence: Debouncer: min_offline_ms is negative");
        if (min_offline_ms > max_duration_ms)
            throw std::invalid_argument("mqtt_presence: Debouncer: min_offline_ms is longer than ten years");
        return min_offline_ms;
    }

    void forget(Map::iterator it) noexcept {
        m_by_time.erase({it->second->since_ms, it->first});
        m_waiting.erase(it);
    }

    const std::int64_t m_min_offline_ms;
    mutable std::mutex m_mutex;
    Map m_waiting;                                                 // client -> its offline edge
    std::set<std::pair<std::int64_t, std::string_view>> m_by_time; // (since, client), oldest first
};

} // namespace mqtt_presence
