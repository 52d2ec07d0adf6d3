#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <mqtt_presence/detail/compact_string.hpp>
#include <mqtt_presence/detail/record_codec.hpp>

using mqtt_presence::detail::CompactString;

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

TEST_CASE("CompactString: ipv4 packing agrees with the record codec's on random near-addresses", "[compact_string]") {
    // The record codec's parser (written separately, bound-checked byte by byte) is the oracle:
    // texts of 0 to 24 bytes, mostly digits and separators, sometimes any byte (a zero byte
    // included), so that every length, digit count and stopping point is met.
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
        unsigned char expected[6];
        const bool canonical = mqtt_presence::detail::record_codec::pack_ipv4(text, expected);
        const CompactString<8> s(text);
        INFO(text);
        REQUIRE(s.str() == text);
        REQUIRE(s.equals(text));
        // (an even number of up to 16 digits packs as hex instead)
        const bool hex = text.size() % 2 == 0 && text.size() <= 16 &&
                         text.find_first_not_of("0123456789abcdef") == std::string::npos;
        REQUIRE(s.on_heap() == (text.size() > 8 && !canonical && !hex));
        packed += canonical ? 1U : 0U;
    }
    CHECK(packed > 20000); // both sides exercised
}
