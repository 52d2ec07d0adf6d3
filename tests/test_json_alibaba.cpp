// The Alibaba adapter: every field's checks, the error messages, the tag cross-check,
// nlohmann to_json/from_json, and that bad input never reaches the store.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <mqtt_presence/json.hpp>

using namespace mqtt_presence;

namespace {
const std::string good =
    R"({"clientId":"GID_XXX@@@dev1","time":1570795200000,"eventType":"connect","channelId":"2b9b1281046046faafe5e0b458e4a1b2","clientIp":"192.0.2.7:13222"})";

std::string error_of(std::string_view json) {
    const ParseResult r = try_parse_alibaba_event(json);
    return r ? std::string("<ok>") : r.error;
}
} // namespace

TEST_CASE("a well-formed Alibaba event parses into every field", "[json][alibaba]") {
    const Event e = parse_alibaba_event(good);
    CHECK(e.client_id == "GID_XXX@@@dev1");
    CHECK(e.channel_id == "2b9b1281046046faafe5e0b458e4a1b2");
    CHECK(e.type == EventType::connect);
    CHECK(e.time_ms == 1570795200000);
    CHECK(e.client_ip == "192.0.2.7:13222");
}

TEST_CASE("key order is free, unknown fields are ignored, clientIp is optional", "[json][alibaba]") {
    const Event e = parse_alibaba_event(
        R"( {"channelId":"c1","extra":{"nested":[1,2,{"deep":null}],"x":true},"time":5,"eventType":"tcpclean","clientId":"GID_a@@@d","version":1.5} )");
    CHECK(e.channel_id == "c1");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 5);
    CHECK(e.client_ip.empty());
    CHECK(parse_alibaba_event(R"({"clientId":"a","channelId":"c","eventType":"disconnect","time":1,"clientIp":null})").client_ip.empty());
}

TEST_CASE("time may be quoted digits", "[json][alibaba]") {
    CHECK(parse_alibaba_event(R"({"clientId":"a","channelId":"c","eventType":"connect","time":"1570795200000"})").time_ms ==
          1570795200000);
}

TEST_CASE("bad input gets an error naming the field and the problem", "[json][alibaba]") {
    struct Case {
        const char* json;
        const char* error;
    };
    const std::vector<Case> cases = {
        {R"({"channelId":"c","eventType":"connect","time":1})", R"(missing field "clientId")"},
        {R"({"clientId":"a","eventType":"connect","time":1})", R"(missing field "channelId")"},
        {R"({"clientId":"a","channelId":"c","time":1})", R"(missing field "eventType")"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect"})", R"(missing field "time")"},
        {R"({"clientId":1,"channelId":"c","eventType":"connect","time":1})", R"("clientId" must be a string, got number)"},
        {R"({"clientId":"a","channelId":null,"eventType":"connect","time":1})", R"("channelId" must be a string, got null)"},
        {R"({"clientId":"a","channelId":"c","eventType":["connect"],"time":1})", R"("eventType" must be a string, got array)"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":true})", R"("time" must be an integer, got boolean)"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":1.5})",
         R"("time" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":"12x"})", R"("time" must be an integer, got string "12x")"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":-1})", R"("time" is negative)"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":-99999999999999999999999})", R"("time" is negative)"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":253402300800000})", R"("time" is after the year 9999)"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":18446744073709551616})", R"("time" is after the year 9999)"},
        {R"({"clientId":"","channelId":"c","eventType":"connect","time":1})", R"("clientId" is empty)"},
        {R"({"clientId":"a","channelId":"","eventType":"connect","time":1})", R"("channelId" is empty)"},
        {R"({"clientId":"a\u0000b","channelId":"c","eventType":"connect","time":1})", R"("clientId" contains a control character)"},
        {R"({"clientId":"a","channelId":"c","eventType":"online","time":1})",
         R"(unknown "eventType" "online" (expected connect, disconnect or tcpclean))"},
        {R"({"clientId":"a","channelId":"c","eventType":"Connect","time":1})",
         R"(unknown "eventType" "Connect" (expected connect, disconnect or tcpclean))"},
        {R"({"clientId":"a","clientId":"b","channelId":"c","eventType":"connect","time":1})", R"(duplicate field "clientId")"},
        {R"([{"clientId":"a"}])", "message must be a JSON object, got array"},
        {R"("text")", "message must be a JSON object, got string"},
        {"42", "message must be a JSON object, got number"},
        {"{}", R"(missing field "clientId")"},
        {"", "empty message"},
        {" \r\n", "empty message"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json);
        CHECK(error_of(c.json) == c.error);
        CHECK_THROWS_WITH(parse_alibaba_event(c.json), std::string("mqtt_presence: ") + c.error);
        CHECK_THROWS_AS(parse_alibaba_event(c.json), ParseError);
    }
}

TEST_CASE("malformed JSON is reported as such, printable", "[json][alibaba]") {
    for (const std::string& json : {std::string(R"({"clientId":"a","channelId":"c","eventType":"connect","time":1)"),
                                   std::string(R"({"clientId":"a","channelId":"c","eventType":"connect","time":1} trailing)"),
                                   std::string("{\"clientId\":\"a\xff\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}"),
                                   std::string(R"({clientId:"a"})")}) {
        CAPTURE(json);
        const std::string error = error_of(json);
        CHECK(error.rfind("malformed JSON: ", 0) == 0);
        for (const char c : error) CHECK((static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f));
    }
}

TEST_CASE("malformed JSON is named by its first problem and where it is, before any field problem", "[json][alibaba]") {
    const std::string ok = R"({"clientId":"a","channelId":"c","eventType":"connect","time":1})"; // 63 bytes
    struct Case {
        std::string json;
        const char* error;
    };
    const std::vector<Case> cases = {
        {ok.substr(0, 62), "malformed JSON: unexpected end of input after byte 62"},
        {ok + " trailing", "malformed JSON: trailing characters at byte 65"},
        {ok + "}", "malformed JSON: trailing characters at byte 64"},
        // nlohmann stops at a NUL byte as at the end of the input; it is a stray byte here
        {ok + std::string("\0x", 2), "malformed JSON: trailing characters at byte 64"},
        // the field problem comes first in the message, the syntax error still wins
        {R"({"clientId":1,"channelId":"c")", "malformed JSON: unexpected end of input after byte 29"},
        {R"({"clientId":1} x)", "malformed JSON: trailing characters at byte 16"},
        {R"([1,2)", "malformed JSON: unexpected end of input after byte 4"},
        {"{\"x\":" + std::string(70, '[') + "}", "malformed JSON: unexpected character '}' at byte 76"},
        {"{\"clientId\":\"a\xff\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
         "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {"{\"clientId\":\"a\tb\",\"channelId\":\"c\",\"eventType\":\"connect\",\"time\":1}",
         "malformed JSON: unescaped control character in a string at byte 15"},
        {R"({"clientId":"a","channelId":"c\q","eventType":"connect","time":1})", "malformed JSON: invalid escape in a string at byte 31"},
        {R"({"clientId":"\ud800","channelId":"c","eventType":"connect","time":1})",
         "malformed JSON: unpaired UTF-16 surrogate in a string at byte 14"},
        {R"({clientId:"a"})", "malformed JSON: unexpected character 'c' at byte 2"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":1,})", "malformed JSON: unexpected character '}' at byte 64"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":01})", "malformed JSON: invalid number at byte 62"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":1e999})", "malformed JSON: number out of range at byte 62"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":tru})", "malformed JSON: invalid literal at byte 62"},
        // a UTF-8 byte order mark is skipped, once
        {"\xEF\xBB\xBF" + ok, "<ok>"},
        {"\xEF\xBB\xBF", "empty message"},
        {"\xEF\xBB\xBF \r\n", "empty message"},
        {"\xEF\xBB" + ok, "malformed JSON: invalid byte order mark at byte 1"},
        {"\xEF\xBB\xBF\xEF\xBB\xBF" + ok, "malformed JSON: unexpected byte 0xEF at byte 4"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json);
        CHECK(error_of(c.json) == c.error);
    }
}

TEST_CASE("the error for a huge malformed message stays short", "[json][alibaba]") {
    const std::string error = error_of(R"({"clientId":")" + std::string(100000, 'x'));
    CHECK(error.rfind("malformed JSON: ", 0) == 0);
    CHECK(error.size() < 300);
}

TEST_CASE("nesting deeper than the limit is refused", "[json][alibaba]") {
    const std::string deep = "{\"x\":" + std::string(70, '[') + std::string(70, ']') + R"(,"clientId":"a","channelId":"c","eventType":"connect","time":1})";
    CHECK(error_of(deep) == "JSON nested deeper than 64 levels");
    const std::string fine = "{\"x\":" + std::string(60, '[') + std::string(60, ']') + R"(,"clientId":"a","channelId":"c","eventType":"connect","time":1})";
    CHECK(error_of(fine) == "<ok>");
}

TEST_CASE("huge strings are refused by length", "[json][alibaba]") {
    const std::string big(70000, 'x');
    CHECK(error_of(R"({"clientId":")" + big + R"(","channelId":"c","eventType":"connect","time":1})") ==
          R"("clientId" is longer than 65535 bytes)");
    CHECK(error_of(R"({"clientId":"a","channelId":"c","eventType":"connect","time":1,"clientIp":")" + std::string(300, '1') + "\"}") ==
          R"("clientIp" is longer than 255 bytes)");
    // a huge unknown field is fine
    CHECK(error_of(R"({"clientId":"a","channelId":"c","eventType":"connect","time":1,"blob":")" + big + "\"}") == "<ok>");
}

TEST_CASE("the RocketMQ tag must match the body's eventType", "[json][alibaba]") {
    CHECK(parse_alibaba_event(good, "connect").type == EventType::connect);
    CHECK_THROWS_WITH(parse_alibaba_event(good, "tcpclean"),
                      R"(mqtt_presence: RocketMQ tag "tcpclean" does not match "eventType" "connect")");
    CHECK_THROWS_WITH(parse_alibaba_event(good, "*"),
                      R"(mqtt_presence: RocketMQ tag "*" is not an event type (expected connect, disconnect or tcpclean))");
    const ParseResult r = try_parse_alibaba_event(good, "disconnect");
    CHECK_FALSE(r);
    CHECK_FALSE(r.error.empty());
}

TEST_CASE("the buffer-reusing parse overwrites every field", "[json][alibaba]") {
    Event e;
    std::string error;
    REQUIRE(parse_alibaba_event(good, e, error));
    REQUIRE(parse_alibaba_event(R"({"clientId":"b","channelId":"d","eventType":"tcpclean","time":2})", e, error));
    CHECK(e.client_id == "b");
    CHECK(e.channel_id == "d");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 2);
    CHECK(e.client_ip.empty());
    CHECK_FALSE(parse_alibaba_event("{", e, error));
    CHECK(error.rfind("malformed JSON", 0) == 0);
}

TEST_CASE("nlohmann to_json / from_json round-trip with the same checks", "[json][alibaba]") {
    const Event e = parse_alibaba_event(good);
    const nlohmann::json j = e;
    CHECK(j.at("clientId") == "GID_XXX@@@dev1");
    CHECK(j.at("eventType") == "connect");
    CHECK(j.at("time") == 1570795200000);
    const Event back = j.get<Event>();
    CHECK(back.client_id == e.client_id);
    CHECK(back.channel_id == e.channel_id);
    CHECK(back.type == e.type);
    CHECK(back.time_ms == e.time_ms);
    CHECK(back.client_ip == e.client_ip);
    CHECK(parse_alibaba_event(j.dump()).channel_id == e.channel_id);

    nlohmann::json bad = j;
    bad["eventType"] = "offline";
    CHECK_THROWS_WITH(bad.get<Event>(), R"(mqtt_presence: unknown "eventType" "offline" (expected connect, disconnect or tcpclean))");
    bad = j;
    bad.erase("time");
    CHECK_THROWS_WITH(bad.get<Event>(), R"(mqtt_presence: missing field "time")");
    bad = j;
    bad["time"] = 1.25;
    CHECK_THROWS_AS(bad.get<Event>(), ParseError);
    CHECK_THROWS_WITH(nlohmann::json::array().get<Event>(), "mqtt_presence: message must be a JSON object, got array");

    const nlohmann::json t = EventType::tcpclean;
    CHECK(t == "tcpclean");
    CHECK(t.get<EventType>() == EventType::tcpclean);
    CHECK_THROWS_AS(nlohmann::json("nope").get<EventType>(), ParseError);
}

TEST_CASE("a rejected message leaves the store exactly as it was", "[json][alibaba]") {
    ClientStatusStore<> store;
    (void)store.ingest(parse_alibaba_event(good));
    const auto before = store.status("GID_XXX@@@dev1");
    for (const char* bad : {R"({"clientId":"GID_XXX@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"offline","time":1570795300000})",
                            R"({"clientId":"GID_XXX@@@dev1","channelId":"2b9b1281046046faafe5e0b458e4a1b2","eventType":"tcpclean","time":"soon"})"}) {
        const ParseResult r = try_parse_alibaba_event(bad);
        REQUIRE_FALSE(r);
    }
    CHECK(store.is_online("GID_XXX@@@dev1")); // an unknown event type never means offline
    const auto after = store.status("GID_XXX@@@dev1");
    CHECK(after->last_event_ms == before->last_event_ms);
    CHECK(store.counters().events == 1);
}
