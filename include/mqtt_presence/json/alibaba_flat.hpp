#pragma once
// A single-pass reader for Alibaba lifecycle messages in the shape brokers write them: one flat
// JSON object whose values are strings without escapes or control characters (well-formed
// UTF-8), or unsigned integers of at most 19 digits, with JSON whitespace between tokens. Such
// a message is one valid JSON text by construction, so nothing has to be checked but the shape
// itself; every value goes to detail::AlibabaFields, exactly as a full parser hands it over, so
// that the event, the refusals and the error messages are the same as the full parser's.
//
// Anything outside that shape (an escape, a control character or malformed UTF-8 in a string,
// a nested value, true/false/null, a negative or fractional number, a leading zero, 20 digits
// or more, a byte order mark, anything after the object) is declined: the caller parses the
// message with its full parser. The simdjson adapter (json/alibaba_simdjson.hpp) tries this
// reader first. Standard library only (SSE2 where the compiler targets it; words of 8 bytes on
// little-endian machines, else a byte at a time).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define MQTT_PRESENCE_FLAT_SSE2 1
#endif
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif
#if (defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_M_X64) || defined(_M_IX86) ||   \
        defined(_M_ARM64)
#define MQTT_PRESENCE_FLAT_LITTLE_ENDIAN 1
#endif

#include "alibaba_fields.hpp"

namespace mqtt_presence::detail {

/// What read_flat_alibaba() did with a message.
enum class FlatRead : std::uint8_t {
    accepted, ///< read whole; every field is in the event
    refused,  ///< a value or the field set was refused: fields.error() says why (the message
              ///< may still be malformed further on: detail::refusal() checks the whole of it)
    declined, ///< not in the flat shape: parse it with a full parser, after fields.reset()
};

namespace flat {

// The index of the lowest set bit of a non-zero mask.
[[nodiscard]] inline unsigned lowest_bit(std::uint64_t mask) noexcept {
#if defined(__GNUC__) || defined(__clang__)
    return static_cast<unsigned>(__builtin_ctzll(mask));
#elif defined(_MSC_VER) && defined(_M_X64)
    unsigned long index = 0;
    _BitScanForward64(&index, mask);
    return static_cast<unsigned>(index);
#else
    unsigned index = 0;
    while ((mask & 1U) == 0) {
        mask >>= 1;
        ++index;
    }
    return index;
#endif
}

// A byte a string holds as written: printable ASCII; not a quote or a backslash. (DEL and
// every byte from 0x80 on are taken by string_end() apart: a string of plain bytes alone is
// already known to hold no control character.)
[[nodiscard]] inline bool plain(char c) noexcept {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte < 0x7f && c != '"' && c != '\\';
}

// The position of the first byte at or after `i` that is not plain(), or `size`.
[[nodiscard]] inline std::size_t plain_end(const char* data, std::size_t i, std::size_t size) noexcept {
#if defined(MQTT_PRESENCE_FLAT_SSE2)
    // A signed compare with 0x20 catches both the control characters and every byte >= 0x80.
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i del = _mm_set1_epi8(0x7f);
    for (; i + 16 <= size; i += 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
        const __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmplt_epi8(bytes, space), _mm_cmpeq_epi8(bytes, del)),
                                          _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
        const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stop));
        if (mask != 0) return i + lowest_bit(mask);
    }
#endif
#if defined(MQTT_PRESENCE_FLAT_LITTLE_ENDIAN)
    // Eight bytes at a time: a byte's high bit is set in `stop` when the byte is below 0x20,
    // at or above 0x7f, a quote or a backslash. A subtraction borrows only out of such a byte,
    // so the bytes above the first one may be flagged wrongly, but the first one is exact.
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, data + i, sizeof word);
        const std::uint64_t quotes = word ^ (ones * '"');
        const std::uint64_t backslashes = word ^ (ones * '\\');
        const std::uint64_t dels = word ^ (ones * 0x7f);
        const std::uint64_t stop =
                ((word - ones * 0x20) | word | (quotes - ones) | (backslashes - ones) | (dels - ones)) & highs;
        if (stop != 0) return i + lowest_bit(stop) / 8;
    }
#endif
    while (i < size && plain(data[i])) ++i;
    return i;
}

// The end of a string's contents starting at `i`: the position of the first byte that is
// neither plain(), nor DEL, nor part of a well-formed UTF-8 sequence of two to four bytes, or
// `size`. (JSON takes any Unicode character as it is, but a control character, a quote or a
// backslash.) `printable` is set false when the contents hold a DEL or a byte from 0x80 on:
// when it stays true, they hold printable ASCII alone, so no control character (C0, DEL, C1).
[[nodiscard]] inline std::size_t string_end(const char* data, std::size_t i, std::size_t size,
                                            bool& printable) noexcept {
    for (;;) {
        i = plain_end(data, i, size);
        if (i == size) return i;
        const auto byte = static_cast<unsigned char>(data[i]);
        if (byte < 0x7f) return i;
        const std::size_t length = byte == 0x7f ? 1 : utf8_sequence(std::string_view(data + i, size - i));
        if (length == 0) return i;
        printable = false;
        i += length;
    }
}

[[nodiscard]] inline bool whitespace(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// The common case first: compact JSON has no whitespace between tokens.
[[nodiscard]] inline std::size_t skip_whitespace(const char* data, std::size_t i, std::size_t size) noexcept {
    if (i<size&& static_cast<unsigned char>(data[i])> 0x20) return i;
    while (i < size && whitespace(data[i])) ++i;
    return i;
}

// "Not there": what at() returns when the byte it expects is not next.
inline constexpr std::size_t nowhere = static_cast<std::size_t>(-1);

// The position of the byte `c` at i or after whitespace from i, or nowhere if another byte (or
// the end) comes first. The byte itself is looked at first: in compact JSON it is there.
[[nodiscard]] inline std::size_t at(const char* data, std::size_t i, std::size_t size, char c) noexcept {
    if (i < size && data[i] == c) return i;
    i = skip_whitespace(data, i, size);
    return i < size && data[i] == c ? i : nowhere;
}

#if defined(MQTT_PRESENCE_FLAT_LITTLE_ENDIAN)
// The eight bytes at `data` as one word, the first the lowest.
[[nodiscard]] inline std::uint64_t word_at(const char* data) noexcept {
    std::uint64_t word = 0;
    std::memcpy(&word, data, sizeof word);
    return word;
}

[[nodiscard]] constexpr std::uint64_t word_of(const char (&text)[9]) noexcept {
    std::uint64_t word = 0;
    for (std::size_t k = 0; k < 8; ++k)
        word |= static_cast<std::uint64_t>(static_cast<unsigned char>(text[k])) << (8 * k);
    return word;
}

// The field a key names, for the five keys of an Alibaba event written as they are, with the
// key's closing quote `end` bytes after `key`; else Field::unknown with `end` 0 (the caller then
// scans the key). `key` is just past the opening quote, and at least ten bytes remain from it.
[[nodiscard]] inline AlibabaFields::Field known_key(const char* key, std::size_t& end) noexcept {
    using Field = AlibabaFields::Field;
    const std::uint64_t word = word_at(key);
    end = 8;
    if (key[8] == '"') {
        if (word == word_of("clientId")) return Field::client_id;
        if (word == word_of("clientIp")) return Field::client_ip;
    }
    end = 9;
    if (key[9] == '"') {
        if (word == word_of("channelI") && key[8] == 'd') return Field::channel_id;
        if (word == word_of("eventTyp") && key[8] == 'e') return Field::event_type;
    }
    end = 4;
    if ((word & 0xFFFFFFFFFFULL) == (word_of("time\"   ") & 0xFFFFFFFFFFULL)) return Field::time;
    end = 0;
    return Field::unknown;
}

// The decimal digits that begin the eight bytes at `data`: how many (0 to 8), and in `value`
// what they say.
[[nodiscard]] inline std::size_t leading_digits(const char* data, std::uint64_t& value) noexcept {
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    constexpr std::uint64_t lows = 0x7F7F7F7F7F7F7F7FULL;
    const std::uint64_t word = word_at(data);
    // A byte of `other` is zero exactly when the byte is a digit: its high nibble is 3, and
    // adding 6 leaves it 3. A carry out of a byte happens only above 0xF9, which is no digit, so
    // the bytes above the first one that is not a digit may be misjudged, but it is exact.
    const std::uint64_t other = ((word & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL) |
                                (((word + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL);
    const std::uint64_t nonzero = (((other & lows) + lows) | other) & highs; // exact per byte
    const std::size_t count = nonzero == 0 ? 8 : lowest_bit(nonzero) / 8;
    if (count == 0) {
        value = 0;
        return 0;
    }
    // The digits moved to the top, zeros below them, then combined pairwise: 8 x 1 digit,
    // 4 x 2, 2 x 4, 1 x 8 (the first digit is the lowest byte: the most significant).
    std::uint64_t digits = (word & 0x0F0F0F0F0F0F0F0FULL) << (8 * (8 - count));
    digits = (digits * 10 + (digits >> 8)) & 0x00FF00FF00FF00FFULL;
    digits = (digits * 100 + (digits >> 16)) & 0x0000FFFF0000FFFFULL;
    value = (digits * 10000 + (digits >> 32)) & 0xFFFFFFFFULL;
    return count;
}
#endif

} // namespace flat

/// Reads `json` into `fields` (already reset() on the event) when it has the flat shape above.
/// O(message size); allocates nothing unless a value is refused (the error message).
[[nodiscard]] inline FlatRead read_flat_alibaba(std::string_view json, AlibabaFields& fields) {
    using Field = AlibabaFields::Field;
    const char* const data = json.data();
    const std::size_t size = json.size();
    std::size_t i = flat::at(data, 0, size, '{');
    if (i == flat::nowhere) return FlatRead::declined;
    i = flat::skip_whitespace(data, i + 1, size);
    if (i < size && data[i] == '}') {
        ++i;
    } else {
        for (;;) {
            // "key"
            i = flat::at(data, i, size, '"');
            if (i == flat::nowhere) return FlatRead::declined;
            const std::size_t key_begin = i + 1;
            std::size_t key_size = 0;
            Field name = Field::unknown;
#if defined(MQTT_PRESENCE_FLAT_LITTLE_ENDIAN)
            if (key_begin + 10 <= size) name = flat::known_key(data + key_begin, key_size);
#endif
            if (key_size != 0) {
                i = key_begin + key_size;
            } else {
                bool printable = true;
                i = flat::string_end(data, key_begin, size, printable);
                if (i == size || data[i] != '"') return FlatRead::declined;
                name = AlibabaFields::field_of(std::string_view(data + key_begin, i - key_begin));
            }
            // :
            i = flat::at(data, i + 1, size, ':');
            if (i == flat::nowhere) return FlatRead::declined;
            i = flat::skip_whitespace(data, i + 1, size);
            if (i == size) return FlatRead::declined;
            // The value: a string or an unsigned integer, handed over as a full parser would.
            if (data[i] == '"') {
                const std::size_t value_begin = i + 1;
                bool printable = true;
                i = flat::string_end(data, value_begin, size, printable);
                if (i == size || data[i] != '"') return FlatRead::declined;
                if (!fields.begin(name) ||
                    !fields.on_string_inline(name, std::string_view(data + value_begin, i - value_begin), printable))
                    return FlatRead::refused;
                ++i;
            } else if (data[i] >= '0' && data[i] <= '9') {
                const std::size_t digits_begin = i;
                std::uint64_t value = 0;
#if defined(MQTT_PRESENCE_FLAT_LITTLE_ENDIAN)
                constexpr std::uint64_t scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
                while (i + 8 <= size && i - digits_begin <= 19) {
                    std::uint64_t part = 0;
                    const std::size_t count = flat::leading_digits(data + i, part);
                    value = value * scale[count] + part; // wraps past 19 digits: declined below
                    i += count;
                    if (count < 8) break;
                }
#endif
                for (; i < size && data[i] >= '0' && data[i] <= '9'; ++i)
                    value = value * 10 + static_cast<std::uint64_t>(data[i] - '0');
                const std::size_t digits = i - digits_begin;
                // A leading zero is not JSON; 20 digits may not fit 64 bits. A fraction or an
                // exponent is declined before the digits are handed over (a fractional time
                // has a message of its own).
                if (digits > 19 || (digits > 1 && data[digits_begin] == '0')) return FlatRead::declined;
                if (i < size && (data[i] == '.' || data[i] == 'e' || data[i] == 'E')) return FlatRead::declined;
                if (!fields.begin(name) || !fields.on_unsigned(name, value)) return FlatRead::refused;
            } else {
                return FlatRead::declined;
            }
            // , or }
            if (i < size && data[i] == ',') { // (compact JSON)
                ++i;
                continue;
            }
            i = flat::skip_whitespace(data, i, size);
            if (i == size) return FlatRead::declined;
            if (data[i] == '}') {
                ++i;
                break;
            }
            if (data[i] != ',') return FlatRead::declined;
            ++i;
        }
    }
    if (flat::skip_whitespace(data, i, size) != size) return FlatRead::declined;
    return fields.finish() ? FlatRead::accepted : FlatRead::refused;
}

} // namespace mqtt_presence::detail
