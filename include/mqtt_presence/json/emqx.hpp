#pragma once
// The EMQX lifecycle event adapter. One function reads both kinds of message EMQX publishes:
//
//   rule-engine / webhook events ($events/client_connected, $events/client_disconnected):
//     {"event":"client.connected","clientid":"c1","connected_at":1645003578536,
//      "peername":"192.0.2.7:52431","timestamp":1645003578537,"node":"emqx@127.0.0.1",...}
//     {"event":"client.disconnected","clientid":"c1","reason":"normal","disconnected_at":1645003600000,
//      "connected_at":1645003578536,"timestamp":1645003600001,"node":"emqx@127.0.0.1",...}
//     (connected_at inside a disconnected event: EMQX 5.8.6 and later)
//
//   $SYS/brokers/{node}/clients/{clientid}/connected|disconnected payloads (no "event" field):
//     {"clientid":"c1","connected_at":1625572213873,"ts":1625572213873,"ipaddress":"127.0.0.1",...}
//     {"clientid":"c1","reason":"tcp_closed","disconnected_at":1625572300000,"ts":1625572300001,...}
//
// Connected or disconnected: "event" when present ("client.connected" or "client.disconnected",
// anything else is an error); otherwise a message with "disconnected_at" or "reason" is a
// disconnect, else one with "connected_at" is a connect, else it is refused.
//
// The connection key is connected_at: it is on both halves of one connection.
//   connected                      -> connect,    channel_id = connected_at (decimal), time_ms = connected_at
//   disconnected with connected_at -> tcpclean,   channel_id = connected_at (decimal),
//                                     time_ms = disconnected_at, else timestamp, else ts
//   disconnected, no connected_at  -> channel_id = "" (the close names no connection), same time_ms;
//                                     reason "takenover" or "discarded": disconnect (closes nothing: a
//                                     newer connection of the client took the session over);
//                                     any other reason, or none: tcpclean (closes every connection of
//                                     the client that started at or before time_ms)
//   client_ip = peername, else ipaddress, else empty (for every kind)
//
// A field whose value is null counts as absent, except "clientid" and "event", which must be
// strings. Times are integers or strings of decimal digits, 0 to the end of the year 9999.
// "reason" must be a string. Unknown fields are ignored, whatever they hold; key order is free;
// a known field given twice is an error.
//
// The error of a refused message is, in this order:
//   1. "empty message";
//   2. "malformed JSON: <problem> at byte N" (detail/json_syntax.hpp, as for every adapter);
//   3. "message must be a JSON object, got <type>";
//   4. the first field problem in the order of the message (duplicate field, mistyped or bad
//      value, unknown "event", nesting deeper than 64 levels inside an unknown field);
//   5. missing "clientid"; then a message that says neither connected nor disconnected; then
//      the missing time of its kind.
// Parsed with nlohmann's SAX interface straight into an Event (no DOM is built).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "../detail/field_names.hpp"
#include "../detail/json_syntax.hpp"
#include "../event.hpp"
#include "alibaba_fields.hpp"
#include "field_sax.hpp"

namespace mqtt_presence {

namespace detail::emqx {

// Reads a time field's value into `out`, or says why not; `name` is the field's JSON name.
// The parser-independent checks any adapter's time fields need.
struct TimeField {
    static bool from_unsigned(std::string_view name, std::uint64_t value, std::int64_t& out, std::string& error) {
        if (value > static_cast<std::uint64_t>(max_time_ms)) {
            error = "\"" + std::string(name) + "\" is after the year 9999";
            return false;
        }
        out = static_cast<std::int64_t>(value);
        return true;
    }
    static bool from_integer(std::string_view name, std::int64_t value, std::int64_t& out, std::string& error) {
        if (value < 0) {
            error = "\"" + std::string(name) + "\" is negative";
            return false;
        }
        return from_unsigned(name, static_cast<std::uint64_t>(value), out, error);
    }
    // `raw` is the number as written: an integer too large for 64 bits also arrives here.
    static bool from_float(std::string_view name, std::string_view raw, std::string& error) {
        if (raw.find_first_of(".eE") == std::string_view::npos)
            error = "\"" + std::string(name) +
                    (raw.substr(0, 1) == "-" ? "\" is negative" : "\" is after the year 9999");
        else
            error = "\"" + std::string(name) + "\" must be an integer, got a number with a fraction or exponent";
        return false;
    }
    // Some producers quote longs: a string of 1 to 19 decimal digits is read as the integer.
    static bool from_string(std::string_view name, std::string_view value, std::int64_t& out, std::string& error) {
        const auto not_integer = [&] {
            error = "\"" + std::string(name) + "\" must be an integer, got string " + quoted(value);
            return false;
        };
        if (value.empty() || value.size() > 19) return not_integer();
        std::uint64_t v = 0;
        for (const char c : value) {
            if (c < '0' || c > '9') return not_integer();
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return from_unsigned(name, v, out, error);
    }
};

// Collects the fields of one EMQX message, checks each as it arrives, and at the end decides
// the kind of the message and builds the Event (see the top of this header).
class Fields {
public:
    enum Field : std::uint8_t {
        event,
        clientid,
        connected_at,
        disconnected_at,
        timestamp,
        ts,
        reason,
        peername,
        ipaddress,
        unknown
    };

    static constexpr std::string_view field_names[] = {"event",           "clientid",  "connected_at",
                                                       "disconnected_at", "timestamp", "ts",
                                                       "reason",          "peername",  "ipaddress"};
    static_assert(std::size(field_names) == unknown, "a name for every field, in the order of Field");

    static Field field_of(std::string_view key) noexcept { return field_named(field_names, key, unknown); }
    static std::string_view name(Field field) noexcept { return name_of_field(field_names, field); }

    void reset(Event& target) {
        m_event = &target;
        m_seen = 0;
        m_present = 0;
        m_kind = Kind::unknown;
        m_session_moved = false;
        for (std::int64_t& t : m_times) t = 0;
        m_error.clear();
        target.client_id.clear();
        target.channel_id.clear();
        target.client_ip.clear();
        target.type = EventType::connect;
        target.time_ms = 0;
    }

    [[nodiscard]] const std::string& error() const noexcept { return m_error; }
    bool fail(std::string message) {
        if (m_error.empty()) m_error = std::move(message);
        return false;
    }

    // Each of these returns false (with error() set) when the value is not acceptable.
    bool begin(Field field) {
        if (field == unknown) return true;
        if ((m_seen & bit(field)) != 0U) return fail("duplicate field \"" + std::string(name(field)) + "\"");
        m_seen |= bit(field);
        return true;
    }

    bool on_string(Field field, std::string_view value) {
        switch (field) {
        case event:
            if (value == "client.connected")
                m_kind = Kind::connected;
            else if (value == "client.disconnected")
                m_kind = Kind::disconnected;
            else
                return fail("unknown \"event\" " + quoted(value) +
                            " (expected client.connected or client.disconnected)");
            break;
        case clientid:
            if (const auto problem = id_problem(value); !problem.empty())
                return fail("\"clientid\" " + std::string(problem));
            m_event->client_id.assign(value.data(), value.size());
            break;
        case connected_at:
        case disconnected_at:
        case timestamp:
        case ts:
            if (!TimeField::from_string(name(field), value, time_of(field), m_error)) return false;
            break;
        case reason: m_session_moved = value == "takenover" || value == "discarded"; break;
        case peername:
        case ipaddress:
            if (value.size() > max_address_bytes)
                return fail("\"" + std::string(name(field)) + "\" is longer than 255 bytes");
            // peername wins over ipaddress, in whatever order they come.
            if (field == peername || (m_present & bit(peername)) == 0U)
                m_event->client_ip.assign(value.data(), value.size());
            break;
        default: return true;
        }
        m_present |= bit(field);
        return true;
    }

    bool on_integer(Field field, std::int64_t value) {
        if (field == unknown) return true;
        if (!is_time(field)) return wrong_type(field, "number");
        if (!TimeField::from_integer(name(field), value, time_of(field), m_error)) return false;
        m_present |= bit(field);
        return true;
    }

    bool on_unsigned(Field field, std::uint64_t value) {
        if (field == unknown) return true;
        if (!is_time(field)) return wrong_type(field, "number");
        if (!TimeField::from_unsigned(name(field), value, time_of(field), m_error)) return false;
        m_present |= bit(field);
        return true;
    }

    bool on_float(Field field, std::string_view raw) {
        if (field == unknown) return true;
        if (!is_time(field)) return wrong_type(field, "number");
        return TimeField::from_float(name(field), raw, m_error);
    }

    // null is an absent value, except for the two fields that must be strings.
    bool on_null(Field field) {
        if (field == clientid || field == event) return wrong_type(field, "null");
        return true;
    }

    bool on_boolean(Field field) { return on_other(field, "boolean"); }
    bool on_other(Field field, const char* type_name) {
        if (field == unknown) return true;
        return wrong_type(field, type_name);
    }

    // The message itself is not an object (type_name as nlohmann names JSON types).
    bool on_top_level(const char* type_name) {
        return fail(std::string("message must be a JSON object, got ") + type_name);
    }

    // A container opened at depth max_depth + 1, the message's object being depth 1.
    static constexpr std::size_t max_depth = 64;
    bool on_too_deep() { return fail("JSON nested deeper than " + std::to_string(max_depth) + " levels"); }

    // The object is complete: decide its kind and fill in the Event.
    bool finish() {
        if (!present(clientid)) return fail("missing field \"clientid\"");
        Kind kind = m_kind;
        if (kind == Kind::unknown) {
            if (present(disconnected_at) || present(reason))
                kind = Kind::disconnected;
            else if (present(connected_at))
                kind = Kind::connected;
            else
                return fail(
                        R"(neither connected nor disconnected: no "event", "connected_at", "disconnected_at" or "reason")");
        }
        Event& e = *m_event;
        if (kind == Kind::connected) {
            if (!present(connected_at)) return fail("missing field \"connected_at\"");
            e.type = EventType::connect;
            e.time_ms = time_of(connected_at);
            e.channel_id = std::to_string(e.time_ms);
            return true;
        }
        if (present(disconnected_at))
            e.time_ms = time_of(disconnected_at);
        else if (present(timestamp))
            e.time_ms = time_of(timestamp);
        else if (present(ts))
            e.time_ms = time_of(ts);
        else
            return fail(R"(missing field "disconnected_at" (or "timestamp" or "ts"))");
        if (present(connected_at)) {
            e.type = EventType::tcpclean;
            e.channel_id = std::to_string(time_of(connected_at));
        } else {
            e.type = m_session_moved ? EventType::disconnect : EventType::tcpclean;
        }
        return true;
    }

private:
    enum class Kind : std::uint8_t { unknown, connected, disconnected };

    static unsigned bit(Field field) noexcept { return 1U << field; }
    static bool is_time(Field field) noexcept {
        return field == connected_at || field == disconnected_at || field == timestamp || field == ts;
    }
    [[nodiscard]] bool present(Field field) const noexcept { return (m_present & bit(field)) != 0U; }
    std::int64_t& time_of(Field field) noexcept { return m_times[field - connected_at]; }

    bool wrong_type(Field field, const char* type_name) {
        return fail("\"" + std::string(name(field)) + "\" must be " + (is_time(field) ? "an integer" : "a string") +
                    ", got " + type_name);
    }

    Event* m_event = nullptr;
    unsigned m_seen = 0;    // fields met (duplicates)
    unsigned m_present = 0; // fields with a usable value (null is absent)
    Kind m_kind = Kind::unknown;
    bool m_session_moved = false;           // reason "takenover" or "discarded"
    std::int64_t m_times[4] = {0, 0, 0, 0}; // connected_at, disconnected_at, timestamp, ts
    std::string m_error;
};

} // namespace detail::emqx

/// Parses one EMQX lifecycle message (a rule-engine / webhook client.connected or
/// client.disconnected event, or a $SYS .../connected or .../disconnected payload) into
/// `event`, reusing its buffers. Returns false and sets `error` (naming the field and the
/// problem) on bad input; never throws for bad input. `event` is unspecified after a failure.
/// The mapping and the order of the errors are at the top of json/emqx.hpp.
inline bool parse_emqx_event(std::string_view json, Event& event, std::string& error) {
    if (detail::blank_message(json)) {
        error = "empty message";
        return false;
    }
    detail::emqx::Fields fields;
    fields.reset(event);
    detail::FieldSax<detail::emqx::Fields> sax(fields);
    return detail::read_message(json, sax, fields, error);
}

/// Non-throwing parse for untrusted payloads.
[[nodiscard]] inline ParseResult try_parse_emqx_event(std::string_view json) {
    return detail::try_parse_with(
            json, [](std::string_view j, Event& e, std::string& error) { return parse_emqx_event(j, e, error); });
}

/// Parses one EMQX lifecycle message. Throws ParseError naming the field and the problem.
[[nodiscard]] inline Event parse_emqx_event(std::string_view json) {
    return detail::event_or_throw(try_parse_emqx_event(json));
}

} // namespace mqtt_presence
