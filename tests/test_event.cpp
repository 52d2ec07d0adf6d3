#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include <mqtt_presence/event.hpp>

using namespace mqtt_presence;

TEST_CASE("event type names round-trip and nothing else parses", "[event]") {
    for (EventType t : {EventType::connect, EventType::disconnect, EventType::tcpclean})
        CHECK(parse_event_type(to_string(t)) == t);
    CHECK_FALSE(parse_event_type("Connect").has_value());
    CHECK_FALSE(parse_event_type("connected").has_value());
    CHECK_FALSE(parse_event_type("").has_value());
    // Every one-byte change, cut and extension of each name is no name.
    for (const EventType t : {EventType::connect, EventType::disconnect, EventType::tcpclean}) {
        const std::string name(to_string(t));
        for (std::size_t i = 0; i < name.size(); ++i) {
            std::string changed = name;
            changed[i] = static_cast<char>(changed[i] ^ 0x20);
            CHECK_FALSE(parse_event_type(changed).has_value());
            CHECK_FALSE(parse_event_type(name.substr(0, i)).has_value());
        }
        CHECK_FALSE(parse_event_type(name + "t").has_value());
        CHECK_FALSE(parse_event_type(std::string_view(name.c_str(), name.size() + 1)).has_value()); // with its NUL
    }
    static_assert(parse_event_type("tcpclean") == EventType::tcpclean && !parse_event_type("tcpclea").has_value());
    CHECK(to_string(static_cast<EventType>(9)).empty());
}

TEST_CASE("client ids split into Group ID and device", "[event]") {
    const auto parts = split_client_id("GID_XXX@@@dev1");
    REQUIRE(parts.has_value());
    CHECK(parts->group == "GID_XXX");
    CHECK(parts->device == "dev1");
    CHECK(group_of("GID_XXX@@@dev1") == "GID_XXX");
    CHECK(split_client_id("GID_XXX@@@a@@@b")->device == "a@@@b"); // split at the first separator
    CHECK_FALSE(split_client_id("no-separator").has_value());
    CHECK_FALSE(split_client_id("@@@dev").has_value());
    CHECK_FALSE(split_client_id("GID_X@@@").has_value());
    CHECK(group_of("plain").empty());
    CHECK(notification_topic("GID_XXX") == "GID_XXX_MQTT");
}

TEST_CASE("validate names the field and the problem", "[event]") {
    Event e{"GID_a@@@d", "ch", EventType::connect, 0, ""};
    CHECK(validate(e).empty());
    e.time_ms = max_time_ms;
    CHECK(validate(e).empty());
    e.time_ms = max_time_ms + 1;
    CHECK(validate(e) == "time_ms is after the year 9999");
    e.time_ms = -1;
    CHECK(validate(e) == "time_ms is negative");
    e.time_ms = 1;
    e.channel_id = std::string(max_id_bytes, 'c');
    CHECK(validate(e).empty());
    e.channel_id.push_back('c');
    CHECK(validate(e) == "channel_id is longer than 65535 bytes");
    e.channel_id = "a\x7f";
    CHECK(validate(e) == "channel_id contains a control character");
    e.channel_id = "ch";
    e.client_id = std::string("a\0b", 3);
    CHECK(validate(e) == "client_id contains a control character");
    e.client_id = "GID_a@@@d";
    e.client_ip = std::string(max_address_bytes, '1');
    CHECK(validate(e).empty());
    e.client_ip.push_back('1');
    CHECK(validate(e) == "client_ip is longer than 255 bytes");
}
