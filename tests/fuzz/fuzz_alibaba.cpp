// fuzz_alibaba: Alibaba lifecycle messages, one per line after the options line, through both
// parsers, which must agree exactly (README.md, "The simdjson path": the same events, the same
// refusals, the same error messages), under the simdjson kernel and the reader (the flat reader
// first, or On-Demand alone) the options pick; every event
// then goes into a checked store (fuzz_support.hpp).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <mqtt_presence/json/alibaba.hpp>
#include <mqtt_presence/json/alibaba_simdjson.hpp>

#include "fuzz_support.hpp"

namespace {

using mqtt_presence::AlibabaSimdjsonParser;

// Two parsers per simdjson kernel this CPU runs (a parser keeps the kernel it was made under):
// one with each Reader.
std::vector<AlibabaSimdjsonParser>& parsers() {
    static std::vector<AlibabaSimdjsonParser> all = [] {
        std::vector<AlibabaSimdjsonParser> made;
        const simdjson::implementation* active = simdjson::get_active_implementation();
        for (const simdjson::implementation* kernel : simdjson::get_available_implementations()) {
            if (!kernel->supported_by_runtime_system()) continue;
            simdjson::get_active_implementation() = kernel;
            made.emplace_back(AlibabaSimdjsonParser::Reader::flat_first);
            made.emplace_back(AlibabaSimdjsonParser::Reader::on_demand);
        }
        simdjson::get_active_implementation() = active;
        return made;
    }();
    return all;
}

mqtt_presence::ParseResult parse(std::string_view line, const fuzz::Choice& choice) {
    std::vector<AlibabaSimdjsonParser>& all = parsers();
    AlibabaSimdjsonParser& fast = all[choice.extra % all.size()];
    const mqtt_presence::ParseResult reference = mqtt_presence::try_parse_alibaba_event(line);
    const mqtt_presence::ParseResult simd = fast.try_parse(line);
    FUZZ_CHECK(fuzz::same_result(reference, simd), "line: " + fuzz::printable(line) +
                                                           "\n  nlohmann: " + fuzz::describe(reference) +
                                                           "\n  simdjson: " + fuzz::describe(simd));
    // The reusing and throwing forms of both parsers, each with an event left by earlier lines.
    static mqtt_presence::Event reused_nlohmann, reused_simdjson;
    fuzz::check_other_forms(
            line, reference, reused_nlohmann,
            [](std::string_view j, mqtt_presence::Event& e, std::string& error) {
                return mqtt_presence::parse_alibaba_event(j, e, error);
            },
            [](std::string_view j) { return mqtt_presence::parse_alibaba_event(j); }, false);
    fuzz::check_other_forms(
            line, reference, reused_simdjson,
            [&](std::string_view j, mqtt_presence::Event& e, std::string& error) { return fast.parse(j, e, error); },
            [&](std::string_view j) { return fast.parse(j); }, false);
    // The RocketMQ tag check, with a tag picked by the line's length.
    static constexpr std::string_view tags[] = {"connect", "disconnect", "tcpclean", "online"};
    const std::string_view tag = tags[line.size() % 4];
    const mqtt_presence::ParseResult tagged = mqtt_presence::try_parse_alibaba_event(line, tag);
    const mqtt_presence::ParseResult simd_tagged = fast.try_parse(line, tag);
    FUZZ_CHECK(fuzz::same_result(tagged, simd_tagged), "line: " + fuzz::printable(line) + ", tag " + std::string(tag) +
                                                               "\n  nlohmann: " + fuzz::describe(tagged) +
                                                               "\n  simdjson: " + fuzz::describe(simd_tagged));
    FUZZ_CHECK(!tagged.event || (reference.event && mqtt_presence::to_string(reference.event->type) == tag),
               "a tag other than the eventType accepted");
    return reference;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::run_json_input(data, size, parse, [](const mqtt_presence::Options& options) { return options; });
    return 0;
}
