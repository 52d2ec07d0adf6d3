#include <mqtt_presence/json.hpp>
#include <iostream>

int main() {
    mqtt_presence::ClientStatusStore<> store;
    for (const char* message : {  // a flap: new connection first, old close later, then a redelivery
             R"({"clientId":"GID_demo@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"connect","time":1764000000000})",
             R"({"clientId":"GID_demo@@@dev1","channelId":"7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f","eventType":"connect","time":1764000090000})",
             R"({"clientId":"GID_demo@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"tcpclean","time":1764000090500})",
             R"({"clientId":"GID_demo@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"connect","time":1764000000000})"}) {
        const auto result = store.ingest(mqtt_presence::parse_alibaba_event(message));
        if (result.went_online()) std::cout << "online at " << result.transition_ms << '\n';
        if (result.went_offline()) std::cout << "offline at " << result.transition_ms << '\n';
    }
    std::cout << std::boolalpha << store.is_online("GID_demo@@@dev1") << '\n';  // true
}
