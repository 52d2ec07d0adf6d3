// fuzz_azure_eg_mqtt: Azure Event Grid MQTT broker session events (CloudEvents or Event Grid
// schema, alone or in a one-element array), one per line after the options line, through the
// Azure adapter (its three forms agreeing), into a checked store (fuzz_support.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <mqtt_presence/json/azure_eg_mqtt.hpp>

#include "fuzz_support.hpp"

namespace {

mqtt_presence::ParseResult parse(std::string_view line, const fuzz::Choice&) {
    mqtt_presence::ParseResult result = fuzz::parse_with_adapter(
            line, [](std::string_view j) { return mqtt_presence::try_parse_azure_eg_mqtt_event(j); },
            [](std::string_view j, mqtt_presence::Event& e, std::string& error) {
                return mqtt_presence::parse_azure_eg_mqtt_event(j, e, error);
            },
            [](std::string_view j) { return mqtt_presence::parse_azure_eg_mqtt_event(j); }, false);
    if (result.event) {
        // sequenceNumber in decimal; no address; Connected → connect, Disconnected → tcpclean.
        const mqtt_presence::Event& e = *result.event;
        FUZZ_CHECK(fuzz::is_decimal_key(e.channel_id), "channel_id \"" + fuzz::printable(e.channel_id) + "\" from " +
                                                               fuzz::printable(line));
        FUZZ_CHECK(e.client_ip.empty(), "an address from " + fuzz::printable(line));
        FUZZ_CHECK(e.type != mqtt_presence::EventType::disconnect, "a disconnect from " + fuzz::printable(line));
    }
    return result;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::run_json_input(data, size, parse, [](const mqtt_presence::Options& options) { return options; });
    return 0;
}
