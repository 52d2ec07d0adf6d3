// The simdjson adapter (json/alibaba_simdjson.hpp) against the nlohmann one (json/alibaba.hpp):
// for every line, the same success or failure, the same event, the same error message. A corpus
// of good and bad lines with the expected outcome of each, the shipped sample, generated streams,
// and mutations of all of them, under every simdjson kernel the CPU runs. Also the tag check,
// the throwing calls, buffer reuse and that a warm parser allocates nothing.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/simdjson.hpp>

#include "support/history.hpp"
#include "support/parsed.hpp"

// Every allocation through operator new is counted, to check that a warm parser makes none.
namespace {
std::atomic<std::size_t> allocations{0};
} // namespace

// (GCC, seeing both inlined, takes the pair for a mismatched new and free.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
// Every form is replaced, so that all memory (libsimdjson's too) comes from malloc and goes back
// to free, whoever allocates and frees it.
void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return ::operator new(size, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

using namespace mqtt_presence;

namespace {

const std::string ok_line = R"({"clientId":"GID_a@@@d","channelId":"c","eventType":"connect","time":1})"; // 71 bytes
const std::string good =
    R"({"clientId":"GID_XXX@@@dev1","time":1570795200000,"eventType":"connect","channelId":"2b9b1281046046faafe5e0b458e4a1b2","clientIp":"192.0.2.7:13222"})";

using test_support::by_nlohmann;
using test_support::describe;
using test_support::Parsed;
using test_support::printable;
using test_support::same;

Parsed by_simdjson(AlibabaSimdjsonParser& parser, std::string_view line) {
    Parsed out;
    out.ok = parser.parse(line, out.event, out.error);
    return out;
}

// Empty when both parsers say the same about `line`, else what each said.
std::string difference(AlibabaSimdjsonParser& parser, std::string_view line) {
    const Parsed reference = by_nlohmann(line);
    const Parsed fast = by_simdjson(parser, line);
    // The generic message means detail::refusal found no syntax error in a message a parser
    // refused as malformed: the syntax check and that parser disagree.
    if (same(reference, fast) && (reference.ok || reference.error != "malformed JSON")) return {};
    return "line: " + printable(line) + "\n  nlohmann: " + describe(reference) + "\n  simdjson: " + describe(fast);
}

// Runs f(parser) once per simdjson kernel this CPU supports, with a parser made while that
// kernel is active (a parser keeps the kernel it started with), once with each Reader (the flat
// reader first, and On-Demand alone); then restores the kernel.
template <class F>
void for_each_kernel(F&& f) {
    struct Restore {
        const simdjson::implementation* kernel = simdjson::get_active_implementation();
        ~Restore() { simdjson::get_active_implementation() = kernel; }
    } restore;
    std::size_t kernels = 0;
    for (const simdjson::implementation* kernel : simdjson::get_available_implementations()) {
        if (!kernel->supported_by_runtime_system()) continue;
        simdjson::get_active_implementation() = kernel;
        ++kernels;
        INFO("simdjson kernel " << kernel->name());
        for (const auto reader : {AlibabaSimdjsonParser::Reader::flat_first, AlibabaSimdjsonParser::Reader::on_demand}) {
            INFO((reader == AlibabaSimdjsonParser::Reader::on_demand ? "On-Demand only" : "flat reader first"));
            AlibabaSimdjsonParser parser(reader);
            f(parser);
        }
    }
    CHECK(kernels >= 1);
}

// Compares the parsers on every line; reports the first few differences and counts them.
void require_agreement(const std::vector<std::string>& lines) {
    for_each_kernel([&](AlibabaSimdjsonParser& parser) {
        std::size_t differences = 0;
        for (const std::string& line : lines) {
            const std::string diff = difference(parser, line);
            if (diff.empty()) continue;
            if (++differences <= 5) FAIL_CHECK(diff);
        }
        CHECK(differences == 0);
    });
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

// A few thousand lines of a generated stream, as the history generator's tool writes them.
std::vector<std::string> generated_lines(std::uint64_t seed, std::size_t clients) {
    testing::HistoryOptions history;
    history.reconcile_offline_probability = 0;
    history.reconcile_online_probability = 0;
    const testing::Batch batch = testing::generate_batch(seed, 0, clients, history, testing::DeliveryOptions{});
    std::vector<std::string> lines;
    for (const testing::Delivery& d : batch.deliveries) {
        if (d.kind != testing::Delivery::Kind::event) continue;
        const nlohmann::json j = d.event;
        lines.push_back(j.dump());
    }
    return lines;
}

std::string nested(std::size_t levels, const std::string& inside = "") {
    return std::string(levels, '[') + inside + std::string(levels, ']');
}

} // namespace

TEST_CASE("simdjson and nlohmann agree on a corpus of good and bad lines, with the expected outcome", "[json][simdjson]") {
    struct Case {
        std::string json;
        std::string expected; // the error, or "<ok>"
    };
    const std::string tail = R"(,"channelId":"c","eventType":"connect","time":1})";
    const std::string head = R"({"clientId":"a","channelId":"c","eventType":"connect","time":)";
    const std::string big(70000, 'x');
    const std::vector<Case> cases = {
        // good
        {good, "<ok>"},
        {R"( {"channelId":"c1","extra":{"nested":[1,2,{"deep":null}],"x":true},"time":5,"eventType":"tcpclean","clientId":"GID_a@@@d","version":1.5} )",
         "<ok>"},
        {R"({"clientId":"a","channelId":"c","eventType":"disconnect","time":1,"clientIp":null})", "<ok>"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":"1570795200000"})", "<ok>"},
        {R"({"clientId":"GID_a@@@d\u0041\u00e9\ud83d\ude00","channelId":"c\"1\\2\/3","eventType":"connect","time":1,"x":"\b\f\n\r\t"})",
         "<ok>"},
        {R"({"clientId":"a","channelId":"c\n","eventType":"connect","time":1})", R"("channelId" contains a control character)"},
        {R"({"client\u0049d":"a","channelId":"c","eventType":"connect","time":1})", "<ok>"},
        {"{\"clientId\":\"GID_\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}", "<ok>"},
        {"\xEF\xBB\xBF" + ok_line, "<ok>"},
        {ok_line + "\r\n", "<ok>"},
        {"\r\n\t " + ok_line + " \t", "<ok>"},
        {"{\n  \"clientId\" : \"a\",\n  \"channelId\" : \"c\",\n  \"eventType\" : \"connect\",\n  \"time\" : 1\n}\n", "<ok>"},
        {head + "0}", "<ok>"},
        {head + "-0}", "<ok>"},
        {head + "253402300799999}", "<ok>"},
        {R"({"clientId":"a","channelId":"c","eventType":"tcpclean","time":1,"u":[null,true,false,-0,0.5e-3,1E+9,-1e-400,123456789012345678901234567890,"s\u00e9\ud800\udc00",{},[],{"k":{"k":[]}}]})",
         "<ok>"},
        {R"({"clientId":"a","x":1,"x":2,"channelId":"c","eventType":"connect","time":1})", "<ok>"},
        {"{\"x\":\"\x7f\"," + ok_line.substr(1), "<ok>"},
        {"{\"x\":" + nested(63) + "," + ok_line.substr(1), "<ok>"},
        {R"({"blob":")" + big + "\"," + ok_line.substr(1), "<ok>"},
        {R"({"clientId":")" + std::string(65535, 'i') + "\"" + tail, "<ok>"},
        {head + R"(1,"clientIp":")" + std::string(255, '1') + "\"}", "<ok>"},
        // empty
        {"", "empty message"},
        {" \r\n\t", "empty message"},
        {"\xEF\xBB\xBF", "empty message"},
        {"\xEF\xBB\xBF\r\n", "empty message"},
        // truncated
        {"{", "malformed JSON: unexpected end of input after byte 1"},
        {R"({"clientId")", "malformed JSON: unexpected end of input after byte 11"},
        {R"({"clientId":)", "malformed JSON: unexpected end of input after byte 12"},
        {R"({"clientId":"a)", "malformed JSON: unexpected end of input after byte 14"},
        {ok_line.substr(0, 70), "malformed JSON: unexpected end of input after byte 70"},
        {head + "1", "malformed JSON: unexpected end of input after byte 62"},
        {R"({"clientId":1,"channelId":"c")", "malformed JSON: unexpected end of input after byte 29"},
        // trailing garbage
        {ok_line + "x", "malformed JSON: trailing characters at byte 72"},
        {ok_line + " {}", "malformed JSON: trailing characters at byte 73"},
        {ok_line + "}", "malformed JSON: trailing characters at byte 72"},
        {ok_line + ",", "malformed JSON: trailing characters at byte 72"},
        {ok_line + std::string(1, '\0'), "malformed JSON: trailing characters at byte 72"},
        {ok_line + std::string("\0{}", 3), "malformed JSON: trailing characters at byte 72"},
        {R"({"clientId":1} x)", "malformed JSON: trailing characters at byte 16"},
        // not an object
        {R"([{"clientId":"a"}])", "message must be a JSON object, got array"},
        {R"("text")", "message must be a JSON object, got string"},
        {"42", "message must be a JSON object, got number"},
        {"-1.5e3", "message must be a JSON object, got number"},
        {"true", "message must be a JSON object, got boolean"},
        {" null ", "message must be a JSON object, got null"},
        {"[1,]", "malformed JSON: unexpected character ']' at byte 4"},
        {R"("text)", "malformed JSON: unexpected end of input after byte 5"},
        // duplicates
        {R"({"clientId":"a","clientId":"b","channelId":"c","eventType":"connect","time":1})", R"(duplicate field "clientId")"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":"1","time":1})", R"(duplicate field "time")"},
        {R"({"clientId":"a","client\u0049d":"b","channelId":"c","eventType":"connect","time":1})", R"(duplicate field "clientId")"},
        // wrong types, each field
        {R"({"clientId":null)" + tail, R"("clientId" must be a string, got null)"},
        {R"({"clientId":true)" + tail, R"("clientId" must be a string, got boolean)"},
        {R"({"clientId":1)" + tail, R"("clientId" must be a string, got number)"},
        {R"({"clientId":-1.5e300)" + tail, R"("clientId" must be a string, got number)"},
        {R"({"clientId":{"a":1})" + tail, R"("clientId" must be a string, got object)"},
        {R"({"clientId":[])" + tail, R"("clientId" must be a string, got array)"},
        {R"({"clientId":"a","channelId":99999999999999999999999,"eventType":"connect","time":1})", R"("channelId" must be a string, got number)"},
        {R"({"clientId":"a","channelId":"c","eventType":["connect"],"time":1})", R"("eventType" must be a string, got array)"},
        {R"({"clientId":"a","channelId":"c","eventType":null,"time":1})", R"("eventType" must be a string, got null)"},
        {head + "null}", R"("time" must be an integer, got null)"},
        {head + "false}", R"("time" must be an integer, got boolean)"},
        {head + "{}}", R"("time" must be an integer, got object)"},
        {head + "[1]}", R"("time" must be an integer, got array)"},
        {head + R"("12x"})", R"("time" must be an integer, got string "12x")"},
        {head + R"(""})", R"("time" must be an integer, got string "")"},
        {head + R"("-5"})", R"("time" must be an integer, got string "-5")"},
        {head + R"("99999999999999999999"})", R"("time" must be an integer, got string "99999999999999999999")"},
        {head + R"(1,"clientIp":7})", R"("clientIp" must be a string, got number)"},
        {head + R"(1,"clientIp":true})", R"("clientIp" must be a string, got boolean)"},
        {head + R"(1,"clientIp":{}})", R"("clientIp" must be a string, got object)"},
        // time: sign, fraction, exponent, range
        {head + "-1}", R"("time" is negative)"},
        {head + "-9223372036854775808}", R"("time" is negative)"},
        {head + "-9223372036854775809}", R"("time" is negative)"},
        {head + "-99999999999999999999999}", R"("time" is negative)"},
        {head + "1.5}", R"("time" must be an integer, got a number with a fraction or exponent)"},
        {head + "1.0}", R"("time" must be an integer, got a number with a fraction or exponent)"},
        {head + "1e3}", R"("time" must be an integer, got a number with a fraction or exponent)"},
        {head + "-1E3}", R"("time" must be an integer, got a number with a fraction or exponent)"},
        {head + "253402300800000}", R"("time" is after the year 9999)"},
        {head + "9223372036854775807}", R"("time" is after the year 9999)"},
        {head + "18446744073709551615}", R"("time" is after the year 9999)"},
        {head + "18446744073709551616}", R"("time" is after the year 9999)"},
        {head + "1" + std::string(300, '0') + "}", R"("time" is after the year 9999)"},
        {head + "1" + std::string(400, '0') + "}", "malformed JSON: number out of range at byte 62"},
        {head + "1e999}", "malformed JSON: number out of range at byte 62"},
        {head + "1.7976931348623159e308}", "malformed JSON: number out of range at byte 62"},
        // ids and address
        {R"({"clientId":"")" + tail, R"("clientId" is empty)"},
        {R"({"clientId":"a","channelId":"","eventType":"connect","time":1})", R"("channelId" is empty)"},
        {R"({"clientId":"a\u0001b")" + tail, R"("clientId" contains a control character)"},
        {R"({"clientId":"a\u007fb")" + tail, R"("clientId" contains a control character)"},
        {R"({"clientId":"a\u0000b")" + tail, R"("clientId" contains a control character)"},
        {R"({"clientId":")" + big + "\"" + tail, R"("clientId" is longer than 65535 bytes)"},
        {head + R"(1,"clientIp":")" + std::string(256, '1') + "\"}", R"("clientIp" is longer than 255 bytes)"},
        // event type
        {R"({"clientId":"a","channelId":"c","eventType":"online","time":1})",
         R"(unknown "eventType" "online" (expected connect, disconnect or tcpclean))"},
        {R"({"clientId":"a","channelId":"c","eventType":"Connect","time":1})",
         R"(unknown "eventType" "Connect" (expected connect, disconnect or tcpclean))"},
        {R"({"clientId":"a","channelId":"c","eventType":"conn\u0065ct","time":1})", "<ok>"},
        // missing fields
        {"{}", R"(missing field "clientId")"},
        {R"({"clientId":"a","eventType":"connect","time":1})", R"(missing field "channelId")"},
        {R"({"clientId":"a","channelId":"c","time":1})", R"(missing field "eventType")"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect"})", R"(missing field "time")"},
        // nesting
        {"{\"x\":" + nested(64) + "," + ok_line.substr(1), "JSON nested deeper than 64 levels"},
        {"{\"x\":" + nested(70) + "," + ok_line.substr(1), "JSON nested deeper than 64 levels"},
        {"{\"x\":" + nested(70, "tru") + "," + ok_line.substr(1), "malformed JSON: invalid literal at byte 76"},
        {"{\"x\":" + nested(70) + "," + ok_line.substr(1, 30), "malformed JSON: unexpected end of input after byte 176"},
        {"{\"clientId\":" + nested(70) + tail, R"("clientId" must be a string, got array)"},
        // invalid UTF-8, anywhere
        {"{\"clientId\":\"a\xff\"" + tail, "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {"{\"clientId\":\"a\xc0\x80\"" + tail, "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {"{\"clientId\":\"a\xed\xa0\x80\"" + tail, "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {"{\"clientId\":\"a\xf4\x90\x80\x80\"" + tail, "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {"{\"clientId\":\"a\xe2\x82\"" + tail, "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {"{\"k\xff\":1," + ok_line.substr(1), "malformed JSON: invalid UTF-8 in a string at byte 4"},
        {"{\"clientId\":1," + std::string("\"x\":\"\xff\"") + tail, "malformed JSON: invalid UTF-8 in a string at byte 20"},
        {ok_line.substr(0, 70) + "\xc3\xa9}", "malformed JSON: unexpected byte 0xC3 at byte 71"},
        // escapes and control characters
        {R"({"clientId":"a\x")" + tail, "malformed JSON: invalid escape in a string at byte 15"},
        {R"({"clientId":"a\u12")" + tail, "malformed JSON: invalid escape in a string at byte 15"},
        {R"({"clientId":"a\ud800")" + tail, "malformed JSON: unpaired UTF-16 surrogate in a string at byte 15"},
        {R"({"clientId":"a\udc00")" + tail, "malformed JSON: unpaired UTF-16 surrogate in a string at byte 15"},
        {R"({"clientId":"a\ud800\u0041")" + tail, "malformed JSON: unpaired UTF-16 surrogate in a string at byte 15"},
        {R"({"clientId":"a\ud800\ud800")" + tail, "malformed JSON: unpaired UTF-16 surrogate in a string at byte 15"},
        {R"({"cl\q":1,)" + ok_line.substr(1), "malformed JSON: invalid escape in a string at byte 5"},
        {"{\"clientId\":\"a\tb\"" + tail, "malformed JSON: unescaped control character in a string at byte 15"},
        {"{\"clientId\":\"a\nb\"" + tail, "malformed JSON: unescaped control character in a string at byte 15"},
        {"{\"k\x01\":1," + ok_line.substr(1), "malformed JSON: unescaped control character in a string at byte 4"},
        {"{\"clientId\":\"a" + std::string(1, '\0') + "\"" + tail, "malformed JSON: unescaped control character in a string at byte 15"},
        {"{\"x\":1,\x01" + ok_line.substr(1), "malformed JSON: unexpected byte 0x01 at byte 8"},
        // literals and numbers
        {R"({"x":tru,)" + ok_line.substr(1), "malformed JSON: invalid literal at byte 6"},
        {R"({"x":truex,)" + ok_line.substr(1), "malformed JSON: invalid literal at byte 6"},
        {R"({"x":True,)" + ok_line.substr(1), "malformed JSON: unexpected character 'T' at byte 6"},
        {R"({"x":nul,)" + ok_line.substr(1), "malformed JSON: invalid literal at byte 6"},
        {R"({"x":NaN,)" + ok_line.substr(1), "malformed JSON: unexpected character 'N' at byte 6"},
        {R"({"x":-Infinity,)" + ok_line.substr(1), "malformed JSON: invalid number at byte 6"},
        {R"({"x":01,)" + ok_line.substr(1), "malformed JSON: invalid number at byte 6"},
        {R"({"x":1.,)" + ok_line.substr(1), "malformed JSON: invalid number at byte 6"},
        {R"({"x":.5,)" + ok_line.substr(1), "malformed JSON: unexpected character '.' at byte 6"},
        {R"({"x":+1,)" + ok_line.substr(1), "malformed JSON: unexpected character '+' at byte 6"},
        {R"({"x":1e,)" + ok_line.substr(1), "malformed JSON: invalid number at byte 6"},
        {R"({"x":0x10,)" + ok_line.substr(1), "malformed JSON: invalid number at byte 6"},
        {R"({"x":1e-99999999999999999999,)" + ok_line.substr(1), "<ok>"},
        // structure
        {R"({,})", "malformed JSON: unexpected character ',' at byte 2"},
        {R"({"x" 1,)" + ok_line.substr(1), "malformed JSON: unexpected character '1' at byte 6"},
        {R"({"x":1 "y":2,)" + ok_line.substr(1), "malformed JSON: unexpected character '\"' at byte 8"},
        {R"({"x":[1 2],)" + ok_line.substr(1), "malformed JSON: unexpected character '2' at byte 9"},
        {R"({"x":[1,],)" + ok_line.substr(1), "malformed JSON: unexpected character ']' at byte 9"},
        {R"({"x":{"a":1]},)" + ok_line.substr(1), "malformed JSON: unexpected character ']' at byte 12"},
        {ok_line.substr(0, 70) + ",}", "malformed JSON: unexpected character '}' at byte 72"},
        {R"({clientId:"a"})", "malformed JSON: unexpected character 'c' at byte 2"},
        {R"({'clientId':"a"})", "malformed JSON: unexpected character ''' at byte 2"},
        {"/* c */" + ok_line, "malformed JSON: unexpected character '/' at byte 1"},
        {ok_line + "// c", "malformed JSON: trailing characters at byte 72"},
        // byte order marks
        {"\xEF\xBB" + ok_line, "malformed JSON: invalid byte order mark at byte 1"},
        {"\xEF\xBB\xBF\xEF\xBB\xBF" + ok_line, "malformed JSON: unexpected byte 0xEF at byte 4"},
        {" \xEF\xBB\xBF" + ok_line, "malformed JSON: unexpected byte 0xEF at byte 2"},
    };
    CHECK(cases.size() >= 60);
    for_each_kernel([&](AlibabaSimdjsonParser& parser) {
        for (const Case& c : cases) {
            CAPTURE(printable(c.json));
            const Parsed reference = by_nlohmann(c.json);
            const Parsed fast = by_simdjson(parser, c.json);
            CHECK(describe(fast) == describe(reference));
            CHECK((reference.ok ? std::string("<ok>") : reference.error) == c.expected);
        }
    });
}

TEST_CASE("simdjson and nlohmann agree on the shipped sample and the replay tests' bad lines", "[json][simdjson]") {
    std::vector<std::string> lines = read_lines(MQTT_PRESENCE_EXAMPLES_DATA "/sample.jsonl");
    CHECK(lines.size() >= 17);
    for (const char* file : {"malformed.jsonl", "options.jsonl", "files_a.jsonl", "files_b.jsonl"})
        for (std::string& line : read_lines(std::string(MQTT_PRESENCE_REPLAY_DATA "/") + file)) lines.push_back(std::move(line));
    require_agreement(lines);
}

TEST_CASE("simdjson and nlohmann agree on generated streams, as written and reshaped", "[json][simdjson]") {
    const std::uint64_t seed = testing::seed_from_environment(20191011);
    INFO("seed " << seed << " (MQTT_PRESENCE_SEED)");
    const std::vector<std::string> generated = generated_lines(seed, 200);
    REQUIRE(generated.size() >= 2000);
    std::vector<std::string> lines = generated;
    // The same events with keys in the broker's order, an unknown field, pretty-printed or with
    // the time quoted: other paths through both parsers.
    testing::Random rng(seed);
    for (std::size_t i = 0; i < generated.size(); i += 4) {
        nlohmann::ordered_json j;
        const nlohmann::json plain = nlohmann::json::parse(generated[i]);
        for (const char* key : {"clientId", "time", "eventType", "channelId", "clientIp"})
            if (plain.contains(key)) j[key] = plain[key];
        if (rng.chance(0.5)) j["extra"] = {{"n", rng.between(-1000, 1000)}, {"list", {1.5, nullptr, "x"}}};
        if (rng.chance(0.3)) j["time"] = std::to_string(j["time"].get<std::int64_t>());
        lines.push_back(rng.chance(0.3) ? j.dump(2) : j.dump());
    }
    require_agreement(lines);
    // Every generated line is good.
    AlibabaSimdjsonParser parser;
    std::size_t accepted = 0;
    for (const std::string& line : generated) accepted += parser.try_parse(line) ? 1U : 0U;
    CHECK(accepted == generated.size());
}

TEST_CASE("simdjson and nlohmann agree on mutated lines, and the syntax check agrees with nlohmann", "[json][simdjson]") {
    const std::uint64_t seed = testing::seed_from_environment(20191011);
    INFO("seed " << seed << " (MQTT_PRESENCE_SEED)");
    std::vector<std::string> seeds = read_lines(MQTT_PRESENCE_EXAMPLES_DATA "/sample.jsonl");
    for (std::string& line : generated_lines(seed + 1, 20)) seeds.push_back(std::move(line));
    seeds.push_back(R"({"clientId":"GID_a@@@d\u0041","channelId":"c\"1","eventType":"connect","time":"1570795200000","x":{"a":[1,-0,0.5e-3,1E+9,true,false,null,{}],"b":"\ud83d\ude00"},"clientIp":null})");
    seeds.push_back(R"({"time":-0,"eventType":"tcpclean","clientId":"a","channelId":"b","clientIp":"1.2.3.4:5","n":12345678901234567890123})");
    seeds.push_back("\xEF\xBB\xBF{\"clientId\":\"\xc3\xa9\",\"channelId\":\"b\",\"eventType\":\"connect\",\"time\":1}");
    seeds.push_back(R"([{"clientId":"a"}])");
    // Bytes and pieces that JSON parsers tend to get wrong.
    static const char byte_set[] = "{}[]\":,\\ -+.eE0123456789tfnulraxud8DCcF\t\n\r\x7f\x80\xc3\xa9\xed\xa0\xf0\x9f\xef\xbb\xbf\xf4\x90\xc0\x01";
    const std::string bytes = std::string(byte_set, sizeof byte_set - 1) + std::string(1, '\0');
    const std::vector<std::string> pieces = {"\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "1e999", "-", "0", "01", "1.", ".5",
                                             "tru", "nul", "null", "true", "[", "{", "}", "]", ",", "\"", "\\", "1e-400",
                                             "123456789012345678901", "\xEF\xBB\xBF", "\\uD83D", "\\u00", "e5", "\"x\":",
                                             "\"clientIp\":", "\"time\":", "[[[[", "]]]]", "\"time\":\"", "-1"};
    testing::Random rng(seed);
    constexpr std::size_t mutations = 20000;
    const std::vector<std::string> lines = test_support::mutated_lines(rng, seeds, mutations, bytes, pieces, 0);
    require_agreement(lines);

    // The syntax check that words every malformed-JSON error accepts what nlohmann accepts (but
    // a NUL byte, which nlohmann takes for the end of the input).
    std::size_t valid = 0;
    std::size_t disagreements = 0;
    for (const std::string& line : lines) {
        const bool reference = nlohmann::json::accept(line) && std::memchr(line.data(), 0, line.size()) == nullptr;
        valid += reference ? 1U : 0U;
        if (detail::json_syntax_error(line).empty() == reference) continue;
        if (++disagreements <= 5) FAIL_CHECK("nlohmann " << (reference ? "accepts" : "refuses") << ": " << printable(line));
    }
    CHECK(disagreements == 0);
    // The mutations must exercise both sides.
    CHECK(valid > mutations / 10);
    CHECK(valid < mutations * 9 / 10);
}

TEST_CASE("the simdjson parser's tag check and throwing calls say what the nlohmann ones say", "[json][simdjson]") {
    AlibabaSimdjsonParser parser;
    CHECK(parser.parse(good, "connect").type == EventType::connect);
    const Event e = parser.parse(good);
    CHECK(e.client_id == "GID_XXX@@@dev1");
    CHECK(e.channel_id == "2b9b1281046046faafe5e0b458e4a1b2");
    CHECK(e.type == EventType::connect);
    CHECK(e.time_ms == 1570795200000);
    CHECK(e.client_ip == "192.0.2.7:13222");

    struct Case {
        std::string json;
        std::string tag; // "" for the calls without a tag
    };
    for (const Case& c : std::vector<Case>{{good, "tcpclean"},
                                           {good, "*"},
                                           {good, ""},
                                           {good, "Connect"},
                                           {R"({"clientId":"a","channelId":"c","eventType":"tcpclean","time":1})", "connect"},
                                           {"{", "connect"},
                                           {"{", ""},
                                           {R"({"clientId":"a","channelId":"c","eventType":"online","time":1})", "connect"},
                                           {"", ""}}) {
        CAPTURE(c.json, c.tag);
        const bool with_tag = !c.tag.empty() || c.json == good;
        const ParseResult reference = with_tag ? try_parse_alibaba_event(c.json, c.tag) : try_parse_alibaba_event(c.json);
        const ParseResult fast = with_tag ? parser.try_parse(c.json, c.tag) : parser.try_parse(c.json);
        REQUIRE_FALSE(reference);
        CHECK_FALSE(fast);
        CHECK(fast.error == reference.error);
        CHECK_FALSE(fast.error.empty());
        if (with_tag) {
            CHECK_THROWS_AS(parser.parse(c.json, c.tag), ParseError);
            CHECK_THROWS_WITH(parser.parse(c.json, c.tag), "mqtt_presence: " + reference.error);
        } else {
            CHECK_THROWS_AS(parser.parse(c.json), ParseError);
            CHECK_THROWS_WITH(parser.parse(c.json), "mqtt_presence: " + reference.error);
        }
    }
    CHECK(parser.try_parse(good, "connect"));
    CHECK(parser.try_parse(good, "connect").error.empty());
    CHECK_THROWS_WITH(parser.parse(good, "tcpclean"), R"(mqtt_presence: RocketMQ tag "tcpclean" does not match "eventType" "connect")");
}

TEST_CASE("one simdjson parser serves any sequence of messages, short and long, good and bad", "[json][simdjson]") {
    AlibabaSimdjsonParser parser;
    Event e;
    std::string error;
    const std::string huge = R"({"blob":")" + std::string(std::size_t{1} << 20, 'x') + "\"," + ok_line.substr(1);
    for (int round = 0; round < 2; ++round) {
        REQUIRE(parser.parse(good, e, error));
        CHECK(e.client_ip == "192.0.2.7:13222");
        REQUIRE(parser.parse(R"({"clientId":"b","channelId":"d","eventType":"tcpclean","time":2})", e, error));
        CHECK(e.client_id == "b");
        CHECK(e.channel_id == "d");
        CHECK(e.type == EventType::tcpclean);
        CHECK(e.time_ms == 2);
        CHECK(e.client_ip.empty()); // every field is overwritten
        REQUIRE(parser.parse(huge, e, error));
        CHECK(e.client_id == "GID_a@@@d");
        CHECK_FALSE(parser.parse(huge.substr(0, huge.size() - 1), e, error));
        CHECK(error == "malformed JSON: unexpected end of input after byte " + std::to_string(huge.size() - 1));
        CHECK_FALSE(parser.parse("{", e, error));
        CHECK(error == "malformed JSON: unexpected end of input after byte 1");
        // a short message after a long one: nothing of the long one may be read as its tail
        REQUIRE(parser.parse(ok_line, e, error));
        CHECK_FALSE(parser.parse(ok_line.substr(0, 20), e, error));
        CHECK(error == "malformed JSON: unexpected end of input after byte 20");
    }
    // Moved, it still works; so does the moved-from one, once given a new value.
    AlibabaSimdjsonParser moved = std::move(parser);
    CHECK(moved.parse(good, e, error));
    parser = AlibabaSimdjsonParser();
    CHECK(parser.parse(huge, e, error));
}

TEST_CASE("an event reused across lines ends as a fresh one after each, with every reader", "[json][simdjson]") {
    // A value is copied over the one before when it is no longer (and the rest cut off), so the
    // lines mix longer, shorter and equal values, an address present, absent, null and empty,
    // and refused lines (which leave the event unspecified) in between.
    const std::vector<std::string> lines = {
            good,
            R"({"clientId":"b","channelId":"d","eventType":"tcpclean","time":2})",
            R"({"clientId":"GID_XXX@@@dev1-longer","channelId":"2b9b1281046046faafe5e0b458e4a1b2ff","eventType":"disconnect","time":3,"clientIp":"192.0.2.7:1"})",
            R"({"clientId":"GID_XXX@@@dev2","channelId":"2b9b1281046046faafe5e0b458e4a1b3","eventType":"connect","time":4,"clientIp":"192.0.2.77:13222"})",
            R"({"clientId":"GID_XXX@@@dev3","channelId":"2b9b1281046046faafe5e0b458e4a1b4","eventType":"connect","time":5,"clientIp":null})",
            R"({"clientId":"GID_XXX@@@dev4","channelId":"2b9b1281046046faafe5e0b458e4a1b5","eventType":"connect","time":6,"clientIp":""})",
            R"({"clientId":"GID_XXX@@@dev4","channelId":"2b9b1281046046faafe5e0b458e4a1b5","eventType":"connect","time":6,"clientIp":"10.0.0.1:2"})",
            R"({ "clientIp" : "10.0.0.1:3" , "clientId":"\u0047ID_esc@@@d","channelId":"e\"","eventType":"tcpclean","time":"7"})",
            R"({"clientId":"","channelId":"c","eventType":"connect","time":1,"clientIp":"10.0.0.1:4"})",
            R"({"clientId":"GID_XXX@@@dev5","channelId":"c","eventType":"connect","time":1,"clientIp":"10.0.0.1:5"})",
            R"({"clientId":"GID_XXX@@@dev6","channelId":"c","eventType":"connect"})",
            ok_line,
            "{",
    };
    testing::Random rng(3);
    for (const auto reader : {AlibabaSimdjsonParser::Reader::flat_first, AlibabaSimdjsonParser::Reader::on_demand}) {
        AlibabaSimdjsonParser parser(reader);
        Event simdjson_event;
        Event nlohmann_event;
        std::string error;
        for (int step = 0; step < 2000; ++step) {
            const std::string& line = lines[rng.index(lines.size())];
            INFO(printable(line));
            const Parsed fresh = by_nlohmann(line);
            const bool by_simdjson_ok = parser.parse(line, simdjson_event, error);
            const bool by_nlohmann_ok = parse_alibaba_event(line, nlohmann_event, error);
            REQUIRE(by_simdjson_ok == fresh.ok);
            REQUIRE(by_nlohmann_ok == fresh.ok);
            if (!fresh.ok) continue;
            Parsed reused{true, simdjson_event, ""};
            REQUIRE(same(reused, fresh));
            reused.event = nlohmann_event;
            REQUIRE(same(reused, fresh));
        }
    }
}

TEST_CASE("a warm simdjson parser allocates nothing per message", "[json][simdjson]") {
    const std::vector<std::string> lines = generated_lines(7, 100);
    REQUIRE(lines.size() > 500);
    AlibabaSimdjsonParser parser;
    Event e;
    std::string error;
    std::size_t accepted = 0;
    for (const std::string& line : lines) accepted += parser.parse(line, e, error) ? 1U : 0U; // warm-up
    const std::size_t before = allocations.load();
    for (int round = 0; round < 3; ++round)
        for (const std::string& line : lines) accepted += parser.parse(line, e, error) ? 1U : 0U;
    const std::size_t made = allocations.load() - before;
    CHECK(accepted == 4 * lines.size());
    CHECK(made == 0);
}
