// The Azure Event Grid MQTT broker adapter: both schemas, arrays of one, RFC 3339 times, the
// error messages, and sequences of session events (in every delivery order) through a store.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <mqtt_presence/json/azure_eg_mqtt.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

using namespace mqtt_presence;

namespace {
const std::string connected = "Microsoft.EventGrid.MQTTClientSessionConnected";
const std::string disconnected = "Microsoft.EventGrid.MQTTClientSessionDisconnected";
const std::string source = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/presence-rg/providers/"
                           "Microsoft.EventGrid/namespaces/presence-ns";

// The "data" of a session event of client "sensor-17" (authentication name "sensor-17-auth").
std::string session_data(std::uint64_t sequence, bool with_reason = false, const std::string& session = "sensor-17") {
    std::string data = R"({"namespaceName":"presence-ns","clientAuthenticationName":"sensor-17-auth","clientSessionName":")" +
                       session + R"(","sequenceNumber":)" + std::to_string(sequence);
    if (with_reason) data += R"(,"disconnectionReason":"ConnectionLost")";
    return data + "}";
}

// One event in the CloudEvents 1.0 schema.
std::string cloud_event(const std::string& type, const std::string& time, const std::string& data,
                        const std::string& session = "sensor-17") {
    return R"({"specversion":"1.0","id":"3f0d5a4e-1c2b-4d6e-9f80-112233445566","time":")" + time + R"(","type":")" + type +
           R"(","source":")" + source + R"(","subject":"clients/sensor-17-auth/sessions/)" + session + R"(","data":)" + data + "}";
}

// One event in the Event Grid schema.
std::string grid_event(const std::string& type, const std::string& time, const std::string& data) {
    return R"({"id":"3f0d5a4e-1c2b-4d6e-9f80-112233445566","eventTime":")" + time + R"(","eventType":")" + type +
           R"(","topic":")" + source + R"(","subject":"clients/sensor-17-auth/sessions/sensor-17","dataVersion":"1",)" +
           R"("metadataVersion":"1","data":)" + data + "}";
}

// A session event as a webhook delivers it: in an array.
std::string delivered(bool is_connected, std::uint64_t sequence, const std::string& time, const std::string& session = "sensor-17") {
    return "[" + cloud_event(is_connected ? connected : disconnected, time, session_data(sequence, !is_connected, session), session) +
           "]";
}

std::string error_of(std::string_view json) {
    const ParseResult r = try_parse_azure_eg_mqtt_event(json);
    return r ? std::string("<ok>") : r.error;
}

// The time of a CloudEvents Connected event whose "time" is `time`, or the error.
std::string time_result(const std::string& time) {
    const ParseResult r = try_parse_azure_eg_mqtt_event(cloud_event(connected, time, session_data(1)));
    return r ? std::to_string(r.event->time_ms) : r.error;
}

constexpr std::int64_t connected_ms = 1753751029645; // 2025-07-29T01:03:49.645Z
constexpr std::int64_t disconnected_ms = 1753751260244; // 2025-07-29T01:07:40.244Z
} // namespace

TEST_CASE("Azure EG MQTT: session events parse into every field in the CloudEvents schema", "[json][azure]") {
    const Event c = parse_azure_eg_mqtt_event(cloud_event(connected, "2025-07-29T01:03:49.6454046Z", session_data(1)));
    CHECK(c.client_id == "sensor-17");
    CHECK(c.channel_id == "1");
    CHECK(c.type == EventType::connect);
    CHECK(c.time_ms == connected_ms);
    CHECK(c.client_ip.empty());

    const Event d = parse_azure_eg_mqtt_event(cloud_event(disconnected, "2025-07-29T01:07:40.2446871Z", session_data(1, true)));
    CHECK(d.client_id == "sensor-17");
    CHECK(d.channel_id == "1");
    CHECK(d.type == EventType::tcpclean);
    CHECK(d.time_ms == disconnected_ms);
    CHECK(d.client_ip.empty());
}

TEST_CASE("Azure EG MQTT: session events parse into every field in the Event Grid schema", "[json][azure]") {
    const Event c = parse_azure_eg_mqtt_event(grid_event(connected, "2025-07-29T01:03:49.6454046Z", session_data(1)));
    CHECK(c.client_id == "sensor-17");
    CHECK(c.channel_id == "1");
    CHECK(c.type == EventType::connect);
    CHECK(c.time_ms == connected_ms);
    CHECK(c.client_ip.empty());

    const Event d = parse_azure_eg_mqtt_event(grid_event(disconnected, "2025-07-29T01:07:40.2446871Z", session_data(1, true)));
    CHECK(d.type == EventType::tcpclean);
    CHECK(d.time_ms == disconnected_ms);
    CHECK(d.channel_id == "1");
}

TEST_CASE("Azure EG MQTT: the sequence number becomes the channel id in decimal", "[json][azure]") {
    for (const std::uint64_t n : {std::uint64_t{0}, std::uint64_t{7}, std::uint64_t{1234567890123}, std::uint64_t{18446744073709551615U}}) {
        CAPTURE(n);
        CHECK(parse_azure_eg_mqtt_event(cloud_event(connected, "2025-07-29T01:03:49Z", session_data(n))).channel_id ==
              std::to_string(n));
    }
}

TEST_CASE("Azure EG MQTT: key order is free and unknown fields are ignored", "[json][azure]") {
    const Event e = parse_azure_eg_mqtt_event(
        R"( {"data":{"extra":{"clientSessionName":1,"deep":[1,{"x":null}]},"sequenceNumber":3,"clientSessionName":"s"},)"
        R"("traceparent":"00-abc","time":"2025-07-29T01:03:49Z","type":")" +
        disconnected + R"(","extension":[true,false,{"data":1}]} )");
    CHECK(e.client_id == "s");
    CHECK(e.channel_id == "3");
    CHECK(e.type == EventType::tcpclean);
    // the unused fields of data may be null; specversion is optional; disconnectionReason may come with any type
    CHECK(error_of(R"({"type":")" + connected +
                   R"(","time":"2025-07-29T01:03:49Z","data":{"clientSessionName":"s","sequenceNumber":1,"namespaceName":null,)"
                   R"("clientAuthenticationName":null,"disconnectionReason":null}})") == "<ok>");
}

TEST_CASE("Azure EG MQTT: an array of exactly one event is accepted and larger batches are refused", "[json][azure]") {
    const Event e = parse_azure_eg_mqtt_event(delivered(true, 4, "2025-07-29T01:03:49.6454046Z"));
    CHECK(e.client_id == "sensor-17");
    CHECK(e.channel_id == "4");
    CHECK(e.time_ms == connected_ms);
    CHECK(error_of("[" + grid_event(disconnected, "2025-07-29T01:07:40Z", session_data(4, true)) + "]") == "<ok>");

    const std::string one = cloud_event(connected, "2025-07-29T01:03:49Z", session_data(1));
    CHECK(error_of("[" + one + "," + one + "]") ==
          "JSON array holds more than one event (expected exactly one: split the batch and parse each event)");
    CHECK(error_of("[" + one + ",1]") ==
          "JSON array holds more than one event (expected exactly one: split the batch and parse each event)");
    CHECK(error_of("[]") == "JSON array holds no event (expected exactly one)");
    CHECK(error_of(" [ ] ") == "JSON array holds no event (expected exactly one)");
    CHECK(error_of(R"(["event"])") == "JSON array element must be a JSON object, got string");
    CHECK(error_of("[[" + one + "]]") == "JSON array element must be a JSON object, got array");
    CHECK(error_of("[null]") == "JSON array element must be a JSON object, got null");
    // a problem of the single event is that event's
    CHECK(error_of(R"([{"type":")" + connected + R"(","time":"2025-07-29T01:03:49Z"}])") == R"("data" is missing)");
}

TEST_CASE("Azure EG MQTT: RFC 3339 times: fractions of any length are cut to milliseconds", "[json][azure]") {
    constexpr std::int64_t base = 1709210096000; // 2024-02-29T12:34:56Z, a leap day
    struct Case {
        const char* time;
        std::int64_t ms;
    };
    const std::vector<Case> cases = {
        {"2024-02-29T12:34:56Z", base},
        {"2024-02-29T12:34:56.9Z", base + 900},
        {"2024-02-29T12:34:56.98Z", base + 980},
        {"2024-02-29T12:34:56.987Z", base + 987},
        {"2024-02-29T12:34:56.9876Z", base + 987},
        {"2024-02-29T12:34:56.98765Z", base + 987},
        {"2024-02-29T12:34:56.987654Z", base + 987},
        {"2024-02-29T12:34:56.9876543Z", base + 987},
        {"2024-02-29T12:34:56.98765432Z", base + 987},
        {"2024-02-29T12:34:56.999999999Z", base + 999},
        {"2024-02-29T12:34:56.000000000000000000001Z", base},
        {"2024-02-29T12:34:56.05Z", base + 50},
    };
    for (const Case& c : cases) {
        CAPTURE(c.time);
        CHECK(time_result(c.time) == std::to_string(c.ms));
    }
}

TEST_CASE("Azure EG MQTT: RFC 3339 times: offsets lower case and the range 1970 to 9999", "[json][azure]") {
    constexpr std::int64_t base = 1709210096000; // 2024-02-29T12:34:56Z
    struct Case {
        const char* time;
        std::int64_t ms;
    };
    const std::vector<Case> cases = {
        {"2024-02-29T20:34:56+08:00", base},
        {"2024-02-29T07:04:56-05:30", base},
        {"2024-02-29T12:34:56+00:00", base},
        {"2024-02-29T12:34:56-00:00", base},
        {"2024-03-01T00:34:56+12:00", base},       // across the leap day backwards
        {"2024-02-28T23:34:56-13:00", base},       // and forwards
        {"2024-02-29T12:34:56.123+23:59", base + 123 - (23 * 60 + 59) * 60000LL},
        {"2024-02-29t12:34:56z", base},            // lower case T and Z
        {"2000-02-29T00:00:00Z", 951782400000},    // divisible by 400: a leap year
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59-00:01", 59000},      // 1970 once the offset is applied
        {"9999-12-31T23:59:59.999Z", max_time_ms},
        {"9999-12-31T23:59:59.9999999Z", max_time_ms},
        {"2025-11-24T16:00:00Z", 1764000000000},
    };
    for (const Case& c : cases) {
        CAPTURE(c.time);
        CHECK(time_result(c.time) == std::to_string(c.ms));
    }
    CHECK(parse_azure_eg_mqtt_event(grid_event(connected, "2024-02-29T20:34:56.5+08:00", session_data(1))).time_ms == base + 500);
}

TEST_CASE("Azure EG MQTT: RFC 3339 times: impossible dates and times are refused by name", "[json][azure]") {
    struct Case {
        const char* time;
        const char* error;
    };
    const std::vector<Case> cases = {
        {"2023-13-01T00:00:00Z", R"("time" is not an RFC 3339 time: "2023-13-01T00:00:00Z" (month 13))"},
        {"2023-00-01T00:00:00Z", R"("time" is not an RFC 3339 time: "2023-00-01T00:00:00Z" (month 0))"},
        {"2023-01-32T00:00:00Z", R"("time" is not an RFC 3339 time: "2023-01-32T00:00:00Z" (day 32 of 2023-01, which has 31 days))"},
        {"2023-01-00T00:00:00Z", R"("time" is not an RFC 3339 time: "2023-01-00T00:00:00Z" (day 0 of 2023-01, which has 31 days))"},
        {"2024-02-30T00:00:00Z", R"("time" is not an RFC 3339 time: "2024-02-30T00:00:00Z" (day 30 of 2024-02, which has 29 days))"},
        {"2023-02-29T00:00:00Z", R"("time" is not an RFC 3339 time: "2023-02-29T00:00:00Z" (day 29 of 2023-02, which has 28 days))"},
        {"2100-02-29T00:00:00Z", R"("time" is not an RFC 3339 time: "2100-02-29T00:00:00Z" (day 29 of 2100-02, which has 28 days))"},
        {"2023-04-31T00:00:00Z", R"("time" is not an RFC 3339 time: "2023-04-31T00:00:00Z" (day 31 of 2023-04, which has 30 days))"},
        {"2023-07-29T24:00:00Z", R"("time" is not an RFC 3339 time: "2023-07-29T24:00:00Z" (hour 24))"},
        {"2023-07-29T23:60:00Z", R"("time" is not an RFC 3339 time: "2023-07-29T23:60:00Z" (minute 60))"},
        {"2016-12-31T23:59:60Z",
         R"("time" is not an RFC 3339 time: "2016-12-31T23:59:60Z" (second 60: leap seconds are not supported))"},
        {"2023-07-29T23:59:61Z", R"("time" is not an RFC 3339 time: "2023-07-29T23:59:61Z" (second 61))"},
        {"2023-07-29T01:23:49",
         R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49" (no time zone (expected Z or an offset such as +08:00)))"},
        {"2023-07-29T01:23:49.645",
         R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49.645" (no time zone (expected Z or an offset such as +08:00)))"},
        {"2023-07-29T01:23:49.Z", R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49.Z" (no digit after the decimal point))"},
        {"2023-07-29T01:23:49,5Z",
         R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49,5Z" (expected Z or an offset +hh:mm or -hh:mm after the time of day))"},
        {"2023-07-29T01:23:49 UTC",
         R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49 UTC" (expected Z or an offset +hh:mm or -hh:mm after the time of day))"},
        {"2023-07-29T01:23:49+0800",
         R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49+0800" (expected an offset +hh:mm or -hh:mm))"},
        {"2023-07-29T01:23:49+08", R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49+08" (expected an offset +hh:mm or -hh:mm))"},
        {"2023-07-29T01:23:49+24:00", R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49+24:00" (offset hour 24))"},
        {"2023-07-29T01:23:49+08:60", R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49+08:60" (offset minute 60))"},
        {"2023-07-29T01:23:49ZZ", R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49ZZ" (trailing characters after the time zone))"},
        {"2023-07-29T01:23:49Z ", R"("time" is not an RFC 3339 time: "2023-07-29T01:23:49Z " (trailing characters after the time zone))"},
        {"2023-07-29 01:23:49Z",
         R"("time" is not an RFC 3339 time: "2023-07-29 01:23:49Z" (expected T between the date and the time of day))"},
        {"2023-07-29", R"("time" is not an RFC 3339 time: "2023-07-29" (no time of day after the date))"},
        {"2023-07-29T01:23Z", R"("time" is not an RFC 3339 time: "2023-07-29T01:23Z" (expected a time of day hh:mm:ss after the T))"},
        {"2023-07-29T1:23:49Z", R"("time" is not an RFC 3339 time: "2023-07-29T1:23:49Z" (expected a time of day hh:mm:ss after the T))"},
        {"2023-7-29T01:23:49Z", R"("time" is not an RFC 3339 time: "2023-7-29T01:23:49Z" (expected a date YYYY-MM-DD first))"},
        {"+2023-07-29T01:23:49Z", R"("time" is not an RFC 3339 time: "+2023-07-29T01:23:49Z" (expected a date YYYY-MM-DD first))"},
        {"1690593829645", R"("time" is not an RFC 3339 time: "1690593829645" (expected a date YYYY-MM-DD first))"},
        {"", R"("time" is not an RFC 3339 time: "" (expected a date YYYY-MM-DD first))"},
        {"1969-12-31T23:59:59.999Z", R"("time" is before 1970: "1969-12-31T23:59:59.999Z")"},
        {"1970-01-01T00:30:00+01:00", R"("time" is before 1970: "1970-01-01T00:30:00+01:00")"},
        {"0000-01-01T00:00:00Z", R"("time" is before 1970: "0000-01-01T00:00:00Z")"},
        {"9999-12-31T23:59:59-00:01", R"("time" is after the year 9999: "9999-12-31T23:59:59-00:01")"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.time);
        CHECK(time_result(c.time) == c.error);
    }
    // the Event Grid schema names its own field
    CHECK(error_of(grid_event(connected, "2023-13-01T00:00:00Z", session_data(1))) ==
          R"("eventTime" is not an RFC 3339 time: "2023-13-01T00:00:00Z" (month 13))");
}

TEST_CASE("Azure EG MQTT: bad input gets an error naming the field and the problem", "[json][azure]") {
    const std::string t = R"("time":"2025-07-29T01:03:49Z")";
    const std::string c = R"("type":")" + connected + "\"";
    const std::string d = R"("data":{"clientSessionName":"s","sequenceNumber":1})";
    struct Case {
        std::string json;
        std::string error;
    };
    const std::vector<Case> cases = {
        // missing fields, in the order of the checks
        {"{}", R"("type" (CloudEvents) or "eventType" (Event Grid schema) is missing)"},
        {"{" + d + "}", R"("type" (CloudEvents) or "eventType" (Event Grid schema) is missing)"},
        {"{" + t + "," + d + "}", R"("type" is missing)"},
        {"{" + c + "," + d + "}", R"("time" is missing)"},
        {R"({"specversion":"1.0",)" + d + "}", R"("type" is missing)"},
        {R"({"eventTime":"2025-07-29T01:03:49Z",)" + d + "}", R"("eventType" is missing)"},
        {R"({"eventType":")" + connected + R"(",)" + d + "}", R"("eventTime" is missing)"},
        {"{" + c + "," + t + "}", R"("data" is missing)"},
        {"{" + c + "," + t + R"(,"data":{"sequenceNumber":1}})", R"("data.clientSessionName" is missing)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s"}})", R"("data.sequenceNumber" is missing)"},
        {"{" + c + "," + t + R"(,"data":{}})", R"("data.clientSessionName" is missing)"},
        // the sequence number is found only in "data"
        {"{" + c + "," + t + R"(,"sequenceNumber":1,"data":{"clientSessionName":"s"}})", R"("data.sequenceNumber" is missing)"},
        // mixed schemas
        {"{" + c + R"(,"eventTime":"2025-07-29T01:03:49Z",)" + d + "}", R"(mixed schemas: "type" (CloudEvents) and "eventTime" (Event Grid schema))"},
        {R"({"eventType":")" + connected + "\"," + t + "," + d + "}", R"(mixed schemas: "time" (CloudEvents) and "eventType" (Event Grid schema))"},
        {"{" + c + R"(,"eventType":")" + connected + "\"," + t + "," + d + "}",
         R"(mixed schemas: "type" (CloudEvents) and "eventType" (Event Grid schema))"},
        {R"({"specversion":"1.0","eventType":")" + connected + R"(","eventTime":"2025-07-29T01:03:49Z",)" + d + "}",
         R"(mixed schemas: "specversion" (CloudEvents) and "eventType" (Event Grid schema))"},
        // event types
        {R"({"type":"Microsoft.EventGrid.MQTTClientCreatedOrUpdated",)" + t + "," + d + "}",
         R"(unknown "type" "Microsoft.EventGrid.MQTTClientCreatedOrUpdated" (expected Microsoft.EventGrid.MQTTClientSessionConnected or Microsoft.EventGrid.MQTTClientSessionDisconnected))"},
        {R"({"eventType":"Microsoft.EventGrid.MQTTClientDeleted","eventTime":"2025-07-29T01:03:49Z",)" + d + "}",
         R"(unknown "eventType" "Microsoft.EventGrid.MQTTClientDeleted" (expected Microsoft.EventGrid.MQTTClientSessionConnected or Microsoft.EventGrid.MQTTClientSessionDisconnected))"},
        {R"({"type":"microsoft.eventgrid.mqttclientsessionconnected",)" + t + "," + d + "}",
         R"(unknown "type" "microsoft.eventgrid.mqttclientsessionconnected" (expected Microsoft.EventGrid.MQTTClientSessionConnected or Microsoft.EventGrid.MQTTClientSessionDisconnected))"},
        {R"({"type":"connect",)" + t + "," + d + "}",
         R"(unknown "type" "connect" (expected Microsoft.EventGrid.MQTTClientSessionConnected or Microsoft.EventGrid.MQTTClientSessionDisconnected))"},
        {R"({"specversion":"0.3",)" + c + "," + t + "," + d + "}", R"(unsupported "specversion" "0.3" (expected "1.0"))"},
        // wrong types
        {R"({"type":1,)" + t + "," + d + "}", R"("type" must be a string, got number)"},
        {R"({"eventType":null,"eventTime":"2025-07-29T01:03:49Z",)" + d + "}", R"("eventType" must be a string, got null)"},
        {"{" + c + R"(,"time":1753751029645,)" + d + "}", R"("time" must be a string, got number)"},
        {"{" + c + R"(,"time":["2025-07-29T01:03:49Z"],)" + d + "}", R"("time" must be a string, got array)"},
        {R"({"specversion":1.0,)" + c + "," + t + "," + d + "}", R"("specversion" must be a string, got number)"},
        {"{" + c + "," + t + R"(,"data":"{}"})", R"("data" must be an object, got string)"},
        {"{" + c + "," + t + R"(,"data":null})", R"("data" must be an object, got null)"},
        {"{" + c + "," + t + R"(,"data":[{"clientSessionName":"s","sequenceNumber":1}]})", R"("data" must be an object, got array)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":17,"sequenceNumber":1}})", R"("data.clientSessionName" must be a string, got number)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":null,"sequenceNumber":1}})", R"("data.clientSessionName" must be a string, got null)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":{"name":"s"},"sequenceNumber":1}})",
         R"("data.clientSessionName" must be a string, got object)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":"1"}})",
         R"("data.sequenceNumber" must be an integer, got string "1")"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":true}})",
         R"("data.sequenceNumber" must be an integer, got boolean)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":null}})",
         R"("data.sequenceNumber" must be an integer, got null)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":1.5}})",
         R"("data.sequenceNumber" must be an integer, got a number with a fraction or exponent)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":1.0}})",
         R"("data.sequenceNumber" must be an integer, got a number with a fraction or exponent)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":1e3}})",
         R"("data.sequenceNumber" must be an integer, got a number with a fraction or exponent)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":-1}})", R"("data.sequenceNumber" is negative)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":-99999999999999999999}})",
         R"("data.sequenceNumber" is negative)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":18446744073709551616}})",
         R"("data.sequenceNumber" is larger than 18446744073709551615)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":1,"disconnectionReason":7}})",
         R"("data.disconnectionReason" must be a string, got number)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":1,"namespaceName":["ns"]}})",
         R"("data.namespaceName" must be a string, got array)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":1,"clientAuthenticationName":false}})",
         R"("data.clientAuthenticationName" must be a string, got boolean)"},
        // bad ids
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"","sequenceNumber":1}})", R"("data.clientSessionName" is empty)"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"a\nb","sequenceNumber":1}})",
         R"("data.clientSessionName" contains a control character)"},
        // duplicates
        {"{" + c + "," + c + "," + t + "," + d + "}", R"(duplicate field "type")"},
        {"{" + c + "," + t + "," + t + "," + d + "}", R"(duplicate field "time")"},
        {"{" + c + "," + t + "," + d + "," + d + "}", R"(duplicate field "data")"},
        {"{" + c + "," + t + R"(,"data":{"clientSessionName":"s","sequenceNumber":1,"sequenceNumber":2}})",
         R"(duplicate field "data.sequenceNumber")"},
        // field problems come in the order of the message, before missing fields
        {R"({"type":1,"time":"x"})", R"("type" must be a string, got number)"},
        {R"({"time":"x","type":1})", R"("time" is not an RFC 3339 time: "x" (expected a date YYYY-MM-DD first))"},
        {R"({"data":{"sequenceNumber":-1},"type":"x"})", R"("data.sequenceNumber" is negative)"},
        // not an object
        {R"("text")", "message must be a JSON object or an array of one, got string"},
        {"42", "message must be a JSON object or an array of one, got number"},
        {"null", "message must be a JSON object or an array of one, got null"},
        {"true", "message must be a JSON object or an array of one, got boolean"},
        {"", "empty message"},
        {" \r\n\t", "empty message"},
        {"\xEF\xBB\xBF", "empty message"},
    };
    for (const Case& bad : cases) {
        CAPTURE(bad.json);
        CHECK(error_of(bad.json) == bad.error);
        CHECK_THROWS_WITH(parse_azure_eg_mqtt_event(bad.json), "mqtt_presence: " + bad.error);
        CHECK_THROWS_AS(parse_azure_eg_mqtt_event(bad.json), ParseError);
    }
}

TEST_CASE("Azure EG MQTT: malformed JSON is named by its first problem and where it is before any field problem", "[json][azure]") {
    const std::string ok = cloud_event(connected, "2025-07-29T01:03:49Z", session_data(1));
    struct Case {
        std::string json;
        std::string error;
    };
    const std::vector<Case> cases = {
        {ok.substr(0, ok.size() - 1), "malformed JSON: unexpected end of input after byte " + std::to_string(ok.size() - 1)},
        {ok + " x", "malformed JSON: trailing characters at byte " + std::to_string(ok.size() + 2)},
        {ok + std::string("\0x", 2), "malformed JSON: trailing characters at byte " + std::to_string(ok.size() + 1)},
        {"[" + ok, "malformed JSON: unexpected end of input after byte " + std::to_string(ok.size() + 1)},
        {"[" + ok + ",]", "malformed JSON: unexpected character ']' at byte " + std::to_string(ok.size() + 3)},
        // a field problem comes first in the message; the syntax error still wins
        {R"({"type":1,"time":)", "malformed JSON: unexpected end of input after byte 17"},
        {R"([{"type":1},{"type":2}] x)", "malformed JSON: trailing characters at byte 25"},
        {R"({type:"x"})", "malformed JSON: unexpected character 't' at byte 2"},
        {"{\"data\":{\"clientSessionName\":\"a\xff\"}}", "malformed JSON: invalid UTF-8 in a string at byte 32"},
        {"\xEF\xBB\xBF" + ok, "<ok>"},
        {"\xEF\xBB" + ok, "malformed JSON: invalid byte order mark at byte 1"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json);
        CHECK(error_of(c.json) == c.error);
    }
    // the error for a huge malformed message stays short and printable
    const std::string error = error_of(R"({"data":{"clientSessionName":")" + std::string(100000, 'x'));
    CHECK(error.rfind("malformed JSON: ", 0) == 0);
    CHECK(error.size() < 300);
}

TEST_CASE("Azure EG MQTT: deep nesting and huge messages are refused gracefully", "[json][azure]") {
    const std::string tail = R"("type":")" + connected + R"(","time":"2025-07-29T01:03:49Z","data":{"clientSessionName":"s","sequenceNumber":1}})";
    CHECK(error_of("{\"x\":" + std::string(70, '[') + std::string(70, ']') + "," + tail) == "JSON nested deeper than 64 levels");
    CHECK(error_of("{\"x\":" + std::string(62, '[') + std::string(62, ']') + "," + tail) == "<ok>");
    // the limit counts from the message's outermost container, array or not
    CHECK(error_of(R"([{"data":{"x":)" + std::string(62, '[') + std::string(62, ']') + R"(,"clientSessionName":"s","sequenceNumber":1},)" +
                   tail.substr(0, tail.find(",\"data\"")) + "}]") == "JSON nested deeper than 64 levels");
    CHECK(error_of(R"([{"data":{"x":)" + std::string(61, '[') + std::string(61, ']') + R"(,"clientSessionName":"s","sequenceNumber":1},)" +
                   tail.substr(0, tail.find(",\"data\"")) + "}]") == "<ok>");
    // a syntax error under the deep nesting is still a syntax error
    CHECK(error_of("{\"x\":" + std::string(100000, '[')) == "malformed JSON: unexpected end of input after byte 100005");

    // huge strings: a session name by the id limit, an unknown field by the message limit
    CHECK(error_of(R"({"type":")" + connected + R"(","time":"2025-07-29T01:03:49Z","data":{"clientSessionName":")" +
                   std::string(70000, 'x') + R"(","sequenceNumber":1}})") == R"("data.clientSessionName" is longer than 65535 bytes)");
    CHECK(error_of(R"({"blob":")" + std::string(500000, 'x') + "\"," + tail) == "<ok>");
    const std::string huge = R"({"blob":")" + std::string(azure_eg_mqtt_max_message_bytes, 'x') + "\"," + tail;
    CHECK(error_of(huge) == "message is larger than 1048576 bytes");
    // a long bad time is quoted in part
    const std::string long_time = error_of(cloud_event(connected, std::string(1000, '9'), session_data(1)));
    CHECK(long_time.size() < 200);
    CHECK(long_time.find("...") != std::string::npos);
}

TEST_CASE("Azure EG MQTT: the buffer-reusing parse overwrites every field", "[json][azure]") {
    Event e{"old-client", "old-channel", EventType::disconnect, 99, "192.0.2.7:1"};
    std::string error;
    REQUIRE(parse_azure_eg_mqtt_event(delivered(false, 9, "2025-11-24T16:00:00Z"), e, error));
    CHECK(e.client_id == "sensor-17");
    CHECK(e.channel_id == "9");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 1764000000000);
    CHECK(e.client_ip.empty());
    REQUIRE(parse_azure_eg_mqtt_event(grid_event(connected, "2025-11-24T16:00:01Z", session_data(10, false, "other")), e, error));
    CHECK(e.client_id == "other");
    CHECK(e.channel_id == "10");
    CHECK(e.type == EventType::connect);
    CHECK(e.time_ms == 1764000001000);
    CHECK_FALSE(parse_azure_eg_mqtt_event("{", e, error));
    CHECK(error.rfind("malformed JSON", 0) == 0);
    CHECK(validate(parse_azure_eg_mqtt_event(delivered(true, 0, "9999-12-31T23:59:59.999Z"))).empty());
}

namespace {
// The four events of two connections of one session, as delivered: Connected 1,
// Disconnected 1, Connected 2, Disconnected 2, at the times given.
std::vector<std::string> two_connections(const std::array<const char*, 4>& times) {
    return {delivered(true, 1, times[0]), delivered(false, 1, times[1]), delivered(true, 2, times[2]),
            delivered(false, 2, times[3])};
}

// Ingests `messages` in the order `order` through the adapter into a fresh store; checks that
// the flips alternate (online, offline, online, ...) and agree with is_online at every step,
// and returns the final state.
bool replay(const std::vector<std::string>& messages, const std::vector<std::size_t>& order, int& flips) {
    ClientStatusStore<> store;
    bool online = false;
    flips = 0;
    for (const std::size_t i : order) {
        const Outcome out = store.ingest(parse_azure_eg_mqtt_event(messages[i]));
        CHECK(out.status != Status::invalid);
        if (out.went_online()) {
            CHECK_FALSE(online);
            online = true;
            ++flips;
        } else if (out.went_offline()) {
            CHECK(online);
            online = false;
            ++flips;
        }
        CHECK(store.is_online("sensor-17") == online);
    }
    return online;
}

const std::array<const char*, 4> seconds_apart = {"2025-11-24T16:00:00Z", "2025-11-24T16:00:10.250Z", "2025-11-24T16:00:20.5Z",
                                                  "2025-11-24T16:00:40+00:00"};
const std::array<const char*, 4> hours_apart = {"2025-11-24T16:00:00Z", "2025-11-24T17:00:00Z", "2025-11-24T19:00:00+01:00",
                                                "2025-11-24T19:00:00Z"};
} // namespace

TEST_CASE("Azure EG MQTT: Disconnected delivered before its Connected with the same sequence number: never online", "[json][azure]") {
    for (const bool skewed : {false, true}) {
        CAPTURE(skewed);
        ClientStatusStore<> store;
        // with skew, the service stamped the Disconnected earlier than its Connected
        const Outcome d = store.ingest(parse_azure_eg_mqtt_event(delivered(false, 1, skewed ? "2025-11-24T15:59:59Z" : "2025-11-24T16:00:10Z")));
        CHECK(d.status == Status::applied);
        CHECK(d.transition == Transition::none);
        CHECK_FALSE(store.is_online("sensor-17"));
        const Outcome c = store.ingest(parse_azure_eg_mqtt_event(delivered(true, 1, "2025-11-24T16:00:00Z")));
        CHECK(c.changed());
        CHECK(c.transition == Transition::none);
        CHECK_FALSE(store.is_online("sensor-17"));
        CHECK(store.online_count() == 0);
        CHECK(store.counters().went_online == 0);
    }
}

TEST_CASE("Azure EG MQTT: Connected 1 Disconnected 1 Connected 2 Disconnected 2 in all 24 orders end offline", "[json][azure]") {
    for (const auto& times : {seconds_apart, hours_apart}) {
        const std::vector<std::string> messages = two_connections(times);
        std::vector<std::size_t> order = {0, 1, 2, 3};
        int orders = 0;
        do {
            CAPTURE(times[0], times[3], order);
            int flips = 0;
            CHECK_FALSE(replay(messages, order, flips));
            CHECK(flips % 2 == 0);
            ++orders;
        } while (std::next_permutation(order.begin(), order.end()));
        CHECK(orders == 24);
    }
    // in the order of the sequence numbers: two sessions of presence, four flips
    int flips = 0;
    CHECK_FALSE(replay(two_connections(seconds_apart), {0, 1, 2, 3}, flips));
    CHECK(flips == 4);
}

TEST_CASE("Azure EG MQTT: without the last Disconnected all 6 orders end online", "[json][azure]") {
    for (const auto& times : {seconds_apart, hours_apart}) {
        const std::vector<std::string> messages = two_connections(times);
        std::vector<std::size_t> order = {0, 1, 2};
        int orders = 0;
        do {
            CAPTURE(times[0], order);
            int flips = 0;
            CHECK(replay(messages, order, flips));
            CHECK(flips % 2 == 1);
            ++orders;
        } while (std::next_permutation(order.begin(), order.end()));
        CHECK(orders == 6);
    }
}

TEST_CASE("Azure EG MQTT: duplicated session events change nothing", "[json][azure]") {
    const std::vector<std::string> m = two_connections(seconds_apart);
    ClientStatusStore<> store;
    struct Step {
        std::size_t message;
        bool copy;
        bool online_after;
    };
    // every event twice, some copies late: after both halves of a connection, long after, at the end
    const std::vector<Step> steps = {{0, false, true}, {0, true, true},  {1, false, false}, {0, true, false}, {1, true, false},
                                     {2, false, true}, {2, true, true},  {1, true, true},   {3, false, false}, {3, true, false},
                                     {2, true, false}, {0, true, false}, {1, true, false}};
    for (const Step& step : steps) {
        CAPTURE(step.message, step.copy);
        // a copy arrives without the array around it: the same event all the same
        const std::string json = step.copy ? m[step.message].substr(1, m[step.message].size() - 2) : m[step.message];
        const Outcome out = store.ingest(parse_azure_eg_mqtt_event(json));
        if (step.copy) {
            CHECK_FALSE(out.changed());
            CHECK(out.transition == Transition::none);
        } else {
            CHECK(out.status == Status::applied);
        }
        CHECK(store.is_online("sensor-17") == step.online_after);
    }
    CHECK(store.counters().went_online == 2);
    CHECK(store.counters().went_offline == 2);
}

TEST_CASE("Azure EG MQTT: the same sequence number under two session names is two connections", "[json][azure]") {
    ClientStatusStore<> store;
    (void)store.ingest(parse_azure_eg_mqtt_event(delivered(true, 1, "2025-11-24T16:00:00Z", "sensor-17")));
    (void)store.ingest(parse_azure_eg_mqtt_event(delivered(true, 1, "2025-11-24T16:00:00Z", "sensor-18")));
    (void)store.ingest(parse_azure_eg_mqtt_event(delivered(false, 1, "2025-11-24T16:00:05Z", "sensor-18")));
    CHECK(store.is_online("sensor-17"));
    CHECK_FALSE(store.is_online("sensor-18"));
    CHECK(store.size() == 2);
}

TEST_CASE("Azure EG MQTT: a refused session event leaves the store exactly as it was", "[json][azure]") {
    ClientStatusStore<> store;
    (void)store.ingest(parse_azure_eg_mqtt_event(delivered(true, 1, "2025-11-24T16:00:00Z")));
    const auto before = store.status("sensor-17");
    for (const std::string& bad :
         {cloud_event("Microsoft.EventGrid.MQTTClientDeleted", "2025-11-24T16:00:05Z", session_data(1)),
          cloud_event(disconnected, "2025-11-24T16:00:05", session_data(1, true)),
          cloud_event(disconnected, "2025-11-24T16:00:05Z", R"({"clientSessionName":"sensor-17","sequenceNumber":"1"})"),
          "[" + delivered(false, 1, "2025-11-24T16:00:05Z") + "," + delivered(false, 2, "2025-11-24T16:00:05Z") + "]"}) {
        CAPTURE(bad);
        const ParseResult r = try_parse_azure_eg_mqtt_event(bad);
        REQUIRE_FALSE(r);
        CHECK_THROWS_AS(parse_azure_eg_mqtt_event(bad), ParseError);
    }
    CHECK(store.is_online("sensor-17")); // an unknown event type never means offline
    CHECK(store.status("sensor-17")->last_event_ms == before->last_event_ms);
    CHECK(store.counters().events == 1);
}
