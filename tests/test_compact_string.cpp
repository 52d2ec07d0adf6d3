#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <mqtt_presence/detail/compact_string.hpp>

using mqtt_presence::detail::CompactString;

namespace {

// The oracle of the random IPv4 test below, written apart from the library's parser and
// plainly: "a.b.c.d:port", each part decimal without leading zeros, → the 4 octets and the
// port (big-endian); else false.
bool reference_ipv4(const std::string& text, unsigned char (&out)[6]) {
    std::size_t pos = 0;
    std::uint32_t parts[5] = {};
    for (std::size_t k = 0; k < 5; ++k) {
        const std::size_t start = pos;
        std::uint32_t v = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 5) {
            v = v * 10 + static_cast<std::uint32_t>(text[pos] - '0');
            ++pos;
        }
        const std::size_t digits = pos - start;
        if (digits == 0 || (digits > 1 && text[start] == '0')) return false;
        if (v > (k < 4 ? 255U : 65535U)) return false;
        parts[k] = v;
        if (k < 4) {
            if (pos >= text.size() || text[pos] != (k < 3 ? '.' : ':')) return false;
            ++pos;
        }
    }
    if (pos != text.size()) return false;
    for (std::size_t k = 0; k < 4; ++k) out[k] = static_cast<unsigned char>(parts[k]);
    out[4] = static_cast<unsigned char>(parts[4] >> 8);
    out[5] = static_cast<unsigned char>(parts[4] & 0xffU);
    return true;
}

} // namespace

TEST_CASE("CompactString keeps exactly the text it was given", "[detail][compact]") {
    const std::vector<std::string> texts = {
        "",
        "2b9b1281046046faafe5e0b458e4a1b2",  // 32 lowercase hex: packed
        "2B9B1281046046FAAFE5E0B458E4A1B2",  // uppercase: not packed, kept verbatim
        "2b9b1281046046faafe5e0b458e4a1b",   // odd length
        "2b9b1281046046faafe5e0b458e4a1b2ff", // 34 hex: too long to pack, on the heap
        "ch-17",
        "a-channel-id-longer-than-sixteen-bytes",
        "0",
        "00",
        "192.0.2.7:13222",
        "255.255.255.255:65535",
        "0.0.0.0:0",
        "01.2.3.4:5",        // leading zero: not canonical, kept verbatim
        "1.2.3.4:65536",     // port out of range
        "256.1.1.1:80",
        "[2001:db8::1]:4000",
        std::string("nul\0inside", 10),
    };
    for (const std::string& text : texts) {
        CAPTURE(text);
        CompactString<16> key(text);
        CompactString<8> address(text);
        CHECK(key.str() == text);
        CHECK(address.str() == text);
        CHECK(key.size() == text.size());
        CHECK(address.size() == text.size());
        CHECK(key.equals(text));
        CHECK(address.equals(text));
        CHECK(key.empty() == text.empty());
        for (const std::string& other : texts) {
            if (other != text) {
                CHECK_FALSE(key.equals(other));
                CHECK_FALSE(address.equals(other));
                CHECK_FALSE(key == CompactString<16>(other));
            }
        }
    }
}

TEST_CASE("CompactString packs what it can and allocates only for long text", "[detail][compact]") {
    static_assert(sizeof(CompactString<16>) == 18 && alignof(CompactString<16>) == 1);
    static_assert(sizeof(CompactString<8>) == 10);
    CHECK_FALSE(CompactString<16>("2b9b1281046046faafe5e0b458e4a1b2").on_heap());
    CHECK_FALSE(CompactString<8>("255.255.255.255:65535").on_heap());
    CHECK_FALSE(CompactString<16>("sixteen-bytes-ok").on_heap());
    CHECK(CompactString<16>("seventeen-bytes-x").on_heap());
}

TEST_CASE("CompactString copies and moves", "[detail][compact]") {
    for (const char* const text : {"short", "a-channel-id-longer-than-sixteen-bytes", "00112233445566778899aabbccddeeff"}) {
        CompactString<16> a(text);
        CompactString<16> b(a);
        CHECK(b.str() == text);
        CompactString<16> c(std::move(a));
        CHECK(c.str() == text);
        CHECK(a.empty()); // NOLINT(bugprone-use-after-move): moved-from is empty by contract
        CompactString<16> d("x");
        d = c;
        CHECK(d.str() == text);
        d = std::move(b);
        CHECK(d.str() == text);
        d = d; // self-assignment keeps the value
        CHECK(d.str() == text);
        d.assign("y");
        CHECK(d.str() == "y");
    }
}

TEST_CASE("CompactString: a probe matches exactly the strings equal to its text", "[compact_string]") {
    using S = mqtt_presence::detail::CompactString<16>;
    // Near misses too: the same bytes under another encoding ("ab" packs as the byte 0xab, "\xab"
    // is kept as that byte; "" and "\0" are both zero bytes), and ids that differ only after
    // their first eight bytes, packed, inline or on the heap.
    const std::string texts[] = {"",
                                 "a",
                                 "2b9b1281046046faafe5e0b458e4a1b2",
                                 "2B9B1281046046FAAFE5E0B458E4A1B2",
                                 "10.0.0.1:80",
                                 "abc",
                                 "abcd",
                                 "not-hex-but-long-enough-for-the-heap",
                                 "not-hex-but-long-enough-for-the-heaq",
                                 "ab",
                                 "\xab",
                                 std::string(1, '\0'),
                                 "2b9b1281046046faafe5e0b458e4a1b3",
                                 "2b9b1281046046fb",
                                 "abcdefgh-1",
                                 "abcdefgh-2"};
    for (const std::string& stored_text : texts) {
        S stored(stored_text);
        // Reused objects must compare like fresh ones: assign over longer content, move away.
        S reused("a-long-text-that-lives-on-the-heap-for-a-while");
        reused.assign(stored_text);
        S moved_from("ffffffffffffffffffffffffffffffff");
        S taken(std::move(moved_from));
        for (const std::string& probe_text : texts) {
            const S::Probe probe(probe_text);
            INFO("stored " << stored_text << ", probe " << probe_text);
            CHECK(stored.matches(probe) == (stored_text == probe_text));
            CHECK(reused.matches(probe) == (stored_text == probe_text));
            S from_probe;
            from_probe.assign(probe);
            CHECK(from_probe.str() == probe_text);
            CHECK(from_probe.matches(S::Probe(stored_text)) == (stored_text == probe_text));
        }
        CHECK(moved_from.matches(S::Probe(""))); // NOLINT(bugprone-use-after-move): moved-from is empty
    }
}

TEST_CASE("CompactString: hex packing accepts exactly lowercase hex digits, in any position", "[compact_string]") {
    using S = mqtt_presence::detail::CompactString<16>;
    const std::string base = "0123456789abcdeffedcba9876543210";
    const S packed(base);
    CHECK(packed.str() == base);
    CHECK(packed.size() == 32);
    // Every byte value in every position of a 32-digit id: packed only when it stays hex, and
    // always read back unchanged.
    for (std::size_t pos = 0; pos < base.size(); ++pos) {
        for (int c = 1; c < 256; ++c) {
            std::string text = base;
            text[pos] = static_cast<char>(c);
            const S s(text);
            const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
            INFO("position " << pos << ", byte " << c);
            CHECK(s.str() == text);
            CHECK(s.on_heap() == !hex); // 32 bytes do not fit inline unless packed
            CHECK(s.equals(text));
        }
    }
}

TEST_CASE("CompactString: ipv4 packing accepts exactly canonical a.b.c.d:port", "[compact_string]") {
    using S = mqtt_presence::detail::CompactString<8>;
    // Longer than 8 bytes, so an address is either packed or on the heap: packed exactly when
    // canonical (decimal numbers without leading zeros, octets to 255, port to 65535).
    const std::vector<std::string> canonical = {
        "0.0.0.0:0",           "1.2.3.4:5",        "9.99.199.255:65535", "10.0.0.1:1883",
        "255.255.255.255:0",   "100.200.10.1:100", "1.1.1.1:10000",      "192.168.100.254:8883",
    };
    const std::vector<std::string> other = {
        "01.2.3.4:5",      "1.02.3.4:5",     "1.2.3.04:5",      "1.2.3.4:05",       "1.2.3.4:00",
        "256.1.1.1:80",    "1.2.3.300:80",   "1000.1.1.1:80",   "1.2.3.4:65536",    "1.2.3.4:99999",
        "1.2.3.4:123456",  "1.2.3.4:",       "1.2.3.4.5",       "1.2.3.4:5:",       "1..2.3:4567",
        ".1.2.3:45",       "1.2.3.4 :5",     "1.2.3.4: 5",      "a.b.c.d:1",        "1.2.3:45678",
        "1.2.3.4.5:6",     "1,2,3,4:5",      "-1.2.3.4:5",      "1.2.3.4:+5",       "1.2.3.4:5 ",
        "255.255.255.255:65535x",
    };
    for (const std::string& text : canonical) {
        CAPTURE(text);
        const S s(text);
        CHECK_FALSE(s.on_heap());
        CHECK(s.str() == text);
        CHECK(s.size() == text.size());
        CHECK(s.equals(text));
    }
    for (const std::string& text : other) {
        CAPTURE(text);
        const S s(text);
        CHECK(s.on_heap() == (text.size() > 8));
        CHECK(s.str() == text);
        CHECK(s.equals(text));
    }
    // Every byte value in every position of a canonical address: still read back unchanged,
    // and packed only when the result is canonical.
    const std::string base = "12.34.56.78:9012";
    for (std::size_t pos = 0; pos < base.size(); ++pos) {
        for (int c = 1; c < 256; ++c) {
            std::string text = base;
            text[pos] = static_cast<char>(c);
            const bool digit = c >= '0' && c <= '9';
            // The first digit of a number may not become 0; separators must stay what they are.
            const bool first_of_number = pos == 0 || base[pos - 1] == '.' || base[pos - 1] == ':';
            const bool keeps = base[pos] == '.' || base[pos] == ':' ? c == base[pos]
                                                                      : digit && !(first_of_number && c == '0');
            INFO("position " << pos << ", byte " << c);
            const S s(text);
            CHECK(s.str() == text);
            CHECK(s.on_heap() == !keeps);
        }
    }
}

TEST_CASE("CompactString: ipv4 packing agrees with a plain parser on random near-addresses", "[compact_string]") {
    // A parser written separately, bound-checked byte by byte, is the oracle of what packs and
    // into which bytes: texts of 0 to 24 bytes, mostly digits and separators, sometimes any byte
    // (a zero byte included), so that every length, digit count and stopping point is met.
    std::mt19937_64 rng(20261127);
    const std::string alphabet = "0123456789012345678901234567890123456789..........:::::";
    std::size_t packed = 0;
    for (int round = 0; round < 200000; ++round) {
        std::string text;
        const std::size_t n = rng() % 25;
        for (std::size_t i = 0; i < n; ++i)
            text.push_back(rng() % 16 == 0 ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()]);
        if (rng() % 2 == 0 && n >= 9) { // a valid address, then perhaps one byte changed
            text = std::to_string(rng() % 300) + "." + std::to_string(rng() % 300) + "." + std::to_string(rng() % 300) +
                   "." + std::to_string(rng() % 300) + ":" + std::to_string(rng() % 70000);
            if (rng() % 2 == 0) text[rng() % text.size()] = alphabet[rng() % alphabet.size()];
        }
        unsigned char expected[6] = {};
        const bool canonical = reference_ipv4(text, expected);
        const CompactString<8> s(text);
        INFO(text);
        REQUIRE(s.str() == text);
        REQUIRE(s.equals(text));
        unsigned char got[CompactString<8>::ipv4_bytes] = {};
        REQUIRE(s.packed_ipv4(got) == canonical);
        REQUIRE(std::equal(std::begin(got), std::end(got), std::begin(expected)));
        // (an even number of up to 16 digits packs as hex instead)
        const bool hex = text.size() % 2 == 0 && text.size() <= 16 &&
                         text.find_first_not_of("0123456789abcdef") == std::string::npos;
        REQUIRE(s.on_heap() == (text.size() > 8 && !canonical && !hex));
        packed += canonical ? 1U : 0U;
    }
    CHECK(packed > 20000); // both sides exercised
}

TEST_CASE("CompactString: the fixed-size packed forms read back and set exactly what the text gives",
          "[compact_string]") {
    std::mt19937_64 rng(20261125);
    for (int round = 0; round < 2000; ++round) {
        // Any 16 bytes are the packed form of 32 lowercase hex digits.
        unsigned char hex[16];
        for (unsigned char& b : hex) b = static_cast<unsigned char>(rng());
        std::string hex_text;
        for (const unsigned char b : hex) {
            hex_text.push_back("0123456789abcdef"[b >> 4]);
            hex_text.push_back("0123456789abcdef"[b & 15U]);
        }
        CompactString<16> key("ch-on-the-heap-before-it-is-assigned");
        key.assign_packed_hex(hex);
        INFO(hex_text);
        CHECK(key == CompactString<16>(hex_text));
        CHECK(key.str() == hex_text);
        CHECK(key.matches(CompactString<16>::Probe(hex_text)));
        unsigned char hex_back[16] = {};
        CHECK(CompactString<16>(hex_text).packed_hex(hex_back));
        CHECK(std::equal(std::begin(hex), std::end(hex), std::begin(hex_back)));

        // Any 6 bytes are the packed form of a canonical IPv4 ip:port.
        unsigned char ipv4[CompactString<8>::ipv4_bytes];
        for (unsigned char& b : ipv4) b = static_cast<unsigned char>(rng());
        const std::string ipv4_text = std::to_string(ipv4[0]) + "." + std::to_string(ipv4[1]) + "." +
                                      std::to_string(ipv4[2]) + "." + std::to_string(ipv4[3]) + ":" +
                                      std::to_string(ipv4[4] << 8 | ipv4[5]);
        CompactString<8> address("[2001:db8::1]:4000");
        address.assign_packed_ipv4(ipv4);
        INFO(ipv4_text);
        CHECK(address == CompactString<8>(ipv4_text));
        CHECK(address.str() == ipv4_text);
        CHECK(address.equals(ipv4_text));
        unsigned char ipv4_back[CompactString<8>::ipv4_bytes] = {};
        CHECK(CompactString<8>(ipv4_text).packed_ipv4(ipv4_back));
        CHECK(std::equal(std::begin(ipv4), std::end(ipv4), std::begin(ipv4_back)));
    }
    // Other texts have no such form, and the getters write nothing for them.
    for (const std::string text : {"", "ch-17", "2b9b1281046046faafe5e0b458e4a1b", "2B9B1281046046FAAFE5E0B458E4A1B2",
                                   "2b9b1281046046faafe5e0b458e4a1", "192.0.2.7:13222", "01.2.3.4:5",
                                   "a-channel-id-longer-than-sixteen-bytes"}) {
        INFO(text);
        unsigned char bytes[16] = {};
        CHECK_FALSE(CompactString<16>(text).packed_hex(bytes));
        CHECK(std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; }));
    }
    for (const std::string text : {"", "ch-17", "01.2.3.4:5", "1.2.3.4:65536", "[2001:db8::1]:4000", "0a1b2c3d"}) {
        INFO(text);
        unsigned char bytes[CompactString<8>::ipv4_bytes] = {};
        CHECK_FALSE(CompactString<8>(text).packed_ipv4(bytes));
        CHECK(std::all_of(std::begin(bytes), std::end(bytes), [](unsigned char b) { return b == 0; }));
    }
}
