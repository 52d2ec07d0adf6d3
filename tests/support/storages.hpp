#pragma once
// The storage policies every behavioural store test runs over (TEMPLATE_LIST_TEST_CASE).

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
