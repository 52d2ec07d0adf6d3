// Writes the seed corpora of the fuzz targets (README.md, "Fuzzing"):
//   fuzz_seeds REPOSITORY OUTPUT
// OUTPUT/<target>/ gets, for the JSON targets, the repository's sample streams and the one-line
// messages of the adapter tests (R"(...)" literals), a few lines per seed behind an options line
// (fuzz::choose), cycling through a few option choices; for fuzz_snapshot, snapshots of stores
// fed by small histories (save_snapshot), behind a mode byte and three option bytes; for
// fuzz_redis_record, the records of those stores in RedisStorage's encoding, behind three option
// bytes; for fuzz_store, short histories behind each options choice. Deterministic: the same
// repository gives the same files.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <mqtt_presence/detail/record_codec.hpp>
#include <mqtt_presence/mqtt_presence.hpp>

namespace {

namespace fs = std::filesystem;
using namespace mqtt_presence;

void write(const fs::path& file, std::string_view bytes) {
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + file.string());
}

std::vector<std::string> read_lines(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The one-line R"(...)" literals of a test source that hold a JSON object or array (or start
// like one: fragments are fine seeds too).
std::vector<std::string> raw_literals(const fs::path& file) {
    std::vector<std::string> out;
    for (const std::string& line : read_lines(file)) {
        for (std::size_t at = line.find("R\"("); at != std::string::npos; at = line.find("R\"(", at + 3)) {
            const std::size_t end = line.find(")\"", at + 3);
            if (end == std::string::npos) break;
            const std::string text = line.substr(at + 3, end - at - 3);
            const std::size_t first = text.find_first_not_of(' ');
            if (first != std::string::npos && (text[first] == '{' || text[first] == '[')) out.push_back(text);
        }
    }
    return out;
}

// Options lines (fuzz::choose): defaults, each switch alone, small caps with short windows.
const std::vector<std::string> option_lines = {
        "000000000", // the defaults
        "111100000", // close_on_disconnect, caps 1 and 1
        "222200001", // no takeover, caps 2 and 2, no retention
        "443322221", // reconcile after each event, caps 4 and 3, short windows
        "844433332", // maintenance at the end, caps 3 and 4
        "?22233333", // everything, caps 2 and 2, long windows
};

// Seeds of a JSON target: `chunk` lines per seed behind an options line, and each source whole.
std::size_t json_seeds(const fs::path& dir, const std::string& name, const std::vector<std::string>& lines,
                       std::size_t chunk, std::size_t& counter) {
    std::size_t written = 0;
    for (std::size_t i = 0; i < lines.size(); i += chunk) {
        std::string seed = option_lines[counter++ % option_lines.size()] + "\n";
        for (std::size_t k = i; k < lines.size() && k < i + chunk; ++k) seed += lines[k] + "\n";
        write(dir / (name + "-" + std::to_string(i / chunk)), seed);
        ++written;
    }
    std::string whole = option_lines[counter++ % option_lines.size()] + "\n";
    for (const std::string& line : lines) whole += line + "\n";
    if (whole.size() <= 4096) {
        write(dir / (name + "-all"), whole);
        ++written;
    }
    return written;
}

// aws_iot_options() (json/aws_iot.hpp, which brings nlohmann_json): rule 13 with 10 minutes.
Options aws_iot_like() {
    Options options;
    options.key_reuse_gap_ms = 10LL * 60 * 1000;
    return options;
}

// Stores fed by small histories that reach every kind of channel: open, tombstones,
// half-known, taken over, a reconcile's synthetic channel and watermark, a key-less close,
// long ids, an IPv6 address.
std::vector<ClientStatusStore<>> histories() {
    constexpr std::int64_t t = 1764000000000;
    const std::string hex1 = "2b9b1281046046faafe5e0b458e4a1b2", hex2 = "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f";
    std::vector<ClientStatusStore<>> stores;
    stores.emplace_back(); // empty
    {
        ClientStatusStore<> s;
        s.ingest(Event{"GID_demo@@@dev1", hex1, EventType::connect, t, "192.0.2.7:13222"});
        stores.push_back(std::move(s));
    }
    {
        ClientStatusStore<> s;
        // A flap: new connection first, old close later.
        s.ingest(Event{"GID_demo@@@dev1", hex1, EventType::connect, t, "192.0.2.7:13222"});
        s.ingest(Event{"GID_demo@@@dev1", hex2, EventType::connect, t + 90000, "192.0.2.7:13223"});
        s.ingest(Event{"GID_demo@@@dev1", hex1, EventType::tcpclean, t + 90500, ""});
        // Offline gracefully, and a close before its connect.
        s.ingest(Event{"GID_demo@@@dev2", "c1", EventType::connect, t, "[2001:db8::1]:443"});
        s.ingest(Event{"GID_demo@@@dev2", "c1", EventType::disconnect, t + 1000, ""});
        s.ingest(Event{"GID_demo@@@dev2", "c1", EventType::tcpclean, t + 1001, ""});
        s.ingest(Event{"GID_demo@@@dev2", "c2", EventType::tcpclean, t + 5000, ""});
        // Online by a reconcile; offline by a reconcile (a watermark).
        (void)s.reconcile("GID_other@@@dev3", true, t + 2000);
        s.ingest(Event{"GID_other@@@dev4", "k", EventType::connect, t, ""});
        (void)s.reconcile("GID_other@@@dev4", false, t + 3000);
        // Taken over (rule 6), and a key-less close (rule 14).
        s.ingest(Event{"no-group-client-with-a-long-id-0001", "1", EventType::connect, t, ""});
        s.ingest(Event{"no-group-client-with-a-long-id-0001", "2", EventType::connect, t + 600000, ""});
        s.ingest(Event{"emqx-client", "1764000000000", EventType::connect, t, "192.0.2.9"});
        s.ingest(Event{"emqx-client", "", EventType::tcpclean, t + 20000, ""});
        s.ingest(Event{"GID_demo@@@" + std::string(40, 'x'), std::string(40, 'c'), EventType::connect, t, ""});
        stores.push_back(std::move(s));
    }
    {
        Options small;
        small.max_open_channels = 1;
        small.max_tombstones = 1;
        small.close_on_disconnect = true;
        ClientStatusStore<> s(small);
        for (int i = 0; i < 4; ++i) {
            const std::string ch = "ch" + std::to_string(i);
            s.ingest(Event{"GID_s@@@a", ch, EventType::connect, t + i * 1000, ""});
            s.ingest(Event{"GID_s@@@b", ch, EventType::tcpclean, t + i * 1000, ""});
        }
        s.ingest(Event{"GID_s@@@a", "ch0", EventType::disconnect, t + 9000, ""});
        stores.push_back(std::move(s));
    }
    {
        ClientStatusStore<> s(aws_iot_like());
        s.ingest(Event{"186b5", "0", EventType::connect, t, "192.0.2.1:1"});
        s.ingest(Event{"186b5", "0", EventType::tcpclean, t + 60000, ""});
        s.ingest(Event{"186b5", "0", EventType::connect, t + 3600000, ""});
        stores.push_back(std::move(s));
    }
    return stores;
}

// fuzz_store's operations (fuzz_store.cpp): client 0-3, what 0-7, channel 0-7, clock steps,
// flags.
std::string op(unsigned client, unsigned what, unsigned channel, int clock_steps, unsigned step, unsigned flags = 0) {
    std::string out;
    out.push_back(static_cast<char>(client | what << 2 | channel << 5));
    out.push_back(static_cast<char>(static_cast<std::int8_t>(clock_steps)));
    out.push_back(static_cast<char>(step | flags));
    return out;
}

// Histories for fuzz_store: a flap, closes before connects, copies, a lost close taken over,
// the open-channel cap, key-less closes, reconciles, expiry and prune.
std::vector<std::string> store_histories() {
    constexpr unsigned ms = 0, s = 1, min = 2, ten_min = 3;
    constexpr unsigned connect = 0, disconnect = 3, tcpclean = 4, keyless = 6, other = 7;
    constexpr unsigned address = 8, keyless_disconnect = 4, reconcile = 16, online = 32, prune = 32;
    std::vector<std::string> histories;
    histories.push_back(op(0, connect, 6, 0, s, address) + op(0, connect, 7, 90, s, address) + op(0, tcpclean, 6, 1, s) +
                        op(0, connect, 6, -91, s, address));
    histories.push_back(op(1, tcpclean, 0, 70, s) + op(1, connect, 0, -60, s) + op(1, connect, 0, 0, ms) +
                        op(1, disconnect, 1, 5, s) + op(1, connect, 1, -2, s) + op(1, tcpclean, 1, 3, s));
    histories.push_back(op(2, connect, 0, 0, min) + op(2, connect, 1, 2, min) + op(2, tcpclean, 1, 1, min) +
                        op(2, tcpclean, 0, 10, min) + op(2, connect, 0, -13, min));
    std::string cap;
    for (unsigned ch = 0; ch < 6; ++ch) cap += op(3, connect, ch, 1, s);
    cap += op(3, tcpclean, 2, 1, s) + op(3, connect, 0, -10, s);
    histories.push_back(cap);
    histories.push_back(op(0, connect, 0, 0, s) + op(0, connect, 1, 3, s) + op(0, keyless, 0, 1, s, keyless_disconnect) +
                        op(0, keyless, 0, 40, s) + op(0, connect, 2, -20, s));
    histories.push_back(op(1, other, 0, 0, s, reconcile | online) + op(1, tcpclean, 3, -5, s) + op(1, connect, 3, 10, s) +
                        op(1, other, 0, 20, s, reconcile) + op(1, connect, 4, -1, s));
    histories.push_back(op(2, connect, 5, 0, s) + op(3, connect, 5, 0, s) + op(2, other, 0, 30, ten_min) +
                        op(2, tcpclean, 5, -30, ten_min) + op(3, other, 0, 100, ten_min, prune) +
                        op(3, connect, 5, -100, ten_min));
    histories.push_back(op(0, connect, 0, 0, ten_min) + op(0, tcpclean, 0, 1, ten_min) + op(0, connect, 0, 6, ten_min) +
                        op(0, tcpclean, 0, -6, ten_min) + op(0, connect, 0, -1, ten_min));
    return histories;
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: fuzz_seeds REPOSITORY OUTPUT\n";
        return 2;
    }
    const fs::path repo = argv[1], out = argv[2];
    try {
        struct JsonTarget {
            std::string name;
            std::vector<std::string> streams; // JSON Lines files
            std::vector<std::string> tests;   // test sources with R"(...)" messages
        };
        const std::vector<JsonTarget> targets = {
                {"fuzz_alibaba",
                 {"examples/data/sample.jsonl", "tests/replay/files_a.jsonl", "tests/replay/files_b.jsonl",
                  "tests/replay/malformed.jsonl", "tests/replay/options.jsonl", "tests/replay/parsers.jsonl",
                  "tests/replay/sorted.jsonl"},
                 {"tests/test_json_alibaba.cpp", "tests/test_json_simdjson.cpp", "tests/test_json_flat.cpp"}},
                {"fuzz_aws_iot", {"tests/replay/format_aws_iot.jsonl"}, {"tests/test_json_aws_iot.cpp"}},
                {"fuzz_emqx", {"tests/replay/format_emqx.jsonl"}, {"tests/test_json_emqx.cpp"}},
                {"fuzz_azure_eg_mqtt", {"tests/replay/format_azure_eg_mqtt.jsonl"}, {"tests/test_json_azure_eg_mqtt.cpp"}},
        };
        for (const JsonTarget& target : targets) {
            fs::remove_all(out / target.name);
            std::size_t counter = 0, written = 0;
            for (const std::string& stream : target.streams)
                written += json_seeds(out / target.name, fs::path(stream).stem().string(), read_lines(repo / stream), 4,
                                      counter);
            for (const std::string& test : target.tests)
                written += json_seeds(out / target.name, fs::path(test).stem().string(), raw_literals(repo / test), 4,
                                      counter);
            std::cout << target.name << ": " << written << " seeds\n";
        }

        fs::remove_all(out / "fuzz_snapshot");
        fs::remove_all(out / "fuzz_redis_record");
        std::size_t snapshots = 0, records = 0;
        const std::vector<ClientStatusStore<>> stores = histories();
        for (std::size_t i = 0; i < stores.size(); ++i) {
            std::ostringstream snapshot;
            (void)stores[i].save_snapshot(snapshot, i % 2 == 0 ? "" : "offset " + std::to_string(i));
            // Mode '3' (checksums and count recomputed) and '0' (bytes as they are); the
            // loading store's options: the defaults, and caps of 1 and 1.
            for (const char* prefix : {"3000", "0000", "3011"}) {
                write(out / "fuzz_snapshot" / ("history-" + std::to_string(i) + "-" + prefix), prefix + snapshot.str());
                ++snapshots;
            }
            std::size_t n = 0;
            stores[i].storage().for_each([&](std::string_view, const ClientRecord& record) {
                const std::string encoded = detail::record_codec::encode_record(record);
                for (const char* prefix : {"000", "011"}) {
                    write(out / "fuzz_redis_record" /
                                  ("history-" + std::to_string(i) + "-" + std::to_string(n) + "-" + prefix),
                          prefix + encoded);
                    ++records;
                }
                ++n;
            });
        }
        std::cout << "fuzz_snapshot: " << snapshots << " seeds\nfuzz_redis_record: " << records << " seeds\n";

        fs::remove_all(out / "fuzz_store");
        const std::vector<std::string> store_seeds = store_histories();
        std::size_t n = 0;
        for (const std::string& options : option_lines)
            for (std::size_t h = 0; h < store_seeds.size(); h += 2, ++n)
                write(out / "fuzz_store" / ("history-" + std::to_string(n)), options + store_seeds[(h + n) % store_seeds.size()]);
        std::cout << "fuzz_store: " << n << " seeds\n";
    } catch (const std::exception& e) {
        std::cerr << "fuzz_seeds: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
