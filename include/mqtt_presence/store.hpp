#pragma once
// ClientStatusStore<Storage>: options + storage + counters + queries. It decides nothing about
// presence itself: every change goes through the rules (rules.hpp) inside storage.update().

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "event.hpp"
#include "rules.hpp"
#include "storage/concept.hpp"
#include "storage/in_memory.hpp"

namespace mqtt_presence {

/// How many events (and reconcile calls) ended how. Plain numbers: read them between calls.
struct Counters {
    std::uint64_t events = 0;           ///< ingest() calls
    std::uint64_t applied = 0;          ///< Status::applied
    std::uint64_t superseded = 0;       ///< Status::superseded
    std::uint64_t behind_watermark = 0; ///< Status::behind_watermark
    std::uint64_t duplicates = 0;       ///< Status::duplicate
    std::uint64_t stale = 0;            ///< Status::stale
    std::uint64_t refused = 0;          ///< Status::refused
    std::uint64_t invalid = 0;          ///< Status::invalid
    std::uint64_t reconciles = 0;       ///< reconcile() calls
    std::uint64_t went_online = 0;      ///< offline→online flips (events and reconciles)
    std::uint64_t went_offline = 0;     ///< online→offline flips (events and reconciles)
};

/// What prune() did.
struct PruneReport {
    std::size_t clients_examined = 0;
    std::size_t tombstones_dropped = 0;
    std::size_t clients_forgotten = 0;
};

/// Tracks which MQTT clients are online from their lifecycle events.
///
/// Storage is a policy (see storage/concept.hpp): InMemoryStorage by default. The store adds
/// no locking of its own; its thread safety is the storage's, and its counters are plain
/// numbers owned by the store.
template <class Storage = InMemoryStorage>
class ClientStatusStore {
    static_assert(storage_concept::check<Storage>());

public:
    using storage_type = Storage;

    ClientStatusStore() : ClientStatusStore(Options{}) {}

    /// Throws std::invalid_argument naming the bad option.
    explicit ClientStatusStore(Options options, Storage storage = Storage{})
        : m_options(checked(options)), m_storage(std::move(storage)) {}

    /// Applies one event (rules 1–7, 9, 10, 12). The result tells what happened and whether
    /// the client flipped, at what event time. An invalid event changes nothing and creates no
    /// record. Average O(1) plus O(channels of the client).
    Outcome ingest(const Event& event) {
        ++m_counters.events;
        Outcome out;
        if (const auto why = validate(event); !why.empty()) {
            out = detail::invalid(why);
        } else {
            m_storage.update(event.client_id,
                             [&](ClientRecord& record) { out = detail::apply_valid(record, event, m_options); });
        }
        count(out);
        return out;
    }

    /// Rule 8: applies the broker's synchronous answer "client is (not) online as of as_of_ms".
    Outcome reconcile(std::string_view client_id, bool online, std::int64_t as_of_ms) {
        ++m_counters.reconciles;
        Outcome out;
        if (const auto why = detail::check_id(client_id, true); !why.empty()) {
            out = detail::invalid(why);
        } else {
            m_storage.update(client_id, [&](ClientRecord& record) {
                out = mqtt_presence::reconcile(record, online, as_of_ms, m_options);
            });
        }
        count_transition(out);
        return out;
    }

    /// Whether the client has an open channel. Average O(1).
    [[nodiscard]] bool is_online(std::string_view client_id) const {
        bool online = false;
        m_storage.visit(client_id, [&](const ClientRecord* record) { online = record != nullptr && record->online(); });
        return online;
    }

    /// The client's presence in detail; nullopt for a client the store does not know.
    [[nodiscard]] std::optional<ClientStatus> status(std::string_view client_id) const {
        std::optional<ClientStatus> result;
        m_storage.visit(client_id, [&](const ClientRecord* record) {
            if (record != nullptr) result = describe(*record);
        });
        return result;
    }

    /// Number of online clients. O(1): kept up to date from the transitions.
    [[nodiscard]] std::size_t online_count() const noexcept { return m_online; }

    /// Number of clients tracked (online, offline with tombstones, or known offline).
    [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(m_storage.size()); }

    /// Calls fn(std::string_view client_id) for every online client, in no particular order.
    template <class Fn>
    void for_each_online(Fn&& fn) const {
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            if (record.online()) fn(client_id);
        });
    }

    /// Maintenance (rule 11): drops tombstones older than the retention window before now_ms
    /// and forgets clients offline and silent for longer than Options::forget_offline_after_ms.
    /// Never changes anyone's online state. O(clients); call it every few minutes or hours.
    PruneReport prune(std::int64_t now_ms) {
        PruneReport report;
        std::vector<std::string> due;
        m_storage.for_each([&](std::string_view client_id, const ClientRecord& record) {
            ++report.clients_examined;
            if (needs_prune(record, now_ms, m_options)) due.emplace_back(client_id);
        });
        for (const std::string& client_id : due) {
            m_storage.update(client_id, [&](ClientRecord& record) {
                const PruneResult result = mqtt_presence::prune(record, now_ms, m_options);
                report.tombstones_dropped += result.tombstones_dropped;
                report.clients_forgotten += result.forgotten ? 1 : 0;
            });
        }
        return report;
    }

    [[nodiscard]] const Counters& counters() const noexcept { return m_counters; }
    [[nodiscard]] const Options& options() const noexcept { return m_options; }
    [[nodiscard]] const Storage& storage() const noexcept { return m_storage; }
    [[nodiscard]] Storage& storage() noexcept { return m_storage; }

private:
    static Options checked(const Options& options) {
        if (const auto why = validate(options); !why.empty())
            throw std::invalid_argument("mqtt_presence: " + std::string(why));
        return options;
    }

    void count(const Outcome& out) noexcept {
        switch (out.status) {
        case Status::applied: ++m_counters.applied; break;
        case Status::superseded: ++m_counters.superseded; break;
        case Status::behind_watermark: ++m_counters.behind_watermark; break;
        case Status::duplicate: ++m_counters.duplicates; break;
        case Status::stale: ++m_counters.stale; break;
        case Status::refused: ++m_counters.refused; break;
        case Status::invalid: ++m_counters.invalid; break;
        }
        count_transition(out);
    }

    void count_transition(const Outcome& out) noexcept {
        if (out.went_online()) {
            ++m_counters.went_online;
            ++m_online;
        } else if (out.went_offline()) {
            ++m_counters.went_offline;
            --m_online;
        }
    }

    Options m_options;
    Storage m_storage;
    Counters m_counters;
    std::size_t m_online = 0;
};

} // namespace mqtt_presence
