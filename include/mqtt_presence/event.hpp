#pragma once
// Event, EventType, validation limits and client-id helpers. Standard library only.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#endif

#include "detail/compiler.hpp"

namespace mqtt_presence {

/// The three lifecycle steps of one TCP connection (a "channel"), as Alibaba Cloud MQTT names them.
enum class EventType : std::uint8_t {
    connect,    ///< the connection came up (the client is online through it)
    disconnect, ///< the client sent an MQTT DISCONNECT packet; the TCP connection may still be up
    tcpclean,   ///< the TCP connection really closed; always sent, with or without a disconnect
};

/// One lifecycle event, already parsed. A plain aggregate: fill it from any broker's message.
struct Event {
    std::string client_id;  ///< e.g. "GID_XXX@@@device"
    std::string channel_id; ///< the connection key: appears on both the open and the close event
    EventType type{EventType::connect};
    std::int64_t time_ms{0}; ///< broker time of the event, epoch milliseconds; larger is newer
    std::string client_ip;   ///< "ip:port" of the client; may be empty
};

/// Largest client or channel id accepted: the MQTT limit on a UTF-8 string.
inline constexpr std::size_t max_id_bytes = 65535;
/// Largest client address accepted ("[v6 address%zone]:port" fits comfortably).
inline constexpr std::size_t max_address_bytes = 255;
/// Latest event time accepted: 9999-12-31T23:59:59.999Z. Earliest: 0 (the epoch).
inline constexpr std::int64_t max_time_ms = 253402300799999;

/// The event type's wire name ("connect", "disconnect", "tcpclean"); "" for a value out of range.
[[nodiscard]] constexpr std::string_view to_string(EventType type) noexcept {
    switch (type) {
    case EventType::connect: return "connect";
    case EventType::disconnect: return "disconnect";
    case EventType::tcpclean: return "tcpclean";
    }
    return {};
}

namespace detail {
// Whether `text` is `literal`: by length, then byte by byte, which the compiler unrolls (a
// std::string_view comparison calls memcmp on every parsed event).
template <std::size_t N>
[[nodiscard]] constexpr bool is_literal(std::string_view text, const char (&literal)[N]) noexcept {
    if (text.size() != N - 1) return false;
    for (std::size_t i = 0; i + 1 < N; ++i)
        if (text[i] != literal[i]) return false;
    return true;
}
} // namespace detail

/// The event type named exactly (case-sensitive) by `name`; nullopt for any other text.
[[nodiscard]] constexpr std::optional<EventType> parse_event_type(std::string_view name) noexcept {
    if (detail::is_literal(name, "connect")) return EventType::connect;
    if (detail::is_literal(name, "disconnect")) return EventType::disconnect;
    if (detail::is_literal(name, "tcpclean")) return EventType::tcpclean;
    return std::nullopt;
}

namespace detail {

// Control characters are forbidden (U+0000) or discouraged by MQTT (U+0001..U+001F,
// U+007F..U+009F), and would break line-oriented output such as the replay tool's online list
// (U+0085 is a line break to some readers). The scans below set `found` when a byte is below
// 0x20 or is 0x7f, and `lead` when a byte is 0xC2, the lead byte of U+0080..U+00BF; only then
// are the C1 pairs looked for (rare: ids are mostly ASCII).
#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
// Sixteen bytes at a time. An id of 8 to 16 bytes is read as two overlapping 8-byte words,
// longer ids 16 bytes at a time with the last block overlapping; bytes scanned twice are the
// id's own, so the answer is exact.
inline void scan_id_block(__m128i v, unsigned& found, unsigned& lead) noexcept {
    const __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v); // v <= 0x1f
    const __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
    found |= static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(low, del)));
    lead |= static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(static_cast<char>(0xC2)))));
}

inline bool scan_id(std::string_view id, unsigned& found, unsigned& lead) noexcept {
    const char* p = id.data();
    const std::size_t n = id.size();
    if (n >= 16) {
        std::size_t i = 0;
        for (; i + 16 <= n; i += 16)
            scan_id_block(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), found, lead);
        if (i < n) scan_id_block(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16)), found, lead);
        return true;
    }
    if (n >= 8) {
        std::uint64_t first = 0;
        std::uint64_t last = 0;
        std::memcpy(&first, p, 8);
        std::memcpy(&last, p + n - 8, 8);
        scan_id_block(_mm_set_epi64x(static_cast<long long>(last), static_cast<long long>(first)), found, lead);
        return true;
    }
    return false; // shorter: byte by byte
}
#else
// Eight bytes at a time: a byte below 0x20, or equal to 0x7f (zero after xor), sets its high
// bit in `found`; a byte 0xC2 sets it in `lead`. The tail (under 8 bytes) is left.
inline bool scan_id(std::string_view id, unsigned& found, unsigned& lead) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t highs = 0x8080808080808080ULL;
    std::size_t i = 0;
    std::uint64_t f = 0;
    std::uint64_t l = 0;
    for (; i + 8 <= id.size(); i += 8) {
        std::uint64_t x = 0;
        std::memcpy(&x, id.data() + i, 8);
        const std::uint64_t del = x ^ (ones * 0x7f);
        const std::uint64_t c2 = x ^ (ones * 0xC2);
        f |= ((x - ones * 0x20) & ~x & highs) | ((del - ones) & ~del & highs);
        l |= (c2 - ones) & ~c2 & highs;
    }
    found |= f != 0 ? 1U : 0U;
    lead |= l != 0 ? 1U : 0U;
    for (; i < id.size(); ++i) {
        const auto c = static_cast<unsigned char>(id[i]);
        if (c < 0x20 || c == 0x7f) found = 1;
        if (c == 0xC2) lead = 1;
    }
    return true;
}
#endif

/// id_problem() of an id already known to hold no control character: its length alone.
[[nodiscard]] inline std::string_view id_length_problem(std::string_view id) noexcept {
    if (id.empty()) return "is empty";
    if (id.size() > max_id_bytes) return "is longer than 65535 bytes";
    return {};
}

/// Empty if `id` is acceptable as a client or channel id, else the problem ("is empty", ...).
/// (Always inlined: it is on every event's path, in validate(), where GCC would otherwise
/// choose whether to call it by how much else the translation unit inlines: the ingest took 25
/// more instructions per event once a parser's walk inlined more.)
[[nodiscard]] MQTT_PRESENCE_ALWAYS_INLINE inline std::string_view id_problem(std::string_view id) noexcept {
    if (const std::string_view problem = id_length_problem(id); !problem.empty()) return problem;
    unsigned found = 0;
    unsigned lead = 0;
    if (!scan_id(id, found, lead)) {
        for (const char ch : id) {
            const auto c = static_cast<unsigned char>(ch);
            if (c < 0x20 || c == 0x7f) found = 1;
            if (c == 0xC2) lead = 1;
        }
    }
    if (found == 0 && lead != 0)
        for (std::size_t k = 0; k + 1 < id.size(); ++k)
            if (static_cast<unsigned char>(id[k]) == 0xC2 && (static_cast<unsigned char>(id[k + 1]) & 0xE0) == 0x80)
                found = 1;
    if (found != 0) return "contains a control character";
    return {};
}

/// Empty if `id` is acceptable, else a constant message naming the field and the problem.
/// (Always inlined, as id_problem() is.)
[[nodiscard]] MQTT_PRESENCE_ALWAYS_INLINE inline std::string_view check_id(std::string_view id, bool client) noexcept {
    const std::string_view problem = id_problem(id);
    if (problem.empty()) return {};
    if (problem == "is empty") return client ? "client_id is empty" : "channel_id is empty";
    if (problem == "is longer than 65535 bytes")
        return client ? "client_id is longer than 65535 bytes" : "channel_id is longer than 65535 bytes";
    return client ? "client_id contains a control character" : "channel_id contains a control character";
}
} // namespace detail

namespace detail {
/// validate(event), told whether the channel id is already known to be lowercase hex digits
/// (the rules' encoding of it found so: then it is non-empty, short, and free of control
/// characters, and is not scanned again).
[[nodiscard]] inline std::string_view validate(const Event& event, bool channel_id_hex) noexcept {
    if (auto why = check_id(event.client_id, true); !why.empty()) return why;
    // A close may name no connection (an empty channel id: rule 14); a connect must name one.
    if (!channel_id_hex && (!event.channel_id.empty() || event.type == EventType::connect))
        if (auto why = check_id(event.channel_id, false); !why.empty()) return why;
    if (to_string(event.type).empty()) return "type is not a known event type";
    if (event.time_ms < 0) return "time_ms is negative";
    if (event.time_ms > max_time_ms) return "time_ms is after the year 9999";
    if (event.client_ip.size() > max_address_bytes) return "client_ip is longer than 255 bytes";
    return {};
}
} // namespace detail

/// Empty if `event` may be ingested, else a constant message naming the field and the problem.
/// O(length of the ids); the rules call it before touching any state.
[[nodiscard]] inline std::string_view validate(const Event& event) noexcept { return detail::validate(event, false); }

/// The separator between Group ID and device id in an Alibaba client id.
inline constexpr std::string_view client_id_separator = "@@@";

/// A client id split at its first "@@@": `GID_XXX@@@dev` → group "GID_XXX", device "dev".
struct ClientIdParts {
    std::string_view group;
    std::string_view device;
};

/// Splits `client_id` into Group ID and device id; nullopt when there is no "@@@" or either
/// side is empty. The views point into `client_id`.
[[nodiscard]] constexpr std::optional<ClientIdParts> split_client_id(std::string_view client_id) noexcept {
    const auto at = client_id.find(client_id_separator);
    if (at == std::string_view::npos || at == 0 || at + client_id_separator.size() >= client_id.size())
        return std::nullopt;
    return ClientIdParts{client_id.substr(0, at), client_id.substr(at + client_id_separator.size())};
}

/// The Group ID of `client_id` ("GID_XXX" for "GID_XXX@@@dev"); empty when it has none.
[[nodiscard]] constexpr std::string_view group_of(std::string_view client_id) noexcept {
    const auto parts = split_client_id(client_id);
    return parts ? parts->group : std::string_view{};
}

/// The RocketMQ topic to which Alibaba Cloud MQTT sends the lifecycle events of `group`:
/// "GID_XXX" → "GID_XXX_MQTT".
[[nodiscard]] inline std::string notification_topic(std::string_view group) {
    std::string topic;
    topic.reserve(group.size() + 5);
    topic.append(group).append("_MQTT");
    return topic;
}

} // namespace mqtt_presence
