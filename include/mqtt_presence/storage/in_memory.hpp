#pragma once
// InMemoryStorage: the default storage policy. One hash map, no locking.
//
// Thread safety: none. Use it from one thread at a time (concurrent const calls are not safe
// either: lookups reuse an internal key buffer so that they never allocate).
// Models the concept in storage/concept.hpp.

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "../rules.hpp"

namespace mqtt_presence {

class InMemoryStorage {
public:
    /// Calls fn(ClientRecord&) on the client's record, created empty if absent, and erases the
    /// record if fn leaves it empty (also when fn throws). Average O(1) plus fn.
    template <class Fn>
    void update(std::string_view client_id, Fn&& fn) {
        m_key.assign(client_id.data(), client_id.size());
        auto it = m_records.find(m_key);
        if (it == m_records.end()) it = m_records.emplace(m_key, ClientRecord{}).first;
        struct EraseIfEmpty {
            std::unordered_map<std::string, ClientRecord>& records;
            std::unordered_map<std::string, ClientRecord>::iterator it;
            ~EraseIfEmpty() {
                if (it->second.empty()) records.erase(it);
            }
        } guard{m_records, it};
        std::forward<Fn>(fn)(it->second);
    }

    /// Calls fn(const ClientRecord*), nullptr when the client is unknown. Average O(1) plus fn.
    template <class Fn>
    void visit(std::string_view client_id, Fn&& fn) const {
        m_key.assign(client_id.data(), client_id.size());
        const auto it = m_records.find(m_key);
        std::forward<Fn>(fn)(it == m_records.end() ? nullptr : &it->second);
    }

    /// Calls fn(std::string_view client_id, const ClientRecord&) for every record, in no order.
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (const auto& [id, record] : m_records) fn(std::string_view(id), record);
    }

    [[nodiscard]] std::size_t size() const noexcept { return m_records.size(); }

    /// Prepares for `clients` records without rehashing.
    void reserve(std::size_t clients) { m_records.reserve(clients); }

private:
    std::unordered_map<std::string, ClientRecord> m_records;
    mutable std::string m_key; // lookup buffer: a lookup by string_view then never allocates
};

} // namespace mqtt_presence
