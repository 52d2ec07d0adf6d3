// The EMQX adapter: the documented payloads of both kinds (rule-engine / webhook events and
// $SYS presence messages), the mapping onto connect / disconnect / tcpclean and the connection
// key, every field's checks and messages, and sequences through the store: takeover with and
// without connected_at, shuffled reconnect storms, a late connect behind a key-less close and
// duplicates of everything.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include <mqtt_presence/json.hpp>

#include "support/events.hpp"

using namespace mqtt_presence;
using test_support::second;
using test_support::t0;

namespace {

std::string error_of(std::string_view json) {
    const ParseResult r = try_parse_emqx_event(json);
    return r ? std::string("<ok>") : r.error;
}

const std::string client = "emqx-dev1";

// A rule-engine / webhook client.connected event.
std::string rule_connected(std::int64_t connected_at, const std::string& id = client) {
    const std::string at = std::to_string(connected_at);
    return R"({"event":"client.connected","clientid":")" + id + R"(","username":"u1","connected_at":)" + at +
           R"(,"peername":"192.0.2.7:52431","sockname":"0.0.0.0:1883","clean_start":true,"timestamp":)" +
           std::to_string(connected_at + 1) + R"(,"node":"emqx@127.0.0.1"})";
}

// A rule-engine / webhook client.disconnected event; connected_at (EMQX 5.8.6 and later) when
// given.
std::string rule_disconnected(std::int64_t disconnected_at, const std::string& reason,
                              std::optional<std::int64_t> connected_at = std::nullopt, const std::string& id = client) {
    std::string json = R"({"event":"client.disconnected","clientid":")" + id + R"(","reason":")" + reason +
                       R"(","disconnected_at":)" + std::to_string(disconnected_at);
    if (connected_at) json += R"(,"connected_at":)" + std::to_string(*connected_at);
    return json + R"(,"peername":"192.0.2.7:52431","timestamp":)" + std::to_string(disconnected_at + 1) +
           R"(,"node":"emqx@127.0.0.1"})";
}

// A $SYS/brokers/{node}/clients/{clientid}/connected payload.
std::string sys_connected(std::int64_t connected_at, const std::string& id = client) {
    const std::string at = std::to_string(connected_at);
    return R"({"username":"u1","ts":)" + at + R"(,"sockport":1883,"proto_ver":4,"proto_name":"MQTT","keepalive":60,)" +
           R"("ipaddress":"192.0.2.7","expiry_interval":0,"connected_at":)" + at + R"(,"connack":0,"clientid":")" + id +
           R"(","clean_start":true})";
}

// A $SYS/brokers/{node}/clients/{clientid}/disconnected payload; connected_at when given.
std::string sys_disconnected(std::int64_t disconnected_at, const std::string& reason,
                             std::optional<std::int64_t> connected_at = std::nullopt, const std::string& id = client) {
    std::string json = R"({"username":"u1","ts":)" + std::to_string(disconnected_at + 1) + R"(,"reason":")" + reason +
                       R"(","disconnected_at":)" + std::to_string(disconnected_at);
    if (connected_at) json += R"(,"connected_at":)" + std::to_string(*connected_at);
    return json + R"(,"clientid":")" + id + R"("})";
}

// Every flip of a store, as text.
struct Edges {
    std::vector<std::string> list;
    void watch(ClientStatusStore<>& store) {
        store.on_transition([this](const Edge& e) {
            list.push_back(std::string(e.online ? "online " : "offline ") + std::to_string(e.time_ms));
        });
    }
    // The flips alternate, starting online, and the last one is `online`.
    [[nodiscard]] bool consistent_with(bool online) const {
        for (std::size_t i = 0; i < list.size(); ++i)
            if ((list[i].rfind("online", 0) == 0) != (i % 2 == 0)) return false;
        return online ? list.size() % 2 == 1 : list.size() % 2 == 0;
    }
};

Outcome ingest_json(ClientStatusStore<>& store, const std::string& json) {
    INFO(json);
    return store.ingest(parse_emqx_event(json));
}

// Everything the store says of the client, as text, to compare states.
std::string describe(const ClientStatusStore<>& store, const std::string& id = client) {
    const auto s = store.status(id);
    if (!s) return "unknown";
    const auto opt = [](const std::optional<std::int64_t>& t) { return t ? std::to_string(*t) : std::string("-"); };
    return std::string(s->online ? "online" : "offline") + " open=" + std::to_string(s->open_channels) +
           " current=" + s->current_channel + " address=" + s->client_address + " since=" + opt(s->connected_since_ms) +
           " online_since=" + opt(s->online_since_ms) + " last_event=" + opt(s->last_event_ms) +
           " last_offline=" + opt(s->last_offline_ms) + " graceful=" + (s->last_offline_graceful ? "1" : "0") +
           " kept=" + std::to_string(s->channels_kept);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// The documented payloads

TEST_CASE("emqx the documented rule-engine disconnected example is a key-less tcpclean", "[json][emqx]") {
    // docs: $events/client_disconnected (before 5.8.6: no connected_at, no "event" in SELECT *)
    const Event e = parse_emqx_event(
        R"({"username":"u_emqx","reason":"normal","node":"emqx@127.0.0.1","disconnected_at":1645003578536,"clientid":"c_emqx"})");
    CHECK(e.client_id == "c_emqx");
    CHECK(e.channel_id.empty());
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 1645003578536);
    CHECK(e.client_ip.empty());
}

TEST_CASE("emqx the documented SYS topic connected payload is a connect keyed by connected_at", "[json][emqx]") {
    const Event e = parse_emqx_event(
        R"({"username":"foo","ts":1625572213873,"sockport":1883,"proto_ver":4,"proto_name":"MQTT","keepalive":60,"ipaddress":"127.0.0.1","expiry_interval":0,"connected_at":1625572213873,"connack":0,"clientid":"emqtt-8348fe27a87976ad4db3","clean_start":true})");
    CHECK(e.client_id == "emqtt-8348fe27a87976ad4db3");
    CHECK(e.channel_id == "1625572213873");
    CHECK(e.type == EventType::connect);
    CHECK(e.time_ms == 1625572213873);
    CHECK(e.client_ip == "127.0.0.1");
}

TEST_CASE("emqx the documented SYS topic disconnected payload is a key-less tcpclean at disconnected_at", "[json][emqx]") {
    const Event e = parse_emqx_event(
        R"({"username":"undefined","ts":1582688032203,"reason":"tcp_closed","disconnected_at":1582687922392,"clientid":"emqtt-8348fe27a87976ad4db3"})");
    CHECK(e.client_id == "emqtt-8348fe27a87976ad4db3");
    CHECK(e.channel_id.empty());
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 1582687922392);
}

TEST_CASE("emqx the odd takenover payload of EMQX issue 13484 closes the connection it names", "[json][emqx]") {
    // connected_at after disconnected_at: still the key of the connection that closed
    const std::string odd =
        R"({"username":"u1","disconnected_at":1721206604219,"connected_at":1721206608572,"reason":"takenover","clientid":"c13484","ts":1721206604220})";
    const Event e = parse_emqx_event(odd);
    CHECK(e.client_id == "c13484");
    CHECK(e.channel_id == "1721206608572");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 1721206604219);

    // through the store: its own connection closes although the close is dated before it
    ClientStatusStore<> store;
    Edges edges;
    edges.watch(store);
    (void)ingest_json(store, sys_connected(1721206608572, "c13484"));
    CHECK(store.is_online("c13484"));
    (void)ingest_json(store, odd);
    CHECK_FALSE(store.is_online("c13484"));
    CHECK(edges.list.size() == 2);
    // and in the other order its connect arrives closed
    ClientStatusStore<> other;
    (void)ingest_json(other, odd);
    CHECK_FALSE(ingest_json(other, sys_connected(1721206608572, "c13484")).went_online());
    CHECK_FALSE(other.is_online("c13484"));
}

TEST_CASE("emqx rule-engine events of EMQX 5.8.6 and later carry the key on both halves", "[json][emqx]") {
    const Event c = parse_emqx_event(rule_connected(t0));
    CHECK(c.client_id == client);
    CHECK(c.type == EventType::connect);
    CHECK(c.channel_id == std::to_string(t0));
    CHECK(c.time_ms == t0);
    CHECK(c.client_ip == "192.0.2.7:52431");

    const Event d = parse_emqx_event(rule_disconnected(t0 + 9 * second, "keepalive_timeout", t0));
    CHECK(d.type == EventType::tcpclean);
    CHECK(d.channel_id == std::to_string(t0));
    CHECK(d.time_ms == t0 + 9 * second);
    CHECK(d.client_ip == "192.0.2.7:52431");
}

// ---------------------------------------------------------------------------------------------
// The mapping

TEST_CASE("emqx a close without connected_at is a disconnect only for takenover and discarded", "[json][emqx]") {
    struct Case {
        const char* reason;
        EventType type;
    };
    for (const Case& c : {Case{"takenover", EventType::disconnect}, Case{"discarded", EventType::disconnect},
                          Case{"normal", EventType::tcpclean}, Case{"kicked", EventType::tcpclean},
                          Case{"keepalive_timeout", EventType::tcpclean}, Case{"tcp_closed", EventType::tcpclean},
                          Case{"not_authorized", EventType::tcpclean}, Case{"internal_error", EventType::tcpclean},
                          Case{"TAKENOVER", EventType::tcpclean}, Case{"", EventType::tcpclean}}) {
        CAPTURE(c.reason);
        for (const std::string& json : {rule_disconnected(t0, c.reason), sys_disconnected(t0, c.reason)}) {
            const Event e = parse_emqx_event(json);
            CHECK(e.type == c.type);
            CHECK(e.channel_id.empty());
            CHECK(e.time_ms == t0);
        }
        // with connected_at every close is its connection's tcpclean
        const Event keyed = parse_emqx_event(rule_disconnected(t0, c.reason, t0 - second));
        CHECK(keyed.type == EventType::tcpclean);
        CHECK(keyed.channel_id == std::to_string(t0 - second));
    }
    // no reason at all: a tcpclean
    const Event e = parse_emqx_event(R"({"clientid":"a","disconnected_at":7})");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.channel_id.empty());
    CHECK(e.time_ms == 7);
}

TEST_CASE("emqx the kind comes from event when present and else from the fields", "[json][emqx]") {
    // "event" wins over the fields
    Event e = parse_emqx_event(R"({"event":"client.connected","clientid":"a","connected_at":5,"reason":"normal","disconnected_at":9})");
    CHECK(e.type == EventType::connect);
    CHECK(e.channel_id == "5");
    CHECK(e.time_ms == 5);
    e = parse_emqx_event(R"({"event":"client.disconnected","clientid":"a","connected_at":5,"timestamp":9})");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.channel_id == "5");
    CHECK(e.time_ms == 9);
    // without it: disconnected_at or reason make a disconnect, else connected_at a connect
    e = parse_emqx_event(R"({"clientid":"a","connected_at":5,"reason":"takenover","ts":9})");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 9);
    e = parse_emqx_event(R"({"clientid":"a","disconnected_at":8,"ts":9})");
    CHECK(e.type == EventType::tcpclean);
    CHECK(e.time_ms == 8);
    e = parse_emqx_event(R"({"clientid":"a","connected_at":5,"ts":9})");
    CHECK(e.type == EventType::connect);
    CHECK(e.time_ms == 5);
}

TEST_CASE("emqx a close is dated disconnected_at then timestamp then ts", "[json][emqx]") {
    CHECK(parse_emqx_event(R"({"clientid":"a","reason":"normal","ts":3,"timestamp":2,"disconnected_at":1})").time_ms == 1);
    CHECK(parse_emqx_event(R"({"clientid":"a","reason":"normal","ts":3,"timestamp":2})").time_ms == 2);
    CHECK(parse_emqx_event(R"({"clientid":"a","reason":"normal","ts":3})").time_ms == 3);
    CHECK(parse_emqx_event(R"({"clientid":"a","reason":"normal","ts":3,"timestamp":null,"disconnected_at":null})").time_ms == 3);
    // a connect is dated connected_at, whatever else it carries
    CHECK(parse_emqx_event(R"({"clientid":"a","ts":3,"timestamp":2,"connected_at":1})").time_ms == 1);
}

TEST_CASE("emqx the address is peername else ipaddress else empty", "[json][emqx]") {
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":1,"peername":"192.0.2.1:5","ipaddress":"192.0.2.2"})").client_ip ==
          "192.0.2.1:5");
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":1,"ipaddress":"192.0.2.2","peername":"192.0.2.1:5"})").client_ip ==
          "192.0.2.1:5");
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":1,"ipaddress":"192.0.2.2"})").client_ip == "192.0.2.2");
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":1,"peername":null,"ipaddress":"192.0.2.2"})").client_ip == "192.0.2.2");
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":1})").client_ip.empty());
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":1,"peername":null})").client_ip.empty());
}

TEST_CASE("emqx times may be quoted digits and the key is the decimal time", "[json][emqx]") {
    const Event e = parse_emqx_event(R"({"clientid":"a","connected_at":"0001625572213873"})");
    CHECK(e.time_ms == 1625572213873);
    CHECK(e.channel_id == "1625572213873");
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":0})").channel_id == "0");
    CHECK(parse_emqx_event(R"({"clientid":"a","connected_at":253402300799999})").time_ms == max_time_ms);
    CHECK(parse_emqx_event(R"({"clientid":"a","reason":"normal","disconnected_at":"12","connected_at":"5"})").channel_id == "5");
}

TEST_CASE("emqx null is an absent value and unknown fields are ignored", "[json][emqx]") {
    Event e = parse_emqx_event(
        R"( {"clientid":"a","connected_at":null,"reason":null,"disconnected_at":9,"ext":{"deep":[1,{"x":null}],"t":true},"proto_ver":5.0,"username":null} )");
    CHECK(e.type == EventType::tcpclean); // by disconnected_at
    CHECK(e.channel_id.empty());          // connected_at null: no key
    CHECK(e.time_ms == 9);
    // reason null: no reason, so not a takeover
    e = parse_emqx_event(R"({"event":"client.disconnected","clientid":"a","reason":null,"disconnected_at":9})");
    CHECK(e.type == EventType::tcpclean);
    // a connect whose connected_at is null has no key
    CHECK(error_of(R"({"event":"client.connected","clientid":"a","connected_at":null})") == R"(missing field "connected_at")");
}

TEST_CASE("emqx the buffer-reusing parse overwrites every field", "[json][emqx]") {
    Event e;
    std::string error;
    REQUIRE(parse_emqx_event(rule_connected(t0), e, error));
    REQUIRE(parse_emqx_event(R"({"clientid":"b","reason":"discarded","ts":2})", e, error));
    CHECK(e.client_id == "b");
    CHECK(e.channel_id.empty());
    CHECK(e.type == EventType::disconnect);
    CHECK(e.time_ms == 2);
    CHECK(e.client_ip.empty());
    CHECK_FALSE(parse_emqx_event("{", e, error));
    CHECK(error.rfind("malformed JSON", 0) == 0);
    CHECK_FALSE(parse_emqx_event(R"({"clientid":"b"})", e, error));
    CHECK(error == R"(neither connected nor disconnected: no "event", "connected_at", "disconnected_at" or "reason")");
}

// ---------------------------------------------------------------------------------------------
// Bad input

TEST_CASE("emqx bad input gets an error naming the field and the problem", "[json][emqx]") {
    struct Case {
        std::string json;
        std::string error;
    };
    const std::string long_address(300, '1');
    const std::vector<Case> cases = {
        // missing or unusable fields
        {"{}", R"(missing field "clientid")"},
        {R"({"connected_at":1})", R"(missing field "clientid")"},
        {R"({"event":"client.connected","connected_at":1,"peername":"x"})", R"(missing field "clientid")"},
        {R"({"clientid":"a"})", R"(neither connected nor disconnected: no "event", "connected_at", "disconnected_at" or "reason")"},
        {R"({"clientid":"a","ts":1,"timestamp":1,"peername":"x"})",
         R"(neither connected nor disconnected: no "event", "connected_at", "disconnected_at" or "reason")"},
        {R"({"event":"client.connected","clientid":"a","timestamp":1})", R"(missing field "connected_at")"},
        {R"({"event":"client.disconnected","clientid":"a","reason":"normal"})",
         R"(missing field "disconnected_at" (or "timestamp" or "ts"))"},
        {R"({"event":"client.disconnected","clientid":"a","connected_at":5})",
         R"(missing field "disconnected_at" (or "timestamp" or "ts"))"},
        {R"({"clientid":"a","reason":"takenover"})", R"(missing field "disconnected_at" (or "timestamp" or "ts"))"},
        // event
        {R"({"event":"client.subscribe","clientid":"a","connected_at":1})",
         R"(unknown "event" "client.subscribe" (expected client.connected or client.disconnected))"},
        {R"({"event":"client_connected","clientid":"a","connected_at":1})",
         R"(unknown "event" "client_connected" (expected client.connected or client.disconnected))"},
        {R"({"event":"","clientid":"a","connected_at":1})", R"(unknown "event" "" (expected client.connected or client.disconnected))"},
        {R"({"event":null,"clientid":"a","connected_at":1})", R"("event" must be a string, got null)"},
        {R"({"event":1,"clientid":"a","connected_at":1})", R"("event" must be a string, got number)"},
        // clientid
        {R"({"clientid":1,"connected_at":1})", R"("clientid" must be a string, got number)"},
        {R"({"clientid":null,"connected_at":1})", R"("clientid" must be a string, got null)"},
        {R"({"clientid":["a"],"connected_at":1})", R"("clientid" must be a string, got array)"},
        {R"({"clientid":"","connected_at":1})", R"("clientid" is empty)"},
        {R"({"clientid":"a\nb","connected_at":1})", R"("clientid" contains a control character)"},
        {R"({"clientid":")" + std::string(70000, 'x') + R"(","connected_at":1})", R"("clientid" is longer than 65535 bytes)"},
        // times
        {R"({"clientid":"a","connected_at":-1})", R"("connected_at" is negative)"},
        {R"({"clientid":"a","connected_at":-99999999999999999999999})", R"("connected_at" is negative)"},
        {R"({"clientid":"a","connected_at":253402300800000})", R"("connected_at" is after the year 9999)"},
        {R"({"clientid":"a","connected_at":18446744073709551616})", R"("connected_at" is after the year 9999)"},
        {R"({"clientid":"a","connected_at":"99999999999999999"})", R"("connected_at" is after the year 9999)"},
        {R"({"clientid":"a","connected_at":1.5})", R"("connected_at" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientid":"a","connected_at":1e3})", R"("connected_at" must be an integer, got a number with a fraction or exponent)"},
        {R"({"clientid":"a","connected_at":"soon"})", R"("connected_at" must be an integer, got string "soon")"},
        {R"({"clientid":"a","connected_at":"-5"})", R"("connected_at" must be an integer, got string "-5")"},
        {R"({"clientid":"a","connected_at":""})", R"("connected_at" must be an integer, got string "")"},
        {R"({"clientid":"a","connected_at":true})", R"("connected_at" must be an integer, got boolean)"},
        {R"({"clientid":"a","connected_at":{}})", R"("connected_at" must be an integer, got object)"},
        {R"({"clientid":"a","reason":"normal","disconnected_at":-5})", R"("disconnected_at" is negative)"},
        {R"({"clientid":"a","reason":"normal","disconnected_at":"x"})", R"("disconnected_at" must be an integer, got string "x")"},
        {R"({"clientid":"a","reason":"normal","timestamp":[1]})", R"("timestamp" must be an integer, got array)"},
        {R"({"clientid":"a","reason":"normal","ts":18446744073709551616})", R"("ts" is after the year 9999)"},
        {R"({"clientid":"a","reason":"normal","ts":false})", R"("ts" must be an integer, got boolean)"},
        // a time of a field the kind does not read is still checked
        {R"({"clientid":"a","connected_at":1,"ts":-1})", R"("ts" is negative)"},
        // reason, addresses
        {R"({"clientid":"a","reason":5,"disconnected_at":1})", R"("reason" must be a string, got number)"},
        {R"({"clientid":"a","reason":{"code":1},"disconnected_at":1})", R"("reason" must be a string, got object)"},
        {R"({"clientid":"a","reason":false,"disconnected_at":1})", R"("reason" must be a string, got boolean)"},
        {R"({"event":"client.connected","clientid":"a","connected_at":1,"reason":7})", R"("reason" must be a string, got number)"},
        {R"({"clientid":"a","connected_at":1,"peername":1})", R"("peername" must be a string, got number)"},
        {R"({"clientid":"a","connected_at":1,"ipaddress":["x"]})", R"("ipaddress" must be a string, got array)"},
        {R"({"clientid":"a","connected_at":1,"peername":")" + long_address + "\"}", R"("peername" is longer than 255 bytes)"},
        {R"({"clientid":"a","connected_at":1,"ipaddress":")" + long_address + "\"}", R"("ipaddress" is longer than 255 bytes)"},
        // duplicates, in the order of the message
        {R"({"clientid":"a","clientid":"b","connected_at":1})", R"(duplicate field "clientid")"},
        {R"({"clientid":"a","connected_at":null,"connected_at":1})", R"(duplicate field "connected_at")"},
        {R"({"event":"client.connected","event":"client.connected","clientid":"a","connected_at":1})", R"(duplicate field "event")"},
        // the first field problem in the message comes first, before anything missing
        {R"({"connected_at":-1,"clientid":""})", R"("connected_at" is negative)"},
        {R"({"clientid":"","connected_at":-1})", R"("clientid" is empty)"},
        {R"({"event":"client.connected","connected_at":"x"})", R"("connected_at" must be an integer, got string "x")"},
        // not an object
        {R"([{"clientid":"a","connected_at":1}])", "message must be a JSON object, got array"},
        {R"("text")", "message must be a JSON object, got string"},
        {"42", "message must be a JSON object, got number"},
        {"null", "message must be a JSON object, got null"},
        {"", "empty message"},
        {" \r\n\t", "empty message"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json.substr(0, 200));
        CHECK(error_of(c.json) == c.error);
        CHECK_THROWS_WITH(parse_emqx_event(c.json), "mqtt_presence: " + c.error);
        CHECK_THROWS_AS(parse_emqx_event(c.json), ParseError);
        Event e;
        std::string error;
        CHECK_FALSE(parse_emqx_event(c.json, e, error));
        CHECK(error == c.error);
    }
}

TEST_CASE("emqx malformed JSON is named by its first problem and its byte before any field problem", "[json][emqx]") {
    const std::string ok = R"({"clientid":"a","connected_at":1})"; // 33 bytes
    struct Case {
        std::string json;
        const char* error;
    };
    const std::vector<Case> cases = {
        {ok.substr(0, 32), "malformed JSON: unexpected end of input after byte 32"},
        {ok + " x", "malformed JSON: trailing characters at byte 35"},
        {ok + "}", "malformed JSON: trailing characters at byte 34"},
        {ok + std::string("\0x", 2), "malformed JSON: trailing characters at byte 34"},
        {R"({"clientid":"a","connected_at":01})", "malformed JSON: invalid number at byte 32"},
        {R"({"clientid":"a","connected_at":1e999})", "malformed JSON: number out of range at byte 32"},
        {R"({"clientid":"a","connected_at":tru})", "malformed JSON: invalid literal at byte 32"},
        {R"({"clientid":"a","connected_at":1,})", "malformed JSON: unexpected character '}' at byte 34"},
        {R"({clientid:"a"})", "malformed JSON: unexpected character 'c' at byte 2"},
        {"{\"clientid\":\"a\xff\",\"connected_at\":1}", "malformed JSON: invalid UTF-8 in a string at byte 15"},
        {R"({"clientid":"\udc00","connected_at":1})", "malformed JSON: unpaired UTF-16 surrogate in a string at byte 14"},
        // a field problem earlier in the message: the syntax error still wins
        {R"({"clientid":1,"connected_at":)", "malformed JSON: unexpected end of input after byte 29"},
        {R"({"event":"nope","clientid":"a"} x)", "malformed JSON: trailing characters at byte 33"},
        // a UTF-8 byte order mark is skipped
        {"\xEF\xBB\xBF" + ok, "<ok>"},
        {"\xEF\xBB\xBF", "empty message"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.json);
        CHECK(error_of(c.json) == c.error);
    }
}

TEST_CASE("emqx nesting deeper than the limit inside an unknown field is refused", "[json][emqx]") {
    const std::string deep = "{\"conn_props\":" + std::string(70, '[') + std::string(70, ']') + R"(,"clientid":"a","connected_at":1})";
    CHECK(error_of(deep) == "JSON nested deeper than 64 levels");
    const std::string fine = "{\"conn_props\":" + std::string(60, '[') + std::string(60, ']') + R"(,"clientid":"a","connected_at":1})";
    CHECK(error_of(fine) == "<ok>");
    // a huge unknown field is fine
    CHECK(error_of(R"({"clientid":"a","connected_at":1,"username":")" + std::string(70000, 'u') + "\"}") == "<ok>");
}

TEST_CASE("emqx a rejected message leaves the store exactly as it was", "[json][emqx]") {
    ClientStatusStore<> store;
    (void)ingest_json(store, rule_connected(t0));
    const std::string before = describe(store);
    for (const char* bad :
         {R"({"event":"client.disconnect","clientid":"emqx-dev1","reason":"normal","disconnected_at":1764000009000})",
          R"({"event":"client.disconnected","clientid":"emqx-dev1","reason":"normal","disconnected_at":"later"})",
          R"({"event":"client.disconnected","clientid":"emqx-dev1","reason":1,"disconnected_at":1764000009000})",
          R"({"clientid":"emqx-dev1","reason":"normal","disconnected_at":1764000009000)"}) {
        CAPTURE(bad);
        REQUIRE_FALSE(try_parse_emqx_event(bad));
    }
    CHECK(store.is_online(client));
    CHECK(describe(store) == before);
    CHECK(store.counters().events == 1);
}

// ---------------------------------------------------------------------------------------------
// Sequences through the store

TEST_CASE("emqx takeover with connected_at closes only the old connection", "[json][emqx][store]") {
    const std::int64_t a = t0;
    const std::int64_t b = t0 + 3 * second;
    // before EMQX 5.9 the old session's disconnected_at is mostly before the new connected_at,
    // since 5.9 mostly after: either way its close names its own connection
    for (const std::int64_t closed_at : {b - 2, b + 5}) {
        CAPTURE(closed_at);
        ClientStatusStore<> store;
        Edges edges;
        edges.watch(store);
        (void)ingest_json(store, rule_connected(a));
        (void)ingest_json(store, rule_connected(b));
        // the old session's disconnect arrives after the new connect
        const Outcome out = ingest_json(store, rule_disconnected(closed_at, "takenover", a));
        CHECK(out.status == Status::applied);
        CHECK(out.transition == Transition::none);
        CHECK(store.is_online(client));
        const auto status = store.status(client);
        REQUIRE(status);
        CHECK(status->open_channels == 1);
        CHECK(status->current_channel == std::to_string(b));
        CHECK(edges.list == std::vector<std::string>{"online " + std::to_string(a)});
        // the new connection's own close takes the client offline
        (void)ingest_json(store, rule_disconnected(b + 30 * second, "normal", b));
        CHECK_FALSE(store.is_online(client));
        CHECK(edges.list.size() == 2);
    }
}

TEST_CASE("emqx takeover with connected_at in every order ends online on the new connection", "[json][emqx][store]") {
    const std::int64_t a = t0;
    const std::int64_t b = t0 + 3 * second;
    const std::vector<std::vector<std::string>> formats = {
        {rule_connected(a), rule_connected(b), rule_disconnected(b + 5, "takenover", a)},
        {sys_connected(a), sys_connected(b), sys_disconnected(b - 2, "discarded", a)},
    };
    for (const auto& history : formats) {
        std::vector<std::size_t> order(history.size());
        std::iota(order.begin(), order.end(), std::size_t{0});
        do {
            ClientStatusStore<> store;
            Edges edges;
            edges.watch(store);
            for (const std::size_t i : order) (void)ingest_json(store, history[i]);
            CHECK(store.is_online(client));
            CHECK(store.status(client)->open_channels == 1);
            CHECK(store.status(client)->current_channel == std::to_string(b));
            CHECK(edges.consistent_with(true));
        } while (std::next_permutation(order.begin(), order.end()));
    }
}

TEST_CASE("emqx takeover without connected_at closes nothing and a later normal close ends both", "[json][emqx][store]") {
    const std::int64_t a = t0;
    const std::int64_t b = t0 + 3 * second;
    for (const char* reason : {"takenover", "discarded"}) {
        for (const bool sys : {false, true}) {
            CAPTURE(reason, sys);
            ClientStatusStore<> store;
            Edges edges;
            edges.watch(store);
            (void)ingest_json(store, sys ? sys_connected(a) : rule_connected(a));
            (void)ingest_json(store, sys ? sys_connected(b) : rule_connected(b));
            // the old session's disconnect, naming no connection, arrives after the new connect
            const Outcome out = ingest_json(store, sys ? sys_disconnected(b + 5, reason) : rule_disconnected(b + 5, reason));
            CHECK_FALSE(out.changed());
            CHECK(out.transition == Transition::none);
            CHECK(store.is_online(client));
            CHECK(store.status(client)->current_channel == std::to_string(b));
            CHECK(edges.list == std::vector<std::string>{"online " + std::to_string(a)});

            // a normal disconnect naming no connection closes the old and the new connection
            const std::int64_t end = b + 40 * second;
            const Outcome last = ingest_json(store, sys ? sys_disconnected(end, "normal") : rule_disconnected(end, "normal"));
            CHECK(last.went_offline());
            CHECK(last.transition_ms == end);
            CHECK_FALSE(store.is_online(client));
            CHECK(store.status(client)->open_channels == 0);
            CHECK(edges.list == std::vector<std::string>{"online " + std::to_string(a), "offline " + std::to_string(end)});
            CHECK(store.online_count() == 0);
        }
    }
}

TEST_CASE("emqx takeover without connected_at in every order ends online", "[json][emqx][store]") {
    const std::int64_t a = t0;
    const std::int64_t b = t0 + 3 * second;
    const std::vector<std::string> history = {sys_connected(a), sys_connected(b), sys_disconnected(b + 5, "takenover")};
    std::vector<std::size_t> order = {0, 1, 2};
    do {
        ClientStatusStore<> store;
        Edges edges;
        edges.watch(store);
        for (const std::size_t i : order) (void)ingest_json(store, history[i]);
        CHECK(store.is_online(client));
        CHECK(store.status(client)->current_channel == std::to_string(b));
        CHECK(edges.list.size() == 1);
    } while (std::next_permutation(order.begin(), order.end()));
}

namespace {

// Plays every order of `history` into a fresh store (each event twice in a row when `twice`)
// and checks the end state and the edges of each.
void play_every_order(const std::vector<std::string>& history, bool online, const std::string& current, bool twice) {
    std::vector<std::size_t> order(history.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::size_t orders = 0;
    do {
        ClientStatusStore<> store;
        Edges edges;
        edges.watch(store);
        for (const std::size_t i : order) {
            (void)ingest_json(store, history[i]);
            if (twice) (void)ingest_json(store, history[i]);
        }
        ++orders;
        const auto status = store.status(client);
        REQUIRE(status);
        if (status->online != online || (online && status->current_channel != current) || !edges.consistent_with(online)) {
            std::string played;
            for (const std::size_t i : order) played += std::to_string(i) + " ";
            FAIL_CHECK("order " << played << "ends " << describe(store));
        }
    } while (std::next_permutation(order.begin(), order.end()));
    CHECK(orders > 0);
}

// A flapping client on EMQX 5.8.6 or later (rule-engine events, connected_at on both halves).
std::vector<std::string> keyed_storm() {
    return {
        rule_connected(t0),
        rule_disconnected(t0 + 20 * second, "keepalive_timeout", t0),
        rule_connected(t0 + 21 * second),
        rule_connected(t0 + 25 * second),                                             // takes c2 over
        rule_disconnected(t0 + 25 * second + 3, "takenover", t0 + 21 * second),       // c2's close
    };
}

// The same on an older EMQX ($SYS payloads, closes without connected_at).
std::vector<std::string> keyless_storm() {
    return {
        sys_connected(t0),
        sys_disconnected(t0 + 20 * second, "keepalive_timeout"),
        sys_connected(t0 + 21 * second),
        sys_connected(t0 + 25 * second),
        sys_disconnected(t0 + 25 * second + 3, "takenover"),
    };
}

} // namespace

TEST_CASE("emqx a keyed reconnect storm in every order ends in the true state", "[json][emqx][store]") {
    std::vector<std::string> history = keyed_storm();
    play_every_order(history, true, std::to_string(t0 + 25 * second), false);
    history.push_back(rule_disconnected(t0 + 40 * second, "normal", t0 + 25 * second));
    play_every_order(history, false, "", false);
}

TEST_CASE("emqx a key-less reconnect storm in every order ends in the true state", "[json][emqx][store]") {
    std::vector<std::string> history = keyless_storm();
    play_every_order(history, true, std::to_string(t0 + 25 * second), false);
    history.push_back(sys_disconnected(t0 + 40 * second, "normal"));
    play_every_order(history, false, "", false);
}

TEST_CASE("emqx reconnect storms with every message delivered twice end in the true state", "[json][emqx][store]") {
    std::vector<std::string> keyed = keyed_storm();
    play_every_order(keyed, true, std::to_string(t0 + 25 * second), true);
    keyed.push_back(rule_disconnected(t0 + 40 * second, "normal", t0 + 25 * second));
    play_every_order(keyed, false, "", true);
    std::vector<std::string> keyless = keyless_storm();
    play_every_order(keyless, true, std::to_string(t0 + 25 * second), true);
    keyless.push_back(sys_disconnected(t0 + 40 * second, "normal"));
    play_every_order(keyless, false, "", true);
}

TEST_CASE("emqx a late connect at or before a key-less close arrives closed", "[json][emqx][store]") {
    ClientStatusStore<> store;
    Edges edges;
    edges.watch(store);
    const std::int64_t closed_at = t0 + 10 * second;
    CHECK(ingest_json(store, sys_disconnected(closed_at, "tcp_closed")).status == Status::applied);
    CHECK_FALSE(store.is_online(client));
    // the connect of the connection that close ended, delivered late
    Outcome out = ingest_json(store, sys_connected(t0));
    CHECK(out.status == Status::behind_watermark);
    CHECK_FALSE(out.went_online());
    out = ingest_json(store, rule_connected(closed_at)); // "at or before"
    CHECK(out.status == Status::behind_watermark);
    CHECK_FALSE(store.is_online(client));
    CHECK(edges.list.empty());
    // a newer connection opens
    out = ingest_json(store, rule_connected(closed_at + 1));
    CHECK(out.went_online());
    CHECK(store.is_online(client));
    CHECK(edges.list == std::vector<std::string>{"online " + std::to_string(closed_at + 1)});
    // a takeover close naming no connection does not touch it
    CHECK_FALSE(ingest_json(store, sys_disconnected(closed_at + 5, "takenover")).changed());
    CHECK(store.is_online(client));
}

TEST_CASE("emqx duplicates of everything change nothing", "[json][emqx][store]") {
    std::vector<std::vector<std::string>> histories = {keyed_storm(), keyless_storm()};
    std::vector<std::string> keyed_end = keyed_storm();
    keyed_end.push_back(rule_disconnected(t0 + 40 * second, "normal", t0 + 25 * second));
    std::vector<std::string> keyless_end = keyless_storm();
    keyless_end.push_back(sys_disconnected(t0 + 40 * second, "normal"));
    histories.push_back(keyed_end);
    histories.push_back(keyless_end);
    // the same history in both formats: duplicates may come from both (rule engine and $SYS)
    histories.push_back({rule_connected(t0), sys_connected(t0), rule_disconnected(t0 + 5 * second, "normal", t0),
                         sys_disconnected(t0 + 5 * second, "normal", t0)});
    for (const auto& history : histories) {
        ClientStatusStore<> store;
        Edges edges;
        edges.watch(store);
        for (const std::string& json : history) (void)ingest_json(store, json);
        const std::string state = describe(store);
        const std::size_t flips = edges.list.size();
        const std::size_t online = store.online_count();
        CAPTURE(state);
        // every message again, forwards then backwards
        for (const std::string& json : history) {
            const Outcome out = ingest_json(store, json);
            CHECK_FALSE(out.changed());
            CHECK(out.transition == Transition::none);
        }
        for (auto it = history.rbegin(); it != history.rend(); ++it) CHECK_FALSE(ingest_json(store, *it).changed());
        CHECK(describe(store) == state);
        CHECK(edges.list.size() == flips);
        CHECK(store.online_count() == online);
        CHECK(store.size() == 1);
    }
}
