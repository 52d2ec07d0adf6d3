#include <mqtt_presence/json.hpp>
#include <iostream>

int main() {
    mqtt_presence::ClientStatusStore<> store;
    store.on_transition([](const mqtt_presence::Edge& edge) {  // called once per flip
        std::cout << (edge.online ? "online" : "offline") << " at " << edge.time_ms << '\n';
    });
    for (const char* message : {  // a flap: new connection first, old close later, then a redelivery
             R"({"clientId":"GID_demo@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"connect","time":1764000000000})",
             R"({"clientId":"GID_demo@@@dev1","channelId":"7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f","eventType":"connect","time":1764000090000})",
             R"({"clientId":"GID_demo@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"tcpclean","time":1764000090500})",
             R"({"clientId":"GID_demo@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"connect","time":1764000000000})"})
        store.ingest(mqtt_presence::parse_alibaba_event(message));
    std::cout << std::boolalpha << store.is_online("GID_demo@@@dev1") << '\n';  // true
}
