#pragma once
// The storage policies every behavioural store test runs over (TEMPLATE_LIST_TEST_CASE).

#include <tuple>

#include <mqtt_presence/mqtt_presence.hpp>

namespace test_support {
using Storages = std::tuple<mqtt_presence::InMemoryStorage, mqtt_presence::ConcurrentStorage>;
} // namespace test_support
