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

namespace mqtt_presence {

namespace detail {

// nlohmann SAX handler: top level must be one object; fields at depth 1 go to AlibabaFields,
// anything nested inside unknown fields is skipped (but must still be valid JSON).
class AlibabaSax {
public:
    using number_integer_t = nlohmann::json::number_integer_t;
    using number_unsigned_t = nlohmann::json::number_unsigned_t;
    using number_float_t = nlohmann::json::number_float_t;
    using string_t = nlohmann::json::string_t;
    using binary_t = nlohmann::json::binary_t;

    explicit AlibabaSax(AlibabaFields& fields) : m_fields(fields) {}

    bool null() { return scalar() ? m_fields.on_null(m_field) : ok_nested("null"); }
    bool boolean(bool) { return scalar() ? m_fields.on_other(m_field, "boolean") : ok_nested("boolean"); }
    bool number_integer(number_integer_t v) { return scalar() ? m_fields.on_integer(m_field, v) : ok_nested("number"); }
    bool number_unsigned(number_unsigned_t v) { return scalar() ? m_fields.on_unsigned(m_field, v) : ok_nested("number"); }
    bool number_float(number_float_t, const string_t& raw) {
        return scalar() ? m_fields.on_float(m_field, raw) : ok_nested("number");
    }
    bool string(string_t& v) { return scalar() ? m_fields.on_string(m_field, v) : ok_nested("string"); }
    bool binary(binary_t&) { return scalar() ? m_fields.on_other(m_field, "binary") : ok_nested("binary"); }

    bool start_object(std::size_t) { return open("object"); }
    bool end_object() {
        --m_depth;
        return m_depth != 0 || m_fields.finish();
    }
    bool start_array(std::size_t) { return open("array"); }
    bool end_array() {
        --m_depth;
        return true;
    }
    bool key(string_t& name) {
        if (m_depth != 1) return true;
        m_field = AlibabaFields::field_of(name);
        return m_fields.begin(m_field);
    }

    // The words come from detail::refusal, the same for every parser.
    bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception&) {
        return m_fields.fail("malformed JSON");
    }

private:
    // A scalar value at depth 1 is a field's value; deeper ones are inside unknown fields.
    [[nodiscard]] bool scalar() const noexcept { return m_depth == 1; }
    bool ok_nested(const char* type_name) {
        if (m_depth == 0) return m_fields.on_top_level(type_name);
        return true;
    }
    bool open(const char* type_name) {
        if (m_depth == 0 && type_name[0] == 'a') return m_fields.on_top_level(type_name);
        if (m_depth == 1 && !m_fields.on_other(m_field, type_name)) return false;
        if (++m_depth > AlibabaFields::max_depth) return m_fields.on_too_deep();
        return true;
    }

    AlibabaFields& m_fields;
    AlibabaFields::Field m_field = AlibabaFields::unknown;
    std::size_t m_depth = 0;
};

} // namespace detail

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
    detail::AlibabaSax sax(fields);
    const bool ok = nlohmann::json::sax_parse(json.begin(), json.end(), &sax, nlohmann::json::input_format_t::json, true);
    // nlohmann takes a NUL byte for the end of the input, so it accepts one after the object,
    // followed by anything; here it is a stray byte. (Inside a string nlohmann refuses it.)
    if (ok && fields.error().empty() && std::memchr(json.data(), 0, json.size()) == nullptr) return true;
    detail::refusal(json, fields, error);
    return false;
}

/// Non-throwing parse for untrusted payloads.
[[nodiscard]] inline ParseResult try_parse_alibaba_event(std::string_view json) {
    ParseResult result;
    Event event;
    if (parse_alibaba_event(json, event, result.error)) result.event = std::move(event);
    return result;
}

/// The same, also requiring the RocketMQ message tag to equal the body's eventType.
[[nodiscard]] inline ParseResult try_parse_alibaba_event(std::string_view json, std::string_view tag) {
    ParseResult result = try_parse_alibaba_event(json);
    if (result.event && !detail::check_tag(*result.event, tag, result.error)) result.event.reset();
    return result;
}

/// Parses one Alibaba lifecycle message. Throws ParseError naming the field and the problem.
[[nodiscard]] inline Event parse_alibaba_event(std::string_view json) {
    ParseResult result = try_parse_alibaba_event(json);
    if (!result) throw ParseError("mqtt_presence: " + result.error);
    return std::move(*result.event);
}

/// Parses one message and checks the RocketMQ message tag (connect/disconnect/tcpclean)
/// against the body's eventType. Throws ParseError on bad input or a mismatch.
[[nodiscard]] inline Event parse_alibaba_event(std::string_view json, std::string_view tag) {
    ParseResult result = try_parse_alibaba_event(json, tag);
    if (!result) throw ParseError("mqtt_presence: " + result.error);
    return std::move(*result.event);
}

/// nlohmann: an EventType is its wire name.
inline void to_json(nlohmann::json& j, EventType type) { j = std::string(to_string(type)); }
inline void from_json(const nlohmann::json& j, EventType& type) {
    if (!j.is_string()) throw ParseError("mqtt_presence: event type must be a string");
    const auto parsed = parse_event_type(j.get_ref<const std::string&>());
    if (!parsed) throw ParseError("mqtt_presence: unknown event type " + detail::quoted(j.get_ref<const std::string&>()));
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
    if (!j.is_object()) throw ParseError(std::string("mqtt_presence: message must be a JSON object, got ") + j.type_name());
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
