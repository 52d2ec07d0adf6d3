// A downstream program on the core alone (standard library only), built with nothing but
// `c++ -std=c++17 main.cpp $(pkg-config --cflags --libs mqtt_presence)`: an event built by hand
// makes its client online.
#include <mqtt_presence/mqtt_presence.hpp>

#include <iostream>

int main() {
    mqtt_presence::ClientStatusStore<> store;
    mqtt_presence::Event event;
    event.client_id = "GID_consumer@@@dev1";
    event.channel_id = "2b9b1281046046faafe5e0b458e4a1b2";
    event.type = mqtt_presence::EventType::connect;
    event.time_ms = 1764000000000;
    if (!store.ingest(event).went_online() || !store.is_online("GID_consumer@@@dev1")) {
        std::cerr << "the connect did not take GID_consumer@@@dev1 online\n";
        return 1;
    }
    std::cout << "mqtt_presence " << MQTT_PRESENCE_VERSION_MAJOR << '.' << MQTT_PRESENCE_VERSION_MINOR << '.'
              << MQTT_PRESENCE_VERSION_PATCH << ": GID_consumer@@@dev1 online\n";
    return 0;
}
