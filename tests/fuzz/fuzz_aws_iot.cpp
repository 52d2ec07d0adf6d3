// fuzz_aws_iot: AWS IoT Core lifecycle messages, one per line after the options line, through
// the AWS adapter (its three forms agreeing; a refusal clears the reused event, as documented),
// into a checked store with aws_iot_options() (rule 13, fuzz_support.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <mqtt_presence/json/aws_iot.hpp>

#include "fuzz_support.hpp"

namespace {

mqtt_presence::ParseResult parse(std::string_view line, const fuzz::Choice&) {
    mqtt_presence::ParseResult result = fuzz::parse_with_adapter(
            line, [](std::string_view j) { return mqtt_presence::try_parse_aws_iot_event(j); },
            [](std::string_view j, mqtt_presence::Event& e, std::string& error) {
                return mqtt_presence::parse_aws_iot_event(j, e, error);
            },
            [](std::string_view j) { return mqtt_presence::parse_aws_iot_event(j); }, true);
    if (result.event) {
        // versionNumber in decimal; connected → connect, disconnected → tcpclean.
        FUZZ_CHECK(fuzz::is_decimal_key(result.event->channel_id), "channel_id \"" +
                                                                           fuzz::printable(result.event->channel_id) +
                                                                           "\" from " + fuzz::printable(line));
        FUZZ_CHECK(result.event->type != mqtt_presence::EventType::disconnect, "a disconnect from " + fuzz::printable(line));
    }
    return result;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::run_json_input(data, size, parse,
                         [](const mqtt_presence::Options& options) { return mqtt_presence::aws_iot_options(options); });
    return 0;
}
