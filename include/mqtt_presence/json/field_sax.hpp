#pragma once
// The nlohmann SAX handler the flat JSON adapters share (Alibaba, AWS IoT, EMQX): the top level
// must be one object; the values of its fields go to a field collector, and anything nested
// inside a field is skipped (it must still be valid JSON, nested at most Fields::max_depth).
//
// Fields provides: a `Field` type with `Fields::unknown` and `static Field field_of(name)`,
// `static constexpr std::size_t max_depth`, and the callbacks below, each returning false to
// stop the parse (having recorded why): begin(field), on_null(field), on_boolean(field),
// on_integer(field, v), on_unsigned(field, v), on_float(field, raw text), on_string(field, v),
// on_other(field, type name) for an object, array or binary value, on_top_level(type name) for
// a top level that is not an object, on_too_deep(), finish() at the end of the object, and
// fail(what) for malformed JSON.

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../detail/json_syntax.hpp"

namespace mqtt_presence::detail {

template <class Fields>
class FieldSax {
public:
    using number_integer_t = nlohmann::json::number_integer_t;
    using number_unsigned_t = nlohmann::json::number_unsigned_t;
    using number_float_t = nlohmann::json::number_float_t;
    using string_t = nlohmann::json::string_t;
    using binary_t = nlohmann::json::binary_t;

    explicit FieldSax(Fields& fields) : m_fields(fields) {}

    bool null() { return field_value() ? m_fields.on_null(m_field) : nested("null"); }
    bool boolean(bool) { return field_value() ? m_fields.on_boolean(m_field) : nested("boolean"); }
    bool number_integer(number_integer_t v) {
        return field_value() ? m_fields.on_integer(m_field, v) : nested("number");
    }
    bool number_unsigned(number_unsigned_t v) {
        return field_value() ? m_fields.on_unsigned(m_field, v) : nested("number");
    }
    bool number_float(number_float_t, const string_t& raw) {
        return field_value() ? m_fields.on_float(m_field, raw) : nested("number");
    }
    bool string(string_t& v) { return field_value() ? m_fields.on_string(m_field, v) : nested("string"); }
    bool binary(binary_t&) { return field_value() ? m_fields.on_other(m_field, "binary") : nested("binary"); }

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
        m_field = Fields::field_of(name);
        return m_fields.begin(m_field);
    }

    // The words come from json_syntax_error (detail/json_syntax.hpp), run on every refusal.
    bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception&) {
        return m_fields.fail("malformed JSON");
    }

private:
    // A scalar at depth 1 is a field's value; deeper ones are inside a field.
    [[nodiscard]] bool field_value() const noexcept { return m_depth == 1; }
    bool nested(const char* type_name) { return m_depth == 0 ? m_fields.on_top_level(type_name) : true; }
    bool open(const char* type_name) {
        if (m_depth == 0 && type_name[0] == 'a') return m_fields.on_top_level(type_name);
        if (m_depth == 1 && !m_fields.on_other(m_field, type_name)) return false;
        if (++m_depth > Fields::max_depth) return m_fields.on_too_deep();
        return true;
    }

    Fields& m_fields;
    typename Fields::Field m_field = Fields::unknown;
    std::size_t m_depth = 0;
};

/// Runs the SAX handler `sax`, which feeds `fields` (anything with error()), over one message.
/// True when the message was read whole and accepted. Else `error` says why: a syntax error
/// first, wherever it is (so that a malformed message is never blamed on a field), else the
/// first problem `fields` found.
template <class Sax, class Fields>
bool read_message(std::string_view json, Sax& sax, const Fields& fields, std::string& error) {
    const bool ok =
            nlohmann::json::sax_parse(json.begin(), json.end(), &sax, nlohmann::json::input_format_t::json, true);
    // nlohmann takes a NUL byte for the end of the input, so it accepts one after the object,
    // followed by anything; here it is a stray byte. (Inside a string nlohmann refuses it.)
    if (ok && fields.error().empty() && std::memchr(json.data(), 0, json.size()) == nullptr) return true;
    error = json_syntax_error(json);
    if (error.empty()) error = fields.error().empty() ? std::string("malformed JSON") : fields.error();
    return false;
}

} // namespace mqtt_presence::detail
