#pragma once
// Small helpers to write event timelines in tests, and to read a store's group counts.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <mqtt_presence/mqtt_presence.hpp>

namespace test_support {

inline constexpr std::int64_t t0 = 1764000000000; // 2025-11-24T16:00:00Z
inline constexpr std::int64_t second = 1000;
inline constexpr std::int64_t minute = 60 * second;
inline constexpr std::int64_t hour = 60 * minute;

inline mqtt_presence::Event connect(const std::string& channel, std::int64_t time,
                                    const std::string& client = "GID_a@@@dev1", const std::string& ip = "192.0.2.7:13222") {
    return mqtt_presence::Event{client, channel, mqtt_presence::EventType::connect, time, ip};
}
inline mqtt_presence::Event tcpclean(const std::string& channel, std::int64_t time, const std::string& client = "GID_a@@@dev1") {
    return mqtt_presence::Event{client, channel, mqtt_presence::EventType::tcpclean, time, ""};
}
inline mqtt_presence::Event disconnect(const std::string& channel, std::int64_t time, const std::string& client = "GID_a@@@dev1") {
    return mqtt_presence::Event{client, channel, mqtt_presence::EventType::disconnect, time, ""};
}

/// Every group with a client online and its count, from for_each_group.
template <class Store>
std::map<std::string, std::size_t> group_counts(const Store& store) {
    std::map<std::string, std::size_t> groups;
    store.for_each_group([&](std::string_view group, std::size_t online) { groups.emplace(group, online); });
    return groups;
}

} // namespace test_support
