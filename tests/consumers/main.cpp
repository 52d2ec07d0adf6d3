// A downstream program, built by each consumer project (tests/consumers/*): one Alibaba
// lifecycle line, parsed and ingested, makes its client online. It prints the library version
// and what the store says; the test compares that with the values of the line.
#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

#include <iostream>
#include <optional>

int main() {
    const char* const line = R"({"clientId":"GID_consumer@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2",)"
                             R"("eventType":"connect","time":1764000000000,"clientIp":"192.0.2.7:13222"})";
    mqtt_presence::ClientStatusStore<> store;
    const mqtt_presence::Outcome outcome = store.ingest(mqtt_presence::parse_alibaba_event(line));
    const std::optional<mqtt_presence::ClientStatus> status = store.status("GID_consumer@@@dev1");
    if (!outcome.went_online() || !store.is_online("GID_consumer@@@dev1") || !status || !status->connected_since_ms) {
        std::cerr << "the connect did not take GID_consumer@@@dev1 online\n";
        return 1;
    }
    std::cout << "mqtt_presence " << MQTT_PRESENCE_VERSION_MAJOR << '.' << MQTT_PRESENCE_VERSION_MINOR << '.'
              << MQTT_PRESENCE_VERSION_PATCH << '\n'
              << "GID_consumer@@@dev1 online since " << *status->connected_since_ms << " on " << status->current_channel
              << " from " << status->client_address << '\n';
    return 0;
}
