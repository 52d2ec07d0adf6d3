// Hostile input, adapter by adapter: a corpus of bad messages (every prefix of a good message,
// wrong types, missing fields, nulls, empty and huge strings, huge numbers, absurd times,
// invalid UTF-8, deep nesting, trailing garbage, byte order marks, CRLF, blank lines, control
// characters, duplicate keys, unknown event types) through every adapter: Alibaba (nlohmann and,
// when built, simdjson), AWS IoT, EMQX and Azure Event Grid MQTT. For each message: the
// non-throwing, the buffer-reusing and the throwing parser give the same precise error (or the
// documented acceptance), none throws for bad input, and a store fed as a consumer feeds it
// (ingest only what parsed) is byte-for-byte unchanged. Then absurd Events that no parser
// produces, straight into ingest, ingest_batch and reconcile.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/mqtt_presence.hpp>
#ifdef MQTT_PRESENCE_TEST_SIMDJSON
#include <mqtt_presence/simdjson.hpp>
#endif

#include "support/history.hpp"

using namespace mqtt_presence;

namespace {

const std::string ok = "<ok>";

// ---- messages built field by field -----------------------------------------------------------

// A JSON object as an ordered list of (key, raw JSON value). The fields of Azure's nested "data"
// object are addressed as "data.<key>"; "data" itself renders them unless given a raw value.
struct Message {
    std::vector<std::pair<std::string, std::string>> top;
    std::vector<std::pair<std::string, std::string>> data;
    bool data_raw = false; // "data" was given a raw value: render that

    [[nodiscard]] std::string render() const {
        std::string out = "{";
        for (const auto& [key, raw] : top) {
            if (out.size() > 1) out += ",";
            out += "\"" + key + "\":";
            if (key == "data" && !data_raw) {
                std::string inner = "{";
                for (const auto& [k, v] : data) {
                    if (inner.size() > 1) inner += ",";
                    inner += "\"" + k + "\":" + v;
                }
                out += inner + "}";
            } else {
                out += raw;
            }
        }
        return out + "}";
    }

    // The fields list a path lives in, and the key within it.
    std::pair<std::vector<std::pair<std::string, std::string>>*, std::string> locate(const std::string& path) {
        if (path.rfind("data.", 0) == 0) return {&data, path.substr(5)};
        return {&top, path};
    }

    [[nodiscard]] Message with(const std::string& path, const std::string& raw) const {
        Message m = *this;
        if (path == "data") m.data_raw = true;
        auto [fields, key] = m.locate(path);
        bool found = false;
        for (auto& field : *fields)
            if (field.first == key) {
                field.second = raw;
                found = true;
            }
        if (!found) fields->emplace_back(key, raw);
        return m;
    }
    [[nodiscard]] Message without(const std::string& path) const {
        Message m = *this;
        auto [fields, key] = m.locate(path);
        fields->erase(std::remove_if(fields->begin(), fields->end(), [&](const auto& f) { return f.first == key; }),
                      fields->end());
        return m;
    }
    // The field given twice, the second copy right after the first, with `raw` as its value.
    [[nodiscard]] Message twice(const std::string& path, const std::string& raw) const {
        Message m = *this;
        auto [fields, key] = m.locate(path);
        for (std::size_t i = 0; i < fields->size(); ++i)
            if ((*fields)[i].first == key) {
                fields->insert(fields->begin() + static_cast<std::ptrdiff_t>(i) + 1, {key, raw});
                break;
            }
        return m;
    }
    [[nodiscard]] std::string raw_of(const std::string& path) const {
        Message m = *this;
        auto [fields, key] = m.locate(path);
        for (const auto& field : *fields)
            if (field.first == key) return field.second;
        return {};
    }
};

std::string quote(const std::string& text) { return "\"" + text + "\""; }

// ---- the adapters ----------------------------------------------------------------------------

// A field whose value is an id (checked for emptiness, length and control characters).
struct IdField {
    std::string path;
    std::string label; // as the adapter's errors name it, quoted
};

// An integer field and what its values mean.
enum class IntKind {
    time,     // epoch ms, 0 to the end of 9999 (Alibaba time, AWS timestamp, EMQX times)
    key63,    // a connection key from 0 to 2^63 - 1 (AWS versionNumber)
    key64,    // a connection key from 0 to 2^64 - 1 (Azure data.sequenceNumber)
};
struct IntField {
    std::string path;
    std::string label;
    IntKind kind;
};

// One wrong-type row: the field, then the expected outcome for each of the values below.
inline const std::vector<std::string> type_values = {"7", R"("x")", "true", "null", "[1]", R"({"a":1})"};
inline const std::vector<std::string> type_names = {"number", "string \"x\"", "boolean", "null", "array", "object"};
struct TypeRow {
    std::string path;
    std::vector<std::string> expected; // per type_values
};

struct Adapter {
    std::string name;
    Message good;
    Event good_event;
    std::function<bool(std::string_view, Event&, std::string&)> parse_into;
    std::function<ParseResult(std::string_view)> try_parse;
    std::function<Event(std::string_view)> parse;
    bool clears_event_on_failure = false; // documented for AWS IoT
    bool message_size_limit = false;      // Azure: 1 MiB
    bool arrays_of_one = false;           // Azure: an array holding one event is the event
    std::string top_level = "message must be a JSON object, got ";
    std::vector<IdField> ids;
    std::vector<IntField> integers;
    std::vector<std::string> addresses;         // labels of address fields (at most 255 bytes), by path
    std::string event_type_path;                // the field naming the event type
    std::vector<std::string> event_types;       // the values it accepts there
    std::function<std::string(const std::string& raw_value)> unknown_event_type; // its error for a string value
    std::vector<TypeRow> types;
    std::vector<std::pair<std::string, std::string>> missing; // path, expected when removed
    std::vector<std::pair<std::string, std::string>> empty;   // path, expected when ""
    std::vector<std::pair<std::string, std::string>> extra;   // more (json, expected) cases of its own
    std::string duplicate_label_prefix; // "" or "data." for the data fields: labels are paths
};

// "<label> must be <what>, got <type>"
std::string must(const std::string& label, const std::string& what, const std::string& type) {
    return label + " must be " + what + ", got " + type;
}
// A row for a field that takes only `what` (nlohmann type names), with overrides.
std::vector<std::string> only(const std::string& label, const std::string& what,
                              std::map<std::size_t, std::string> overrides = {}) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < type_values.size(); ++i)
        out.push_back(overrides.count(i) != 0 ? overrides[i] : must(label, what, type_names[i]));
    return out;
}
constexpr std::size_t col_number = 0, col_string = 1, col_boolean = 2, col_null = 3;

std::string quoted_value(const std::string& value) {
    // As the adapters quote values in errors: at most 64 bytes, then "...".
    return value.size() <= 64 ? quote(value) : "\"" + value.substr(0, 64) + "...\"";
}

Adapter alibaba_adapter(std::string name, std::function<bool(std::string_view, Event&, std::string&)> parse_into,
                        std::function<ParseResult(std::string_view)> try_parse,
                        std::function<Event(std::string_view)> parse) {
    Adapter a;
    a.name = std::move(name);
    a.good.top = {{"clientId", R"("GID_XXX@@@dev1")"},
                  {"channelId", R"("2b9b1281046046faafe5e0b458e4a1b2")"},
                  {"eventType", R"("connect")"},
                  {"time", "1764000000000"},
                  {"clientIp", R"("192.0.2.7:13222")"}};
    a.good_event = {"GID_XXX@@@dev1", "2b9b1281046046faafe5e0b458e4a1b2", EventType::connect, 1764000000000,
                    "192.0.2.7:13222"};
    a.parse_into = std::move(parse_into);
    a.try_parse = std::move(try_parse);
    a.parse = std::move(parse);
    a.ids = {{"clientId", R"("clientId")"}, {"channelId", R"("channelId")"}};
    a.integers = {{"time", R"("time")", IntKind::time}};
    a.addresses = {"clientIp"};
    a.event_type_path = "eventType";
    a.event_types = {"connect", "disconnect", "tcpclean"};
    a.unknown_event_type = [](const std::string& v) {
        return "unknown \"eventType\" " + quoted_value(v) + " (expected connect, disconnect or tcpclean)";
    };
    const std::string s = "a string", i = "an integer";
    a.types = {
        {"clientId", only(R"("clientId")", s, {{col_string, ok}})},
        {"channelId", only(R"("channelId")", s, {{col_string, ok}})},
        {"eventType", only(R"("eventType")", s, {{col_string, a.unknown_event_type("x")}})},
        {"time", only(R"("time")", i, {{col_number, ok}})},
        {"clientIp", only(R"("clientIp")", s, {{col_string, ok}, {col_null, ok}})},
    };
    a.missing = {{"clientId", R"(missing field "clientId")"},
                 {"channelId", R"(missing field "channelId")"},
                 {"eventType", R"(missing field "eventType")"},
                 {"time", R"(missing field "time")"},
                 {"clientIp", ok}};
    a.empty = {{"clientId", R"("clientId" is empty)"},
               {"channelId", R"("channelId" is empty)"},
               {"eventType", a.unknown_event_type("")},
               {"time", R"("time" must be an integer, got string "")"},
               {"clientIp", ok}};
    const std::string body = R"("clientId":"a","channelId":"c","eventType":"connect")";
    a.extra = {
        // quoted digits are a time (documented), but only 1 to 19 of them
        {"{" + body + R"(,"time":"253402300799999"})", ok},
        {"{" + body + R"(,"time":"253402300800000"})", R"("time" is after the year 9999)"},
        {"{" + body + R"(,"time":"00000000000000000001"})", R"("time" must be an integer, got string "00000000000000000001")"},
        {"{" + body + R"(,"time":"-1"})", R"("time" must be an integer, got string "-1")"},
        {"{" + body + R"(,"time":" 1"})", R"("time" must be an integer, got string " 1")"},
        {R"({"clientId":"a","channelId":"c","eventType":"connect","time":1,"clientIp":)" + quote(std::string(255, '1')) + "}",
         ok},
        // a close may not name "no connection" here: channelId "" is refused whatever the type
        {R"({"clientId":"a","channelId":"","eventType":"tcpclean","time":1})", R"("channelId" is empty)"},
    };
    return a;
}

Adapter aws_adapter() {
    Adapter a;
    a.name = "AWS IoT";
    a.good.top = {{"clientId", R"("186b5")"},
                  {"timestamp", "1764000000000"},
                  {"eventType", R"("connected")"},
                  {"sessionIdentifier", R"("a4666d2a7d844ae4ac5d7b38c9cb7967")"},
                  {"principalIdentifier", R"("12345678901234567890123456789012")"},
                  {"ipAddress", R"("192.0.2.7")"},
                  {"clientInitiatedDisconnect", "false"},
                  {"disconnectReason", R"("NONE")"},
                  {"thingName", R"("thing-1")"},
                  {"versionNumber", "3"}};
    a.good_event = {"186b5", "3", EventType::connect, 1764000000000, "192.0.2.7"};
    a.parse_into = [](std::string_view j, Event& e, std::string& error) { return parse_aws_iot_event(j, e, error); };
    a.try_parse = [](std::string_view j) { return try_parse_aws_iot_event(j); };
    a.parse = [](std::string_view j) { return parse_aws_iot_event(j); };
    a.clears_event_on_failure = true;
    a.ids = {{"clientId", R"("clientId")"}};
    a.integers = {{"timestamp", R"("timestamp")", IntKind::time}, {"versionNumber", R"("versionNumber")", IntKind::key63}};
    a.addresses = {"ipAddress"};
    a.event_type_path = "eventType";
    a.event_types = {"connected", "disconnected"};
    a.unknown_event_type = [](const std::string& v) {
        return R"("eventType" must be "connected" or "disconnected", got )" + quoted_value(v);
    };
    const std::string s = "a string", i = "an integer";
    std::vector<std::string> event_type_row;
    for (const std::string& type : type_names)
        event_type_row.push_back(R"("eventType" must be "connected" or "disconnected", got )" +
                                 (type == "string \"x\"" ? std::string(R"("x")") : type));
    a.types = {
        {"clientId", only(R"("clientId")", s, {{col_string, ok}})},
        {"timestamp", only(R"("timestamp")", i, {{col_number, ok}})},
        {"eventType", event_type_row},
        {"versionNumber", only(R"("versionNumber")", i, {{col_number, ok}})},
        {"ipAddress", only(R"("ipAddress")", s, {{col_string, ok}, {col_null, ok}})},
        {"sessionIdentifier", only(R"("sessionIdentifier")", s, {{col_string, ok}, {col_null, ok}})},
        {"principalIdentifier", only(R"("principalIdentifier")", s, {{col_string, ok}, {col_null, ok}})},
        {"clientInitiatedDisconnect",
         only(R"("clientInitiatedDisconnect")", "a boolean", {{col_boolean, ok}, {col_null, ok}})},
        {"disconnectReason", only(R"("disconnectReason")", s, {{col_string, ok}, {col_null, ok}})},
        {"thingName", only(R"("thingName")", s, {{col_string, ok}, {col_null, ok}})},
    };
    a.missing = {{"clientId", R"("clientId" is missing)"},
                 {"timestamp", R"("timestamp" is missing)"},
                 {"eventType", R"("eventType" is missing)"},
                 {"versionNumber", R"("versionNumber" is missing)"},
                 {"ipAddress", ok},
                 {"sessionIdentifier", ok},
                 {"principalIdentifier", ok},
                 {"clientInitiatedDisconnect", ok},
                 {"disconnectReason", ok},
                 {"thingName", ok}};
    a.empty = {{"clientId", R"("clientId" is empty)"},
               {"eventType", a.unknown_event_type("")},
               {"timestamp", R"("timestamp" must be an integer, got string "")"},
               {"versionNumber", R"("versionNumber" must be an integer, got string "")"},
               {"ipAddress", ok},
               {"sessionIdentifier", ok},
               {"disconnectReason", ok}};
    a.extra = {
        // unlike Alibaba and EMQX, a quoted time is refused: AWS always sends numbers
        {R"({"clientId":"a","timestamp":"1","eventType":"connected","versionNumber":0})",
         R"("timestamp" must be an integer, got string "1")"},
        {R"({"clientId":"a","timestamp":1,"eventType":"connected","versionNumber":"0"})",
         R"("versionNumber" must be an integer, got string "0")"},
    };
    return a;
}

Adapter emqx_adapter() {
    Adapter a;
    a.name = "EMQX";
    a.good.top = {{"event", R"("client.disconnected")"},
                  {"clientid", R"("dev1")"},
                  {"reason", R"("normal")"},
                  {"disconnected_at", "1764000020000"},
                  {"connected_at", "1764000000000"},
                  {"peername", R"("192.0.2.7:52431")"},
                  {"ipaddress", R"("192.0.2.7")"},
                  {"timestamp", "1764000020001"},
                  {"ts", "1764000020002"},
                  {"node", R"("emqx@127.0.0.1")"}};
    a.good_event = {"dev1", "1764000000000", EventType::tcpclean, 1764000020000, "192.0.2.7:52431"};
    a.parse_into = [](std::string_view j, Event& e, std::string& error) { return parse_emqx_event(j, e, error); };
    a.try_parse = [](std::string_view j) { return try_parse_emqx_event(j); };
    a.parse = [](std::string_view j) { return parse_emqx_event(j); };
    a.ids = {{"clientid", R"("clientid")"}};
    a.integers = {{"connected_at", R"("connected_at")", IntKind::time},
                  {"disconnected_at", R"("disconnected_at")", IntKind::time},
                  {"timestamp", R"("timestamp")", IntKind::time},
                  {"ts", R"("ts")", IntKind::time}};
    a.addresses = {"peername", "ipaddress"};
    a.event_type_path = "event";
    a.event_types = {"client.connected", "client.disconnected"};
    a.unknown_event_type = [](const std::string& v) {
        return "unknown \"event\" " + quoted_value(v) + " (expected client.connected or client.disconnected)";
    };
    const std::string s = "a string", i = "an integer";
    a.types = {
        {"event", only(R"("event")", s, {{col_string, a.unknown_event_type("x")}})},
        {"clientid", only(R"("clientid")", s, {{col_string, ok}})},
        // a null time counts as absent: the next time of the kind takes its place
        {"connected_at", only(R"("connected_at")", i, {{col_number, ok}, {col_string, R"("connected_at" must be an integer, got string "x")"}, {col_null, ok}})},
        {"disconnected_at", only(R"("disconnected_at")", i, {{col_number, ok}, {col_string, R"("disconnected_at" must be an integer, got string "x")"}, {col_null, ok}})},
        {"timestamp", only(R"("timestamp")", i, {{col_number, ok}, {col_string, R"("timestamp" must be an integer, got string "x")"}, {col_null, ok}})},
        {"ts", only(R"("ts")", i, {{col_number, ok}, {col_string, R"("ts" must be an integer, got string "x")"}, {col_null, ok}})},
        {"reason", only(R"("reason")", s, {{col_string, ok}, {col_null, ok}})},
        {"peername", only(R"("peername")", s, {{col_string, ok}, {col_null, ok}})},
        {"ipaddress", only(R"("ipaddress")", s, {{col_string, ok}, {col_null, ok}})},
    };
    a.missing = {{"event", ok}, // disconnected_at and reason say it is a disconnection
                 {"clientid", R"(missing field "clientid")"},
                 {"reason", ok},
                 {"disconnected_at", ok}, // timestamp stands in
                 {"connected_at", ok},    // a key-less close (rule 14)
                 {"peername", ok},
                 {"ipaddress", ok},
                 {"timestamp", ok},
                 {"ts", ok}};
    a.empty = {{"clientid", R"("clientid" is empty)"},
               {"event", a.unknown_event_type("")},
               {"connected_at", R"("connected_at" must be an integer, got string "")"},
               {"ts", R"("ts" must be an integer, got string "")"},
               {"reason", ok},
               {"peername", ok}};
    a.extra = {
        {R"({"event":"client.connected","clientid":"a"})", R"(missing field "connected_at")"},
        {R"({"event":"client.disconnected","clientid":"a","connected_at":1})",
         R"(missing field "disconnected_at" (or "timestamp" or "ts"))"},
        {R"({"clientid":"a","ts":1})",
         R"(neither connected nor disconnected: no "event", "connected_at", "disconnected_at" or "reason")"},
        {R"({"clientid":"a","connected_at":null,"ts":1})",
         R"(neither connected nor disconnected: no "event", "connected_at", "disconnected_at" or "reason")"},
        {R"({"clientid":"a","connected_at":"253402300800000"})", R"("connected_at" is after the year 9999)"},
        {R"({"clientid":"a","connected_at":"00000000000000000001"})",
         R"("connected_at" must be an integer, got string "00000000000000000001")"},
    };
    return a;
}

Adapter azure_adapter() {
    Adapter a;
    a.name = "Azure Event Grid MQTT";
    a.good.top = {{"specversion", R"("1.0")"},
                  {"id", R"("3f0d5a4e-1c2b-4d6e-9f80-112233445566")"},
                  {"time", R"("2025-11-24T16:00:00.645Z")"},
                  {"type", R"("Microsoft.EventGrid.MQTTClientSessionConnected")"},
                  {"source", R"("/subscriptions/x/namespaces/presence-ns")"},
                  {"subject", R"("clients/sensor-17-auth/sessions/sensor-17")"},
                  {"data", ""}};
    a.good.data = {{"namespaceName", R"("presence-ns")"},
                   {"clientAuthenticationName", R"("sensor-17-auth")"},
                   {"clientSessionName", R"("sensor-17")"},
                   {"sequenceNumber", "3"},
                   {"disconnectionReason", R"("ClientInitiatedDisconnect")"}};
    a.good_event = {"sensor-17", "3", EventType::connect, 1764000000645, ""};
    a.parse_into = [](std::string_view j, Event& e, std::string& error) { return parse_azure_eg_mqtt_event(j, e, error); };
    a.try_parse = [](std::string_view j) { return try_parse_azure_eg_mqtt_event(j); };
    a.parse = [](std::string_view j) { return parse_azure_eg_mqtt_event(j); };
    a.message_size_limit = true;
    a.arrays_of_one = true;
    a.top_level = "message must be a JSON object or an array of one, got ";
    a.ids = {{"data.clientSessionName", R"("data.clientSessionName")"}};
    a.integers = {{"data.sequenceNumber", R"("data.sequenceNumber")", IntKind::key64}};
    a.event_type_path = "type";
    a.event_types = {std::string(azure_eg_mqtt_connected), std::string(azure_eg_mqtt_disconnected)};
    a.unknown_event_type = [](const std::string& v) {
        return "unknown \"type\" " + quoted_value(v) +
               " (expected Microsoft.EventGrid.MQTTClientSessionConnected or "
               "Microsoft.EventGrid.MQTTClientSessionDisconnected)";
    };
    const std::string s = "a string", i = "an integer";
    a.types = {
        {"specversion", only(R"("specversion")", s, {{col_string, R"(unsupported "specversion" "x" (expected "1.0"))"}})},
        {"time", only(R"("time")", s, {{col_string, R"("time" is not an RFC 3339 time: "x" (expected a date YYYY-MM-DD first))"}})},
        {"type", only(R"("type")", s, {{col_string, a.unknown_event_type("x")}})},
        {"data", only(R"("data")", "an object", {{5, ok}})}, // {"a":1}: a data object without its fields
        {"data.clientSessionName", only(R"("data.clientSessionName")", s, {{col_string, ok}})},
        {"data.sequenceNumber", only(R"("data.sequenceNumber")", i, {{col_number, ok}})},
        {"data.namespaceName", only(R"("data.namespaceName")", s, {{col_string, ok}, {col_null, ok}})},
        {"data.clientAuthenticationName", only(R"("data.clientAuthenticationName")", s, {{col_string, ok}, {col_null, ok}})},
        {"data.disconnectionReason", only(R"("data.disconnectionReason")", s, {{col_string, ok}, {col_null, ok}})},
    };
    // "data":{"a":1} holds none of the session's fields
    a.types[3].expected[5] = R"("data.clientSessionName" is missing)";
    a.types[3].expected[col_string] = R"("data" must be an object, got string)"; // (the value is not shown)
    a.missing = {{"specversion", ok},
                 {"id", ok},
                 {"time", R"("time" is missing)"},
                 {"type", R"("type" is missing)"},
                 {"data", R"("data" is missing)"},
                 {"data.clientSessionName", R"("data.clientSessionName" is missing)"},
                 {"data.sequenceNumber", R"("data.sequenceNumber" is missing)"},
                 {"data.namespaceName", ok},
                 {"data.disconnectionReason", ok}};
    a.empty = {{"data.clientSessionName", R"("data.clientSessionName" is empty)"},
               {"type", a.unknown_event_type("")},
               {"time", R"("time" is not an RFC 3339 time: "" (expected a date YYYY-MM-DD first))"},
               {"specversion", R"(unsupported "specversion" "" (expected "1.0"))"},
               {"data.namespaceName", ok}};
    const std::string good = a.good.render();
    const auto at_time = [&](const std::string& t) { return a.good.with("time", quote(t)).render(); };
    a.extra = {
        {"[" + good + "]", ok},
        {"[]", "JSON array holds no event (expected exactly one)"},
        {"[" + good + "," + good + "]",
         "JSON array holds more than one event (expected exactly one: split the batch and parse each event)"},
        {"[1]", "JSON array element must be a JSON object, got number"},
        {"[[" + good + "]]", "JSON array element must be a JSON object, got array"},
        {a.good.with("eventTime", R"("2025-11-24T16:00:00Z")").render(),
         R"(mixed schemas: "type" (CloudEvents) and "eventTime" (Event Grid schema))"},
        {a.good.without("type").without("time").without("specversion").render(),
         R"("type" (CloudEvents) or "eventType" (Event Grid schema) is missing)"},
        // times: RFC 3339 only, 1970 to the end of 9999 once the offset is applied
        {at_time("9999-12-31T23:59:59.999Z"), ok},
        {at_time("9999-12-31T23:59:59.999-00:01"), R"("time" is after the year 9999: "9999-12-31T23:59:59.999-00:01")"},
        {at_time("10000-01-01T00:00:00Z"),
         R"("time" is not an RFC 3339 time: "10000-01-01T00:00:00Z" (expected a date YYYY-MM-DD first))"},
        {at_time("1969-12-31T23:59:59.999Z"), R"("time" is before 1970: "1969-12-31T23:59:59.999Z")"},
        {at_time("1970-01-01T00:00:00+00:01"), R"("time" is before 1970: "1970-01-01T00:00:00+00:01")"},
        {at_time("0000-01-01T00:00:00Z"), R"("time" is before 1970: "0000-01-01T00:00:00Z")"},
        {at_time("-001-01-01T00:00:00Z"),
         R"("time" is not an RFC 3339 time: "-001-01-01T00:00:00Z" (expected a date YYYY-MM-DD first))"},
        {at_time("2025-02-29T00:00:00Z"),
         R"("time" is not an RFC 3339 time: "2025-02-29T00:00:00Z" (day 29 of 2025-02, which has 28 days))"},
        {at_time("2025-11-24T16:00:00"),
         R"("time" is not an RFC 3339 time: "2025-11-24T16:00:00" (no time zone (expected Z or an offset such as +08:00)))"},
        {at_time("2025-11-24T16:00:00Z\\r"),
         "\"time\" is not an RFC 3339 time: \"2025-11-24T16:00:00Z?\" (trailing characters after the time zone)"},
        {at_time("2025-11-24T16:00:00." + std::string(100000, '9') + "Z"), ok},
    };
    return a;
}

#ifdef MQTT_PRESENCE_TEST_SIMDJSON
// The simdjson parser the corpus runs through: one for all messages, reused as a consumer
// reuses it, so that its buffer grows and shrinks between messages of every size.
AlibabaSimdjsonParser& simdjson_parser() {
    static AlibabaSimdjsonParser parser;
    return parser;
}
void before_message() {}
#else
void before_message() {}
#endif

std::vector<Adapter> adapters() {
    std::vector<Adapter> all;
    all.push_back(alibaba_adapter(
            "Alibaba (nlohmann)",
            [](std::string_view j, Event& e, std::string& error) { return parse_alibaba_event(j, e, error); },
            [](std::string_view j) { return try_parse_alibaba_event(j); },
            [](std::string_view j) { return parse_alibaba_event(j); }));
#ifdef MQTT_PRESENCE_TEST_SIMDJSON
    all.push_back(alibaba_adapter(
            "Alibaba (simdjson)",
            [](std::string_view j, Event& e, std::string& error) { return simdjson_parser().parse(j, e, error); },
            [](std::string_view j) { return simdjson_parser().try_parse(j); },
            [](std::string_view j) { return simdjson_parser().parse(j); }));
#endif
    all.push_back(aws_adapter());
    all.push_back(emqx_adapter());
    all.push_back(azure_adapter());
    return all;
}

// ---- the corpus ------------------------------------------------------------------------------

struct Case {
    std::string what;
    std::string json;
    std::string expected;     // the error, or "<ok>"
    bool same_event = false;  // accepted: must give exactly the good message's event
};

std::vector<Case> corpus(const Adapter& a) {
    std::vector<Case> cases;
    const std::string good = a.good.render();
    const std::size_t n = good.size();
    const auto add = [&](std::string what, std::string json, std::string expected, bool same = false) {
        cases.push_back(Case{std::move(what), std::move(json), std::move(expected), same});
    };

    add("the good message", good, ok, true);

    // Truncation: every proper prefix (the message is valid JSON only whole).
    for (std::size_t k = 0; k < n; ++k)
        add("prefix of " + std::to_string(k) + " bytes", good.substr(0, k),
            k == 0 ? "empty message" : "malformed JSON: unexpected end of input after byte " + std::to_string(k));

    // Wrong types, nulls, missing fields, empty strings.
    for (const TypeRow& row : a.types)
        for (std::size_t i = 0; i < type_values.size(); ++i)
            add(row.path + " = " + type_values[i], a.good.with(row.path, type_values[i]).render(), row.expected[i]);
    for (const auto& [path, expected] : a.missing) add("without " + path, a.good.without(path).render(), expected);
    for (const auto& [path, expected] : a.empty) add(path + " = \"\"", a.good.with(path, R"("")").render(), expected);

    // Messages that are JSON but not an object.
    for (const auto& [json, type] : std::vector<std::pair<std::string, std::string>>{
                 {"42", "number"}, {"\"text\"", "string"}, {"null", "null"}, {"true", "boolean"}, {"-1e400", ""}})
        add("top level " + json, json,
            type.empty() ? "malformed JSON: number out of range at byte 1" : a.top_level + type);
    add("top level []", "[]", a.arrays_of_one ? "JSON array holds no event (expected exactly one)" : a.top_level + "array");

    // Ids: empty (above), too long, control characters, invalid UTF-8.
    for (const IdField& id : a.ids) {
        const auto with_id = [&](const std::string& raw) { return a.good.with(id.path, raw).render(); };
        add(id.path + " of 65535 bytes", with_id(quote(std::string(65535, 'x'))), ok);
        add(id.path + " of 65536 bytes", with_id(quote(std::string(65536, 'x'))), id.label + " is longer than 65535 bytes");
        const std::string two_mb = with_id(quote(std::string(2 << 20, 'x')));
        add(id.path + " of 2 MiB", two_mb,
            a.message_size_limit ? "message is larger than 1048576 bytes" : id.label + " is longer than 65535 bytes");
        for (const char* escaped : {R"(\u0000)", R"(\u0001)", R"(\u001f)", R"(\u007f)", R"(\n)", R"(\r)", R"(\t)"})
            add(id.path + " with " + escaped, with_id(quote(std::string("dev") + escaped + "1")),
                id.label + " contains a control character");
        add(id.path + " with a raw DEL", with_id(quote("dev\x7f" "1")), id.label + " contains a control character");
        for (const char raw : {'\x01', '\x1f', '\t', '\r', '\n'}) {
            const std::string json = with_id(quote(std::string("dev") + raw + "1"));
            add(id.path + " with raw control byte " + std::to_string(static_cast<int>(raw)), json,
                "malformed JSON: unescaped control character in a string at byte " +
                        std::to_string(json.find(std::string("dev") + raw) + 4));
        }
        // Invalid UTF-8: the error names the byte where the bad sequence starts.
        const std::vector<std::pair<std::string, std::string>> bad_utf8 = {
                {"overlong '/' (C0 AF)", "\xC0\xAF"},
                {"overlong NUL (C0 80)", "\xC0\x80"},
                {"overlong 3-byte (E0 80 AF)", "\xE0\x80\xAF"},
                {"overlong 4-byte (F0 80 80 AF)", "\xF0\x80\x80\xAF"},
                {"raw surrogate U+D800 (ED A0 80)", "\xED\xA0\x80"},
                {"raw surrogate U+DFFF (ED BF BF)", "\xED\xBF\xBF"},
                {"above U+10FFFF (F4 90 80 80)", "\xF4\x90\x80\x80"},
                {"truncated 2-byte (C3)", "\xC3"},
                {"truncated 3-byte (E2 82)", "\xE2\x82"},
                {"truncated 4-byte (F0 9F 98)", "\xF0\x9F\x98"},
                {"lone continuation (80)", "\x80"},
                {"0xFF", "\xFF"},
                {"0xFE", "\xFE"},
                {"F5 (no such lead)", "\xF5\x80\x80\x80"},
        };
        for (const auto& [what, bytes] : bad_utf8) {
            const std::string json = with_id(quote("dev" + bytes + "1"));
            add(id.path + " with " + what, json,
                "malformed JSON: invalid UTF-8 in a string at byte " + std::to_string(json.find("dev" + bytes) + 4));
        }
        // A truncated sequence at the very end of the message.
        {
            const std::string json = good.substr(0, good.find(a.good.raw_of(id.path)) + 1) + "dev\xE2\x82";
            add(id.path + " ending in a truncated sequence", json,
                "malformed JSON: invalid UTF-8 in a string at byte " + std::to_string(json.size() - 1));
        }
        for (const auto& [what, escape] : std::vector<std::pair<std::string, std::string>>{
                     {"escaped lone high surrogate", R"(\ud800)"},
                     {"escaped lone low surrogate", R"(\udc00)"},
                     {"escaped high surrogate then a letter", R"(\ud800\u0041)"},
                     {"escaped surrogates reversed", R"(\udc00\ud800)"}}) {
            const std::string json = with_id(quote("dev" + escape + "1"));
            add(id.path + " with an " + what, json,
                "malformed JSON: unpaired UTF-16 surrogate in a string at byte " + std::to_string(json.find("dev" + escape) + 4));
        }
        // Valid UTF-8 and paired surrogates are ids like any other.
        add(id.path + " with valid multibyte UTF-8", with_id(quote("d\xC3\xA9v\xE2\x82\xAC\xF0\x9F\x98\x80")), ok);
        add(id.path + " with a paired escaped surrogate", with_id(quote(R"(dev\ud83d\ude00)")), ok);
        add(id.path + " twice", a.good.twice(id.path, a.good.raw_of(id.path)).render(), "duplicate field " + id.label);
        add(id.path + " twice, different", a.good.twice(id.path, R"("other")").render(), "duplicate field " + id.label);
    }

    // Integers: huge, negative, fractional, out of range.
    for (const IntField& f : a.integers) {
        const auto with = [&](const std::string& raw) { return a.good.with(f.path, raw).render(); };
        const std::string negative = f.label + " is negative";
        const std::string fraction = f.label + " must be an integer, got a number with a fraction or exponent";
        const std::string late = f.label + " is after the year 9999";
        const std::string large63 = f.label + " is larger than 9223372036854775807";
        const std::string large64 = f.label + " is larger than 18446744073709551615";
        const bool time = f.kind == IntKind::time;
        const auto by_kind = [&](const std::string& as_time, const std::string& as_key63, const std::string& as_key64) {
            return time ? as_time : f.kind == IntKind::key63 ? as_key63 : as_key64;
        };
        const std::vector<std::pair<std::string, std::string>> values = {
                {"0", ok},
                {"-0", ok},
                {"-1", negative},
                {"-9223372036854775808", negative},        // INT64_MIN
                {"-9223372036854775809", negative},        // -2^63 - 1
                {"-18446744073709551616", negative},
                {"-1e400", "malformed JSON: number out of range at byte "},
                {"253402300799999", ok},                   // 9999-12-31T23:59:59.999Z
                {"253402300800000", by_kind(late, ok, ok)}, // a millisecond later
                {"9223372036854775807", by_kind(late, ok, ok)}, // INT64_MAX
                {"9223372036854775808", by_kind(late, large63, ok)}, // 2^63
                {"18446744073709551615", by_kind(late, large63, ok)}, // 2^64 - 1
                {"18446744073709551616", by_kind(late, large63, large64)}, // 2^64
                {"1" + std::string(300, '0'), by_kind(late, large63, large64)}, // 1e300: a double
                // numbers beyond a double's range are not JSON that nlohmann reads: syntax errors
                {"1" + std::string(400, '0'), "malformed JSON: number out of range at byte "},
                {"1e400", "malformed JSON: number out of range at byte "},
                {"1.5", fraction},
                {"1e3", fraction},
                {"1E+3", fraction},
                {"1.0", fraction},
                {"-1.5", fraction},
                {"01", "malformed JSON: invalid number at byte "},
                {"+1", "malformed JSON: unexpected character '+' at byte "},
                {"0x10", "malformed JSON: invalid number at byte "},
                {"NaN", "malformed JSON: unexpected character 'N' at byte "},
                {"Infinity", "malformed JSON: unexpected character 'I' at byte "},
        };
        for (const auto& [raw, expected] : values) {
            const std::string json = with(raw);
            std::string want = expected;
            // a syntax error names the number's first byte
            if (want.rfind("malformed JSON", 0) == 0) want += std::to_string(json.find(":" + raw) + 2);
            add(f.path + " = " + raw.substr(0, 40), json, want);
        }
        add(f.path + " twice", a.good.twice(f.path, a.good.raw_of(f.path)).render(),
            "duplicate field " + f.label);
    }

    // Addresses: at most 255 bytes.
    for (const std::string& path : a.addresses) {
        add(path + " of 255 bytes", a.good.with(path, quote(std::string(255, '1'))).render(), ok);
        add(path + " of 256 bytes", a.good.with(path, quote(std::string(256, '1'))).render(),
            quote(path) + " is longer than 255 bytes");
        add(path + " of 2 MiB", a.good.with(path, quote(std::string(2 << 20, '1'))).render(),
            quote(path) + " is longer than 255 bytes");
    }

    // Unknown event types: never "offline", always refused, quoted at most 64 bytes.
    {
        const auto with = [&](const std::string& raw) { return a.good.with(a.event_type_path, raw).render(); };
        for (const std::string& type : {std::string("online"), std::string("offline"), std::string("CONNECT"),
                                        std::string("connect "), std::string(" connect"), std::string("tcpClean"),
                                        std::string("connected"), std::string("client.connected"),
                                        std::string("Microsoft.EventGrid.MQTTClientCreatedOrUpdated"),
                                        std::string("Microsoft.EventGrid.MQTTClientDeleted"),
                                        std::string(1000, 'x'), std::string(2 << 20, 'y')}) {
            if (std::find(a.event_types.begin(), a.event_types.end(), type) != a.event_types.end()) continue;
            const std::string json = with(quote(type));
            if (a.message_size_limit && json.size() > (1U << 20)) {
                add("event type of " + std::to_string(type.size()) + " bytes", json, "message is larger than 1048576 bytes");
                continue;
            }
            add("event type " + type.substr(0, 40), json, a.unknown_event_type(type));
        }
        // A control character in the type is shown as '?'.
        add("event type with an escaped NUL", with(R"("connect\u0000")"), a.unknown_event_type("connect?"));
        add("event type twice", a.good.twice(a.event_type_path, a.good.raw_of(a.event_type_path)).render(),
            "duplicate field " + quote(a.event_type_path));
    }

    // Duplicate fields: every field the adapter reads, given twice; an unknown one twice is fine.
    for (const TypeRow& row : a.types)
        if (row.path != a.event_type_path && row.path != "data")
            add(row.path + " given twice", a.good.twice(row.path, a.good.raw_of(row.path)).render(),
                "duplicate field " + quote(row.path));
    add("an unknown field twice", a.good.with("x-unknown", "1").twice("x-unknown", "2").render(), ok);

    // Huge values where nothing reads them; a 2 MiB message.
    const std::string two_mb_unknown = a.good.with("x-blob", quote(std::string(2 << 20, 'z'))).render();
    add("an unknown field of 2 MiB", two_mb_unknown, a.message_size_limit ? "message is larger than 1048576 bytes" : ok,
        !a.message_size_limit);
    add("an unknown field of 1e400", a.good.with("x-big", "1e400").render(),
        "malformed JSON: number out of range at byte " + std::to_string(a.good.with("x-big", "1e400").render().find(":1e400") + 2));
    add("an unknown field of 2^64", a.good.with("x-big", "18446744073709551616").render(), ok, true);
    add("an unknown field of -2^63 - 1", a.good.with("x-big", "-9223372036854775809").render(), ok, true);

    // Deep nesting: 10,000 levels of [ and {.
    const std::size_t deep = 10000;
    const std::string arrays = std::string(deep, '[') + std::string(deep, ']');
    std::string objects;
    for (std::size_t i = 0; i < deep; ++i) objects += "{\"a\":";
    objects += "1" + std::string(deep, '}');
    add("10,000 nested arrays", arrays,
        a.arrays_of_one ? "JSON array element must be a JSON object, got array" : a.top_level + "array");
    add("10,000 nested objects", objects, "JSON nested deeper than 64 levels");
    add("10,000 nested arrays in an unknown field", a.good.with("x-deep", arrays).render(), "JSON nested deeper than 64 levels");
    add("10,000 nested objects in an unknown field", a.good.with("x-deep", objects).render(), "JSON nested deeper than 64 levels");
    add("10,000 unclosed arrays", std::string(deep, '['), "malformed JSON: unexpected end of input after byte 10000");
    add("10,000 unclosed objects", std::string(deep, '{'), "malformed JSON: unexpected character '{' at byte 2");
    add("64 levels are fine", a.good.with("x-deep", std::string(63, '[') + std::string(63, ']')).render(), ok, true);
    add("65 levels are not", a.good.with("x-deep", std::string(64, '[') + std::string(64, ']')).render(),
        "JSON nested deeper than 64 levels");
    add("10,000 closing brackets", good + std::string(deep, ']'), "malformed JSON: trailing characters at byte " + std::to_string(n + 1));

    // Trailing garbage.
    const std::string at_end = "malformed JSON: trailing characters at byte ";
    add("trailing x", good + "x", at_end + std::to_string(n + 1));
    add("trailing space and brace", good + " }", at_end + std::to_string(n + 2));
    add("two messages on one line", good + good, at_end + std::to_string(n + 1));
    add("two messages, CRLF between", good + "\r\n" + good, at_end + std::to_string(n + 3));
    add("trailing comma", good + ",", at_end + std::to_string(n + 1));
    add("trailing NUL", good + std::string(1, '\0'), at_end + std::to_string(n + 1));
    add("trailing NUL and more", good + std::string("\0{}", 3), at_end + std::to_string(n + 1));
    add("trailing 0xFF", good + "\xFF", at_end + std::to_string(n + 1));
    add("trailing comment", good + " // note", at_end + std::to_string(n + 2));
    add("comma before the brace", good.substr(0, n - 1) + ",}", "malformed JSON: unexpected character '}' at byte " + std::to_string(n + 1));

    // Byte order marks, line ends, blank lines: what every adapter documents.
    const std::string bom = "\xEF\xBB\xBF";
    add("a UTF-8 BOM", bom + good, ok, true);
    add("a BOM then CRLF", bom + good + "\r\n", ok, true);
    add("a BOM alone", bom, "empty message");
    add("a BOM and whitespace", bom + " \t\r\n", "empty message");
    add("two BOMs", bom + bom + good, "malformed JSON: unexpected byte 0xEF at byte 4");
    add("a BOM after a space", " " + bom + good, "malformed JSON: unexpected byte 0xEF at byte 2");
    add("half a BOM", "\xEF\xBB" + good, "malformed JSON: invalid byte order mark at byte 1");
    add("a UTF-16 BOM", "\xFE\xFF" + good, "malformed JSON: unexpected byte 0xFE at byte 1");
    add("CRLF at the end", good + "\r\n", ok, true);
    add("CR at the end", good + "\r", ok, true);
    add("LF at the end", good + "\n", ok, true);
    add("CRLF before", "\r\n" + good, ok, true);
    add("CRLF between every token", [&] {
        std::string spaced;
        bool in_string = false, escaped = false;
        for (const char c : good) {
            spaced += c;
            if (in_string) {
                if (escaped)
                    escaped = false;
                else if (c == '\\')
                    escaped = true;
                else if (c == '"')
                    in_string = false;
            } else if (c == '"') {
                in_string = true;
            } else if (c == ',' || c == ':' || c == '{' || c == '[') {
                spaced += "\r\n";
            }
        }
        return spaced;
    }(), ok, true);
    add("empty line", "", "empty message");
    for (const std::string& blank : std::vector<std::string>{std::string(" "), std::string("\t"), std::string("\r"), std::string("\n"),
                                     std::string("\r\n"), std::string(" \t \r\n\r\n  ")})
        add("whitespace-only line", blank, "empty message");
    add("vertical tab", "\v", "malformed JSON: unexpected byte 0x0B at byte 1");
    add("form feed", "\f" + good, "malformed JSON: unexpected byte 0x0C at byte 1");
    add("no-break space", "\xC2\xA0" + good, "malformed JSON: unexpected byte 0xC2 at byte 1");
    add("NUL line", std::string(1, '\0'), "malformed JSON: unexpected byte 0x00 at byte 1");
    add("invalid UTF-8 in a key", "{\"\xFF\":1," + good.substr(1), "malformed JSON: invalid UTF-8 in a string at byte 3");
    add("single quotes", "{'a':1}", "malformed JSON: unexpected character ''' at byte 2");

    for (const auto& [json, expected] : a.extra) add("extra: " + json.substr(0, 60), json, expected);
    return cases;
}

// ---- the store, and a digest of everything it holds -------------------------------------------

void append_time(std::string& out, std::int64_t t) { out += std::to_string(t) + ","; }

template <class Store>
std::string state_of(const Store& store) {
    std::map<std::string, std::string> records;
    store.storage().for_each([&](std::string_view id, const ClientRecord& record) {
        std::string r;
        append_time(r, record.latest_connect_ms);
        append_time(r, record.closed_through_ms);
        append_time(r, record.last_event_ms);
        append_time(r, record.last_offline_ms);
        r += record.last_offline_graceful ? "g" : "-";
        r += "|" + std::to_string(record.channels.size()) + "|";
        for (const Channel& ch : record.channels) {
            r += ch.key.str() + "," + ch.address.str() + ",";
            append_time(r, ch.connect_ms);
            append_time(r, ch.close_ms);
            append_time(r, ch.disconnect_ms);
            r += std::string(to_string(ch.close_cause)) + (ch.synthetic ? ",s;" : ",-;");
        }
        records.emplace(std::string(id), std::move(r));
    });
    std::string out = "size " + std::to_string(store.size()) + " online " + std::to_string(store.online_count()) + "\n";
    store.for_each_group([&](std::string_view group, std::size_t online) {
        out += "group " + std::string(group) + " " + std::to_string(online) + "\n";
    });
    for (const auto& [id, r] : records) out += std::to_string(id.size()) + ":" + id + "=" + r + "\n";
    return out;
}

std::uint64_t fnv1a(std::string_view bytes) {
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

std::string counters_text(const Counters& c) {
    return "events " + std::to_string(c.events) + " applied " + std::to_string(c.applied) + " superseded " +
           std::to_string(c.superseded) + " behind_watermark " + std::to_string(c.behind_watermark) + " duplicates " +
           std::to_string(c.duplicates) + " stale " + std::to_string(c.stale) + " refused " + std::to_string(c.refused) +
           " invalid " + std::to_string(c.invalid) + " reconciles " + std::to_string(c.reconciles) + " went_online " +
           std::to_string(c.went_online) + " went_offline " + std::to_string(c.went_offline);
}

// A store holding a few hundred generated clients: online ones, offline ones with tombstones,
// watermarks, reconcile answers.
template <class Store>
void fill(Store& store) {
    using namespace mqtt_presence::testing;
    const Batch batch = generate_batch(20251124, 0, 300, HistoryOptions{}, DeliveryOptions{});
    for (const Delivery& d : batch.deliveries) {
        if (d.kind == Delivery::Kind::event)
            store.ingest(d.event);
        else
            store.reconcile(d.event.client_id, d.online, d.as_of_ms);
    }
}

std::string preview(const std::string& json) {
    std::string out;
    for (const char c : json.substr(0, 120)) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) {
            constexpr char digits[] = "0123456789ABCDEF";
            out += std::string("\\x") + digits[u >> 4] + digits[u & 15];
        } else {
            out += c;
        }
    }
    if (json.size() > 120) out += "... (" + std::to_string(json.size()) + " bytes)";
    return out;
}

bool same_event(const Event& a, const Event& b) {
    return a.client_id == b.client_id && a.channel_id == b.channel_id && a.type == b.type && a.time_ms == b.time_ms &&
           a.client_ip == b.client_ip;
}

// Printable ASCII or valid UTF-8 with no control character: safe in a log line.
bool printable(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) return false;
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (len == 0 || i + len > text.size()) return false;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
        if (c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) return false; // C1 controls
        i += len;
    }
    return true;
}

// Runs the corpus through every adapter over a store of a few hundred clients.
void run_corpus() {
    ClientStatusStore<> store;
    fill(store);
    REQUIRE(store.size() == 300);
    REQUIRE(store.online_count() > 0);
    REQUIRE(store.online_count() < store.size());
    const std::string state = state_of(store);
    Counters counters = store.counters();
    INFO("store digest " << fnv1a(state));

    for (const Adapter& a : adapters()) {
        const std::vector<Case> cases = corpus(a);
        std::size_t refused = 0;
        for (const Case& c : cases) {
            INFO(a.name << ": " << c.what << ": " << preview(c.json));
            before_message();
            // The non-throwing parse: never throws for bad input.
            ParseResult result;
            bool threw = false;
            try {
                result = a.try_parse(c.json);
            } catch (...) {
                threw = true;
            }
            CHECK_FALSE(threw);
            const std::string got = result ? ok : result.error;
            CHECK(got == c.expected);
            if (!result) {
                ++refused;
                CHECK(printable(result.error));
            }
            if (result && c.same_event) CHECK(same_event(*result.event, a.good_event));

            // The buffer-reusing parse, with an event full of another message's values.
            Event reused{"stale-client", "stale-channel", EventType::disconnect, 42, "203.0.113.9:1"};
            std::string error = "stale error";
            bool parsed = false;
            threw = false;
            try {
                parsed = a.parse_into(c.json, reused, error);
            } catch (...) {
                threw = true;
            }
            CHECK_FALSE(threw);
            CHECK((parsed ? ok : error) == c.expected);
            if (parsed && result) CHECK(same_event(reused, *result.event));

            // The throwing parse: ParseError with "mqtt_presence: " and the same words.
            if (c.expected == ok) {
                CHECK_NOTHROW(a.parse(c.json));
            } else {
                CHECK_THROWS_AS(a.parse(c.json), ParseError);
                CHECK_THROWS_WITH(a.parse(c.json), "mqtt_presence: " + c.expected);
            }

            // As a consumer feeds the store: ingest only what parsed.
            if (!result) {
                if (parsed) store.ingest(reused);
                // AWS IoT documents that a failed parse clears the event: even a careless
                // consumer that ingests it anyway gets `invalid` and changes nothing.
                if (a.clears_event_on_failure && !parsed) {
                    const Counters before = store.counters();
                    const Outcome out = store.ingest(reused);
                    CHECK(out.status == Status::invalid);
                    CHECK(out.error == "client_id is empty");
                    Counters expected = before;
                    ++expected.events;
                    ++expected.invalid;
                    CHECK(counters_text(store.counters()) == counters_text(expected));
                }
            }
        }
        INFO(a.name << ": " << cases.size() << " messages, " << refused << " refused");
        std::printf("bad input: %s: %zu messages, %zu refused, the store unchanged\n", a.name.c_str(), cases.size(), refused);
        CHECK(refused > cases.size() / 2);
        // Nothing of it reached the store: every record, every channel field, the counts.
        const std::string after = state_of(store);
        CHECK(fnv1a(after) == fnv1a(state));
        CHECK(after == state);
        Counters expected = counters;
        if (a.clears_event_on_failure) {
            expected.events += refused;
            expected.invalid += refused;
        }
        CHECK(counters_text(store.counters()) == counters_text(expected));
        counters = expected; // the baseline of the next adapter
    }
}

} // namespace

TEST_CASE("every adapter refuses every bad message with its precise error and leaves the store as it was",
          "[hardening][bad_input]") {
    run_corpus();
}

TEMPLATE_TEST_CASE("absurd events that no parser produces change nothing but the invalid count",
                   "[hardening][bad_input]", InMemoryStorage, ConcurrentStorage) {
    ClientStatusStore<TestType> store;
    fill(store);
    const std::string state = state_of(store);
    const Counters before = store.counters();
    // A client the store holds (online), and one it does not.
    std::string known;
    std::string known_channel;
    store.storage().for_each([&](std::string_view id, const ClientRecord& record) {
        if (known.empty() && record.online()) {
            known = std::string(id);
            known_channel = record.current() != nullptr ? record.current()->key.str() : std::string();
        }
    });
    REQUIRE_FALSE(known.empty());
    REQUIRE_FALSE(known_channel.empty());
    const std::string fresh = "GID_test@@@absurd";
    const std::string ch = "2b9b1281046046faafe5e0b458e4a1b2";
    const std::int64_t t = 1764000000000;
    const auto connect = EventType::connect;
    const auto tcpclean = EventType::tcpclean;
    struct Absurd {
        std::string what;
        Event event;
        std::string error;
    };
    std::vector<Absurd> absurd;
    for (const std::string& client : {known, fresh}) {
        const std::string on = client == known ? " (known client)" : " (new client)";
        const std::string channel = client == known ? known_channel : ch;
        absurd.push_back({"time -1" + on, {client, channel, tcpclean, -1, ""}, "time_ms is negative"});
        absurd.push_back({"time INT64_MIN" + on, {client, channel, tcpclean, std::numeric_limits<std::int64_t>::min(), ""},
                          "time_ms is negative"});
        absurd.push_back({"time after 9999" + on, {client, channel, tcpclean, max_time_ms + 1, ""},
                          "time_ms is after the year 9999"});
        absurd.push_back({"time INT64_MAX" + on, {client, channel, connect, std::numeric_limits<std::int64_t>::max(), ""},
                          "time_ms is after the year 9999"});
        absurd.push_back({"empty channel id on a connect" + on, {client, "", connect, t, ""}, "channel_id is empty"});
        absurd.push_back({"channel id of 65536 bytes" + on, {client, std::string(65536, 'k'), tcpclean, t, ""},
                          "channel_id is longer than 65535 bytes"});
        absurd.push_back({"channel id of 2 MiB" + on, {client, std::string(2 << 20, 'k'), connect, t, ""},
                          "channel_id is longer than 65535 bytes"});
        for (const char c : {'\0', '\x01', '\t', '\n', '\r', '\x1f', '\x7f'})
            absurd.push_back({"channel id with byte " + std::to_string(static_cast<int>(c)) + on,
                              {client, std::string("ch") + c + "1", tcpclean, t, ""},
                              "channel_id contains a control character"});
        absurd.push_back({"client ip of 256 bytes" + on, {client, channel, connect, t, std::string(256, '9')},
                          "client_ip is longer than 255 bytes"});
        absurd.push_back({"client ip of 300 bytes" + on, {client, channel, connect, t, std::string(300, '9')},
                          "client_ip is longer than 255 bytes"});
        absurd.push_back({"event type 7" + on, {client, channel, static_cast<EventType>(7), t, ""},
                          "type is not a known event type"});
    }
    absurd.push_back({"empty client id", {"", ch, connect, t, ""}, "client_id is empty"});
    absurd.push_back({"client id of 65536 bytes", {std::string(65536, 'c'), ch, connect, t, ""},
                      "client_id is longer than 65535 bytes"});
    absurd.push_back({"client id of 2 MiB", {std::string(2 << 20, 'c'), ch, connect, t, ""},
                      "client_id is longer than 65535 bytes"});
    for (const char c : {'\0', '\x01', '\t', '\n', '\r', '\x1f', '\x7f'}) {
        absurd.push_back({"client id with byte " + std::to_string(static_cast<int>(c)),
                          {std::string("GID_a@@@d") + c + "1", ch, connect, t, ""}, "client_id contains a control character"});
        absurd.push_back({"known client id with byte " + std::to_string(static_cast<int>(c)) + " appended",
                          {known + c, known_channel, tcpclean, t, ""}, "client_id contains a control character"});
    }
    // Several problems at once: the first check (client id, channel id, type, time, address) names it.
    absurd.push_back({"everything wrong", {"", "", static_cast<EventType>(9), -1, std::string(300, 'x')}, "client_id is empty"});
    absurd.push_back({"all but the client id wrong", {fresh, "", connect, -1, std::string(300, 'x')}, "channel_id is empty"});
    absurd.push_back({"type and time wrong", {fresh, ch, static_cast<EventType>(9), -1, ""}, "type is not a known event type"});

    // One at a time, then all in one batch.
    for (const Absurd& a : absurd) {
        INFO(a.what);
        const Outcome out = store.ingest(a.event);
        CHECK(out.status == Status::invalid);
        CHECK(out.error == a.error);
        CHECK(out.transition == Transition::none);
    }
    std::vector<Event> batch;
    for (const Absurd& a : absurd) batch.push_back(a.event);
    std::size_t seen = 0;
    store.ingest_batch(batch.begin(), batch.end(), [&](const Event&, const Outcome& out) {
        INFO(absurd[seen].what);
        CHECK(out.status == Status::invalid);
        CHECK(out.error == absurd[seen].error);
        ++seen;
    });
    CHECK(seen == absurd.size());

    // Reconcile answers with absurd ids or times.
    struct BadAnswer {
        std::string client;
        std::int64_t as_of;
        std::string error;
    };
    const std::vector<BadAnswer> answers = {
            {"", t, "client_id is empty"},
            {std::string(65536, 'c'), t, "client_id is longer than 65535 bytes"},
            {std::string("dev\n1"), t, "client_id contains a control character"},
            {known, -1, "as_of_ms is negative"},
            {known, std::numeric_limits<std::int64_t>::min(), "as_of_ms is negative"},
            {known, max_time_ms + 1, "as_of_ms is after the year 9999"},
            {known, std::numeric_limits<std::int64_t>::max(), "as_of_ms is after the year 9999"},
            {fresh, -1, "as_of_ms is negative"},
            {fresh, max_time_ms + 1, "as_of_ms is after the year 9999"},
    };
    for (const BadAnswer& a : answers)
        for (const bool online : {false, true}) {
            INFO("reconcile " << a.client.substr(0, 20) << " " << online << " " << a.as_of);
            const Outcome out = store.reconcile(a.client, online, a.as_of);
            CHECK(out.status == Status::invalid);
            CHECK(out.error == a.error);
        }

    CHECK(state_of(store) == state);
    CHECK_FALSE(store.status(fresh));
    Counters expected = before;
    expected.events += 2 * absurd.size();
    expected.invalid += 2 * absurd.size();
    expected.reconciles += 2 * answers.size(); // reconcile answers count there, whatever they did
    CHECK(counters_text(store.counters()) == counters_text(expected));
}

TEMPLATE_TEST_CASE("the store refuses exactly what validate() refuses, for channel ids near the packed hex form",
                   "[hardening][bad_input]", InMemoryStorage, ConcurrentStorage) {
    // The store encodes a channel id before it validates the event, and does not scan an id
    // that the encoding packed as lowercase hex for control characters again: ids that are
    // hex, nearly hex (uppercase, odd length, 33 digits, one byte off) or not hex at all, with
    // and without a control character, on valid and invalid client ids and every event type,
    // one at a time and in batches, get exactly validate()'s answer.
    std::mt19937_64 rng(20261127);
    const std::string hex = "0123456789abcdef";
    const std::string off = std::string("AFgz-_ \x01\x1f\x7f\xC2\x85\x00", 13);
    auto channel_id = [&] {
        std::string id;
        const std::size_t n = rng() % 4 == 0 ? 32 : rng() % 36;
        for (std::size_t i = 0; i < n; ++i) id.push_back(hex[rng() % hex.size()]);
        if (!id.empty() && rng() % 2 == 0) id[rng() % id.size()] = off[rng() % off.size()];
        return id;
    };
    const std::vector<std::string> clients = {"GID_test@@@dev-1", "GID_test@@@dev-2", "", "GID_a@@@d\x01",
                                              std::string(65536, 'c')};
    ClientStatusStore<TestType> store;
    std::size_t invalid = 0;
    std::size_t valid = 0;
    std::vector<Event> batch;
    std::vector<std::string_view> expected;
    for (int round = 0; round < 20000; ++round) {
        Event e;
        e.client_id = rng() % 8 == 0 ? clients[2 + rng() % 3] : clients[rng() % 2];
        e.channel_id = channel_id();
        e.type = static_cast<EventType>(rng() % 4); // (3: not a known type)
        e.time_ms = 1764000000000 + static_cast<std::int64_t>(round);
        const std::string_view why = validate(e);
        INFO("client id " << e.client_id.substr(0, 20) << ", channel id " << e.channel_id << ", type "
                          << static_cast<int>(e.type));
        const Outcome out = store.ingest(e);
        CHECK(out.error == why);
        CHECK((out.status == Status::invalid) == !why.empty());
        (why.empty() ? valid : invalid) += 1;
        batch.push_back(e);
        expected.push_back(why);
    }
    CHECK(valid > 5000); // both sides exercised
    CHECK(invalid > 5000);
    ClientStatusStore<TestType> batched;
    std::size_t seen = 0;
    batched.ingest_batch(batch.begin(), batch.end(), [&](const Event& e, const Outcome& out) {
        // (ConcurrentStorage reports a large batch shard by shard: found by address)
        const auto i = static_cast<std::size_t>(&e - batch.data());
        INFO("channel id " << e.channel_id);
        REQUIRE(i < batch.size());
        CHECK(out.error == expected[i]);
        ++seen;
    });
    CHECK(seen == batch.size());
    CHECK(batched.counters().invalid == invalid);
    CHECK(state_of(batched) == state_of(store));
}

TEST_CASE("the limits themselves are accepted", "[hardening][bad_input]") {
    // The largest id, address and time; the earliest time: each applied.
    ClientStatusStore<> store;
    const std::string id(65535, 'c');
    const std::string channel(65535, 'k');
    CHECK(store.ingest(Event{id, channel, EventType::connect, 0, std::string(255, '9')}).status == Status::applied);
    CHECK(store.is_online(id));
    CHECK(store.ingest(Event{id, channel, EventType::tcpclean, max_time_ms, ""}).status == Status::applied);
    CHECK_FALSE(store.is_online(id));
    CHECK(store.counters().invalid == 0);
}

// ---- regressions: bugs this corpus found ------------------------------------------------------

#ifdef MQTT_PRESENCE_TEST_SIMDJSON
TEST_CASE("a reused simdjson parser reads a valid message that grows its buffer by less than the padding",
          "[regression][simdjson]") {
    // AlibabaSimdjsonParser::read passed m_buffer.size() to iterate() in the same call as
    // padded(json), which may grow m_buffer: evaluated first (GCC evaluates arguments right to
    // left), the old size leaves less than SIMDJSON_PADDING bytes after a message whose length
    // lies within 64 bytes below it, and simdjson refuses it (INSUFFICIENT_PADDING), reported
    // as "malformed JSON". After a 162-byte message the buffer holds 1,024 bytes: any valid
    // message of 961 to 1,024 bytes is then refused once.
    AlibabaSimdjsonParser parser;
    const std::string small = R"({"clientId":"GID_a@@@d","channelId":"c","eventType":"connect","time":1})";
    REQUIRE(parser.try_parse(small));
    for (const std::size_t size : {961U, 1000U, 1024U}) {
        AlibabaSimdjsonParser warm;
        REQUIRE(warm.try_parse(small));
        const std::string base = R"({"clientId":"GID_a@@@d","channelId":"c","eventType":"connect","time":1,"x":"")";
        const std::string message = base.substr(0, base.size() - 1) + std::string(size - base.size() - 1, 'p') + "\"}";
        REQUIRE(message.size() == size);
        REQUIRE(try_parse_alibaba_event(message));
        const ParseResult r = warm.try_parse(message);
        INFO(size << " bytes: " << r.error);
        CHECK(r);
    }
}

#endif

TEST_CASE("ids with C1 control characters are refused as the README promises", "[regression]") {
    // README: clientId and channelId "without control characters". detail::id_problem refused
    // U+0000..U+001F and U+007F but let U+0080..U+009F (C2 80..C2 9F) through, which MQTT
    // also discourages and some tools take for line breaks (U+0085 NEL).
    const ParseResult r = try_parse_alibaba_event(R"({"clientId":"dev\u0085x","channelId":"c","eventType":"connect","time":1})");
    CHECK(r.error == R"("clientId" contains a control character)");
    CHECK(validate(Event{"GID_a@@@d\xC2\x85x", "c", EventType::connect, 1, ""}) == "client_id contains a control character");
    // Every C1 character at every position of short and long ids (the word-at-a-time scan and
    // its tail), including one split across two words; U+00A0 and other non-ASCII text stay valid.
    for (const std::size_t length : {2U, 7U, 8U, 9U, 16U, 23U}) {
        for (std::size_t at = 0; at + 1 < length; ++at) {
            for (unsigned second = 0x80; second <= 0xBF; ++second) {
                std::string id(length, 'd');
                id[at] = '\xC2';
                id[at + 1] = static_cast<char>(second);
                const bool c1 = second < 0xA0;
                INFO("length " << length << ", U+00" << std::hex << second << " at " << std::dec << at);
                CHECK(detail::id_problem(id) == (c1 ? "contains a control character" : ""));
            }
        }
    }
    CHECK(detail::id_problem("GID_\xC3\xA9t\xC3\xA9@@@\xE6\x97\xA5\xE6\x9C\xAC") == "");
}

TEST_CASE("a value quoted in an error is cut at a character boundary", "[regression]") {
    // detail::quoted() kept the first 64 bytes of a value, which may end inside a UTF-8
    // sequence: the error message was then not valid UTF-8 (a JSON log line holding it breaks).
    std::string type = "a";
    for (int i = 0; i < 40; ++i) type += "\xC3\xA9"; // é
    const ParseResult r = try_parse_alibaba_event(R"({"clientId":"d","channelId":"c","eventType":")" + type + R"(","time":1})");
    REQUIRE_FALSE(r);
    CHECK(printable(r.error));
}
