// The flat reader (json/alibaba_flat.hpp), which the simdjson parser tries first: it reads the
// messages it is meant for, declines everything outside its shape, and whatever it does not
// decline ends exactly as the nlohmann parser ends it (the same event, or the same error).
// Also its two word-at-a-time scans against their byte-by-byte definitions.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/json/alibaba_flat.hpp>

#include "support/history.hpp"
#include "support/parsed.hpp"

using namespace mqtt_presence;

namespace {

using test_support::by_nlohmann;
using test_support::describe;
using test_support::Parsed;
using test_support::same;

// What the flat reader makes of `line`, as the simdjson parser would report it; nullopt when
// it declines.
std::optional<Parsed> by_flat_reader(std::string_view line) {
    Parsed out;
    detail::AlibabaFields fields;
    fields.reset(out.event);
    switch (detail::read_flat_alibaba(line, fields)) {
    case detail::FlatRead::accepted: out.ok = true; return out;
    case detail::FlatRead::refused: detail::refusal(line, fields, out.error); return out;
    case detail::FlatRead::declined: break;
    }
    return std::nullopt;
}

// Counts the lines the reader does not decline; fails on any whose outcome differs from nlohmann's.
std::size_t require_same_as_nlohmann(const std::vector<std::string>& lines) {
    std::size_t read = 0;
    std::size_t differences = 0;
    for (const std::string& line : lines) {
        const std::optional<Parsed> flat = by_flat_reader(line);
        if (!flat) continue;
        ++read;
        const Parsed reference = by_nlohmann(line);
        if (same(*flat, reference)) continue;
        if (++differences <= 5)
            FAIL_CHECK("line: " << test_support::printable(line) << "\n  nlohmann: " << describe(reference) << "\n  flat: " << describe(*flat));
    }
    CHECK(differences == 0);
    return read;
}

std::vector<std::string> generated_lines(std::uint64_t seed, std::size_t clients) {
    const testing::Batch batch =
            testing::generate_batch(seed, 0, clients, testing::HistoryOptions{}, testing::DeliveryOptions{});
    std::vector<std::string> lines;
    for (const testing::Delivery& d : batch.deliveries) {
        if (d.kind != testing::Delivery::Kind::event) continue;
        const nlohmann::json j = d.event;
        lines.push_back(j.dump());
    }
    return lines;
}

const std::string good =
        R"({"clientId":"GID_XXX@@@dev1","time":1570795200000,"eventType":"connect","channelId":"2b9b1281046046faafe5e0b458e4a1b2","clientIp":"192.0.2.7:13222"})";

} // namespace

TEST_CASE("the flat reader reads the messages brokers write, as nlohmann does", "[json][flat]") {
    const std::uint64_t seed = testing::seed_from_environment(20191011);
    INFO("seed " << seed << " (MQTT_PRESENCE_SEED)");
    std::vector<std::string> lines = generated_lines(seed, 200);
    REQUIRE(lines.size() >= 2000);
    // The same events in other shapes the reader takes: the broker's key order, whitespace
    // between every token, unknown string and integer fields, the time quoted.
    testing::Random rng(seed);
    const std::size_t generated = lines.size();
    for (std::size_t i = 0; i < generated; i += 3) {
        nlohmann::ordered_json j;
        const nlohmann::json plain = nlohmann::json::parse(lines[i]);
        for (const char* key : {"clientId", "time", "eventType", "channelId", "clientIp"})
            if (plain.contains(key)) j[key] = plain[key];
        if (rng.chance(0.5)) j["instanceId"] = "post-cn-" + std::to_string(rng.between(0, 99999));
        if (rng.chance(0.5)) j["seq"] = rng.between(0, 1000000000);
        if (rng.chance(0.3)) j["time"] = std::to_string(j["time"].get<std::int64_t>());
        lines.push_back(rng.chance(0.3) ? j.dump(rng.chance(0.5) ? 2 : 0) : j.dump());
    }
    lines.push_back(" \t\r\n{ \"clientId\" : \"a\" ,\n\"channelId\":\"b\",\"eventType\":\"tcpclean\",\"time\":0 } \n");
    lines.push_back(good);
    lines.push_back("{\"clientId\":\"GID_\xc3\xa9@@@\xe8\xae\xbe\xe5\xa4\x87\",\"channelId\":\"\xf0\x9f\x98\x80\",\"eventType\":"
                    "\"connect\",\"time\":1,\"\xd0\xba\":\"\xc2\x85\"}");
    // Every one of them is read, not declined, and ends as nlohmann ends it (accepted).
    CHECK(require_same_as_nlohmann(lines) == lines.size());
    for (const std::string& line : lines) {
        INFO(line);
        CHECK(by_flat_reader(line));
        CHECK(by_nlohmann(line).ok);
    }
}

TEST_CASE("the flat reader refuses what the fields refuse, with nlohmann's messages", "[json][flat]") {
    const std::vector<std::string> lines = {
            R"({"clientId":"","channelId":"c","eventType":"connect","time":1})",
            "{\"clientId\":\"a\x7f\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
            R"({"clientId":"a","channelId":"c","eventType":"online","time":1})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":99999999999999999})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":"12x"})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":"99999999999999999999"})",
            R"({"clientId":"a","clientId":"b","channelId":"c","eventType":"connect","time":1})",
            R"({"clientId":"a","channelId":"c","eventType":"connect"})",
            R"({"channelId":"c","eventType":"connect","time":1})",
            R"({})",
            R"({"clientId":7,"channelId":"c","eventType":"connect","time":1})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":1,"clientIp":")" + std::string(256, '1') +
                    "\"}",
            // A refused value before a syntax error: the syntax error is the message.
            R"({"clientId":"","channelId":"c","eventType":"connect","time":1,})",
            R"({"clientId":"a","clientId":"b" "x"})",
    };
    for (const std::string& line : lines) {
        INFO(line);
        const std::optional<Parsed> flat = by_flat_reader(line);
        REQUIRE(flat);
        CHECK_FALSE(flat->ok);
    }
    CHECK(require_same_as_nlohmann(lines) == lines.size());
    CHECK(by_flat_reader(lines.back())->error.rfind("malformed JSON", 0) == 0);
}

TEST_CASE("the flat reader declines every message outside its shape", "[json][flat]") {
    const std::string head = R"({"clientId":"a","channelId":"c","eventType":"connect","time":1)";
    const std::vector<std::string> lines = {
            "",
            "   ",
            "[]",
            "\"x\"",
            "\xEF\xBB\xBF" + head + "}",
            head,
            head + ",",
            head + ",}",
            head + "}}",
            head + "} x",
            head + std::string("}\0", 2),
            R"({"clientId":"a\u0041","channelId":"c","eventType":"connect","time":1})",
            R"({"client\u0049d":"a","channelId":"c","eventType":"connect","time":1})",
            "{\"clientId\":\"\xc3(\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
            "{\"clientId\":\"\xed\xa0\x80\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
            "{\"clientId\":\"\xc0\xaf\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
            "{\"clientId\":\"\xf4\x90\x80\x80\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
            "{\"clientId\":\"a\xe2\x82\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
            "{\"clientId\":\"a\tb\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
            head + R"(,"x":{}})",
            head + R"(,"x":[1]})",
            head + R"(,"x":true})",
            head + R"(,"x":null})",
            head + R"(,"x":-1})",
            head + R"(,"x":1.5})",
            head + R"(,"x":1e5})",
            head + R"(,"x":1E5})",
            head + R"(,"x":01})",
            head + R"(,"x":12345678901234567890})",
            head + R"(,"x":1-})",
            head + R"(,"x" 1})",
            head + R"(,"x":})",
            head + R"(,"x":"unterminated})",
            head + R"(,x:1})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":1.0})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":-1})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":99999999999999999.5})",
            R"({"clientId":"a","channelId":"c","eventType":"connect","time":1,"clientIp":null})",
    };
    for (const std::string& line : lines) {
        INFO(line);
        CHECK_FALSE(by_flat_reader(line));
    }
    // The longest integer it takes: 19 digits.
    CHECK(by_flat_reader(head + R"(,"x":1234567890123456789})"));
}

TEST_CASE("whatever the flat reader does not decline of mutated messages ends as nlohmann ends it", "[json][flat]") {
    const std::uint64_t seed = testing::seed_from_environment(20191011);
    INFO("seed " << seed << " (MQTT_PRESENCE_SEED)");
    std::vector<std::string> seeds = generated_lines(seed + 1, 20);
    seeds.push_back(good);
    seeds.push_back("{\"clientId\":\"\xd0\xba\xc2\x85@@@\xf0\x9f\x98\x80\",\"channelId\":\"\xe8\xae\xbe\",\"eventType\":\"connect\",\"time\":1}");
    seeds.push_back(R"({ "time" : 1570795200000 , "x" : "y" , "clientId":"a@@@b","channelId":"c","eventType":"disconnect"})");
    static const char byte_set[] =
            "{}[]\":,\\ -+.eE0123456789tfnulrxdcCI\t\n\r\x7f\x80\xbf\xc2\xc3\xa9\xed\xa0\xef\xf0\x9f\xf4\x90\xc0\x01";
    const std::string bytes = std::string(byte_set, sizeof byte_set - 1) + std::string(1, '\0');
    const std::vector<std::string> pieces = {"\"time\":", "\"clientId\":", "\"clientIp\":\"", "\"channelId\"",
                                             "\"eventType\":\"", "00", "1234567890", "\"x\":1,", ",", "\""};
    testing::Random rng(seed);
    constexpr std::size_t mutations = 30000;
    const std::vector<std::string> lines = test_support::mutated_lines(rng, seeds, mutations, bytes, pieces, 1);
    const std::size_t read = require_same_as_nlohmann(lines);
    // Both sides must be exercised: many mutations stay in the reader's shape, many leave it.
    CHECK(read > mutations / 10);
    CHECK(read < mutations * 9 / 10);
}

TEST_CASE("the flat reader checks ids for control characters as nlohmann's path does", "[json][flat]") {
    // Ids of printable ASCII skip the byte scan of id_problem(): anything else must still get it.
    // Each kind of character a JSON string may hold unescaped beyond printable ASCII (DEL, C1
    // controls, other characters of two to four bytes), at each end and in the middle of each
    // id, short and long (the scans work in blocks of 8 and 16 bytes). (A raw C0 control is not
    // JSON: the reader declines it, as it does every escape.)
    const std::vector<std::pair<std::string, bool>> bytes = {
            {"\x7f", false},    {"\xc2\x80", false}, {"\xc2\x85", false},    {"\xc2\x9f", false},        {"~", true},
            {"\xc2\xa0", true}, {"\xc3\xa9", true},  {"\xe2\x80\xa8", true}, {"\xf0\x9f\x98\x80", true},
    };
    std::vector<std::string> lines;
    for (const bool client : {true, false}) {
        for (const std::size_t size : {std::size_t{1}, std::size_t{7}, std::size_t{16}, std::size_t{40}}) {
            for (const auto& [byte, acceptable] : bytes) {
                for (const std::size_t at : {std::size_t{0}, size / 2, size}) {
                    std::string id(size, 'i');
                    id.insert(at, byte);
                    const std::string other = client ? "c" : "GID_a@@@b";
                    const std::string line = "{\"clientId\":\"" + (client ? id : other) + "\",\"channelId\":\"" +
                                             (client ? other : id) + "\",\"eventType\":\"connect\",\"time\":1}";
                    INFO(test_support::printable(line));
                    const std::optional<Parsed> flat = by_flat_reader(line);
                    REQUIRE(flat);
                    CHECK(flat->ok == acceptable);
                    if (!acceptable)
                        CHECK(flat->error == (client ? "\"clientId\"" : "\"channelId\"") +
                                                     std::string(" contains a control character"));
                    lines.push_back(line);
                }
            }
        }
    }
    CHECK(require_same_as_nlohmann(lines) == lines.size());
}

TEST_CASE("the flat reader's string scan says exactly when a string is printable ASCII", "[json][flat]") {
    testing::Random rng(11);
    static const char* const pieces[] = {"a",  "~",        " ",        "\x7f", "\x1f", "\"",
                                         "\\", "\xc2\x85", "\xc3\xa9", "\xc3", "\x80", "\xff"};
    for (int round = 0; round < 20000; ++round) {
        std::string text;
        const std::size_t count = rng.index(40);
        for (std::size_t k = 0; k < count; ++k) text += rng.chance(0.8) ? "x" : pieces[rng.index(std::size(pieces))];
        // The definition, byte by byte: a string runs over printable ASCII but a quote or a
        // backslash, DEL, and well-formed UTF-8 sequences; it is printable when the bytes it
        // ran over are all in 0x20..0x7e.
        std::size_t expected = 0;
        bool expected_printable = true;
        while (expected < text.size()) {
            const auto c = static_cast<unsigned char>(text[expected]);
            if (c >= 0x20 && c <= 0x7e && c != '"' && c != '\\') {
                ++expected;
                continue;
            }
            const std::size_t length = c == 0x7f ? 1 : detail::utf8_sequence(std::string_view(text).substr(expected));
            if (c < 0x7f || length == 0) break;
            expected_printable = false;
            expected += length;
        }
        bool printable = true;
        INFO(test_support::printable(text));
        REQUIRE(detail::flat::string_end(text.data(), 0, text.size(), printable) == expected);
        REQUIRE(printable == expected_printable);
    }
}

TEST_CASE("the flat reader's word-at-a-time scans find what a byte-by-byte scan finds", "[json][flat]") {
    testing::Random rng(7);
    static const char byte_set[] = "ab09\"\\ \x1f\x20\x7e\x7f\x80\xff:,";
    const std::string bytes(byte_set, sizeof byte_set - 1);
    for (int round = 0; round < 20000; ++round) {
        std::string text(rng.index(48), 'x');
        for (char& c : text)
            if (rng.chance(0.15)) c = bytes[rng.index(bytes.size())];
        const std::size_t from = rng.index(text.size() + 1);
        std::size_t expected = from;
        while (expected < text.size() && detail::flat::plain(text[expected])) ++expected;
        REQUIRE(detail::flat::plain_end(text.data(), from, text.size()) == expected);
    }
#if defined(MQTT_PRESENCE_FLAT_LITTLE_ENDIAN)
    static const char digit_set[] = "0123456789/:\x00\xf9\xfa\xff\x30\x39 a";
    const std::string digit_bytes(digit_set, sizeof digit_set - 1);
    for (int round = 0; round < 20000; ++round) {
        char word[8];
        for (char& c : word) c = rng.chance(0.8) ? static_cast<char>('0' + rng.index(10)) : digit_bytes[rng.index(digit_bytes.size())];
        std::size_t count = 0;
        std::uint64_t expected = 0;
        while (count < 8 && word[count] >= '0' && word[count] <= '9') expected = expected * 10 + static_cast<std::uint64_t>(word[count++] - '0');
        std::uint64_t value = 12345;
        REQUIRE(detail::flat::leading_digits(word, value) == count);
        REQUIRE(value == expected);
    }
#endif
}
