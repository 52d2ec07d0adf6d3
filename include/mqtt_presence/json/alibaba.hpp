#pragma once
// The Alibaba Cloud MQTT (ApsaraMQ for MQTT) lifecycle event adapter:
//   {"clientId":"GID_XXX@@@dev","time":1570795200000,"eventType":"connect",
//    "channelId":"2b9b1281046046faafe5e0b458e4a1b2","clientIp":"192.0.2.7:13222"}
// Parsed with nlohmann's SAX interface straight into an Event (no DOM is built). The checks
// and the messages are in json/alibaba_fields.hpp, shared with json/alibaba_simdjson.hpp.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "../event.hpp"
#include "alibaba_fields.hpp"
#include "field_sax.hpp"

namespace mqtt_presence {

namespace detail {} // namespace detail

/// Parses one Alibaba lifecycle message into `event`, reusing its buffers. Returns false and
/// sets `error` (naming the field and the problem) on bad input; never throws for bad input.
/// `event` is unspecified after a failure. Unknown fields are ignored; key order is free. The
/// order of the errors is in json/alibaba_fields.hpp.
inline bool parse_alibaba_event(std::string_view json, Event& event, std::string& error) {
    if (detail::blank_message(json)) {
        error = "empty message";
        return false;
    }
    detail::AlibabaFields fields;
    fields.reset(event);
    detail::FieldSax<detail::AlibabaFields> sax(fields);
    return detail::read_message(json, sax, fields, error);
}

/// Non-throwing parse for untrusted payloads.
[[nodiscard]] inline ParseResult try_parse_alibaba_event(std::string_view json) {
    return detail::try_parse_with(
            json, [](std::string_view j, Event& e, std::string& error) { return parse_alibaba_event(j, e, error); });
}

/// The same, also requiring the RocketMQ message tag to equal the body's eventType.
[[nodiscard]] inline ParseResult try_parse_alibaba_event(std::string_view json, std::string_view tag) {
    ParseResult result = try_parse_alibaba_event(json);
    if (result.event && !detail::check_tag(*result.event, tag, result.error)) result.event.reset();
    return result;
}

/// Parses one Alibaba lifecycle message. Throws ParseError naming the field and the problem.
[[nodiscard]] inline Event parse_alibaba_event(std::string_view json) {
    return detail::event_or_throw(try_parse_alibaba_event(json));
}

/// Parses one message and checks the RocketMQ message tag (connect/disconnect/tcpclean)
/// against the body's eventType. Throws ParseError on bad input or a mismatch.
[[nodiscard]] inline Event parse_alibaba_event(std::string_view json, std::string_view tag) {
    return detail::event_or_throw(try_parse_alibaba_event(json, tag));
}

/// nlohmann: an EventType is its wire name.
inline void to_json(nlohmann::json& j, EventType type) { j = std::string(to_string(type)); }
inline void from_json(const nlohmann::json& j, EventType& type) {
    if (!j.is_string()) throw ParseError("mqtt_presence: event type must be a string");
    const auto parsed = parse_event_type(j.get_ref<const std::string&>());
    if (!parsed)
        throw ParseError("mqtt_presence: unknown event type " + detail::quoted(j.get_ref<const std::string&>()));
    type = *parsed;
}

/// nlohmann: an Event is written in the Alibaba format ("clientIp" only when not empty).
inline void to_json(nlohmann::json& j, const Event& event) {
    j = nlohmann::json{{"clientId", event.client_id},
                       {"channelId", event.channel_id},
                       {"eventType", to_string(event.type)},
                       {"time", event.time_ms}};
    if (!event.client_ip.empty()) j["clientIp"] = event.client_ip;
}

/// nlohmann: reads the Alibaba format with exactly the checks of parse_alibaba_event.
inline void from_json(const nlohmann::json& j, Event& event) {
    detail::AlibabaFields fields;
    fields.reset(event);
    if (!j.is_object())
        throw ParseError(std::string("mqtt_presence: message must be a JSON object, got ") + j.type_name());
    bool ok = true;
    for (auto it = j.begin(); ok && it != j.end(); ++it) {
        const auto field = detail::AlibabaFields::field_of(it.key());
        ok = fields.begin(field);
        if (!ok) break;
        const nlohmann::json& v = it.value();
        switch (v.type()) {
        case nlohmann::json::value_t::string: ok = fields.on_string(field, v.get_ref<const std::string&>()); break;
        case nlohmann::json::value_t::number_integer: ok = fields.on_integer(field, v.get<std::int64_t>()); break;
        case nlohmann::json::value_t::number_unsigned: ok = fields.on_unsigned(field, v.get<std::uint64_t>()); break;
        case nlohmann::json::value_t::number_float: ok = fields.on_float(field, v.dump()); break;
        case nlohmann::json::value_t::null: ok = fields.on_null(field); break;
        default: ok = fields.on_other(field, v.type_name()); break;
        }
    }
    if (ok) ok = fields.finish();
    if (!ok) throw ParseError("mqtt_presence: " + fields.error());
}

} // namespace mqtt_presence
