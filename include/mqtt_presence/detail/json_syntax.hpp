#pragma once
// A strict check of JSON syntax that names the first problem and where it is. It accepts exactly
// what nlohmann/json accepts (RFC 8259: one value, UTF-8 strings without raw control characters,
// paired \u surrogates, no comments, no trailing commas, numbers finite as a double, an optional
// UTF-8 byte order mark first), except that a NUL byte is a stray byte like any other, where
// nlohmann takes it for the end of the input. The JSON adapters run it on every message their
// parser refused, so that all parsers describe malformed input with the same words.
// Standard library only.

#include <clocale>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>

namespace mqtt_presence::detail {

class JsonSyntax {
public:
    explicit JsonSyntax(std::string_view text) noexcept : m_text(text) {}

    // Empty when the text is one valid JSON value (surrounded by whitespace only), else
    // "malformed JSON: <problem> at byte N", N counting from 1. O(size), any nesting depth.
    [[nodiscard]] std::string check() {
        if (m_pos < size() && byte(0) == 0xEF) {
            if (size() < 3 || byte(1) != 0xBB || byte(2) != 0xBF) return at("invalid byte order mark", 0);
            m_pos = 3;
        }
        std::string open; // '{' or '[' per container not yet closed
        Want want = Want::value;
        for (;;) {
            skip_whitespace();
            if (m_pos == size()) return open.empty() && want == Want::comma_or_close ? std::string() : end_of_input();
            const unsigned char c = byte(m_pos);
            switch (want) {
            case Want::key_or_close:
                if (c == '}') {
                    close(open, want);
                    continue;
                }
                [[fallthrough]];
            case Want::key:
                if (c != '"') return unexpected(m_pos);
                if (std::string error = string(); !error.empty()) return error;
                want = Want::colon;
                continue;
            case Want::colon:
                if (c != ':') return unexpected(m_pos);
                ++m_pos;
                want = Want::value;
                continue;
            case Want::comma_or_close:
                if (open.empty()) return at("trailing characters", m_pos);
                if (c == ',') {
                    ++m_pos;
                    want = open.back() == '{' ? Want::key : Want::value;
                    continue;
                }
                if (c != static_cast<unsigned char>(open.back() == '{' ? '}' : ']')) return unexpected(m_pos);
                close(open, want);
                continue;
            case Want::value_or_close:
                if (c == ']') {
                    close(open, want);
                    continue;
                }
                break;
            case Want::value: break;
            }
            // A value.
            std::string error;
            switch (c) {
            case '{':
            case '[':
                open.push_back(static_cast<char>(c));
                ++m_pos;
                want = c == '{' ? Want::key_or_close : Want::value_or_close;
                continue;
            case '"': error = string(); break;
            case 't': error = literal("true"); break;
            case 'f': error = literal("false"); break;
            case 'n': error = literal("null"); break;
            default:
                if (c != '-' && (c < '0' || c > '9')) return unexpected(m_pos);
                error = number();
                break;
            }
            if (!error.empty()) return error;
            want = Want::comma_or_close;
        }
    }

private:
    [[nodiscard]] std::size_t size() const noexcept { return m_text.size(); }
    [[nodiscard]] unsigned char byte(std::size_t at) const noexcept { return static_cast<unsigned char>(m_text[at]); }
    [[nodiscard]] bool digit_at(std::size_t at) const noexcept {
        return at < size() && byte(at) >= '0' && byte(at) <= '9';
    }

    static std::string at(std::string_view problem, std::size_t offset) {
        std::string message = "malformed JSON: ";
        message.append(problem).append(" at byte ").append(std::to_string(offset + 1));
        return message;
    }

    [[nodiscard]] std::string end_of_input() const {
        if (size() == 0) return "malformed JSON: unexpected end of input";
        return "malformed JSON: unexpected end of input after byte " + std::to_string(size());
    }

    [[nodiscard]] std::string unexpected(std::size_t offset) const {
        const unsigned char c = byte(offset);
        if (c > 0x20 && c < 0x7f) return at(std::string("unexpected character '") + static_cast<char>(c) + "'", offset);
        return at("unexpected byte " + hex(c), offset);
    }

    static std::string hex(unsigned char c) {
        constexpr char digits[] = "0123456789ABCDEF";
        return std::string("0x") + digits[c >> 4] + digits[c & 0xF];
    }

    void skip_whitespace() noexcept {
        while (m_pos < size() &&
               (byte(m_pos) == ' ' || byte(m_pos) == '\t' || byte(m_pos) == '\n' || byte(m_pos) == '\r'))
            ++m_pos;
    }

    // What may come next: a value, the first value or "]", the first key or "}", a key, ...
    enum class Want { value, value_or_close, key_or_close, key, colon, comma_or_close };

    void close(std::string& open, Want& want) noexcept {
        open.pop_back();
        ++m_pos;
        want = Want::comma_or_close;
    }

    // After a number or a literal, a letter, a digit or a sign glued to it makes it a bad token.
    [[nodiscard]] bool glued(std::size_t at) const noexcept {
        if (at >= size()) return false;
        const unsigned char c = byte(at);
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '+' ||
               c == '-' || c == '_';
    }

    std::string literal(std::string_view word) {
        const std::size_t start = m_pos;
        for (const char expected : word) {
            if (m_pos == size()) return end_of_input();
            if (m_text[m_pos] != expected) return at("invalid literal", start);
            ++m_pos;
        }
        if (glued(m_pos)) return at("invalid literal", start);
        return {};
    }

    std::string number() {
        const std::size_t start = m_pos;
        if (byte(m_pos) == '-') ++m_pos;
        // A digit is required wherever the input may not end.
        const auto need_digit = [&]() -> std::string {
            if (m_pos == size()) return end_of_input();
            if (!digit_at(m_pos)) return at("invalid number", start);
            return {};
        };
        if (std::string error = need_digit(); !error.empty()) return error;
        if (byte(m_pos++) != '0')
            while (digit_at(m_pos)) ++m_pos;
        bool exponent = false;
        if (m_pos < size() && byte(m_pos) == '.') {
            ++m_pos;
            if (std::string error = need_digit(); !error.empty()) return error;
            while (digit_at(m_pos)) ++m_pos;
        }
        if (m_pos < size() && (byte(m_pos) == 'e' || byte(m_pos) == 'E')) {
            exponent = true;
            ++m_pos;
            if (m_pos < size() && (byte(m_pos) == '+' || byte(m_pos) == '-')) ++m_pos;
            if (std::string error = need_digit(); !error.empty()) return error;
            while (digit_at(m_pos)) ++m_pos;
        }
        if (glued(m_pos)) return at("invalid number", start);
        // nlohmann reads every number that does not fit 64 bits as a double and refuses
        // infinity; only an exponent or more than 300 digits can get there.
        if ((exponent || m_pos - start > 300) && !finite(m_text.substr(start, m_pos - start)))
            return at("number out of range", start);
        return {};
    }

    // As nlohmann decides it: strtod, with the locale's decimal point.
    static bool finite(std::string_view token) {
        std::string copy(token);
        const std::lconv* locale = std::localeconv();
        const char point = locale == nullptr || locale->decimal_point == nullptr ? '.' : *locale->decimal_point;
        for (char& c : copy)
            if (c == '.') c = point;
        return std::isfinite(std::strtod(copy.c_str(), nullptr));
    }

    // Four hex digits at `at`; -1 when one is not a hex digit, -2 when the input ends first.
    [[nodiscard]] long hex4(std::size_t at) const noexcept {
        long value = 0;
        for (std::size_t i = at; i < at + 4; ++i) {
            if (i >= size()) return -2;
            const unsigned char c = byte(i);
            int digit = -1;
            if (c >= '0' && c <= '9')
                digit = c - '0';
            else if (c >= 'a' && c <= 'f')
                digit = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                digit = c - 'A' + 10;
            if (digit < 0) return -1;
            value = value * 16 + digit;
        }
        return value;
    }

    std::string string() {
        ++m_pos; // the opening quote
        for (;;) {
            if (m_pos == size()) return end_of_input();
            const unsigned char c = byte(m_pos);
            if (c == '"') {
                ++m_pos;
                return {};
            }
            if (c == '\\') {
                if (std::string error = escape(); !error.empty()) return error;
                continue;
            }
            if (c < 0x20) return at("unescaped control character in a string", m_pos);
            if (c < 0x80) {
                ++m_pos;
                continue;
            }
            if (!utf8()) return at("invalid UTF-8 in a string", m_pos);
        }
    }

    // At a backslash inside a string.
    std::string escape() {
        const std::size_t start = m_pos;
        if (++m_pos == size()) return end_of_input();
        switch (byte(m_pos)) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': ++m_pos; return {};
        case 'u': break;
        default: return at("invalid escape in a string", start);
        }
        const long first = hex4(m_pos + 1);
        if (first == -2) return end_of_input();
        if (first < 0) return at("invalid escape in a string", start);
        m_pos += 5;
        if (first >= 0xDC00 && first <= 0xDFFF) return at("unpaired UTF-16 surrogate in a string", start);
        if (first < 0xD800 || first > 0xDBFF) return {};
        // A high surrogate: its low half must follow as another \u escape.
        if (m_pos == size() || (byte(m_pos) == '\\' && m_pos + 1 == size())) return end_of_input();
        if (byte(m_pos) != '\\' || byte(m_pos + 1) != 'u') return at("unpaired UTF-16 surrogate in a string", start);
        const long second = hex4(m_pos + 2);
        if (second == -2) return end_of_input();
        if (second < 0) return at("invalid escape in a string", m_pos);
        if (second < 0xDC00 || second > 0xDFFF) return at("unpaired UTF-16 surrogate in a string", start);
        m_pos += 6;
        return {};
    }

    // At a byte >= 0x80 inside a string: steps over one well-formed UTF-8 sequence (RFC 3629:
    // no overlong forms, no surrogates, nothing above U+10FFFF), or returns false.
    bool utf8() noexcept {
        const unsigned char lead = byte(m_pos);
        unsigned char low = 0x80;
        unsigned char high = 0xBF;
        std::size_t continuation = 0;
        if (lead >= 0xC2 && lead <= 0xDF) {
            continuation = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            continuation = 2;
            if (lead == 0xE0) low = 0xA0;
            if (lead == 0xED) high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            continuation = 3;
            if (lead == 0xF0) low = 0x90;
            if (lead == 0xF4) high = 0x8F;
        } else {
            return false;
        }
        for (std::size_t i = 1; i <= continuation; ++i) {
            if (m_pos + i >= size()) return false;
            const unsigned char c = byte(m_pos + i);
            if (c < low || c > high) return false;
            low = 0x80; // only the second byte has narrower bounds
            high = 0xBF;
        }
        m_pos += continuation + 1;
        return true;
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
};

/// Empty when `json` is one valid JSON text, else "malformed JSON: <problem> at byte N" naming
/// the first problem (N counts from 1). O(size). See JsonSyntax for what is valid.
[[nodiscard]] inline std::string json_syntax_error(std::string_view json) { return JsonSyntax(json).check(); }

} // namespace mqtt_presence::detail
