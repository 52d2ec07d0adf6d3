#pragma once
// A string stored in N bytes plus two tag bytes, with alignment 1, so that channel records stay
// small and flat. Each string has exactly one (canonical) encoding, so equality is a byte compare:
//   hex    an even number (2..2N) of lowercase hex digits, packed two per byte (a 32-char
//          Alibaba channelId takes 16 bytes);
//   ipv4   "a.b.c.d:port" in canonical decimal, packed into 6 bytes (needs N >= 6);
//   inline any other string of at most N bytes;
//   heap   anything longer: a pointer (kept in the inline bytes) to [uint32 length][bytes].
// Plumbing: nothing outside the library should name it.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "compiler.hpp"
#include "hash.hpp"

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define MQTT_PRESENCE_PACK_HEX16 1
#endif

namespace mqtt_presence::detail {

template <std::size_t N>
class CompactString {
    static_assert(N >= sizeof(char*) && N <= 255, "CompactString needs room for a pointer");

public:
    /// A text encoded once, to compare against many stored strings (see matches()).
    class Probe {
    public:
        explicit Probe(std::string_view text) noexcept : m_text(text) {
#if defined(MQTT_PRESENCE_PACK_HEX16)
            // Alibaba's channel id, 32 lowercase hex digits, without a call: a probe is made
            // for every event.
            if constexpr (N == 16) {
                if (pack_hex32(text, m_packed)) {
                    m_kind = kind_hex;
                    m_len = 16;
                    return;
                }
            }
#endif
            m_kind = classify(text, m_packed, m_len);
        }

        /// Whether the text is too long to pack (it is compared as text).
        [[nodiscard]] bool on_heap() const noexcept { return m_kind == kind_heap; }
        /// Whether the text was packed as lowercase hex digits (so it is 2 to 2N printable
        /// bytes, no control character among them).
        [[nodiscard]] bool packed_hex() const noexcept { return m_kind == kind_hex; }

    private:
        friend class CompactString;
        std::string_view m_text;
        unsigned char m_packed[N];
        std::uint8_t m_kind = kind_inline;
        std::uint8_t m_len = 0;
    };

    CompactString() noexcept = default;
    explicit CompactString(std::string_view text) { assign(text); }
    CompactString(const CompactString& other) { copy_from(other); }
    CompactString(CompactString&& other) noexcept { steal(other); }
    CompactString& operator=(const CompactString& other) {
        if (this != &other) {
            CompactString copy(other); // may throw; *this untouched until then
            release();
            steal(copy);
        }
        return *this;
    }
    CompactString& operator=(CompactString&& other) noexcept {
        if (this != &other) {
            release();
            steal(other);
        }
        return *this;
    }
    ~CompactString() {
        if (m_kind == kind_heap) delete[] heap_block(); // (no bytes to clear: nothing reads them again)
    }

    /// Replaces the content; strong guarantee (allocates only for long, unpackable text).
    void assign(std::string_view text) {
        unsigned char bytes[N];
        std::uint8_t len = 0;
        const std::uint8_t kind = classify(text, bytes, len);
        if (kind == kind_heap) {
            char* block = heap_copy(text); // may throw: *this untouched until then
            release();
            std::memcpy(m_bytes, &block, sizeof block);
        } else {
            release();
            std::memcpy(m_bytes, bytes, N);
        }
        m_kind = kind;
        m_len = len;
    }

    /// Replaces the content with the probe's text, already encoded; strong guarantee.
    void assign(const Probe& probe) {
        if (probe.m_kind == kind_heap) {
            assign(probe.m_text);
            return;
        }
        release();
        std::memcpy(m_bytes, probe.m_packed, N);
        m_kind = probe.m_kind;
        m_len = probe.m_len;
    }

    /// Fixed-size packed forms, for encodings that store them as they are (record_codec.hpp):
    /// a text of exactly 2N lowercase hex digits as its N bytes (digit 2k in the high half of
    /// byte k), and an IPv4 "a.b.c.d:port" whose numbers are decimal without leading zeros as
    /// ipv4_bytes bytes (the four octets, then the port, big-endian). A getter returns false,
    /// writing nothing, for any other text; a setter reads that many bytes at `bytes` and leaves
    /// the string exactly as assign() of the text they stand for would (no allocation).
    static constexpr std::size_t ipv4_bytes = 6;
    [[nodiscard]] bool packed_hex(unsigned char (&out)[N]) const noexcept {
        if (m_kind != kind_hex || m_len != N) return false;
        std::memcpy(out, m_bytes, N);
        return true;
    }
    void assign_packed_hex(const void* bytes) noexcept {
        release();
        std::memcpy(m_bytes, bytes, N);
        m_kind = kind_hex;
        m_len = static_cast<std::uint8_t>(N);
    }
    [[nodiscard]] bool packed_ipv4(unsigned char (&out)[ipv4_bytes]) const noexcept {
        if (m_kind != kind_ipv4) return false;
        std::memcpy(out, m_bytes, ipv4_bytes);
        return true;
    }
    void assign_packed_ipv4(const void* bytes) noexcept {
        static_assert(N >= ipv4_bytes, "no IPv4 encoding in a string this short");
        release();
        std::memcpy(m_bytes, bytes, ipv4_bytes);
        m_kind = kind_ipv4;
        m_len = static_cast<std::uint8_t>(ipv4_bytes);
    }

    [[nodiscard]] bool empty() const noexcept { return m_kind == kind_inline && m_len == 0; }

    [[nodiscard]] std::size_t size() const noexcept {
        switch (m_kind) {
        case kind_hex: return std::size_t{m_len} * 2;
        case kind_ipv4: return ipv4_text(nullptr);
        case kind_heap: return heap_size();
        default: return m_len;
        }
    }

    /// Whether the text is kept outside the object (the only encoding that allocates).
    [[nodiscard]] bool on_heap() const noexcept { return m_kind == kind_heap; }

    /// Appends the original text to `out`.
    void append_to(std::string& out) const {
        switch (m_kind) {
        case kind_hex: {
            static constexpr char digits[] = "0123456789abcdef";
            for (std::size_t i = 0; i < m_len; ++i) {
                out.push_back(digits[m_bytes[i] >> 4]);
                out.push_back(digits[m_bytes[i] & 15]);
            }
            break;
        }
        case kind_ipv4: {
            char buf[32];
            const std::size_t n = ipv4_text(buf);
            out.append(buf, n);
            break;
        }
        case kind_heap: out.append(heap_data(), heap_size()); break;
        default: out.append(reinterpret_cast<const char*>(m_bytes), m_len); break;
        }
    }

    /// Room to decode any hex or ipv4 text of this type.
    using Scratch = std::array<char, (2 * N > 24 ? 2 * N : 24)>;

    /// The text as a view: into the object or its heap block when stored as is, else decoded
    /// into `scratch` (valid while both live). No allocation.
    [[nodiscard]] std::string_view view(Scratch& scratch) const noexcept {
        return view_of(m_bytes, m_kind, m_len, scratch);
    }

    /// A trivially copyable image of a string, taken without allocating: a copy of its bytes,
    /// while a long text's heap block stays owned by the string. Readable while the string it
    /// was taken from, or a string that string was moved into, lives; so it may be kept while the
    /// string moves inside a vector, but not once it is destroyed or assigned another text.
    class Image {
    public:
        /// The text, as CompactString::view gives it (decoded into `scratch` when packed).
        [[nodiscard]] std::string_view view(Scratch& scratch) const noexcept {
            return view_of(m_bytes, m_kind, m_len, scratch);
        }

    private:
        friend class CompactString;
        // Left uninitialised until image() fills them: an Image is made on hot paths and
        // mostly never read.
        unsigned char m_bytes[N];
        std::uint8_t m_kind;
        std::uint8_t m_len;
    };

    /// This string's image (see Image). No allocation.
    [[nodiscard]] Image image() const noexcept {
        Image out;
        std::memcpy(out.m_bytes, m_bytes, N);
        out.m_kind = m_kind;
        out.m_len = m_len;
        return out;
    }

    [[nodiscard]] std::string str() const {
        std::string out;
        append_to(out);
        return out;
    }

    /// Whether the stored text equals the probe's. No allocation.
    [[nodiscard]] bool matches(const Probe& probe) const noexcept {
        if (probe.m_kind == kind_heap)
            return m_kind == kind_heap && probe.m_text.size() == heap_size() &&
                   std::memcmp(heap_data(), probe.m_text.data(), probe.m_text.size()) == 0;
        return matches_packed(probe);
    }
    /// matches() for a probe known not to be on the heap (!probe.on_heap()): a pass over many
    /// stored strings tests the probe's kind once.
    [[nodiscard]] bool matches_packed(const Probe& probe) const noexcept {
        // Any other encoding is zero-padded: equal exactly when all N bytes and the tags are (a
        // heap string's tag differs). The first eight bytes first: two ids of one client nearly
        // always differ there, so a pass over its channels mostly reads just those.
        return read64(reinterpret_cast<const char*>(probe.m_packed)) ==
                       read64(reinterpret_cast<const char*>(m_bytes)) &&
               std::memcmp(probe.m_packed + 8, m_bytes + 8, N - 8) == 0 && probe.m_kind == m_kind &&
               probe.m_len == m_len;
    }

    /// Whether the stored text equals `text`. No allocation. A string stored as is (inline or
    /// on the heap) is compared directly: `text` encodes the same way exactly when it has the
    /// same bytes, as the encoding is a function of the text.
    [[nodiscard]] bool equals(std::string_view text) const noexcept {
        switch (m_kind) {
        case kind_inline:
            // (At most N bytes, which an optimiser cannot see in m_len: GCC 12 at -O2 then warns
            // that same_bytes()'s 16-byte loads could pass the end of a CompactString<8>.)
            return text.size() == m_len &&
                   same_bytes(reinterpret_cast<const char*>(m_bytes), text.data(), std::min<std::size_t>(m_len, N));
        case kind_heap: return text.size() == heap_size() && std::memcmp(heap_data(), text.data(), text.size()) == 0;
        default: return equals_encoded(text);
        }
    }

    /// equals() for a key stored packed (hex or IPv4): `text` is encoded to compare. Out of
    /// line, so that a lookup's inlined compare of the usual inline key stays small.
    MQTT_PRESENCE_NOINLINE bool equals_encoded(std::string_view text) const noexcept { return matches(Probe(text)); }

    friend bool operator==(const CompactString& a, const CompactString& b) noexcept {
        if (a.m_kind != b.m_kind) return false;
        if (a.m_kind == kind_heap)
            return a.heap_size() == b.heap_size() && std::memcmp(a.heap_data(), b.heap_data(), a.heap_size()) == 0;
        return a.m_len == b.m_len && std::memcmp(a.m_bytes, b.m_bytes, a.m_len) == 0;
    }
    friend bool operator!=(const CompactString& a, const CompactString& b) noexcept { return !(a == b); }

private:
    enum : std::uint8_t { kind_inline = 0, kind_hex = 1, kind_ipv4 = 2, kind_heap = 3 };

    // Lowercase hex digit → its value; every other byte → 0xff.
    struct HexTable {
        unsigned char value[256];
        constexpr HexTable() : value{} {
            for (int c = 0; c < 256; ++c) value[c] = 0xff;
            for (int c = '0'; c <= '9'; ++c) value[c] = static_cast<unsigned char>(c - '0');
            for (int c = 'a'; c <= 'f'; ++c) value[c] = static_cast<unsigned char>(c - 'a' + 10);
        }
    };
    static constexpr HexTable hex_table{};

    // Eight lowercase hex digits → four bytes, a word at a time (little-endian only); false if
    // any is not a lowercase hex digit. Byte-wise range tests: for bytes below 0x80, the high
    // bit of (0x7f + n − b) & ~b & ((b & 0x7f) + 0x7f − m) is set exactly when m < b < n.
    static bool pack_hex8(const char* text, unsigned char* out) noexcept {
        constexpr std::uint64_t ones = 0x0101010101010101ULL;
        constexpr std::uint64_t highs = ones * 0x80;
        std::uint64_t x = 0;
        std::memcpy(&x, text, 8);
        const std::uint64_t low7 = x & (ones * 0x7f);
        auto between = [&](std::uint64_t m, std::uint64_t n) {
            return (ones * (0x7f + n) - low7) & ~x & (low7 + ones * (0x7f - m)) & highs;
        };
        if ((between(0x2f, 0x3a) | between(0x60, 0x67)) != highs) return false;
        // '0'..'9' → 0..9; 'a'..'f' (bit 6 set) → 1..6 + 9.
        const std::uint64_t v = (x & (ones * 0x0f)) + ((x >> 6) & ones) * 9;
        const std::uint64_t pairs = (v << 4 | v >> 8);   // byte 2k: digit 2k high, digit 2k+1 low
        std::uint64_t t = pairs & 0x00ff00ff00ff00ffULL; // gather bytes 0, 2, 4, 6
        t = (t | t >> 8) & 0x0000ffff0000ffffULL;
        const auto packed = static_cast<std::uint32_t>(t | t >> 16);
        std::memcpy(out, &packed, sizeof packed);
        return true;
    }

#if defined(MQTT_PRESENCE_PACK_HEX16)
    // Sixteen lowercase hex digits → eight bytes; false if any is not a lowercase hex digit.
    MQTT_PRESENCE_ALWAYS_INLINE static bool pack_hex16(const char* text, unsigned char* out) noexcept {
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text));
        const __m128i d = _mm_sub_epi8(c, _mm_set1_epi8('0')); // a digit: 0..9 (unsigned)
        const __m128i l = _mm_sub_epi8(c, _mm_set1_epi8('a')); // a letter: 0..5 (unsigned)
        const __m128i is_d = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
        const __m128i is_l = _mm_cmpeq_epi8(_mm_min_epu8(l, _mm_set1_epi8(5)), l);
        if (_mm_movemask_epi8(_mm_or_si128(is_d, is_l)) != 0xffff) return false;
        const __m128i v = _mm_or_si128(_mm_and_si128(is_d, d), _mm_and_si128(is_l, _mm_add_epi8(l, _mm_set1_epi8(10))));
        // Each 16-bit lane holds digit 2k (low byte) and 2k+1: into one byte, high nibble first.
        const __m128i pairs =
                _mm_and_si128(_mm_or_si128(_mm_slli_epi16(v, 4), _mm_srli_epi16(v, 8)), _mm_set1_epi16(0x00ff));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(pairs, pairs));
        return true;
    }
    // Alibaba's channel id, exactly 32 lowercase hex digits, into 16 bytes; false otherwise.
    MQTT_PRESENCE_ALWAYS_INLINE static bool pack_hex32(std::string_view text, unsigned char* out) noexcept {
        return text.size() == 32 && pack_hex16(text.data(), out) && pack_hex16(text.data() + 16, out + 8);
    }
#endif

    // Reads a canonical decimal of at most MaxDigits digits (no sign, no leading zero) at
    // text[i], advancing i past it. Returns the value, or ~0U when there is none. `text` holds a
    // byte that is not a digit within MaxDigits bytes of i.
    template <int MaxDigits>
    static std::uint32_t read_decimal(const unsigned char* text, std::size_t& i) noexcept {
        std::uint32_t value = static_cast<std::uint32_t>(text[i]) - '0';
        if (value > 9) return ~0U;
        ++i;
        if (value == 0) return 0; // a leading zero is the whole number
        for (int k = 1; k < MaxDigits; ++k) {
            const std::uint32_t d = static_cast<std::uint32_t>(text[i]) - '0';
            if (d > 9) break;
            value = value * 10 + d;
            ++i;
        }
        return value;
    }

    // "a.b.c.d:port", each number canonical, in one pass over a zero-padded copy of the text
    // (an address is classified each time a channel is made or reconnects): a zero byte is
    // neither digit nor separator, so no read needs a bound check. The farthest byte read is
    // the 22nd (four octets of three digits and their separators, five port digits, the next).
    static bool pack_ipv4(std::string_view text, unsigned char* out) noexcept {
        const std::size_t n = text.size();
        if (n < 9 || n > 21) return false;
        unsigned char b[24] = {};
        if (n >= 16) { // two overlapping blocks copy exactly the n bytes
            std::memcpy(b, text.data(), 16);
            std::memcpy(b + n - 16, text.data() + n - 16, 16);
        } else {
            std::memcpy(b, text.data(), 8);
            std::memcpy(b + n - 8, text.data() + n - 8, 8);
        }
        std::size_t i = 0;
        for (int octet = 0; octet < 4; ++octet) {
            const std::uint32_t v = read_decimal<3>(b, i);
            const unsigned char separator = octet == 3 ? ':' : '.';
            if (v > 255 || b[i] != separator) return false;
            out[octet] = static_cast<unsigned char>(v);
            ++i;
        }
        const std::uint32_t port = read_decimal<5>(b, i);
        if (port > 65535 || i != n) return false; // (a zero byte in the text stops the digits too)
        out[4] = static_cast<unsigned char>(port >> 8);
        out[5] = static_cast<unsigned char>(port & 0xff);
        return true;
    }

    // The canonical encoding of `text`: its kind, and for hex/ipv4/inline its bytes in `out`,
    // zero after them (so that two encodings are equal exactly when all N bytes are).
    // (A failed attempt leaves nothing that the encoding found after it does not overwrite: a
    // failed hex attempt writes fewer bytes than an inline text then copies, and a failed ipv4
    // attempt writes only for text of 9 bytes or more holding a '.': neither hex nor, where
    // ipv4 comes first (N <= 8), inline. A heap text's bytes are zeroed.)
    // A string of the address type (N = 8) is an IPv4 address far more often than hex, a
    // channel id or client id the other way round: IPv4 text holds '.' and ':', hex neither,
    // so which is tried first changes only the cost.
    static std::uint8_t classify(std::string_view text, unsigned char* out, std::uint8_t& len) noexcept {
        std::memset(out, 0, N);
        const std::uint8_t kind = classify_unpadded(text, out, len);
        if (kind == kind_heap) std::memset(out, 0, N);
        return kind;
    }
    static constexpr bool address_first = N >= 6 && N <= 8;
    static std::uint8_t classify_unpadded(std::string_view text, unsigned char* out, std::uint8_t& len) noexcept {
        if constexpr (address_first) {
            if (pack_ipv4(text, out)) {
                len = 6;
                return kind_ipv4;
            }
        }
#if defined(MQTT_PRESENCE_PACK_HEX16)
        // The common case first: a channel id of 32 lowercase hex digits (Alibaba's form).
        if constexpr (N == 16) {
            if (pack_hex32(text, out)) {
                len = 16;
                return kind_hex;
            }
        }
#endif
        if (!text.empty() && text.size() % 2 == 0 && text.size() <= 2 * N) {
            // The word loops stop at the first block that is not hex (an address, a name).
            unsigned bad = 0;
            std::size_t i = 0;
#if defined(MQTT_PRESENCE_PACK_HEX16)
            for (; bad == 0 && i + 16 <= text.size(); i += 16)
                bad |= pack_hex16(text.data() + i, out + i / 2) ? 0U : 0xf0U;
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            for (; bad == 0 && i + 8 <= text.size(); i += 8)
                bad |= pack_hex8(text.data() + i, out + i / 2) ? 0U : 0xf0U;
#endif
            for (; (bad & 0xf0U) == 0 && i < text.size(); i += 2) {
                const unsigned hi = hex_table.value[static_cast<unsigned char>(text[i])];
                const unsigned lo = hex_table.value[static_cast<unsigned char>(text[i + 1])];
                bad |= hi | lo;
                out[i / 2] = static_cast<unsigned char>(hi << 4 | lo);
            }
            if ((bad & 0xf0U) == 0) {
                len = static_cast<std::uint8_t>(text.size() / 2);
                return kind_hex;
            }
        }
        if constexpr (N >= 6 && !address_first) {
            if (pack_ipv4(text, out)) {
                len = 6;
                return kind_ipv4;
            }
        }
        if (text.size() <= N) {
            if (!text.empty()) std::memcpy(out, text.data(), text.size());
            len = static_cast<std::uint8_t>(text.size());
            return kind_inline;
        }
        len = 0;
        return kind_heap;
    }

    void encode(std::string_view text) {
        const std::uint8_t kind = classify(text, m_bytes, m_len);
        if (kind == kind_heap) {
            char* block = heap_copy(text);
            std::memcpy(m_bytes, &block, sizeof block);
        }
        m_kind = kind;
    }

    // A heap block: the size (4 bytes), then the text.
    static char* heap_copy(std::string_view text) {
        const auto size = static_cast<std::uint32_t>(text.size());
        char* block = new char[sizeof size + text.size()];
        std::memcpy(block, &size, sizeof size);
        std::memcpy(block + sizeof size, text.data(), text.size());
        return block;
    }

    std::size_t ipv4_text(char* buf) const noexcept { return ipv4_text_of(m_bytes, buf); }

    static std::size_t ipv4_text_of(const unsigned char* bytes, char* buf) noexcept {
        char local[32];
        char* p = buf ? buf : local;
        char* const start = p;
        auto put = [&p](unsigned value) {
            char digits[5];
            int n = 0;
            do {
                digits[n++] = static_cast<char>('0' + value % 10);
                value /= 10;
            } while (value != 0);
            while (n > 0) *p++ = digits[--n];
        };
        for (int octet = 0; octet < 4; ++octet) {
            put(bytes[octet]);
            *p++ = octet == 3 ? ':' : '.';
        }
        put(static_cast<unsigned>(bytes[4]) << 8 | bytes[5]);
        return static_cast<std::size_t>(p - start);
    }

    // The text of the encoding (bytes, kind, len), decoded into `scratch` when packed.
    static std::string_view view_of(const unsigned char* bytes, std::uint8_t kind, std::uint8_t len,
                                    Scratch& scratch) noexcept {
        switch (kind) {
        case kind_hex: {
            static constexpr char digits[] = "0123456789abcdef";
            const std::size_t n = len < N ? len : N; // len <= N always; said so for the compiler
            for (std::size_t i = 0; i < n; ++i) {
                scratch[2 * i] = digits[bytes[i] >> 4];
                scratch[2 * i + 1] = digits[bytes[i] & 15];
            }
            return {scratch.data(), n * 2};
        }
        case kind_ipv4: return {scratch.data(), ipv4_text_of(bytes, scratch.data())};
        case kind_heap: {
            const char* block = nullptr;
            std::memcpy(&block, bytes, sizeof block);
            std::uint32_t size = 0;
            std::memcpy(&size, block, sizeof size);
            return {block + sizeof size, size};
        }
        default: return {reinterpret_cast<const char*>(bytes), len};
        }
    }

    [[nodiscard]] const char* heap_block() const noexcept {
        const char* block = nullptr;
        std::memcpy(&block, m_bytes, sizeof block);
        return block;
    }
    [[nodiscard]] std::size_t heap_size() const noexcept {
        std::uint32_t size = 0;
        std::memcpy(&size, heap_block(), sizeof size);
        return size;
    }
    [[nodiscard]] const char* heap_data() const noexcept { return heap_block() + sizeof(std::uint32_t); }

    void copy_from(const CompactString& other) {
        if (other.m_kind == kind_heap) {
            encode(std::string_view(other.heap_data(), other.heap_size()));
        } else {
            std::memcpy(m_bytes, other.m_bytes, N);
            m_kind = other.m_kind;
            m_len = other.m_len;
        }
    }
    void steal(CompactString& other) noexcept {
        std::memcpy(m_bytes, other.m_bytes, N);
        m_kind = other.m_kind;
        m_len = other.m_len;
        std::memset(other.m_bytes, 0, N); // an empty string is all zero bytes
        other.m_kind = kind_inline;
        other.m_len = 0;
    }
    void release() noexcept {
        if (m_kind == kind_heap) delete[] heap_block();
        std::memset(m_bytes, 0, N);
        m_kind = kind_inline;
        m_len = 0;
    }

    unsigned char m_bytes[N]{};
    std::uint8_t m_kind = kind_inline;
    std::uint8_t m_len = 0;
};

} // namespace mqtt_presence::detail
