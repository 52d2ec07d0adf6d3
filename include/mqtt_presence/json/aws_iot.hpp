#pragma once
// The AWS IoT Core lifecycle event adapter. AWS publishes one JSON message per connection step
// to $aws/events/presence/connected/{clientId} and $aws/events/presence/disconnected/{clientId}:
//   {"clientId":"186b5","timestamp":1573002230757,"eventType":"connected",
//    "sessionIdentifier":"a4666d2a7d844ae4ac5d7b38c9cb7967","principalIdentifier":"1234...",
//    "ipAddress":"192.0.2.0","versionNumber":0}
//   {"clientId":"186b5","timestamp":1573002340451,"eventType":"disconnected", ...,
//    "clientInitiatedDisconnect":true,"disconnectReason":"CLIENT_INITIATED_DISCONNECT","versionNumber":0}
// Parsed with nlohmann's SAX interface straight into an Event (no DOM is built).
//
// Mapping:
//   clientId       (string, required)             → client_id
//   versionNumber  (integer >= 0, required)        → channel_id, in decimal ("0", "17"): AWS gives
//                  the connect and the disconnect of one connection the same version number
//   eventType      "connected" | "disconnected"    → connect | tcpclean: a disconnected event means
//                  (required)                        the connection ended, whatever the reason
//   timestamp      (integer ms, required)          → time_ms
//   ipAddress      (string, optional)              → client_ip ("" when absent or null); AWS sends
//                  it on connected events only, it is taken from either
//   sessionIdentifier, principalIdentifier, disconnectReason, thingName (strings) and
//   clientInitiatedDisconnect (boolean): optional, type-checked when present, not mapped.
//   Any other field is ignored (its value must still be valid JSON, nested at most 64 levels).
//   An optional field whose value is null counts as absent.
//
// AWS resets the version number to 0 when a client has been disconnected for about an hour
// (or, for a persistent session, longer than its time-to-live), so a key comes back. The rules
// tell the connections apart by time: give the store Options::key_reuse_gap_ms (10 minutes: over
// AWS's +/- 2 minutes timestamp accuracy, under the hour before a reset). The adapter adds nothing.
//
// A field named twice is refused ("duplicate field \"x\""), for every field this adapter knows,
// mapped or not: which copy a producer meant cannot be known, and last-wins would let a second
// copy change a connection's key behind the first. Duplicate unknown fields are not checked.
//
// The error of a refused message is, in this order (as for the Alibaba adapter):
//   1. "empty message": nothing but whitespace (after an optional UTF-8 byte order mark);
//   2. "malformed JSON: <problem> at byte N" (detail/json_syntax.hpp), over the whole message;
//   3. "message must be a JSON object, got <type>";
//   4. the first field problem in the order of the message;
//   5. a missing required field: clientId, timestamp, eventType, versionNumber, in this order.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "../detail/field_names.hpp"
#include "../detail/json_syntax.hpp"
#include "../event.hpp"
#include "../rules.hpp"
#include "alibaba_fields.hpp"
#include "field_sax.hpp"

namespace mqtt_presence {

namespace detail::aws_iot {

// Collects the fields of one AWS lifecycle message, checks each as it arrives and checks
// presence at the end. Writes the mapped ones straight into the Event.
class Fields {
public:
    enum Field : std::uint8_t {
        client_id,
        timestamp,
        event_type,
        version_number,
        ip_address,
        session_identifier,
        principal_identifier,
        client_initiated_disconnect,
        disconnect_reason,
        thing_name,
        unknown,
    };

    /// The largest versionNumber accepted: AWS documents it as a long integer.
    static constexpr std::uint64_t max_version = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    /// A container opened at depth max_depth + 1, the message's object being depth 1.
    static constexpr std::size_t max_depth = 64;

    static constexpr std::string_view field_names[] = {
            "clientId",         "timestamp",         "eventType",           "versionNumber",
            "ipAddress",        "sessionIdentifier", "principalIdentifier", "clientInitiatedDisconnect",
            "disconnectReason", "thingName"};
    static_assert(std::size(field_names) == unknown, "a name for every field, in the order of Field");

    static Field field_of(std::string_view key) noexcept { return field_named(field_names, key, unknown); }
    static std::string_view name(Field field) noexcept { return name_of_field(field_names, field); }

    explicit Fields(Event& event) : m_event(event) { clear(event); }

    // Empty ids, connect, time 0: what a refused parse leaves (validate() refuses it).
    static void clear(Event& event) noexcept {
        event.client_id.clear();
        event.channel_id.clear();
        event.client_ip.clear();
        event.type = EventType::connect;
        event.time_ms = 0;
    }

    [[nodiscard]] const std::string& error() const noexcept { return m_error; }
    bool fail(std::string message) {
        if (m_error.empty()) m_error = std::move(message);
        return false;
    }

    // Each of these returns false (with error() set) when the value is not acceptable.
    bool begin(Field field) {
        if (field == unknown) return true;
        const auto bit = static_cast<unsigned>(1U << field);
        if ((m_seen & bit) != 0U) return fail("duplicate field " + q(field));
        m_seen |= bit;
        return true;
    }

    bool on_string(Field field, std::string_view value) {
        switch (field) {
        case client_id: {
            const auto problem = id_problem(value);
            if (!problem.empty()) return fail(q(field) + " " + std::string(problem));
            m_event.client_id.assign(value.data(), value.size());
            return true;
        }
        case event_type:
            if (value == "connected") {
                m_event.type = EventType::connect;
                return true;
            }
            if (value == "disconnected") {
                m_event.type = EventType::tcpclean;
                return true;
            }
            return bad_event_type(quoted(value));
        case ip_address:
            if (value.size() > max_address_bytes) return fail(q(field) + " is longer than 255 bytes");
            m_event.client_ip.assign(value.data(), value.size());
            return true;
        case session_identifier:
        case principal_identifier:
        case disconnect_reason:
        case thing_name:
        case unknown: return true;
        default: return wrong_type(field, ("string " + quoted(value)).c_str());
        }
    }

    bool on_integer(Field field, std::int64_t value) {
        if (value >= 0) return on_unsigned(field, static_cast<std::uint64_t>(value));
        if (field == timestamp || field == version_number) return fail(q(field) + " is negative");
        return on_other(field, "number");
    }

    bool on_unsigned(Field field, std::uint64_t value) {
        switch (field) {
        case timestamp:
            if (value > static_cast<std::uint64_t>(max_time_ms)) return fail(q(field) + " is after the year 9999");
            m_event.time_ms = static_cast<std::int64_t>(value);
            return true;
        case version_number: {
            if (value > max_version) return fail(q(field) + " is larger than " + std::to_string(max_version));
            char digits[24];
            const auto written = std::to_chars(digits, digits + sizeof digits, value);
            m_event.channel_id.assign(digits, static_cast<std::size_t>(written.ptr - digits));
            return true;
        }
        default: return on_other(field, "number");
        }
    }

    // `raw` is the number as written: an integer too large for 64 bits also arrives here.
    bool on_float(Field field, std::string_view raw) {
        if (field != timestamp && field != version_number) return on_other(field, "number");
        if (raw.find_first_of(".eE") != std::string_view::npos)
            return fail(q(field) + " must be an integer, got a number with a fraction or exponent");
        if (raw.substr(0, 1) == "-") return fail(q(field) + " is negative");
        if (field == timestamp) return fail(q(field) + " is after the year 9999");
        return fail(q(field) + " is larger than " + std::to_string(max_version));
    }

    bool on_boolean(Field field) {
        if (field == client_initiated_disconnect) return true;
        return on_other(field, "boolean");
    }

    bool on_null(Field field) {
        switch (field) {
        case ip_address: // absent
        case session_identifier:
        case principal_identifier:
        case client_initiated_disconnect:
        case disconnect_reason:
        case thing_name:
        case unknown: return true;
        default: return wrong_type(field, "null");
        }
    }

    // A value of a type the field does not take (type_name as nlohmann names JSON types).
    bool on_other(Field field, const char* type_name) {
        if (field == unknown) return true;
        return wrong_type(field, type_name);
    }

    // The message itself is not an object.
    bool on_top_level(const char* type_name) {
        return fail(std::string("message must be a JSON object, got ") + type_name);
    }

    bool on_too_deep() { return fail("JSON nested deeper than " + std::to_string(max_depth) + " levels"); }

    // Presence of the required fields, once the object is complete.
    bool finish() {
        for (const Field field : {client_id, timestamp, event_type, version_number})
            if ((m_seen & (1U << field)) == 0U) return fail(q(field) + " is missing");
        return true;
    }

private:
    static std::string q(Field field) { return "\"" + std::string(name(field)) + "\""; }

    bool bad_event_type(const std::string& got) {
        return fail(R"("eventType" must be "connected" or "disconnected", got )" + got);
    }

    bool wrong_type(Field field, const char* type_name) {
        switch (field) {
        case event_type: return bad_event_type(type_name);
        case timestamp:
        case version_number: return fail(q(field) + " must be an integer, got " + type_name);
        case client_initiated_disconnect: return fail(q(field) + " must be a boolean, got " + type_name);
        default: return fail(q(field) + " must be a string, got " + type_name);
        }
    }

    Event& m_event;
    unsigned m_seen = 0;
    std::string m_error;
};

} // namespace detail::aws_iot

/// The store options for AWS IoT Core's lifecycle events: `base` with Options::key_reuse_gap_ms
/// set to 10 minutes (rule 13). AWS starts a client's versionNumber again at 0 after about an
/// hour offline, and stamps events to within ±2 minutes: 10 minutes lies between the two.
[[nodiscard]] inline Options aws_iot_options(Options base = {}) {
    base.key_reuse_gap_ms = 10LL * 60 * 1000;
    return base;
}

/// Parses one AWS IoT Core lifecycle message (connected or disconnected) into `event`, reusing
/// its buffers. Returns false and sets `error` (naming the field and the problem) on bad input;
/// never throws for bad input. After a failure `event` is cleared (empty ids, connect, time 0),
/// so that nothing of the refused message is left in it; validate() refuses such an event.
inline bool parse_aws_iot_event(std::string_view json, Event& event, std::string& error) {
    if (detail::blank_message(json)) {
        detail::aws_iot::Fields::clear(event);
        error = "empty message";
        return false;
    }
    detail::aws_iot::Fields fields(event);
    detail::FieldSax<detail::aws_iot::Fields> sax(fields);
    if (detail::read_message(json, sax, fields, error)) return true;
    detail::aws_iot::Fields::clear(event);
    return false;
}

/// Non-throwing parse for untrusted payloads.
[[nodiscard]] inline ParseResult try_parse_aws_iot_event(std::string_view json) {
    return detail::try_parse_with(
            json, [](std::string_view j, Event& e, std::string& error) { return parse_aws_iot_event(j, e, error); });
}

/// Parses one AWS IoT Core lifecycle message. Throws ParseError naming the field and the problem.
[[nodiscard]] inline Event parse_aws_iot_event(std::string_view json) {
    return detail::event_or_throw(try_parse_aws_iot_event(json));
}

} // namespace mqtt_presence
