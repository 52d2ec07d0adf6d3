#pragma once
// The storage policies every behavioural store test runs over (TEMPLATE_LIST_TEST_CASE).

#include <cstddef>
#include <tuple>

#include <mqtt_presence/mqtt_presence.hpp>

#ifdef MQTT_PRESENCE_TEST_REDIS
// The Redis test program runs the same behavioural tests over RedisStorage.
#include "redis_storage.hpp"
namespace test_support {
using Storages = std::tuple<TestRedisStorage>;
} // namespace test_support
#else
namespace test_support {
using Storages = std::tuple<mqtt_presence::InMemoryStorage, mqtt_presence::ConcurrentStorage>;
} // namespace test_support
#endif

namespace test_support {
/// How many of `n` units of generated work (clients, runs) a test over storage S takes: all of
/// them in memory, a fifth over a shared storage (RedisStorage), where every event is a round
/// trip to a server and the Redis program runs each test twice (the second time against a
/// cluster-mode server): still thousands of events, every batch size and every path.
template <class S>
constexpr std::size_t share_of_work(std::size_t n) noexcept {
    return mqtt_presence::storage_concept::is_shared<S>::value ? n / 5 : n;
}
} // namespace test_support
