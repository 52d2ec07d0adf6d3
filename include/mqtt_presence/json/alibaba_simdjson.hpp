#pragma once
// The Alibaba Cloud MQTT lifecycle event adapter on simdjson's On-Demand API (simdjson 3):
// for any input, the same result as json/alibaba.hpp (nlohmann): the same events, the same
// refusals, the same error messages, several times faster. Every value goes through
// detail::AlibabaFields, and a refused message gets its error from detail::refusal
// (json/alibaba_fields.hpp), exactly as on the nlohmann path.
//
// A message in the shape brokers write (one flat object of strings without escapes and unsigned
// integers) is read first by detail::read_flat_alibaba (json/alibaba_flat.hpp) in one pass,
// without simdjson: such a message is valid JSON by construction, and the reader hands its
// values to the same detail::AlibabaFields. Whatever it declines goes to On-Demand.
//
// On-Demand checks only what it is asked to read, so this reads every value, unknown fields and
// their nested values included, checks the escapes of every key, and checks that nothing follows
// the object: a message accepted here is one valid JSON text, as nlohmann would have it. A number that does
// not fit 64 bits, which simdjson 3.0 refuses and nlohmann reads as a double, is checked by
// detail/json_syntax.hpp. simdjson does not skip a UTF-8 byte order mark; nlohmann does, so it
// is skipped here.
//
// simdjson's first pass (structure, UTF-8) and its string unescaping pick the best kernel for
// the CPU at run time; the rest of On-Demand is compiled into the caller, with the caller's
// flags (-march=native made no measurable difference on Alibaba events).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "../event.hpp"
#include "alibaba_fields.hpp"
#include "alibaba_flat.hpp"

namespace mqtt_presence {

/// Parses Alibaba lifecycle messages with simdjson, with exactly the checks and the messages of
/// parse_alibaba_event (json/alibaba.hpp). Keeps simdjson's parser and a padded copy of the
/// message (simdjson reads SIMDJSON_PADDING bytes past the end), so that once warm a parse
/// allocates nothing. Not thread-safe: one per thread. Movable, not copyable.
class AlibabaSimdjsonParser {
public:
    /// How a message is read. Both give the same results for every input.
    enum class Reader : std::uint8_t {
        /// The default: a message in the shape brokers write (a flat object of strings without
        /// escapes and unsigned integers) by detail::read_flat_alibaba (json/alibaba_flat.hpp),
        /// in one pass; any other message by simdjson On-Demand.
        flat_first,
        /// Every message by simdjson On-Demand (for comparisons and tests).
        on_demand,
    };

    AlibabaSimdjsonParser() = default;
    explicit AlibabaSimdjsonParser(Reader reader) : m_reader(reader) {}

    /// Parses one message into `event`, reusing its buffers. Returns false and sets `error` on
    /// bad input; never throws for bad input (std::bad_alloc when memory runs out). `event` is
    /// unspecified after a failure. O(message size).
    bool parse(std::string_view json, Event& event, std::string& error) {
        if (detail::blank_message(json)) {
            error = "empty message";
            return false;
        }
        detail::AlibabaFields fields;
        fields.reset(event);
        if (m_reader == Reader::flat_first) {
            switch (detail::read_flat_alibaba(json, fields)) {
            case detail::FlatRead::accepted: return true;
            case detail::FlatRead::refused: detail::refusal(json, fields, error); return false;
            case detail::FlatRead::declined: fields.reset(event); break;
            }
        }
        if (read(json, fields) && fields.error().empty()) return true;
        detail::refusal(json, fields, error);
        return false;
    }

    /// Non-throwing parse for untrusted payloads: result.event, or result.error.
    [[nodiscard]] ParseResult try_parse(std::string_view json) {
        ParseResult result;
        Event event;
        if (parse(json, event, result.error)) result.event = std::move(event);
        return result;
    }

    /// The same, also requiring the RocketMQ message tag to equal the body's eventType.
    [[nodiscard]] ParseResult try_parse(std::string_view json, std::string_view tag) {
        ParseResult result = try_parse(json);
        if (result.event && !detail::check_tag(*result.event, tag, result.error)) result.event.reset();
        return result;
    }

    /// Parses one message. Throws ParseError ("mqtt_presence: " + the error) on bad input.
    [[nodiscard]] Event parse(std::string_view json) { return value_of(try_parse(json)); }

    /// Parses one message and checks the RocketMQ message tag against the body's eventType.
    /// Throws ParseError on bad input or a mismatch.
    [[nodiscard]] Event parse(std::string_view json, std::string_view tag) { return value_of(try_parse(json, tag)); }

private:
    using Field = detail::AlibabaFields::Field;
    using json_type = simdjson::ondemand::json_type;

    static Event value_of(ParseResult result) { return detail::event_or_throw(std::move(result)); }

    // Reads the whole message into `fields`. False on any problem: fields.error() names it, or
    // is empty for a syntax error (detail::refusal then finds it).
    bool read(std::string_view json, detail::AlibabaFields& fields) {
        if (json.substr(0, 3) == "\xEF\xBB\xBF") {
            json.remove_prefix(3);
            // No JSON text starts with 0xEF; a second mark must not be skipped by a simdjson
            // that skips one itself.
            if (!json.empty() && json[0] == '\xEF') return false;
        }
        simdjson::ondemand::document document;
        // padded() may grow m_buffer: call it before reading m_buffer.size(), not in the same
        // argument list (whose order of evaluation is unspecified).
        const char* data = padded(json);
        const simdjson::error_code status = m_parser.iterate(data, json.size(), m_buffer.size()).get(document);
        if (status == simdjson::MEMALLOC) throw std::bad_alloc();
        if (status != simdjson::SUCCESS) return false;
        json_type type{};
        if (document.type().get(type) != simdjson::SUCCESS) return false;
        if (type != json_type::object) return fields.on_top_level(type_name(type));
        simdjson::ondemand::object object;
        if (document.get_object().get(object) != simdjson::SUCCESS) return false;
        for (auto member : object) {
            simdjson::ondemand::field field;
            Field name = Field::unknown;
            if (std::move(member).get(field) != simdjson::SUCCESS || field_of(field, name) != simdjson::SUCCESS)
                return false;
            if (!fields.begin(name) || !read_field(name, field.value(), fields)) return false;
        }
        // Only whitespace may follow the object.
        const char* rest = nullptr;
        if (document.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return false;
        return fields.finish();
    }

    static bool read_field(Field name, simdjson::ondemand::value& value, detail::AlibabaFields& fields) {
        if (name == Field::unknown) return skip(value, 1, fields);
        if (name == Field::time) return read_time(value, fields);
        std::string_view text;
        const simdjson::error_code status = string_of(value, text);
        if (status == simdjson::SUCCESS) return fields.on_string(name, text);
        return status == simdjson::INCORRECT_TYPE && read_other(name, value, fields);
    }

    static bool read_time(simdjson::ondemand::value& value, detail::AlibabaFields& fields) {
        json_type type{};
        if (value.type().get(type) != simdjson::SUCCESS) return false;
        if (type == json_type::string) {
            std::string_view text;
            return string_of(value, text) == simdjson::SUCCESS && fields.on_string(Field::time, text);
        }
        if (type != json_type::number) return read_other(Field::time, value, fields);
        std::uint64_t time = 0; // the usual case
        if (value.get_uint64().get(time) == simdjson::SUCCESS) return fields.on_unsigned(Field::time, time);
        const std::string_view raw = without_trailing_whitespace(value.raw_json_token());
        simdjson::ondemand::number number;
        // Beyond 64 bits simdjson gives up where nlohmann reads a double: the same to on_float.
        // (Not a number at all: the syntax check says so first.)
        if (value.get_number().get(number) != simdjson::SUCCESS) return fields.on_float(Field::time, raw);
        switch (number.get_number_type()) {
        case simdjson::ondemand::number_type::signed_integer: return fields.on_integer(Field::time, number.get_int64());
        case simdjson::ondemand::number_type::unsigned_integer:
            return fields.on_unsigned(Field::time, number.get_uint64());
        default: return fields.on_float(Field::time, raw);
        }
    }

    // A value of a known field that is not what the field takes (or a null).
    static bool read_other(Field name, simdjson::ondemand::value& value, detail::AlibabaFields& fields) {
        json_type type{};
        if (value.type().get(type) != simdjson::SUCCESS) return false;
        if (type != json_type::null) return fields.on_other(name, type_name(type));
        bool null = false; // a null that is accepted (clientIp) must really be one
        return value.is_null().get(null) == simdjson::SUCCESS && null && fields.on_null(name);
    }

    // Reads and checks a value nobody wants (an unknown field's, at `depth`: 1 in the message's
    // object), so that nothing in the message goes unchecked.
    static bool skip(simdjson::ondemand::value& value, std::size_t depth, detail::AlibabaFields& fields) {
        json_type type{};
        if (value.type().get(type) != simdjson::SUCCESS) return false;
        switch (type) {
        case json_type::object: {
            if (depth + 1 > detail::AlibabaFields::max_depth) return fields.on_too_deep();
            simdjson::ondemand::object object;
            if (value.get_object().get(object) != simdjson::SUCCESS) return false;
            for (auto member : object) {
                simdjson::ondemand::field field;
                std::string_view key;
                if (std::move(member).get(field) != simdjson::SUCCESS ||
                    field.unescaped_key().get(key) != simdjson::SUCCESS || !skip(field.value(), depth + 1, fields))
                    return false;
            }
            return true;
        }
        case json_type::array: {
            if (depth + 1 > detail::AlibabaFields::max_depth) return fields.on_too_deep();
            simdjson::ondemand::array array;
            if (value.get_array().get(array) != simdjson::SUCCESS) return false;
            for (auto element : array) {
                simdjson::ondemand::value item;
                // get() is rvalue-qualified: the move is what lets it be called.
                if (std::move(element).get(item) != simdjson::SUCCESS || // NOLINT(performance-move-const-arg)
                    !skip(item, depth + 1, fields))
                    return false;
            }
            return true;
        }
        case json_type::string: {
            std::string_view text;
            return string_of(value, text) == simdjson::SUCCESS;
        }
        case json_type::number: {
            const std::string_view raw = without_trailing_whitespace(value.raw_json_token());
            simdjson::ondemand::number number;
            return value.get_number().get(number) == simdjson::SUCCESS || detail::json_syntax_error(raw).empty();
        }
        case json_type::boolean: {
            bool flag = false;
            return value.get_bool().get(flag) == simdjson::SUCCESS;
        }
        case json_type::null: {
            bool null = false;
            return value.is_null().get(null) == simdjson::SUCCESS && null;
        }
        }
        return false;
    }

    // The field a key names. The five names are recognised as written (a key equal to one holds
    // no escape, and simdjson's first pass has checked its UTF-8 and that it has no control
    // character, so it is valid as it stands); any other key is unescaped, which checks its
    // escapes. Saves copying the usual keys. Always inlined, so that how much else a program
    // inlines does not turn every key's lookup into a call; other keys take one.
    MQTT_PRESENCE_ALWAYS_INLINE static simdjson::error_code field_of(simdjson::ondemand::field& field, Field& name) {
        // The message is padded: comparing past the end of a short key is safe.
        const simdjson::ondemand::raw_json_string raw = field.key();
        if (raw.unsafe_is_equal(std::string_view("clientId")))
            name = Field::client_id;
        else if (raw.unsafe_is_equal(std::string_view("channelId")))
            name = Field::channel_id;
        else if (raw.unsafe_is_equal(std::string_view("eventType")))
            name = Field::event_type;
        else if (raw.unsafe_is_equal(std::string_view("time")))
            name = Field::time;
        else if (raw.unsafe_is_equal(std::string_view("clientIp")))
            name = Field::client_ip;
        else
            return other_field_of(field, name);
        return simdjson::SUCCESS;
    }
    MQTT_PRESENCE_NOINLINE static simdjson::error_code other_field_of(simdjson::ondemand::field& field, Field& name) {
        std::string_view key;
        if (const simdjson::error_code status = field.unescaped_key().get(key); status != simdjson::SUCCESS)
            return status;
        name = detail::AlibabaFields::field_of(key);
        return simdjson::SUCCESS;
    }

    // A string value as written when it holds no escape, else unescaped (which checks the
    // escapes). INCORRECT_TYPE when the value is not a string. Either way the value is consumed:
    // On-Demand skips a value left unread without checking what follows it.
    static simdjson::error_code string_of(simdjson::ondemand::value& value, std::string_view& text) {
        // The token runs from the opening quote to the next token: the closing quote is its last
        // character but whitespace.
        const std::string_view token = without_trailing_whitespace(value.raw_json_token());
        if (token.size() < 2 || token.front() != '"' || token.back() != '"') return value.get_string().get(text);
        const std::string_view inside = token.substr(1, token.size() - 2);
        if (std::memchr(inside.data(), '\\', inside.size()) != nullptr) return value.get_string().get(text);
        simdjson::ondemand::raw_json_string consumed;
        if (const simdjson::error_code status = value.get_raw_json_string().get(consumed); status != simdjson::SUCCESS)
            return status;
        text = inside;
        return simdjson::SUCCESS;
    }

    // A token as simdjson gives it runs to the next token: without the whitespace.
    static std::string_view without_trailing_whitespace(std::string_view token) noexcept {
        while (!token.empty() &&
               (token.back() == ' ' || token.back() == '\t' || token.back() == '\n' || token.back() == '\r'))
            token.remove_suffix(1);
        return token;
    }

    // As nlohmann names JSON types.
    static const char* type_name(json_type type) noexcept {
        switch (type) {
        case json_type::array: return "array";
        case json_type::object: return "object";
        case json_type::number: return "number";
        case json_type::string: return "string";
        case json_type::boolean: return "boolean";
        case json_type::null: return "null";
        }
        return "value";
    }

    // The message copied into the reused buffer, with zeroed padding after it. The buffer and
    // simdjson's own grow geometrically, so that a slowly growing message size costs few
    // allocations.
    const char* padded(std::string_view json) {
        const std::size_t needed = json.size() + simdjson::SIMDJSON_PADDING;
        if (needed > m_buffer.size()) {
            std::size_t capacity = 2 * m_buffer.size() < min_capacity ? min_capacity : 2 * m_buffer.size();
            if (capacity < needed) capacity = needed;
            m_buffer.resize(capacity);
        }
        if (json.size() > m_parser.capacity()) {
            const std::size_t wanted = m_buffer.size() - simdjson::SIMDJSON_PADDING;
            if (m_parser.allocate(wanted, m_parser.max_depth()) == simdjson::MEMALLOC) throw std::bad_alloc();
        }
        if (!json.empty()) std::memcpy(m_buffer.data(), json.data(), json.size());
        std::memset(m_buffer.data() + json.size(), 0, simdjson::SIMDJSON_PADDING);
        return m_buffer.data();
    }

    static constexpr std::size_t min_capacity = 1024; // a few lifecycle events' worth

    simdjson::ondemand::parser m_parser;
    std::vector<char> m_buffer; // the message and its padding
    Reader m_reader = Reader::flat_first;
};

} // namespace mqtt_presence
