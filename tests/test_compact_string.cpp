#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include <mqtt_presence/detail/compact_string.hpp>

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
    const std::string texts[] = {"", "a", "2b9b1281046046faafe5e0b458e4a1b2", "2B9B1281046046FAAFE5E0B458E4A1B2",
                                 "10.0.0.1:80", "abc", "abcd", "not-hex-but-long-enough-for-the-heap", "ab"};
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
