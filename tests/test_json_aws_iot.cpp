// The AWS IoT Core adapter: the documented payloads, every field's checks and error messages,
// and sequences of AWS lifecycle messages through the store: reordering, duplicates, takeover,
// and the version number that AWS resets to 0 after about an hour offline (a reused key).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <mqtt_presence/json.hpp>

#include "support/events.hpp"

using namespace mqtt_presence;
using test_support::hour;
using test_support::minute;
using test_support::second;

namespace {

// The examples of the AWS IoT Core developer guide ("Lifecycle events"), as published.
const std::string documented_connected = R"({
    "clientId": "186b5",
    "timestamp": 1573002230757,
    "eventType": "connected",
    "sessionIdentifier": "a4666d2a7d844ae4ac5d7b38c9cb7967",
    "principalIdentifier": "12345678901234567890123456789012",
    "ipAddress": "192.0.2.0",
    "versionNumber": 0
})";
const std::string documented_disconnected = R"({
    "clientId": "186b5",
    "timestamp": 1573002340451,
    "eventType": "disconnected",
    "sessionIdentifier": "a4666d2a7d844ae4ac5d7b38c9cb7967",
    "principalIdentifier": "12345678901234567890123456789012",
    "clientInitiatedDisconnect": true,
    "disconnectReason": "CLIENT_INITIATED_DISCONNECT",
    "versionNumber": 0
})";

std::string error_of(std::string_view json) {
    const ParseResult r = try_parse_aws_iot_event(json);
    return r ? std::string("<ok>") : r.error;
}

// One AWS lifecycle message on one line, as a subscriber to $aws/events/presence/# receives it.
std::string connected(std::int64_t time, std::uint64_t version, const std::string& client = "test-id") {
    return R"({"clientId":")" + client + R"(","timestamp":)" + std::to_string(time) +
           R"(,"eventType":"connected","sessionIdentifier":"s)" + std::to_string(version) +
           R"(","principalIdentifier":"p","ipAddress":"192.0.2.7","versionNumber":)" + std::to_string(version) + "}";
}
std::string disconnected(std::int64_t time, std::uint64_t version, const std::string& client = "test-id",
                         const std::string& reason = "CONNECTION_LOST") {
    return R"({"clientId":")" + client + R"(","timestamp":)" + std::to_string(time) +
           R"(,"eventType":"disconnected","sessionIdentifier":"s)" + std::to_string(version) +
           R"(","principalIdentifier":"p","clientInitiatedDisconnect":)" +
           (reason == "CLIENT_INITIATED_DISCONNECT" ? "true" : "false") + R"(,"disconnectReason":")" + reason +
           R"(","versionNumber":)" + std::to_string(version) + "}";
}

// The store options for AWS IoT Core (rule 13 on), as the adapter's header gives them.
Options aws_options() {
    const Options options = aws_iot_options();
    REQUIRE(options.key_reuse_gap_ms == 10 * minute);
    return options;
}

// What a sequence did to a store: the final state and the edges it reported.
struct Run {
    bool online = false;
    std::uint64_t went_online = 0;
    std::uint64_t went_offline = 0;
    bool edges_consistent = true; // every edge flipped the state it claims, and only edges did
    std::vector<Outcome> outcomes;
};

// Parses each line with the AWS adapter and ingests it into `store`.
Run feed(ClientStatusStore<>& store, const std::vector<std::string>& lines, const std::string& client = "test-id") {
    Run run;
    run.online = store.is_online(client);
    for (const std::string& line : lines) {
        const Outcome out = store.ingest(parse_aws_iot_event(line));
        run.outcomes.push_back(out);
        const bool now = store.is_online(client);
        if (out.went_online()) {
            ++run.went_online;
            run.edges_consistent = run.edges_consistent && !run.online && now;
        } else if (out.went_offline()) {
            ++run.went_offline;
            run.edges_consistent = run.edges_consistent && run.online && !now;
        } else {
            run.edges_consistent = run.edges_consistent && now == run.online;
        }
        run.online = now;
    }
    return run;
}

Run play(const std::vector<std::string>& lines) {
    ClientStatusStore<> store(aws_options());
    return feed(store, lines);
}

// Plays every distinct order of `lines` (a multiset: copies count once per order) and checks
// that each ends in `online` with edges that match the states. Returns how many orders ran.
std::size_t every_order_ends(std::vector<std::string> lines, bool online) {
    std::sort(lines.begin(), lines.end());
    std::size_t orders = 0;
    do {
        ++orders;
        const Run run = play(lines);
        if (run.online != online || !run.edges_consistent || run.went_online - run.went_offline != (online ? 1U : 0U)) {
            std::string order;
            for (const std::string& line : lines) order += "\n  " + line;
            CAPTURE(order);
            CHECK(run.online == online);
            CHECK(run.edges_consistent);
            CHECK(run.went_online - run.went_offline == (online ? 1U : 0U));
        }
    } while (std::next_permutation(lines.begin(), lines.end()));
    return orders;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Parsing

TEST_CASE("AWS documented connected example parses into an Event", "[json][aws]") {
    const Event e = parse_aws_iot_event(documented_connected);
    CHECK(e.client_id == "186b5");
    CHECK(e.channel_id == "0");
    CHECK(e.type == EventType::connect);
    CHECK(e.time_ms == 1573002230757);
    CHECK(e.client_ip == "192.0.2.0");
    CHECK(validate(e).empty());
}

TEST_CASE("AWS documented disconnected example parses into an Event", "[json][aws]") {
    const Event e = parse_aws_iot_event(documented_disconnected);
    CHECK(e.client_id == "186b5");
    CHECK(e.channel_id == "0");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 1573002340451);
    CHECK(e.client_ip.empty());
    CHECK(validate(e).empty());
}

TEST_CASE("AWS documented examples take a client online and offline", "[json][aws]") {
    ClientStatusStore<> store(aws_options());
    CHECK(store.ingest(parse_aws_iot_event(documented_connected)).went_online());
    CHECK(store.is_online("186b5"));
    CHECK(store.status("186b5")->client_address == "192.0.2.0");
    const Outcome off = store.ingest(parse_aws_iot_event(documented_disconnected));
    CHECK(off.went_offline());
    CHECK(off.transition_ms == 1573002340451);
    CHECK_FALSE(store.is_online("186b5"));
}

TEST_CASE("AWS versionNumber becomes the channel id in decimal", "[json][aws]") {
    const auto channel = [](const std::string& version) {
        return parse_aws_iot_event(R"({"clientId":"c","timestamp":1,"eventType":"connected","versionNumber":)" + version + "}")
            .channel_id;
    };
    CHECK(channel("0") == "0");
    CHECK(channel("17") == "17");
    CHECK(channel("-0") == "0");
    CHECK(channel("1573002230757") == "1573002230757");
    CHECK(channel("9223372036854775807") == "9223372036854775807");
}

TEST_CASE("AWS key order is free and unknown or unmapped fields are ignored", "[json][aws]") {
    const Event e = parse_aws_iot_event(
        R"( {"versionNumber":3,"extra":{"nested":[1,2,{"deep":null}],"x":true},"eventType":"disconnected","timestamp":5,)"
        R"("clientId":"dev-1","thingName":"thing-1","clientInitiatedDisconnect":false,"disconnectReason":"DUPLICATE_CLIENTID",)"
        R"("future":1.5} )");
    CHECK(e.client_id == "dev-1");
    CHECK(e.channel_id == "3");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 5);
    CHECK(e.client_ip.empty());
    // optional fields may be null (absent); ipAddress is read from either event type
    const Event n = parse_aws_iot_event(
        R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":1,"ipAddress":null,"sessionIdentifier":null,)"
        R"("principalIdentifier":null,"clientInitiatedDisconnect":null,"disconnectReason":null,"thingName":null})");
    CHECK(n.client_ip.empty());
    CHECK(parse_aws_iot_event(R"({"clientId":"a","timestamp":1,"eventType":"disconnected","versionNumber":1,"ipAddress":"2001:db8::1"})")
              .client_ip == "2001:db8::1");
    // only the required fields
    const Event m = parse_aws_iot_event(R"({"clientId":"a","timestamp":0,"eventType":"connected","versionNumber":0})");
    CHECK(m.time_ms == 0);
    CHECK(m.channel_id == "0");
}

TEST_CASE("AWS bad input gets an error naming the field and the problem", "[json][aws]") {
    struct Case {
        const char* json;
        const char* error;
    };
    const std::vector<Case> cases = {
        // missing required fields, in the order clientId, timestamp, eventType, versionNumber
        {R"({"timestamp":1,"eventType":"connected","versionNumber":0})", R"("clientId" is missing)"},
        {R"({"clientId":"a","eventType":"connected","versionNumber":0})", R"("timestamp" is missing)"},
        {R"({"clientId":"a","timestamp":1,"versionNumber":0})", R"("eventType" is missing)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected"})", R"("versionNumber" is missing)"},
        {"{}", R"("clientId" is missing)"},
        {R"({"eventType":"connected"})", R"("clientId" is missing)"},
        // clientId
        {R"({"clientId":1,"timestamp":1,"eventType":"connected","versionNumber":0})", R"("clientId" must be a string, got number)"},
        {R"({"clientId":null,"timestamp":1,"eventType":"connected","versionNumber":0})", R"("clientId" must be a string, got null)"},
        {R"({"clientId":["a"],"timestamp":1,"eventType":"connected","versionNumber":0})", R"("clientId" must be a string, got array)"},
        {R"({"clientId":"","timestamp":1,"eventType":"connected","versionNumber":0})", R"("clientId" is empty)"},
        {R"({"clientId":"a\u0001b","timestamp":1,"eventType":"connected","versionNumber":0})",
         R"("clientId" contains a control character)"},
        // eventType
        {R"({"clientId":"a","timestamp":1,"eventType":"x","versionNumber":0})",
         R"("eventType" must be "connected" or "disconnected", got "x")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connect","versionNumber":0})",
         R"("eventType" must be "connected" or "disconnected", got "connect")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"Connected","versionNumber":0})",
         R"("eventType" must be "connected" or "disconnected", got "Connected")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"","versionNumber":0})",
         R"("eventType" must be "connected" or "disconnected", got "")"},
        {R"({"clientId":"a","timestamp":1,"eventType":1,"versionNumber":0})",
         R"("eventType" must be "connected" or "disconnected", got number)"},
        {R"({"clientId":"a","timestamp":1,"eventType":null,"versionNumber":0})",
         R"("eventType" must be "connected" or "disconnected", got null)"},
        {R"({"clientId":"a","timestamp":1,"eventType":{"v":"connected"},"versionNumber":0})",
         R"("eventType" must be "connected" or "disconnected", got object)"},
        // timestamp
        {R"({"clientId":"a","timestamp":-1,"eventType":"connected","versionNumber":0})", R"("timestamp" is negative)"},
        {R"({"clientId":"a","timestamp":-99999999999999999999999,"eventType":"connected","versionNumber":0})",
         R"("timestamp" is negative)"},
        {R"({"clientId":"a","timestamp":253402300800000,"eventType":"connected","versionNumber":0})",
         R"("timestamp" is after the year 9999)"},
        {R"({"clientId":"a","timestamp":18446744073709551615,"eventType":"connected","versionNumber":0})",
         R"("timestamp" is after the year 9999)"},
        {R"({"clientId":"a","timestamp":18446744073709551616,"eventType":"connected","versionNumber":0})",
         R"("timestamp" is after the year 9999)"},
        {R"({"clientId":"a","timestamp":1.5,"eventType":"connected","versionNumber":0})",
         R"("timestamp" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientId":"a","timestamp":1573002230757.0,"eventType":"connected","versionNumber":0})",
         R"("timestamp" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientId":"a","timestamp":1e3,"eventType":"connected","versionNumber":0})",
         R"("timestamp" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientId":"a","timestamp":"1573002230757","eventType":"connected","versionNumber":0})",
         R"("timestamp" must be an integer, got string "1573002230757")"},
        {R"({"clientId":"a","timestamp":true,"eventType":"connected","versionNumber":0})",
         R"("timestamp" must be an integer, got boolean)"},
        {R"({"clientId":"a","timestamp":null,"eventType":"connected","versionNumber":0})", R"("timestamp" must be an integer, got null)"},
        {R"({"clientId":"a","timestamp":[1],"eventType":"connected","versionNumber":0})", R"("timestamp" must be an integer, got array)"},
        // versionNumber
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":-1})", R"("versionNumber" is negative)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":-99999999999999999999})",
         R"("versionNumber" is negative)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":9223372036854775808})",
         R"("versionNumber" is larger than 9223372036854775807)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":18446744073709551616})",
         R"("versionNumber" is larger than 9223372036854775807)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":1.0})",
         R"("versionNumber" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":2E1})",
         R"("versionNumber" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":"0"})",
         R"("versionNumber" must be an integer, got string "0")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":null})",
         R"("versionNumber" must be an integer, got null)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":false})",
         R"("versionNumber" must be an integer, got boolean)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":{"v":0}})",
         R"("versionNumber" must be an integer, got object)"},
        // optional fields: type-checked when present
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"ipAddress":7})",
         R"("ipAddress" must be a string, got number)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"sessionIdentifier":{}})",
         R"("sessionIdentifier" must be a string, got object)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"principalIdentifier":false})",
         R"("principalIdentifier" must be a string, got boolean)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"disconnected","versionNumber":0,"clientInitiatedDisconnect":"true"})",
         R"("clientInitiatedDisconnect" must be a boolean, got string "true")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"disconnected","versionNumber":0,"clientInitiatedDisconnect":1})",
         R"("clientInitiatedDisconnect" must be a boolean, got number)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"disconnected","versionNumber":0,"disconnectReason":["CONNECTION_LOST"]})",
         R"("disconnectReason" must be a string, got array)"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"thingName":-3})",
         R"("thingName" must be a string, got number)"},
        // the first problem in the order of the message wins over a missing field
        {R"({"versionNumber":-5,"clientId":""})", R"("versionNumber" is negative)"},
        {R"({"clientId":"","timestamp":-1})", R"("clientId" is empty)"},
        // the top level
        {R"([{"clientId":"a"}])", "message must be a JSON object, got array"},
        {R"("text")", "message must be a JSON object, got string"},
        {"42", "message must be a JSON object, got number"},
        {"null", "message must be a JSON object, got null"},
        {"true", "message must be a JSON object, got boolean"},
        {"", "empty message"},
        {" \r\n\t", "empty message"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json);
        CHECK(error_of(c.json) == c.error);
        CHECK_THROWS_WITH(parse_aws_iot_event(c.json), std::string("mqtt_presence: ") + c.error);
        CHECK_THROWS_AS(parse_aws_iot_event(c.json), ParseError);
    }
}

TEST_CASE("AWS a field given twice is refused", "[json][aws]") {
    // Refused rather than last-wins: a second copy could change the connection's key.
    struct Case {
        const char* json;
        const char* error;
    };
    const std::vector<Case> cases = {
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"versionNumber":1})",
         R"(duplicate field "versionNumber")"},
        {R"({"clientId":"a","clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0})", R"(duplicate field "clientId")"},
        {R"({"clientId":"a","timestamp":1,"timestamp":1,"eventType":"connected","versionNumber":0})", R"(duplicate field "timestamp")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","eventType":"disconnected","versionNumber":0})",
         R"(duplicate field "eventType")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"ipAddress":null,"ipAddress":"192.0.2.1"})",
         R"(duplicate field "ipAddress")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"thingName":"t","thingName":"t"})",
         R"(duplicate field "thingName")"},
        // a repeated unknown field is not checked; the same name nested is another field
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"x":1,"x":2})", "<ok>"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"x":{"versionNumber":9,"clientId":3}})", "<ok>"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json);
        CHECK(error_of(c.json) == c.error);
    }
    CHECK(parse_aws_iot_event(R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"x":{"versionNumber":9}})")
              .channel_id == "0");
}

TEST_CASE("AWS malformed JSON is named by its first problem and its byte offset", "[json][aws]") {
    const std::string ok = R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0})"; // 72 bytes
    REQUIRE(ok.size() == 72);
    struct Case {
        std::string json;
        const char* error;
    };
    const std::vector<Case> cases = {
        {ok.substr(0, 71), "malformed JSON: unexpected end of input after byte 71"},
        {ok + " trailing", "malformed JSON: trailing characters at byte 74"},
        {ok + "}", "malformed JSON: trailing characters at byte 73"},
        {ok + ok, "malformed JSON: trailing characters at byte 73"},
        // nlohmann stops at a NUL byte as at the end of the input; it is a stray byte here
        {ok + std::string("\0x", 2), "malformed JSON: trailing characters at byte 73"},
        // a field problem comes first in the message, the syntax error still wins
        {R"({"clientId":1,"timestamp":)", "malformed JSON: unexpected end of input after byte 26"},
        {R"({"versionNumber":-1} x)", "malformed JSON: trailing characters at byte 22"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,})",
         "malformed JSON: unexpected character '}' at byte 73"},
        {R"({"clientId":"a","timestamp":01,"eventType":"connected","versionNumber":0})", "malformed JSON: invalid number at byte 29"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":1e999})",
         "malformed JSON: number out of range at byte 71"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":NaN})",
         "malformed JSON: unexpected character 'N' at byte 71"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0x10})", "malformed JSON: invalid number at byte 71"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":+1})",
         "malformed JSON: unexpected character '+' at byte 71"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","clientInitiatedDisconnect":tru,"versionNumber":0})",
         "malformed JSON: invalid literal at byte 83"},
        {"{\"clientId\":\"a\xff\",\"timestamp\":1,\"eventType\":\"connected\",\"versionNumber\":0}",
         "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {"{\"clientId\":\"a\tb\",\"timestamp\":1,\"eventType\":\"connected\",\"versionNumber\":0}",
         "malformed JSON: unescaped control character in a string at byte 15"},
        {R"({clientId:"a"})", "malformed JSON: unexpected character 'c' at byte 2"},
        {R"({'clientId':'a'})", "malformed JSON: unexpected character ''' at byte 2"},
        {"{\"x\":" + std::string(70, '[') + "}", "malformed JSON: unexpected character '}' at byte 76"},
        {"{", "malformed JSON: unexpected end of input after byte 1"},
        // a UTF-8 byte order mark is skipped, once
        {"\xEF\xBB\xBF" + ok, "<ok>"},
        {"\xEF\xBB\xBF", "empty message"},
        {"\xEF\xBB" + ok, "malformed JSON: invalid byte order mark at byte 1"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json);
        const std::string error = error_of(c.json);
        CHECK(error == c.error);
        for (const char ch : error) CHECK((static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f));
    }
}

TEST_CASE("AWS nesting deeper than the limit is refused", "[json][aws]") {
    const std::string tail = R"(,"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0})";
    CHECK(error_of("{\"x\":" + std::string(70, '[') + std::string(70, ']') + tail) == "JSON nested deeper than 64 levels");
    CHECK(error_of("{\"x\":" + std::string(63, '[') + std::string(63, ']') + tail) == "<ok>");
    CHECK(error_of("{\"x\":" + std::string(64, '[') + std::string(64, ']') + tail) == "JSON nested deeper than 64 levels");
    // very deep input is refused without recursion
    CHECK(error_of("{\"x\":" + std::string(100000, '[') + std::string(100000, ']') + tail) == "JSON nested deeper than 64 levels");
    CHECK(error_of(std::string(100000, '[') + std::string(100000, ']')) == "message must be a JSON object, got array");
}

TEST_CASE("AWS huge strings are refused by length", "[json][aws]") {
    const std::string big(70000, 'x');
    CHECK(error_of(R"({"clientId":")" + big + R"(","timestamp":1,"eventType":"connected","versionNumber":0})") ==
          R"("clientId" is longer than 65535 bytes)");
    CHECK(error_of(R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"ipAddress":")" +
                   std::string(256, '1') + "\"}") == R"("ipAddress" is longer than 255 bytes)");
    CHECK(error_of(R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"ipAddress":")" +
                   std::string(255, '1') + "\"}") == "<ok>");
    // an unmapped or unknown field may be long
    CHECK(error_of(R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"sessionIdentifier":")" + big + "\"}") ==
          "<ok>");
    CHECK(error_of(R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":0,"blob":")" + big + "\"}") == "<ok>");
    // a quoted value in an error stays short
    const std::string error = error_of(R"({"clientId":"a","timestamp":1,"eventType":")" + big + R"(","versionNumber":0})");
    CHECK(error.size() < 150);
    CHECK(error.rfind(R"("eventType" must be "connected" or "disconnected", got "xxx)", 0) == 0);
}

TEST_CASE("AWS the buffer-reusing parse overwrites every field and clears the event on failure", "[json][aws]") {
    Event e;
    std::string error;
    REQUIRE(parse_aws_iot_event(documented_connected, e, error));
    CHECK(e.client_ip == "192.0.2.0");
    REQUIRE(parse_aws_iot_event(R"({"clientId":"b","timestamp":2,"eventType":"disconnected","versionNumber":12})", e, error));
    CHECK(e.client_id == "b");
    CHECK(e.channel_id == "12");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 2);
    CHECK(e.client_ip.empty());
    // a failure late in the message: nothing of it is left in the event
    for (const char* bad : {R"({"clientId":"c","timestamp":3,"eventType":"disconnected","versionNumber":-1})",
                            R"({"clientId":"c","timestamp":3,"ipAddress":"192.0.2.9","eventType":"connected"})",
                            R"({"clientId":"c","timestamp":3,"eventType":"disconnected","versionNumber":4)", ""}) {
        CAPTURE(bad);
        REQUIRE(parse_aws_iot_event(documented_connected, e, error));
        CHECK_FALSE(parse_aws_iot_event(bad, e, error));
        CHECK_FALSE(error.empty());
        CHECK(e.client_id.empty());
        CHECK(e.channel_id.empty());
        CHECK(e.client_ip.empty());
        CHECK(e.time_ms == 0);
        CHECK_FALSE(validate(e).empty());
    }
    // and the next good message parses into the same buffers
    REQUIRE(parse_aws_iot_event(documented_disconnected, e, error));
    CHECK(e.channel_id == "0");
    CHECK(e.type == EventType::tcpclean);
}

TEST_CASE("AWS a rejected message leaves the store exactly as it was", "[json][aws]") {
    ClientStatusStore<> store(aws_options());
    (void)store.ingest(parse_aws_iot_event(connected(test_support::t0, 4)));
    const auto before = store.status("test-id");
    for (const char* bad :
         {R"({"clientId":"test-id","timestamp":1764000060000,"eventType":"offline","versionNumber":4})",
          R"({"clientId":"test-id","timestamp":"soon","eventType":"disconnected","versionNumber":4})",
          R"({"clientId":"test-id","timestamp":1764000060000,"eventType":"disconnected","versionNumber":4.0})",
          R"({"clientId":"test-id","timestamp":1764000060000,"eventType":"disconnected","versionNumber":4,"versionNumber":5})"}) {
        CAPTURE(bad);
        const ParseResult r = try_parse_aws_iot_event(bad);
        REQUIRE_FALSE(r);
    }
    CHECK(store.is_online("test-id"));
    const auto after = store.status("test-id");
    CHECK(after->last_event_ms == before->last_event_ms);
    CHECK(store.counters().events == 1);
}

// ---------------------------------------------------------------------------------------------
// Sequences through the store

TEST_CASE("AWS connected and disconnected of one version in both orders end offline", "[json][aws][sequence]") {
    const std::int64_t t = test_support::t0;
    const Run in_order = play({connected(t, 1), disconnected(t + minute, 1)});
    CHECK_FALSE(in_order.online);
    CHECK(in_order.went_online == 1);
    CHECK(in_order.went_offline == 1);
    const Run inverted = play({disconnected(t + minute, 1), connected(t, 1)});
    CHECK_FALSE(inverted.online);
    CHECK(inverted.went_online == 0); // the connect arrives closed: no edge at all
    CHECK(inverted.went_offline == 0);
}

TEST_CASE("AWS all orders of messages across versions end in the true state", "[json][aws][sequence]") {
    const std::int64_t t = test_support::t0;
    // connected v1, disconnected v1, connected v2: online through v2
    CHECK(every_order_ends({connected(t, 1), disconnected(t + 10 * second, 1), connected(t + 20 * second, 2)}, true) == 6);
    // a client reconnecting every few minutes (the old connection's close late or early)
    CHECK(every_order_ends({connected(t, 1), disconnected(t + 2 * minute, 1), connected(t + 3 * minute, 2),
                            disconnected(t + 5 * minute, 2), connected(t + 6 * minute, 5)},
                           true) == 120);
    CHECK(every_order_ends({connected(t, 1), disconnected(t + 2 * minute, 1), connected(t + 3 * minute, 2),
                            disconnected(t + 5 * minute, 2), connected(t + 6 * minute, 5), disconnected(t + 8 * minute, 5)},
                           false) == 720);
    // versions that skip values, times within the takeover tolerance
    CHECK(every_order_ends({connected(t, 3), disconnected(t + 1, 3), connected(t + 2, 9), disconnected(t + 3, 9),
                            connected(t + 4, 40)},
                           true) == 120);
}

TEST_CASE("AWS duplicates change nothing and make no extra edge", "[json][aws][sequence]") {
    const std::int64_t t = test_support::t0;
    ClientStatusStore<> store(aws_options());
    const std::vector<std::string> lines = {connected(t, 1), connected(t, 1), disconnected(t + minute, 1),
                                            disconnected(t + minute, 1), connected(t, 1), connected(t + 2 * minute, 2),
                                            connected(t + 2 * minute, 2), disconnected(t + minute, 1)};
    const Run run = feed(store, lines);
    CHECK(run.online);
    CHECK(run.edges_consistent);
    CHECK(run.went_online == 2);
    CHECK(run.went_offline == 1);
    for (const std::size_t copy : {1U, 3U, 4U, 6U, 7U}) {
        CAPTURE(copy);
        CHECK(run.outcomes[copy].status == Status::duplicate);
        CHECK(run.outcomes[copy].transition == Transition::none);
    }
    // duplicates in every order
    CHECK(every_order_ends({connected(t, 1), connected(t, 1), disconnected(t + minute, 1), disconnected(t + minute, 1)}, false) == 6);
    CHECK(every_order_ends({connected(t, 1), disconnected(t + minute, 1), disconnected(t + minute, 1), connected(t + 2 * minute, 2),
                            connected(t + 2 * minute, 2)},
                           true) == 30);
}

TEST_CASE("AWS the same version number under two clients is two connections", "[json][aws][sequence]") {
    const std::int64_t t = test_support::t0;
    ClientStatusStore<> store(aws_options());
    (void)store.ingest(parse_aws_iot_event(connected(t, 0, "dev-a")));
    (void)store.ingest(parse_aws_iot_event(connected(t, 0, "dev-b")));
    (void)store.ingest(parse_aws_iot_event(disconnected(t + minute, 0, "dev-a")));
    CHECK_FALSE(store.is_online("dev-a"));
    CHECK(store.is_online("dev-b"));
    CHECK(store.online_count() == 1);
}

TEST_CASE("AWS a new connection with the same client id takes over the old one", "[json][aws][sequence]") {
    // DUPLICATE_CLIENTID: the broker drops the old connection; its disconnected may come last or never.
    const std::int64_t t = test_support::t0;
    ClientStatusStore<> store(aws_options());
    Run run = feed(store, {connected(t, 1), connected(t + 5 * minute, 2)});
    CHECK(run.online);
    CHECK(run.went_online == 1);
    CHECK(store.status("test-id")->current_channel == "2");
    run = feed(store, {disconnected(t + 5 * minute, 1, "test-id", "DUPLICATE_CLIENTID")});
    CHECK(run.online); // the old connection's close does not touch the new one
    CHECK(run.went_offline == 0);
    run = feed(store, {disconnected(t + 9 * minute, 2)});
    CHECK_FALSE(run.online);
    CHECK(run.went_offline == 1);
    // the same, the old disconnected never delivered: v1 was superseded by v2's connect
    ClientStatusStore<> lost(aws_options());
    CHECK_FALSE(feed(lost, {connected(t, 1), connected(t + 5 * minute, 2), disconnected(t + 9 * minute, 2)}).online);
}

TEST_CASE("AWS a long connection keeps its version number as its key", "[json][aws][sequence][reuse]") {
    // A connection may last far longer than the key reuse gap: its own close still closes it,
    // and a late copy of its connect is still a duplicate.
    const std::int64_t t = test_support::t0;
    ClientStatusStore<> store(aws_options());
    const Run run = feed(store, {connected(t, 0), disconnected(t + 5 * hour, 0), connected(t, 0)});
    CHECK_FALSE(run.online);
    CHECK(run.went_online == 1);
    CHECK(run.went_offline == 1);
    CHECK(run.outcomes[2].transition == Transition::none);
    CHECK(every_order_ends({connected(t, 0), disconnected(t + 5 * hour, 0), connected(t, 0)}, false) == 3);
    CHECK(every_order_ends({connected(t, 0), disconnected(t + 5 * hour, 0), disconnected(t + 5 * hour, 0)}, false) == 3);
}

TEST_CASE("AWS reset after an hour with equal version numbers opens a new connection", "[json][aws][sequence][reuse]") {
    // AWS resets the version number to 0 after about an hour offline: the new connection has
    // the key of the old one.
    const std::int64_t t = test_support::t0;
    ClientStatusStore<> store(aws_options());
    const Run run = feed(store, {connected(t, 0), disconnected(t + minute, 0), connected(t + hour + minute, 0)});
    CHECK(run.online);
    CHECK(run.went_online == 2);
    CHECK(run.went_offline == 1);
    CHECK(run.outcomes[2].went_online());
    CHECK(run.outcomes[2].transition_ms == t + hour + minute);
    CHECK(store.status("test-id")->connected_since_ms == t + hour + minute);

    // a late duplicate of the old disconnected v0: still online
    const Run late_close = feed(store, {disconnected(t + minute, 0)});
    CHECK(late_close.online);
    CHECK(late_close.outcomes[0].transition == Transition::none);
    // a late duplicate of the old connected v0: still online, no extra edge
    const Run late_open = feed(store, {connected(t, 0)});
    CHECK(late_open.online);
    CHECK(late_open.outcomes[0].transition == Transition::none);
    CHECK(store.counters().went_online == 2);
    CHECK(store.counters().went_offline == 1);
    CHECK(store.status("test-id")->connected_since_ms == t + hour + minute);

    // and the new connection's own disconnected takes it offline
    const Run end = feed(store, {disconnected(t + hour + 10 * minute, 0)});
    CHECK_FALSE(end.online);
    CHECK(end.went_offline == 1);
}

TEST_CASE("AWS reset after an hour with a new version number", "[json][aws][sequence]") {
    // old connection v7, the new one after the reset v0
    const std::int64_t t = test_support::t0;
    ClientStatusStore<> store(aws_options());
    const Run run = feed(store, {connected(t, 7), disconnected(t + minute, 7), connected(t + hour + minute, 0)});
    CHECK(run.online);
    CHECK(run.went_online == 2);
    const Run late = feed(store, {disconnected(t + minute, 7), connected(t, 7)});
    CHECK(late.online);
    CHECK(late.went_online + late.went_offline == 0);
    CHECK(every_order_ends({connected(t, 7), disconnected(t + minute, 7), connected(t + hour + minute, 0), connected(t, 7),
                            disconnected(t + minute, 7)},
                           true) == 30);
    CHECK(every_order_ends({connected(t, 7), disconnected(t + minute, 7), connected(t + hour + minute, 0),
                            disconnected(t + hour + 2 * minute, 0), disconnected(t + minute, 7)},
                           false) == 60);
    // the old connection's close lost: the new connect takes it over
    CHECK(every_order_ends({connected(t, 7), connected(t + hour + minute, 0)}, true) == 2);
}

TEST_CASE("AWS late duplicates after a reset in every order end in the true state", "[json][aws][sequence][reuse]") {
    // Truth: online iff the newest connection's disconnected has not been seen.
    const std::int64_t t = test_support::t0;
    const std::string old_open = connected(t, 0);
    const std::string old_close = disconnected(t + minute, 0);
    const std::string new_open = connected(t + hour + minute, 0);
    const std::string new_close = disconnected(t + hour + 5 * minute, 0);

    CHECK(every_order_ends({old_open, old_close, new_open}, true) == 6);
    CHECK(every_order_ends({old_open, old_close, new_open, new_close}, false) == 24);
    CHECK(every_order_ends({old_open, new_open}, true) == 2);   // the old close lost
    CHECK(every_order_ends({old_close, new_open}, true) == 2);  // the old connect lost
    CHECK(every_order_ends({old_close, new_open, new_close}, false) == 6);
    // with late copies of the old connection's messages
    CHECK(every_order_ends({old_open, old_open, old_close, old_close, new_open}, true) == 30);
    CHECK(every_order_ends({old_open, old_open, old_close, old_close, new_open, new_close}, false) == 180);
    // with copies of the new connection's messages too
    CHECK(every_order_ends({old_open, old_close, old_close, new_open, new_open}, true) == 30);
    CHECK(every_order_ends({old_open, old_close, new_open, new_open, new_close, new_close}, false) == 180);
    // two resets: three connections on key 0, an hour apart
    const std::string third_open = connected(t + 3 * hour, 0);
    const std::string second_close_late = disconnected(t + hour + 5 * minute, 0);
    CHECK(every_order_ends({old_open, old_close, new_open, second_close_late, third_open}, true) == 120);
}

// The aws-samples connectivity-management example (lifecycle/lifecycle.py) ships these cases in
// test/test_lifecycle.py, one DynamoDB row per client: timestamps 1 ms apart, the same client.
TEST_CASE("AWS aws-samples lifecycle cases", "[json][aws][sequence][oracle]") {
    const std::int64_t T = 1671506794644;
    struct Case {
        const char* name;
        std::vector<std::string> lines;
        bool online;
    };
    const std::string c0 = connected(T, 0);
    const std::string d0 = disconnected(T + 1, 0);
    const std::string c2 = connected(T + 2, 2);
    const std::string d2 = disconnected(T + 3, 2);
    const std::string c4 = connected(T + 4, 4);
    const std::vector<Case> cases = {
        {"connected only", {c0}, true},
        {"disconnected only", {disconnected(T, 0)}, false},
        {"connect disconnect", {c0, d0}, false},
        {"connect disconnect inverted", {d0, c0}, false},
        {"connect disconnect duplicated 1", {c0, c0, d0}, false},
        {"connect disconnect duplicated 2", {c0, d0, c0}, false},
        {"connect disconnect duplicated 3", {c0, d0, d0}, false},
        {"connect disconnect connect", {c0, d0, c2}, true},
        {"connect disconnect connect inverted 1", {c0, c2, d0}, true},
        {"connect disconnect connect inverted 2", {c2, d0, c0}, true},
        {"five messages", {c0, d0, c2, d2, c4}, true},
        {"five messages inverted", {c0, d2, c2, c4, d0}, true},
        {"connect after an hour", {connected(T, 10), disconnected(T + 1, 10), connected(T + 3600001, 0)}, true},
        {"connect disconnect after an hour", {disconnected(T, 10), connected(T + 3600000, 0), disconnected(T + 3600001, 0)}, false},
        {"connect disconnect after an hour inverted",
         {disconnected(T, 10), disconnected(T + 3600001, 0), connected(T + 3600000, 0)},
         false},
    };
    for (const Case& c : cases) {
        CAPTURE(c.name);
        const Run run = play(c.lines);
        CHECK(run.online == c.online);
        CHECK(run.edges_consistent);
        // and in every other order too
        CHECK(every_order_ends(c.lines, c.online) > 0);
    }
    // "five messages" shuffled: all 120 orders
    CHECK(every_order_ends({c0, d0, c2, d2, c4}, true) == 120);
}

TEST_CASE("AWS the two reset sequences the aws-samples code gets wrong", "[json][aws][sequence][oracle][reuse]") {
    const std::int64_t T = 1671506794644;
    // (i) connected v0, disconnected v0, connected v0 an hour later: the sample says
    // Disconnected (its reset test requires a non-zero stored disconnect version). Online.
    {
        ClientStatusStore<> store(aws_options());
        const Run run = feed(store, {connected(T, 0), disconnected(T + 1, 0), connected(T + 1 + 3600001, 0)});
        CHECK(run.online);
        CHECK(run.outcomes[2].went_online());
    }
    // (ii) after "connect after an hour" (Connected), a copy of the old disconnected v10: the
    // sample flips to Disconnected (its status depends on the current event only). Online.
    {
        ClientStatusStore<> store(aws_options());
        const Run run = feed(store, {connected(T, 10), disconnected(T + 1, 10), connected(T + 3600001, 0), disconnected(T + 1, 10)});
        CHECK(run.online);
        CHECK(run.outcomes[3].status == Status::duplicate);
        CHECK(run.outcomes[3].transition == Transition::none);
    }
}
