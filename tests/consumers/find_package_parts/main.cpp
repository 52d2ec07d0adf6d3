// A downstream program over the optional parts: the simdjson parser reads the Alibaba line as the
// nlohmann one does, and RedisStorage (hiredis) refuses to start without a server.
#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>
#ifdef CONSUMER_SIMDJSON
#include <mqtt_presence/simdjson.hpp>
#endif
#ifdef CONSUMER_REDIS
#include <mqtt_presence/redis.hpp>
#endif

#include <iostream>

int main() {
    const char* const line = R"({"clientId":"GID_consumer@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2",)"
                             R"("eventType":"connect","time":1764000000000,"clientIp":"192.0.2.7:13222"})";
    const mqtt_presence::Event event = mqtt_presence::parse_alibaba_event(line);
#ifdef CONSUMER_SIMDJSON
    mqtt_presence::AlibabaSimdjsonParser parser;
    const mqtt_presence::Event fast = parser.parse(line);
    if (fast.client_id != event.client_id || fast.channel_id != event.channel_id || fast.type != event.type ||
        fast.time_ms != event.time_ms || fast.client_ip != event.client_ip) {
        std::cerr << "simdjson and nlohmann read the line differently\n";
        return 1;
    }
    std::cout << "simdjson: the same event\n";
#endif
    mqtt_presence::ClientStatusStore<> store;
    if (!store.ingest(event).went_online() || !store.is_online("GID_consumer@@@dev1")) {
        std::cerr << "the connect did not take GID_consumer@@@dev1 online\n";
        return 1;
    }
    std::cout << "GID_consumer@@@dev1 online\n";
#ifdef CONSUMER_REDIS
    mqtt_presence::RedisOptions options;
    options.unix_socket = "no-redis-here.sock"; // nothing listens there
    options.connect_attempts = 1;
    try {
        mqtt_presence::ClientStatusStore<mqtt_presence::RedisStorage> shared(mqtt_presence::Options{},
                                                                             mqtt_presence::RedisStorage(options));
        std::cerr << "RedisStorage connected to " << options.unix_socket << '\n';
        return 1;
    } catch (const mqtt_presence::RedisError& e) {
        std::cerr << e.what() << '\n';
        std::cout << "redis: RedisError without a server\n";
    }
#endif
    return 0;
}
