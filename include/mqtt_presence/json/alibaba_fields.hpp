#pragma once
// The parser-independent half of the Alibaba Cloud MQTT lifecycle event adapter: the error
// types, every field's checks and every error message. Each JSON parser (json/alibaba.hpp on
// nlohmann, json/alibaba_simdjson.hpp on simdjson) only walks the message and hands each value
// to detail::AlibabaFields, so that they accept the same messages and say the same things.
// Standard library only.
//
// The error of a refused message is, in this order:
//   1. "empty message": nothing but whitespace (after an optional UTF-8 byte order mark);
//   2. "malformed JSON: <problem> at byte N": not one valid JSON text (detail/json_syntax.hpp).
//      Checked over the whole message before anything else, so that a malformed message is
//      never blamed on a field, whichever parser read it and wherever it stopped;
//   3. "message must be a JSON object, got <type>";
//   4. the first field problem in the order of the message (a duplicate field, a mistyped or bad
//      value, nesting deeper than 64 levels inside an unknown field);
//   5. a missing field.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "../detail/compiler.hpp"
#include "../detail/field_names.hpp"
#include "../detail/json_syntax.hpp"
#include "../event.hpp"

namespace mqtt_presence {

/// Bad input at the parsing boundary. what() names the field and the problem.
class ParseError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The result of a non-throwing parse: an event, or why there is none.
struct ParseResult {
    std::optional<Event> event;
    std::string error; ///< empty on success

    explicit operator bool() const noexcept { return event.has_value(); }
};

namespace detail {

/// try_parse_X_event() of every adapter: its parse(json, event, error) as a ParseResult.
template <class Parse>
[[nodiscard]] ParseResult try_parse_with(std::string_view json, Parse&& parse) {
    ParseResult result;
    Event event;
    if (parse(json, event, result.error)) result.event = std::move(event);
    return result;
}

/// parse_X_event(json) of every adapter: the event of a ParseResult, or ParseError.
[[nodiscard]] inline Event event_or_throw(ParseResult&& result) {
    if (!result) throw ParseError("mqtt_presence: " + result.error);
    return std::move(*result.event);
}

} // namespace detail

namespace detail {

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong
// form, no surrogate, nothing above U+10FFFF); 0 if there is none.
[[nodiscard]] inline std::size_t utf8_sequence(std::string_view text) noexcept {
    if (text.empty()) return 0;
    const auto c = static_cast<unsigned char>(text[0]);
    if (c < 0x80) return 1;
    const std::size_t length = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (length == 0 || text.size() < length) return 0;
    const auto second = static_cast<unsigned char>(text[1]);
    const unsigned char low = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (second < low || second > high) return 0;
    for (std::size_t i = 2; i < length; ++i)
        if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) return 0;
    return length;
}

// A value quoted for an error message: at most 64 bytes of it, cut at a character boundary,
// with control characters (C0, DEL, C1), quotes, backslashes and bytes that are not UTF-8
// shown as '?': the message is always printable UTF-8, whatever the input held.
inline std::string quoted(std::string_view value) {
    std::string out = "\"";
    std::size_t i = 0;
    while (i < value.size()) {
        const std::size_t length = utf8_sequence(value.substr(i));
        if (i + (length == 0 ? 1 : length) > 64) break;
        const auto c = static_cast<unsigned char>(value[i]);
        const bool c1 = length == 2 && c == 0xC2 && static_cast<unsigned char>(value[i + 1]) < 0xA0;
        if (length == 0 || c1 || c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            out.push_back('?');
            i += length == 0 ? 1 : length;
        } else {
            out.append(value.substr(i, length));
            i += length;
        }
    }
    if (i < value.size()) out += "...";
    out.push_back('"');
    return out;
}

// Collects the fields of one Alibaba event, checks each as it arrives and checks presence at
// the end. Driven by every parser's walk and by from_json, so that all say exactly the same.
class AlibabaFields {
public:
    enum Field : std::uint8_t { client_id, channel_id, event_type, time, client_ip, unknown };

    static constexpr std::string_view field_names[] = {"clientId", "channelId", "eventType", "time", "clientIp"};
    static_assert(std::size(field_names) == unknown, "a name for every field, in the order of Field");

    static Field field_of(std::string_view key) noexcept { return field_named(field_names, key, unknown); }
    static std::string_view name(Field field) noexcept { return name_of_field(field_names, field); }

    // The strings keep their contents until a value replaces them (finish() empties an absent
    // clientIp), so that a value no longer than the one before is copied in place (copy()).
    void reset(Event& event) {
        m_event = &event;
        m_seen = 0;
        m_error.clear();
        event.type = EventType::connect;
        event.time_ms = 0;
    }

    [[nodiscard]] const std::string& error() const noexcept { return m_error; }
    bool fail(std::string message) {
        if (m_error.empty()) m_error = std::move(message);
        return false;
    }

    // Each on_* returns false (with error() set) when the value is not acceptable. The messages
    // are built out of line (MQTT_PRESENCE_NOINLINE), so that the accepting paths inline into
    // the parsers' walks.
    bool begin(Field field) {
        const unsigned bit = field == unknown ? 0U : 1U << field;
        if ((m_seen & bit) != 0U) return duplicate(field);
        m_seen |= bit;
        return true;
    }

    // `printable`: the caller already knows that `value` is printable ASCII alone (no control
    // character), so that an id's bytes need not be looked at again.
    bool on_string(Field field, std::string_view value, bool printable = false) {
        return on_string_inline(field, value, printable);
    }
    // on_string(), always inlined: the flat reader's walk, where the call would cost about a
    // tenth of a message's parse. (The full parsers call on_string() from more places, where
    // inlining it everywhere costs them more than the calls do.)
    MQTT_PRESENCE_ALWAYS_INLINE bool on_string_inline(Field field, std::string_view value, bool printable) {
        switch (field) {
        case client_id:
        case channel_id: {
            const auto problem = printable ? id_length_problem(value) : any_id_problem(value);
            if (!problem.empty()) return bad_id(field, problem);
            copy(value, field == client_id ? m_event->client_id : m_event->channel_id);
            return true;
        }
        case event_type: {
            const auto type = parse_event_type(value);
            if (!type) return unknown_event_type(value);
            m_event->type = *type;
            return true;
        }
        case time: {
            // Accepted as a string of decimal digits too (some producers quote longs).
            if (value.empty() || value.size() > 19) return time_string(value);
            std::uint64_t v = 0;
            for (const char c : value) {
                if (c < '0' || c > '9') return time_string(value);
                v = v * 10 + static_cast<std::uint64_t>(c - '0');
            }
            return on_unsigned(field, v);
        }
        case client_ip:
            if (value.size() > max_address_bytes) return fail_with("\"clientIp\" is longer than 255 bytes");
            copy(value, m_event->client_ip);
            return true;
        default: return true;
        }
    }

    bool on_integer(Field field, std::int64_t value) {
        if (field == unknown) return true;
        if (field != time) return wrong_type(field, "number");
        if (value < 0) return fail_with("\"time\" is negative");
        return on_unsigned(field, static_cast<std::uint64_t>(value));
    }

    bool on_unsigned(Field field, std::uint64_t value) {
        if (field == unknown) return true;
        if (field != time) return wrong_type(field, "number");
        if (value > static_cast<std::uint64_t>(max_time_ms)) return fail_with("\"time\" is after the year 9999");
        m_event->time_ms = static_cast<std::int64_t>(value);
        return true;
    }

    // `raw` is the number as written: an integer too large for 64 bits also arrives here.
    bool on_float(Field field, std::string_view raw) {
        if (field == unknown) return true;
        if (field == time) {
            if (raw.find_first_of(".eE") == std::string_view::npos)
                return fail(raw.substr(0, 1) == "-" ? "\"time\" is negative" : "\"time\" is after the year 9999");
            return fail("\"time\" must be an integer, got a number with a fraction or exponent");
        }
        return wrong_type(field, "number");
    }

    bool on_null(Field field) {
        if (field == client_ip) { // an absent address
            m_event->client_ip.clear();
            return true;
        }
        if (field == unknown) return true;
        return wrong_type(field, "null");
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

    // Presence of the required fields, once the object is complete.
    bool finish() {
        constexpr unsigned required = 1U << client_id | 1U << channel_id | 1U << event_type | 1U << time;
        if ((m_seen & (1U << client_ip)) == 0U) m_event->client_ip.clear();
        return (m_seen & required) == required || missing();
    }

private:
    // assign() without its check for a source inside the string (a value never is). A value no
    // longer than what `into` holds is copied over it and the rest cut off, inline (assign and
    // append are calls into the standard library); always, so that how much else a program
    // inlines does not turn the copy of every id into a call.
    MQTT_PRESENCE_ALWAYS_INLINE static void copy(std::string_view value, std::string& into) {
        if (value.size() <= into.size()) {
            if (!value.empty()) std::memcpy(&into[0], value.data(), value.size());
            into.erase(value.size());
            return;
        }
        grow_copy(value, into);
    }
    MQTT_PRESENCE_NOINLINE static void grow_copy(std::string_view value, std::string& into) {
        into.clear();
        into.append(value.data(), value.size());
    }

    // id_problem() (always inlined) called once, here, for the ids whose bytes the caller has
    // not looked at.
    MQTT_PRESENCE_NOINLINE static std::string_view any_id_problem(std::string_view id) noexcept {
        return id_problem(id);
    }
    MQTT_PRESENCE_NOINLINE bool fail_with(const char* message) { return fail(message); }
    MQTT_PRESENCE_NOINLINE bool duplicate(Field field) {
        return fail("duplicate field \"" + std::string(name(field)) + "\"");
    }
    MQTT_PRESENCE_NOINLINE bool bad_id(Field field, std::string_view problem) {
        return fail("\"" + std::string(name(field)) + "\" " + std::string(problem));
    }
    MQTT_PRESENCE_NOINLINE bool unknown_event_type(std::string_view value) {
        return fail("unknown \"eventType\" " + quoted(value) + " (expected connect, disconnect or tcpclean)");
    }
    MQTT_PRESENCE_NOINLINE bool time_string(std::string_view value) {
        return fail("\"time\" must be an integer, got string " + quoted(value));
    }
    // The first required field missing, in the order client_id, channel_id, event_type, time.
    MQTT_PRESENCE_NOINLINE bool missing() {
        for (const Field field : {client_id, channel_id, event_type, time})
            if ((m_seen & (1U << field)) == 0U) return fail("missing field \"" + std::string(name(field)) + "\"");
        return true;
    }
    MQTT_PRESENCE_NOINLINE bool wrong_type(Field field, const char* type_name) {
        const bool numeric = field == time;
        return fail("\"" + std::string(name(field)) + "\" must be " + (numeric ? "an integer" : "a string") + ", got " +
                    type_name);
    }

    Event* m_event = nullptr;
    unsigned m_seen = 0;
    std::string m_error;
};

// Nothing but JSON whitespace, after an optional UTF-8 byte order mark: "empty message".
[[nodiscard]] inline bool blank_message(std::string_view json) noexcept {
    if (json.substr(0, 3) == "\xEF\xBB\xBF") json.remove_prefix(3);
    for (const char c : json)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
    return true;
}

// Why a parser refused `json`, into `error`: the syntax error, if any, wherever it is (parsers
// stop at different places, so it must not depend on where); else the field problem.
inline void refusal(std::string_view json, const AlibabaFields& fields, std::string& error) {
    error = json_syntax_error(json);
    if (error.empty()) error = fields.error().empty() ? std::string("malformed JSON") : fields.error();
}

// The RocketMQ message tag (connect/disconnect/tcpclean) must name the body's eventType.
inline bool check_tag(const Event& event, std::string_view tag, std::string& error) {
    const auto type = parse_event_type(tag);
    if (!type) {
        error = "RocketMQ tag " + quoted(tag) + " is not an event type (expected connect, disconnect or tcpclean)";
        return false;
    }
    if (*type != event.type) {
        error = "RocketMQ tag " + quoted(tag) + " does not match \"eventType\" " + quoted(to_string(event.type));
        return false;
    }
    return true;
}

} // namespace detail

} // namespace mqtt_presence
