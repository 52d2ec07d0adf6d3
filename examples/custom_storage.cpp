// custom_storage: a storage policy of your own, used as ClientStatusStore<AuditedMapStorage>.
//
// The store keeps the options, the counters, the online counts and the transition hook; a
// storage keeps one ClientRecord per client id and offers four members
// (include/mqtt_presence/storage/concept.hpp):
//
//   s.update(id, fn)    calls fn(ClientRecord&) once, atomically for that client; creates an empty
//                       record if absent; erases it if fn leaves it empty(); if fn throws, the
//                       stored record is as before
//   cs.visit(id, fn)    calls fn(const ClientRecord*), nullptr when the client is unknown
//   cs.for_each(fn)     calls fn(std::string_view client_id, const ClientRecord&) for every record
//   cs.size()           the number of records
//
// The store never decides anything in the storage: the rules run inside `fn`. This one keeps
// the records in a std::map, so for_each() (and with it for_each_online() and snapshots) walks
// the clients in byte order of their ids, and writes an audit line for every write, the way a
// storage backed by a database might log what it commits.
//
// A storage that lacks a member does not compile; the store's static_asserts name the member
// and the fix. With g++ (clang says "static assertion failed due to requirement ..."):
//
//   error: static assertion failed: mqtt_presence: Storage must provide update(client_id, fn)
//          calling fn(ClientRecord&); see mqtt_presence/storage/concept.hpp
//   error: static assertion failed: mqtt_presence: Storage must provide visit(client_id, fn)
//          const calling fn(const ClientRecord*); see mqtt_presence/storage/concept.hpp
//   error: static assertion failed: mqtt_presence: Storage must provide for_each(fn) const
//          calling fn(std::string_view, const ClientRecord&); see mqtt_presence/storage/concept.hpp
//   error: static assertion failed: mqtt_presence: Storage must provide size() const returning
//          the number of clients; see mqtt_presence/storage/concept.hpp
//
// (each message is one line; wrapped here). Build this file with
// -DCUSTOM_STORAGE_WITHOUT_VISIT to see the second one: a test does
// (example.custom_storage.missing_visit).
//
//   mqtt_presence_custom_storage     # prints the audit trail and who is online

#include <mqtt_presence/mqtt_presence.hpp>

#include <cstddef>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Records in a std::map, and an audit line for every write. Not thread-safe (like
// InMemoryStorage): one thread at a time; a storage whose members may be called from many
// threads at once declares `static constexpr bool concurrent = true;`.
class AuditedMapStorage {
public:
    /// Calls fn on a copy of the client's record (or on an empty one), then stores the copy, or
    /// erases the client when fn leaves it empty. Working on a copy keeps the stored record as
    /// it was when fn throws. O(log clients) plus the copy and fn.
    template <class Fn>
    void update(std::string_view client_id, Fn&& fn) {
        const auto it = m_records.find(client_id);
        const bool existed = it != m_records.end();
        mqtt_presence::ClientRecord record = existed ? it->second : mqtt_presence::ClientRecord{};
        std::forward<Fn>(fn)(record);
        if (record.empty()) {
            if (existed) m_records.erase(it);
            audit(client_id, existed ? "erased" : "nothing stored");
            return;
        }
        const std::string what = std::string(existed ? "updated" : "created") + ": " +
                                 (record.online() ? "online" : "offline") + ", " +
                                 std::to_string(record.channels.size()) + " channel(s) kept";
        if (existed)
            it->second = std::move(record);
        else
            m_records.emplace(std::string(client_id), std::move(record));
        audit(client_id, what);
    }

#ifndef CUSTOM_STORAGE_WITHOUT_VISIT
    /// Calls fn with the client's record, or nullptr. O(log clients).
    template <class Fn>
    void visit(std::string_view client_id, Fn&& fn) const {
        const auto it = m_records.find(client_id);
        std::forward<Fn>(fn)(it == m_records.end() ? nullptr : &it->second);
    }
#endif

    /// Calls fn(client_id, record) for every client, in byte order of the ids. O(clients).
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (const auto& [client_id, record] : m_records) fn(std::string_view(client_id), record);
    }

    /// The number of clients stored. O(1).
    [[nodiscard]] std::size_t size() const noexcept { return m_records.size(); }

    /// The audit trail: one line per write, oldest first.
    [[nodiscard]] const std::vector<std::string>& audit_trail() const noexcept { return m_audit; }

private:
    void audit(std::string_view client_id, const std::string& what) {
        m_audit.push_back(std::string(client_id) + " " + what);
    }

    std::map<std::string, mqtt_presence::ClientRecord, std::less<>> m_records; // std::less<>: find by string_view
    std::vector<std::string> m_audit;
};

int main() {
    using mqtt_presence::Event;
    using mqtt_presence::EventType;
    mqtt_presence::ClientStatusStore<AuditedMapStorage> store;
    store.on_transition([](const mqtt_presence::Edge& e) {
        std::cout << "edge: " << e.client_id << (e.online ? " online" : " offline") << " at " << e.time_ms << '\n';
    });

    const std::vector<Event> events = {
            // dev2 flaps: the new connection's connect comes before the old one's tcpclean.
            {"GID_demo@@@dev2", "ch-b1", EventType::connect, 1764000000000, "192.0.2.20:40001"},
            {"GID_demo@@@dev2", "ch-b2", EventType::connect, 1764000030000, "192.0.2.20:40002"},
            {"GID_demo@@@dev2", "ch-b1", EventType::tcpclean, 1764000030400, "192.0.2.20:40001"},
            // dev1 connects and closes; then its connect is redelivered (a duplicate).
            {"GID_demo@@@dev1", "ch-a1", EventType::connect, 1764000001000, "192.0.2.10:50001"},
            {"GID_demo@@@dev1", "ch-a1", EventType::tcpclean, 1764000060000, "192.0.2.10:50001"},
            {"GID_demo@@@dev1", "ch-a1", EventType::connect, 1764000001000, "192.0.2.10:50001"},
            // An invalid event: refused before the storage is asked for anything.
            {"GID_demo@@@dev3", "", EventType::connect, 1764000002000, ""},
    };
    for (const Event& e : events) {
        const mqtt_presence::Outcome out = store.ingest(e);
        std::cout << "ingest " << e.client_id << ' ' << to_string(e.type) << ' ' << e.channel_id << ": "
                  << to_string(out.status) << '\n';
    }

    std::cout << "audit trail:\n";
    for (const std::string& line : store.storage().audit_trail()) std::cout << "  " << line << '\n';
    std::cout << "clients stored: " << store.size() << ", online: " << store.online_count() << '\n';
    store.for_each_online([](std::string_view client_id) { std::cout << "online: " << client_id << '\n'; });
    std::cout << std::boolalpha << "GID_demo@@@dev1 online: " << store.is_online("GID_demo@@@dev1") << '\n'
              << "GID_demo@@@dev2 online: " << store.is_online("GID_demo@@@dev2") << '\n';
}
