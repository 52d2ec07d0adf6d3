// fuzz_emqx: EMQX lifecycle messages (rule engine, webhook, $SYS), one per line after the
// options line, through the EMQX adapter (its three forms agreeing), into a checked store
// (fuzz_support.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <mqtt_presence/json/emqx.hpp>

#include "fuzz_support.hpp"

namespace {

mqtt_presence::ParseResult parse(std::string_view line, const fuzz::Choice&) {
    mqtt_presence::ParseResult result = fuzz::parse_with_adapter(
            line, [](std::string_view j) { return mqtt_presence::try_parse_emqx_event(j); },
            [](std::string_view j, mqtt_presence::Event& e, std::string& error) {
                return mqtt_presence::parse_emqx_event(j, e, error);
            },
            [](std::string_view j) { return mqtt_presence::parse_emqx_event(j); }, false);
    if (result.event) {
        // The key is connected_at in decimal; only a disconnection may lack it, and only a
        // key-less one is a disconnect (takenover, discarded).
        const mqtt_presence::Event& e = *result.event;
        const bool keyless = e.channel_id.empty();
        FUZZ_CHECK(keyless ? e.type != mqtt_presence::EventType::connect : fuzz::is_decimal_key(e.channel_id),
                   "channel_id \"" + fuzz::printable(e.channel_id) + "\" from " + fuzz::printable(line));
        FUZZ_CHECK(keyless || e.type != mqtt_presence::EventType::disconnect, "a keyed disconnect from " +
                                                                                       fuzz::printable(line));
        if (e.type == mqtt_presence::EventType::connect)
            FUZZ_CHECK(e.channel_id == std::to_string(e.time_ms), "a connect not at its connected_at: " +
                                                                          fuzz::printable(line));
    }
    return result;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::run_json_input(data, size, parse, [](const mqtt_presence::Options& options) { return options; });
    return 0;
}
