#pragma once
// The Azure Event Grid MQTT broker lifecycle event adapter: the events
// Microsoft.EventGrid.MQTTClientSessionConnected and ...Disconnected that an Event Grid
// namespace publishes, in the CloudEvents 1.0 schema
//   {"specversion":"1.0","id":"...","time":"2023-07-29T01:23:49.6454046Z",
//    "type":"Microsoft.EventGrid.MQTTClientSessionConnected","source":"/subscriptions/...",
//    "subject":"clients/client1/sessions/session1",
//    "data":{"namespaceName":"myns","clientAuthenticationName":"client1",
//            "clientSessionName":"session1","sequenceNumber":1}}
// or in the Event Grid schema ("eventType", "eventTime", "topic", "dataVersion", ...; the same
// "data"). A JSON array holding exactly one such event is accepted too (webhooks deliver arrays).
//
// Mapping onto an Event:
//   client_id  = data.clientSessionName   (the MQTT client identifier)
//   channel_id = data.sequenceNumber in decimal: the Disconnected event of a connection carries
//                the sequence number of its Connected event, and a new connection gets a larger one
//   type       = connect for ...Connected, tcpclean for ...Disconnected (whatever the reason)
//   time_ms    = "time" (CloudEvents) or "eventTime" (Event Grid schema), an RFC 3339 time
//   client_ip  = empty (the events carry no address)
//
// Parsed with nlohmann's SAX interface straight into an Event (no DOM is built). The error of a
// refused message is, in this order:
//   1. "empty message";
//   2. "message is larger than 1048576 bytes";
//   3. "malformed JSON: <problem> at byte N" (detail/json_syntax.hpp, over the whole message);
//   4. "message must be a JSON object or an array of one, got <type>", or a problem of the array;
//   5. the first field problem in the order of the message (a duplicate field, a mistyped or bad
//      value, nesting deeper than 64 levels);
//   6. schemas mixed ("type" next to "eventTime", ...), then a missing field.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
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

/// The event type of a client session that came up (CloudEvents "type", Event Grid "eventType").
inline constexpr std::string_view azure_eg_mqtt_connected = "Microsoft.EventGrid.MQTTClientSessionConnected";
/// The event type of a client session that went down.
inline constexpr std::string_view azure_eg_mqtt_disconnected = "Microsoft.EventGrid.MQTTClientSessionDisconnected";
/// Largest message accepted (Event Grid's own limit on one event is 1 MB).
inline constexpr std::size_t azure_eg_mqtt_max_message_bytes = 1U << 20;

namespace detail::azure_eg_mqtt {

// ---- RFC 3339 times --------------------------------------------------------------------------

enum class TimeError : std::uint8_t { none, syntax, before_1970, after_9999 };

struct Time {
    std::int64_t ms = 0;
    TimeError error = TimeError::none;
    std::string reason; ///< why it is not an RFC 3339 time (error == syntax)
};

[[nodiscard]] constexpr bool leap_year(unsigned year) noexcept {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

[[nodiscard]] constexpr unsigned days_in_month(unsigned year, unsigned month) noexcept {
    constexpr unsigned char days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && leap_year(year) ? 29U : days[month - 1];
}

// Days since 1970-01-01 of a valid proleptic Gregorian date (H. Hinnant's days_from_civil).
[[nodiscard]] constexpr std::int64_t days_from_civil(unsigned year, unsigned month, unsigned day) noexcept {
    const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t mp = month > 2 ? month - 3 : month + 9;
    const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/// Reads an RFC 3339 date-time, YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm), into epoch
/// milliseconds: "T" and "Z" may be lower case, the fraction has any number of digits (cut to
/// milliseconds, never rounded up), -00:00 is UTC. Refused: any other shape, a date that does
/// not exist (month 13, day 32, February 30, February 29 of a common year), hour 24, minute 60,
/// a leap second (second 60), an offset beyond 23:59, a missing zone; and a time before
/// 1970-01-01T00:00:00Z or after 9999-12-31T23:59:59.999Z once the offset is applied.
[[nodiscard]] inline Time parse_time(std::string_view text) {
    Time out;
    const auto refuse = [&out](std::string reason) {
        out.error = TimeError::syntax;
        out.reason = std::move(reason);
        return out;
    };
    const auto at = [text](std::size_t i) noexcept { return i < text.size() ? text[i] : '\0'; };
    const auto digits = [text](std::size_t from, std::size_t count, unsigned& value) noexcept {
        if (from + count > text.size()) return false;
        value = 0;
        for (std::size_t i = from; i < from + count; ++i) {
            if (text[i] < '0' || text[i] > '9') return false;
            value = value * 10 + static_cast<unsigned>(text[i] - '0');
        }
        return true;
    };

    unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!(digits(0, 4, year) && at(4) == '-' && digits(5, 2, month) && at(7) == '-' && digits(8, 2, day)))
        return refuse("expected a date YYYY-MM-DD first");
    if (month < 1 || month > 12) return refuse("month " + std::to_string(month));
    if (day < 1 || day > days_in_month(year, month))
        return refuse("day " + std::to_string(day) + " of " + std::string(text.substr(0, 7)) + ", which has " +
                      std::to_string(days_in_month(year, month)) + " days");
    if (text.size() == 10) return refuse("no time of day after the date");
    if (at(10) != 'T' && at(10) != 't') return refuse("expected T between the date and the time of day");
    if (!(digits(11, 2, hour) && at(13) == ':' && digits(14, 2, minute) && at(16) == ':' && digits(17, 2, second)))
        return refuse("expected a time of day hh:mm:ss after the T");
    if (hour > 23) return refuse("hour " + std::to_string(hour));
    if (minute > 59) return refuse("minute " + std::to_string(minute));
    if (second == 60) return refuse("second 60: leap seconds are not supported");
    if (second > 59) return refuse("second " + std::to_string(second));

    std::size_t pos = 19;
    std::int64_t fraction_ms = 0;
    if (at(pos) == '.') {
        const std::size_t first = ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            if (pos - first < 3) fraction_ms = fraction_ms * 10 + (text[pos] - '0');
            ++pos;
        }
        if (pos == first) return refuse("no digit after the decimal point");
        for (std::size_t n = pos - first; n < 3; ++n) fraction_ms *= 10;
    }

    if (pos == text.size()) return refuse("no time zone (expected Z or an offset such as +08:00)");
    std::int64_t offset_minutes = 0;
    const char zone = text[pos];
    if (zone == 'Z' || zone == 'z') {
        ++pos;
    } else if (zone == '+' || zone == '-') {
        unsigned offset_hour = 0, offset_minute = 0;
        if (!(digits(pos + 1, 2, offset_hour) && at(pos + 3) == ':' && digits(pos + 4, 2, offset_minute)))
            return refuse("expected an offset +hh:mm or -hh:mm");
        if (offset_hour > 23) return refuse("offset hour " + std::to_string(offset_hour));
        if (offset_minute > 59) return refuse("offset minute " + std::to_string(offset_minute));
        offset_minutes = static_cast<std::int64_t>(offset_hour) * 60 + offset_minute;
        if (zone == '-') offset_minutes = -offset_minutes;
        pos += 6;
    } else {
        return refuse("expected Z or an offset +hh:mm or -hh:mm after the time of day");
    }
    if (pos != text.size()) return refuse("trailing characters after the time zone");

    const std::int64_t seconds = days_from_civil(year, month, day) * 86400 +
                                 static_cast<std::int64_t>(hour * 3600 + minute * 60 + second) - offset_minutes * 60;
    out.ms = seconds * 1000 + fraction_ms;
    if (out.ms < 0)
        out.error = TimeError::before_1970;
    else if (out.ms > max_time_ms)
        out.error = TimeError::after_9999;
    return out;
}

// ---- fields ----------------------------------------------------------------------------------

// Collects the fields of one event, checks each as it arrives and checks presence at the end.
class Fields {
public:
    // The fields read. Those of the event object, then those of its "data" object.
    enum Field : std::uint8_t {
        specversion,
        type,
        event_type,
        time,
        event_time,
        data,
        namespace_name,
        client_authentication_name,
        client_session_name,
        sequence_number,
        disconnection_reason,
        unknown,
    };

    // The name in error messages: a field of "data" as "data.<key>".
    static constexpr std::string_view field_names[] = {
            "specversion",
            "type",
            "eventType",
            "time",
            "eventTime",
            "data",
            "data.namespaceName",
            "data.clientAuthenticationName",
            "data.clientSessionName",
            "data.sequenceNumber",
            "data.disconnectionReason",
    };
    static_assert(std::size(field_names) == unknown, "a name for every field, in the order of Field");
    static constexpr std::size_t data_prefix = std::string_view("data.").size();

    static Field field_of(std::string_view key, bool in_data) noexcept {
        return in_data ? field_named(field_names, key, unknown, namespace_name, unknown, data_prefix)
                       : field_named(field_names, key, unknown, 0, namespace_name);
    }
    static std::string_view name(Field field) noexcept { return name_of_field(field_names, field); }

    explicit Fields(Event& event) : m_event(event) {
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

    bool begin(Field field) {
        if (field == unknown) return true;
        if (seen(field)) return fail("duplicate field " + quoted_name(field));
        m_seen |= bit(field);
        return true;
    }

    bool on_string(Field field, std::string_view value) {
        switch (field) {
        case specversion:
            if (value != "1.0") return fail("unsupported \"specversion\" " + quoted(value) + " (expected \"1.0\")");
            return true;
        case type:
        case event_type:
            if (value == azure_eg_mqtt_connected)
                m_event.type = EventType::connect;
            else if (value == azure_eg_mqtt_disconnected)
                m_event.type = EventType::tcpclean;
            else
                return fail("unknown " + quoted_name(field) + " " + quoted(value) + " (expected " +
                            std::string(azure_eg_mqtt_connected) + " or " + std::string(azure_eg_mqtt_disconnected) +
                            ")");
            return true;
        case time:
        case event_time: {
            const Time parsed = parse_time(value);
            switch (parsed.error) {
            case TimeError::none: m_event.time_ms = parsed.ms; return true;
            case TimeError::syntax:
                return fail(quoted_name(field) + " is not an RFC 3339 time: " + quoted(value) + " (" + parsed.reason +
                            ")");
            case TimeError::before_1970: return fail(quoted_name(field) + " is before 1970: " + quoted(value));
            case TimeError::after_9999: return fail(quoted_name(field) + " is after the year 9999: " + quoted(value));
            }
            return true;
        }
        case client_session_name: {
            const auto problem = id_problem(value);
            if (!problem.empty()) return fail(quoted_name(field) + " " + std::string(problem));
            m_event.client_id.assign(value.data(), value.size());
            return true;
        }
        case sequence_number: return fail(quoted_name(field) + " must be an integer, got string " + quoted(value));
        case data: return wrong_type(field, "string");
        default: return true; // namespaceName, clientAuthenticationName, disconnectionReason: not used
        }
    }

    bool on_integer(Field field, std::int64_t value) {
        if (field == sequence_number && value < 0) return fail(quoted_name(field) + " is negative");
        if (field == sequence_number) return on_unsigned(field, static_cast<std::uint64_t>(value));
        return on_other(field, "number");
    }

    bool on_unsigned(Field field, std::uint64_t value) {
        if (field != sequence_number) return on_other(field, "number");
        m_event.channel_id = std::to_string(value);
        return true;
    }

    // `raw` is the number as written: an integer too large for 64 bits also arrives here.
    bool on_float(Field field, std::string_view raw) {
        if (field != sequence_number) return on_other(field, "number");
        if (raw.find_first_of(".eE") != std::string_view::npos)
            return fail(quoted_name(field) + " must be an integer, got a number with a fraction or exponent");
        if (raw.substr(0, 1) == "-") return fail(quoted_name(field) + " is negative");
        return fail(quoted_name(field) + " is larger than " +
                    std::to_string(std::numeric_limits<std::uint64_t>::max()));
    }

    bool on_null(Field field) {
        // The unused fields of "data" may be null, as if absent.
        if (field == namespace_name || field == client_authentication_name || field == disconnection_reason)
            return true;
        return on_other(field, "null");
    }

    // A value of a JSON type no field of its name may have (type_name as nlohmann names it).
    bool on_other(Field field, const char* type_name) {
        if (field == unknown) return true;
        return wrong_type(field, type_name);
    }

    // Once the event object is complete: one schema, and every required field.
    bool finish() {
        const Field cloud_field = first_seen({type, time, specversion});
        const Field grid_field = first_seen({event_type, event_time});
        if (cloud_field != unknown && grid_field != unknown)
            return fail("mixed schemas: " + quoted_name(cloud_field) + " (CloudEvents) and " + quoted_name(grid_field) +
                        " (Event Grid schema)");
        if (cloud_field == unknown && grid_field == unknown)
            return fail("\"type\" (CloudEvents) or \"eventType\" (Event Grid schema) is missing");
        const bool cloud = cloud_field != unknown;
        for (const Field field :
             {cloud ? type : event_type, cloud ? time : event_time, data, client_session_name, sequence_number})
            if (!seen(field)) return fail(quoted_name(field) + " is missing");
        return true;
    }

private:
    static unsigned bit(Field field) noexcept { return 1U << field; }
    [[nodiscard]] bool seen(Field field) const noexcept { return (m_seen & bit(field)) != 0U; }
    [[nodiscard]] Field first_seen(std::initializer_list<Field> fields) const noexcept {
        for (const Field field : fields)
            if (seen(field)) return field;
        return unknown;
    }
    static std::string quoted_name(Field field) { return "\"" + std::string(name(field)) + "\""; }

    bool wrong_type(Field field, const char* type_name) {
        const char* expected = field == data ? "an object" : field == sequence_number ? "an integer" : "a string";
        return fail(quoted_name(field) + " must be " + expected + ", got " + type_name);
    }

    Event& m_event;
    unsigned m_seen = 0;
    std::string m_error;
};

// ---- the walk --------------------------------------------------------------------------------

// nlohmann SAX handler. The message is the event object, or an array holding it; the fields of
// the event object and of its "data" object go to Fields; anything else (unknown fields, and
// what is nested inside them) is skipped, but must still be valid JSON.
class Sax {
public:
    using number_integer_t = nlohmann::json::number_integer_t;
    using number_unsigned_t = nlohmann::json::number_unsigned_t;
    using number_float_t = nlohmann::json::number_float_t;
    using string_t = nlohmann::json::string_t;
    using binary_t = nlohmann::json::binary_t;

    // A container opened at depth max_depth + 1, the message's outermost one being depth 1.
    static constexpr std::size_t max_depth = 64;

    explicit Sax(Fields& fields) : m_fields(fields) {}

    bool null() {
        return scalar("null", [&] { return m_fields.on_null(m_field); });
    }
    bool boolean(bool) {
        return scalar("boolean", [&] { return m_fields.on_other(m_field, "boolean"); });
    }
    bool number_integer(number_integer_t v) {
        return scalar("number", [&] { return m_fields.on_integer(m_field, v); });
    }
    bool number_unsigned(number_unsigned_t v) {
        return scalar("number", [&] { return m_fields.on_unsigned(m_field, v); });
    }
    bool number_float(number_float_t, const string_t& raw) {
        return scalar("number", [&] { return m_fields.on_float(m_field, raw); });
    }
    bool string(string_t& v) {
        return scalar("string", [&] { return m_fields.on_string(m_field, v); });
    }
    bool binary(binary_t&) {
        return scalar("binary", [&] { return m_fields.on_other(m_field, "binary"); });
    }

    bool start_object(std::size_t) {
        switch (slot()) {
        case Slot::top: m_event_depth = 1; break;
        case Slot::element:
            if (!element("object")) return false;
            m_event_depth = 2;
            break;
        case Slot::event_field:
            if (m_field == Fields::data)
                m_in_data = true;
            else if (!m_fields.on_other(m_field, "object"))
                return false;
            break;
        case Slot::data_field:
            if (!m_fields.on_other(m_field, "object")) return false;
            break;
        case Slot::nested: break;
        }
        return push();
    }

    bool end_object() {
        --m_depth;
        if (m_depth + 1 == m_event_depth) return m_fields.finish();
        if (m_in_data && m_depth == m_event_depth) m_in_data = false;
        return true;
    }

    bool start_array(std::size_t) {
        switch (slot()) {
        case Slot::top: m_array = true; break;
        case Slot::element: return element("array"); // never the event
        case Slot::event_field:
        case Slot::data_field:
            if (!m_fields.on_other(m_field, "array")) return false;
            break;
        case Slot::nested: break;
        }
        return push();
    }

    bool end_array() {
        --m_depth;
        if (m_array && m_depth == 0 && m_elements == 0)
            return m_fields.fail("JSON array holds no event (expected exactly one)");
        return true;
    }

    bool key(string_t& name) {
        const Slot where = slot();
        if (where != Slot::event_field && where != Slot::data_field) return true;
        m_field = Fields::field_of(name, where == Slot::data_field);
        return m_fields.begin(m_field);
    }

    // The words come from json_syntax_error, over the whole message.
    bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception&) {
        return m_fields.fail("malformed JSON");
    }

private:
    // Where a value at the current depth goes: it is the message, an element of the message's
    // array, a field of the event, a field of its "data", or inside something skipped.
    enum class Slot : std::uint8_t { top, element, event_field, data_field, nested };

    [[nodiscard]] Slot slot() const noexcept {
        if (m_depth == 0) return Slot::top;
        if (m_array && m_depth == 1) return Slot::element;
        if (m_depth == m_event_depth) return Slot::event_field;
        if (m_in_data && m_depth == m_event_depth + 1) return Slot::data_field;
        return Slot::nested;
    }

    template <class OnField>
    bool scalar(const char* type_name, OnField&& on_field) {
        switch (slot()) {
        case Slot::top:
            return m_fields.fail(std::string("message must be a JSON object or an array of one, got ") + type_name);
        case Slot::element: return element(type_name);
        case Slot::event_field:
        case Slot::data_field: return on_field();
        case Slot::nested: break;
        }
        return true;
    }

    // A value directly in the message's array: it must be the one and only event object.
    bool element(const char* type_name) {
        if (++m_elements > 1)
            return m_fields.fail("JSON array holds more than one event (expected exactly one: split the batch and "
                                 "parse each event)");
        if (std::strcmp(type_name, "object") != 0)
            return m_fields.fail(std::string("JSON array element must be a JSON object, got ") + type_name);
        return true;
    }

    bool push() {
        if (++m_depth > max_depth)
            return m_fields.fail("JSON nested deeper than " + std::to_string(max_depth) + " levels");
        return true;
    }

    Fields& m_fields;
    Fields::Field m_field = Fields::unknown;
    std::size_t m_depth = 0;
    std::size_t m_event_depth = std::numeric_limits<std::size_t>::max(); // set when the event object opens
    std::size_t m_elements = 0;                                          // values in the message's array
    bool m_array = false;                                                // the message is an array
    bool m_in_data = false;                                              // inside the event's "data" object
};

} // namespace detail::azure_eg_mqtt

/// Parses one Azure Event Grid MQTT broker session event (CloudEvents 1.0 or Event Grid schema,
/// or a JSON array holding exactly one) into `event`, reusing its buffers. Returns false and
/// sets `error` (naming the field and the problem) on bad input; never throws for bad input.
/// `event` is unspecified after a failure. Unknown fields are ignored; key order is free.
inline bool parse_azure_eg_mqtt_event(std::string_view json, Event& event, std::string& error) {
    if (detail::blank_message(json)) {
        error = "empty message";
        return false;
    }
    if (json.size() > azure_eg_mqtt_max_message_bytes) {
        error = "message is larger than " + std::to_string(azure_eg_mqtt_max_message_bytes) + " bytes";
        return false;
    }
    detail::azure_eg_mqtt::Fields fields(event);
    detail::azure_eg_mqtt::Sax sax(fields);
    return detail::read_message(json, sax, fields, error);
}

/// Non-throwing parse for untrusted payloads.
[[nodiscard]] inline ParseResult try_parse_azure_eg_mqtt_event(std::string_view json) {
    return detail::try_parse_with(json, [](std::string_view j, Event& e, std::string& error) {
        return parse_azure_eg_mqtt_event(j, e, error);
    });
}

/// Parses one Azure Event Grid MQTT broker session event. Throws ParseError naming the field
/// and the problem.
[[nodiscard]] inline Event parse_azure_eg_mqtt_event(std::string_view json) {
    return detail::event_or_throw(try_parse_azure_eg_mqtt_event(json));
}

} // namespace mqtt_presence
