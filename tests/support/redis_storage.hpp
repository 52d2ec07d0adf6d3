#pragma once
// RedisStorage as the store tests use it: default-constructible, on this test process's own
// redis-server (started on first use), each instance under a prefix of its own so that every
// store starts empty. With MQTT_PRESENCE_TEST_REDIS_CLUSTER=1 in the environment the server runs
// in cluster mode (one node holding every slot), which refuses any command whose keys are not in
// one slot: the whole suite then checks that the key layout works on Redis Cluster.

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include <mqtt_presence/redis.hpp>

#include "redis_server.hpp"

namespace test_support {

/// This process's redis-server (cluster mode when MQTT_PRESENCE_TEST_REDIS_CLUSTER=1).
inline RedisServer& test_redis_server() {
    static RedisServer server([] {
        RedisServerConfig config;
        const char* cluster = std::getenv("MQTT_PRESENCE_TEST_REDIS_CLUSTER");
        config.cluster = cluster != nullptr && std::string(cluster) == "1";
        return config;
    }());
    return server;
}

/// A prefix no other storage of this test run uses.
inline std::string fresh_redis_prefix() {
    static std::atomic<unsigned> counter{0};
    return "test:" + std::to_string(::getpid()) + ":" + std::to_string(counter++) + ":";
}

/// Options for a storage on the test server under a fresh prefix.
inline mqtt_presence::RedisOptions test_redis_options() {
    mqtt_presence::RedisOptions options;
    options.port = test_redis_server().port();
    options.prefix = fresh_redis_prefix();
    options.buckets = 8;
    options.edge_stream_max = 1000000;
    return options;
}

/// RedisStorage on the test server, empty.
class TestRedisStorage : public mqtt_presence::RedisStorage {
public:
    TestRedisStorage() : RedisStorage(test_redis_options()) {}
};

} // namespace test_support
