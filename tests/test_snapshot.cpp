// Snapshots (snapshot.hpp and the store's save_snapshot / load_snapshot): exact round trips over
// every storage, refusal of every damaged input with the store unchanged, atomic files, and the
// restart property: a run cut at a random point, saved and loaded into a fresh store, ends
// exactly as the uninterrupted run, with the same edges.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <mqtt_presence/mqtt_presence.hpp>

#include "support/events.hpp"
#include "support/history.hpp"
#include "support/storages.hpp"

using namespace mqtt_presence;
using namespace test_support;

namespace {

const std::string ch1 = "2b9b1281046046faafe5e0b458e4a1b2";
const std::string ch2 = "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f";
const std::string long_channel = "session/" + std::string(40, 'q'); // kept on the heap
const std::string long_client = "GID_long@@@" + std::string(60, 'd'); // kept on the heap

// Everything a record holds, as text.
std::string record_text(const ClientRecord& r) {
    std::string s = std::to_string(r.latest_connect_ms) + "/" + std::to_string(r.closed_through_ms) + "/" +
                    std::to_string(r.last_event_ms) + "/" + std::to_string(r.last_offline_ms) + "/" +
                    std::to_string(r.last_offline_graceful) + "|";
    for (const Channel& ch : r.channels)
        s += ch.key.str() + "," + ch.address.str() + "," + std::to_string(ch.connect_ms) + "," + std::to_string(ch.close_ms) +
             "," + std::to_string(ch.disconnect_ms) + "," + std::string(to_string(ch.close_cause)) + "," +
             std::to_string(ch.synthetic) + ";";
    return s;
}

template <class Store>
std::map<std::string, std::string> state_of(const Store& store) {
    std::map<std::string, std::string> state;
    store.storage().for_each([&](std::string_view id, const ClientRecord& r) { state.emplace(id, record_text(r)); });
    return state;
}

// A small store holding every kind of record content: open, closed, half-known and synthetic
// channels, a watermark, a graceful offline, long ids, IPv4, IPv6 and no addresses.
template <class Store>
void fill_small(Store& store) {
    (void)store.ingest(connect(ch1, t0, "GID_a@@@dev1", "192.0.2.7:13222"));
    (void)store.ingest(connect(long_channel, t0 + 10 * second, "GID_a@@@dev1", "[2001:db8::1]:4000"));
    (void)store.ingest(disconnect(ch2, t0 + minute, long_client));
    (void)store.ingest(connect(ch2, t0, long_client, ""));
    (void)store.ingest(tcpclean(ch2, t0 + minute + 5, long_client));
    (void)store.ingest(tcpclean("ch-7", t0 + hour, long_client)); // half-known
    (void)store.reconcile("GID_b@@@dev9", true, t0 + 2 * hour);      // synthetic
    (void)store.reconcile("GID_b@@@dev8", false, t0 + 3 * hour);     // watermark only
}

std::string save(const ClientStatusStore<>& store, std::string_view metadata = {}) {
    std::ostringstream out;
    (void)store.save_snapshot(out, metadata);
    return out.str();
}

std::string small_snapshot(std::string_view metadata = "offset 42") {
    ClientStatusStore<> store;
    fill_small(store);
    return save(store, metadata);
}

// The message of the SnapshotError that loading `bytes` into a fresh store throws ("" if it
// loads), checking that the store is left empty.
template <class Storage = InMemoryStorage>
std::string load_error(const std::string& bytes, const Options& options = {}) {
    ClientStatusStore<Storage> store(options);
    std::istringstream in(bytes);
    try {
        (void)store.load_snapshot(in);
    } catch (const SnapshotError& e) {
        CHECK(store.size() == 0);
        CHECK(store.online_count() == 0);
        CHECK(group_counts(store).empty());
        return e.what();
    }
    return "";
}

// Offsets of the frames of a snapshot: where the header ends and each record frame starts.
struct Layout {
    std::size_t header_end = 0;
    std::vector<std::size_t> records; // start of each record frame
    std::size_t end_marker = 0;
};

std::uint32_t u32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(s[at + i])} << (8 * i);
    return v;
}

Layout layout(const std::string& s) {
    Layout l;
    l.header_end = 20 + u32(s, 16) + 4;
    std::size_t at = l.header_end;
    while (s[at] == 'R') {
        l.records.push_back(at);
        at += 1 + 4 + u32(s, at + 1) + 4;
    }
    l.end_marker = at;
    return l;
}

std::string frame(const std::string& s, const Layout& l, std::size_t i) {
    const std::size_t end = i + 1 < l.records.size() ? l.records[i + 1] : l.end_marker;
    return s.substr(l.records[i], end - l.records[i]);
}

// A snapshot made of hand-built records (detail::snapshot::Writer), for content the rules would
// never produce.
std::string crafted(const std::vector<std::pair<std::string, ClientRecord>>& records) {
    std::ostringstream out;
    detail::snapshot::Writer writer(out);
    writer.header({});
    for (const auto& [id, r] : records) writer.record(id, r);
    writer.end();
    return out.str();
}

Channel open_channel(const std::string& key, std::int64_t at) {
    Channel ch;
    ch.key.assign(key);
    ch.connect_ms = at;
    return ch;
}

} // namespace

TEST_CASE("snapshot: CRC-32 is zlib's", "[snapshot]") {
    CHECK(detail::snapshot::crc32("", 0) == 0);
    CHECK(detail::snapshot::crc32("123456789", 9) == 0xcbf43926U);
    const std::string text = "The quick brown fox jumps over the lazy dog";
    CHECK(detail::snapshot::crc32(text.data(), text.size()) == 0x414fa339U);
    // In pieces of any size, the same.
    std::uint32_t crc = detail::snapshot::crc32_init;
    for (std::size_t at = 0; at < text.size(); at += 5)
        crc = detail::snapshot::crc32_update(crc, text.data() + at, std::min<std::size_t>(5, text.size() - at));
    CHECK(detail::snapshot::crc32_final(crc) == 0x414fa339U);
}

TEMPLATE_LIST_TEST_CASE("snapshot: a round trip keeps every record exactly, into either storage", "[snapshot]", Storages) {
    using namespace mqtt_presence::testing;
    // A generated history: tombstones, half-known channels, synthetic channels, watermarks,
    // channel ids of every form, expired channels.
    const Batch batch = generate_batch(seed_from_environment(21), 0, 800, HistoryOptions{}, DeliveryOptions{});
    ClientStatusStore<> original;
    for (std::size_t i = 0; i < batch.deliveries.size(); ++i) {
        const Delivery& d = batch.deliveries[i];
        (void)(d.kind == Delivery::Kind::event ? original.ingest(d.event)
                                               : original.reconcile(d.event.client_id, d.online, d.as_of_ms));
        if (i == batch.deliveries.size() / 2) (void)original.expire_silent(d.delivered_ms, 3 * hour);
    }
    fill_small(original);
    const std::string bytes = save(original, "partition 3 offset 981234");

    ClientStatusStore<TestType> loaded;
    std::istringstream in(bytes);
    const SnapshotInfo info = loaded.load_snapshot(in);
    CHECK(info.version == snapshot_version);
    CHECK(info.records == original.size());
    CHECK(info.metadata == "partition 3 offset 981234");
    CHECK(in.peek() == std::char_traits<char>::eof()); // read exactly to its end
    CHECK(state_of(loaded) == state_of(original));
    CHECK(loaded.size() == original.size());
    CHECK(loaded.online_count() == original.online_count());
    CHECK(group_counts(loaded) == group_counts(original));
    CHECK(loaded.counters().events == 0); // counters count this store's own calls

    // It decides exactly as the original: every event again (all duplicates now, or whatever
    // the original says they are), then a few new ones.
    std::size_t differing = 0;
    for (const Delivery& d : batch.deliveries) {
        if (d.kind != Delivery::Kind::event) continue;
        const Outcome a = original.ingest(d.event);
        const Outcome b = loaded.ingest(d.event);
        if (a.status != b.status || a.transition != b.transition || a.transition_ms != b.transition_ms) ++differing;
    }
    CHECK(differing == 0);
    CHECK(state_of(loaded) == state_of(original));

    // Saving the loaded store gives a snapshot that loads to the same state again.
    std::ostringstream again;
    (void)loaded.save_snapshot(again);
    ClientStatusStore<> third;
    std::istringstream in2(again.str());
    (void)third.load_snapshot(in2);
    CHECK(state_of(third) == state_of(original));
}

TEST_CASE("snapshot: an empty store round-trips", "[snapshot]") {
    ClientStatusStore<> empty;
    const std::string bytes = save(empty);
    CHECK(bytes.size() == 24 + 17); // header without metadata, end marker
    ClientStatusStore<ConcurrentStorage> loaded;
    std::istringstream in(bytes);
    CHECK(loaded.load_snapshot(in).records == 0);
    CHECK(loaded.size() == 0);
}

TEST_CASE("snapshot: loading into a store that is not empty is refused, and changes nothing", "[snapshot]") {
    const std::string bytes = small_snapshot();
    ClientStatusStore<> store;
    (void)store.ingest(connect(ch1, t0, "GID_z@@@dev1"));
    const auto before = state_of(store);
    std::istringstream in(bytes);
    CHECK_THROWS_WITH(store.load_snapshot(in), "mqtt_presence: load_snapshot needs an empty store; this one tracks 1 clients");
    CHECK(in.tellg() == 0); // not even read
    CHECK(state_of(store) == before);
    CHECK(store.online_count() == 1);
}

TEST_CASE("snapshot: truncation at every byte offset is refused with the store unchanged", "[snapshot]") {
    const std::string bytes = small_snapshot();
    const Layout l = layout(bytes);
    REQUIRE(l.records.size() == 4);
    std::size_t refused = 0;
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
        INFO("cut at " << cut << " of " << bytes.size());
        const std::string message = load_error(bytes.substr(0, cut));
        const bool named = message.find("truncated") != std::string::npos || message == "snapshot: the input is empty";
        CHECK(named);
        if (named) ++refused;
    }
    CHECK(refused == bytes.size());
    CHECK(load_error(bytes.substr(0, 0)) == "snapshot: the input is empty");
    CHECK(load_error(bytes.substr(0, 5)) == "snapshot: truncated in the header");
    CHECK(load_error(bytes.substr(0, l.header_end)) == "snapshot: truncated after the header: the end marker is missing");
    CHECK(load_error(bytes.substr(0, l.records[2] + 3)) == "snapshot: truncated in record 3");
    CHECK(load_error(bytes.substr(0, l.records[3] + 20)) == "snapshot: truncated in record 4");
    CHECK(load_error(bytes.substr(0, l.end_marker)) == "snapshot: truncated after record 4: the end marker is missing");
    CHECK(load_error(bytes.substr(0, l.end_marker + 9)) == "snapshot: truncated in the end marker");
    CHECK(load_error(bytes).empty());
}

TEST_CASE("snapshot: a damaged byte anywhere is refused with the store unchanged", "[snapshot]") {
    const std::string bytes = small_snapshot();
    std::size_t refused = 0, checks = 0;
    for (std::size_t at = 0; at < bytes.size(); ++at) {
        for (const unsigned mask : {0x01U, 0x80U, 0xffU}) {
            std::string damaged = bytes;
            damaged[at] = static_cast<char>(static_cast<unsigned char>(damaged[at]) ^ mask);
            INFO("byte " << at << " xor " << mask);
            const std::string message = load_error(damaged);
            CHECK_FALSE(message.empty());
            CHECK(message.rfind("snapshot: ", 0) == 0);
            if (!message.empty()) ++refused;
            ++checks;
        }
    }
    CHECK(refused == checks);
    const Layout l = layout(bytes);
    std::string damaged = bytes;
    damaged[l.records[2] + 12] ^= 0x10;
    CHECK(load_error(damaged) == "snapshot: checksum mismatch in record 3");
    damaged = bytes;
    damaged[21] ^= 0x10; // metadata
    CHECK(load_error(damaged) == "snapshot: checksum mismatch in the header");
    damaged = bytes;
    damaged[l.end_marker + 2] ^= 0x10;
    CHECK(load_error(damaged) == "snapshot: checksum mismatch in the end marker");
    damaged = bytes;
    damaged[l.records[1]] = 'X';
    CHECK(load_error(damaged) == "snapshot: unknown frame tag 0x58 after record 1");
}

TEST_CASE("snapshot: another file, another version, frames removed or moved", "[snapshot]") {
    const std::string bytes = small_snapshot();
    const Layout l = layout(bytes);
    CHECK(load_error("{\"clientId\":\"GID_a@@@dev1\"}\n") == "snapshot: not an mqtt_presence snapshot (wrong magic number)");
    CHECK(load_error("MQ") == "snapshot: not an mqtt_presence snapshot (wrong magic number)");
    CHECK(load_error(bytes.substr(0, 3)) == "snapshot: truncated in the header");
    // A text-mode copy turns "\r\n" into "\n".
    std::string text_mode = bytes;
    text_mode.erase(4, 1);
    CHECK(load_error(text_mode) == "snapshot: not an mqtt_presence snapshot (wrong magic number)");

    std::string v7 = bytes;
    v7[8] = 7;
    CHECK(load_error(v7) == "snapshot: unsupported version 7 (this library reads version 1)");
    std::string flags = bytes;
    flags[12] = 1;
    // The header's checksum covers the flags: a flag this version does not know is caught as
    // damage unless the checksum is recomputed, as a newer writer would.
    CHECK(load_error(flags) == "snapshot: checksum mismatch in the header");
    const std::uint32_t crc = detail::snapshot::crc32(flags.data(), l.header_end - 4);
    for (std::size_t i = 0; i < 4; ++i) flags[l.header_end - 4 + i] = static_cast<char>((crc >> (8 * i)) & 0xffU);
    CHECK(load_error(flags) == "snapshot: unknown header flags 1 (written by a newer library?)");
    std::string huge_meta = bytes;
    huge_meta[19] = 0x7f;
    CHECK(load_error(huge_meta).find("snapshot: corrupt header: its metadata length") == 0);

    std::string huge_record = bytes;
    for (std::size_t i = 1; i <= 4; ++i) huge_record[l.records[0] + i] = static_cast<char>(0xff);
    CHECK(load_error(huge_record) == "snapshot: record 1: its length 4294967295 is more than any record can take (damaged?)");

    // A record frame removed, or two swapped: the end marker notices.
    const std::string without_second = bytes.substr(0, l.records[1]) + bytes.substr(l.records[2]);
    CHECK(load_error(without_second) == "snapshot: the end marker counts 4 records, the snapshot holds 3");
    const std::string swapped = bytes.substr(0, l.records[0]) + frame(bytes, l, 1) + frame(bytes, l, 0) + bytes.substr(l.records[2]);
    CHECK(load_error(swapped) == "snapshot: the records do not match the end marker's checksum (a record replaced or moved?)");
}

TEST_CASE("snapshot: record content is checked as events are, and against the store's caps", "[snapshot]") {
    ClientRecord ok;
    ok.channels.push_back(open_channel(ch1, t0));
    ok.latest_connect_ms = t0;
    ok.last_event_ms = t0;
    CHECK(load_error(crafted({{"GID_a@@@dev1", ok}})).empty());

    CHECK(load_error(crafted({{"GID_a@@@dev1", ok}, {"GID_a@@@dev2", ok}, {"GID_a@@@dev1", ok}})) ==
          "snapshot: record 3: client \"GID_a@@@dev1\" appears twice");
    CHECK(load_error(crafted({{"GID_a@@@\x01", ok}})) == "snapshot: record 1: client_id contains a control character");
    CHECK(load_error(crafted({{"", ok}})) == "snapshot: record 1: client_id is empty");

    ClientRecord bad = ok;
    bad.channels.push_back(open_channel("bad\nid", t0));
    CHECK(load_error(crafted({{"GID_a@@@dev1", bad}})) ==
          "snapshot: record 1 (client \"GID_a@@@dev1\"), channel 2: channel_id contains a control character");
    bad = ok;
    bad.channels.push_back(open_channel(ch1, t0 + 1));
    CHECK(load_error(crafted({{"GID_a@@@dev1", bad}})) == "snapshot: record 1 (client \"GID_a@@@dev1\"): a channel id appears twice");
    bad = ok;
    bad.channels[0].close_cause = Cause::tcpclean; // no close time
    CHECK(load_error(crafted({{"GID_a@@@dev1", bad}})) ==
          "snapshot: record 1 (client \"GID_a@@@dev1\"), channel 1: its close time and close cause disagree");
    bad = ok;
    Channel synthetic;
    synthetic.synthetic = true;
    synthetic.connect_ms = t0;
    bad.channels.push_back(synthetic);
    CHECK(load_error(crafted({{"GID_a@@@dev1", bad}})).empty());
    bad.channels.push_back(synthetic);
    CHECK(load_error(crafted({{"GID_a@@@dev1", bad}})) == "snapshot: record 1 (client \"GID_a@@@dev1\"): more than one synthetic channel");
    CHECK(load_error(crafted({{"GID_a@@@dev1", ClientRecord{}}})) ==
          "snapshot: record 1 (client \"GID_a@@@dev1\"): an empty record (stores keep none)");

    // The loading store's caps: 3 open channels fit the defaults, not max_open_channels = 2.
    ClientRecord three = ok;
    three.channels.push_back(open_channel(ch2, t0));
    three.channels.push_back(open_channel("ch-3", t0));
    Options two_open;
    two_open.max_open_channels = 2;
    CHECK(load_error(crafted({{"GID_a@@@dev1", three}})).empty());
    CHECK(load_error(crafted({{"GID_a@@@dev1", three}}), two_open) ==
          "snapshot: record 1 (client \"GID_a@@@dev1\"): 3 open channels, more than max_open_channels (2)");
    ClientRecord four = three;
    Channel closed = open_channel("ch-4", t0);
    closed.close_ms = t0 + 1;
    closed.close_cause = Cause::tcpclean;
    four.channels.push_back(closed);
    Options tiny;
    tiny.max_open_channels = 1;
    tiny.max_tombstones = 1;
    CHECK(load_error(crafted({{"GID_a@@@dev1", four}}), tiny) ==
          "snapshot: record 1 (client \"GID_a@@@dev1\"): 4 channels, more than this store's caps allow (3)");
}

TEST_CASE("snapshot: bad metadata and failing streams", "[snapshot]") {
    ClientStatusStore<> store;
    fill_small(store);
    std::ostringstream out;
    CHECK_THROWS_WITH(store.save_snapshot(out, std::string(max_snapshot_metadata_bytes + 1, 'm')),
                      "mqtt_presence: snapshot metadata of 1048577 bytes is longer than 1 MiB");
    CHECK(out.str().empty());
    (void)store.save_snapshot(out, std::string(max_snapshot_metadata_bytes, 'm'));
    ClientStatusStore<> loaded;
    std::istringstream in(out.str());
    CHECK(loaded.load_snapshot(in).metadata.size() == max_snapshot_metadata_bytes);

    std::ostringstream broken;
    broken.setstate(std::ios::badbit);
    CHECK_THROWS_AS(store.save_snapshot(broken), SnapshotError);
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

struct TempDir {
    fs::path path;
    TempDir() {
        // Unique per process and test run: ctest runs test cases in parallel processes.
        static int counter = 0;
        path = fs::temp_directory_path() / ("mqtt_presence_snapshot_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& entry : fs::directory_iterator(path)) out.push_back(entry.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }
};

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A storage that fails in the middle of for_each: a save that dies half-way.
struct FailingStorage {
    InMemoryStorage inner;
    std::size_t fail_after = 1000000;
    template <class Fn>
    void update(std::string_view id, Fn&& fn) {
        inner.update(id, std::forward<Fn>(fn));
    }
    template <class Fn>
    void visit(std::string_view id, Fn&& fn) const {
        inner.visit(id, std::forward<Fn>(fn));
    }
    template <class Fn>
    void for_each(Fn&& fn) const {
        std::size_t n = 0;
        inner.for_each([&](std::string_view id, const ClientRecord& r) {
            if (n++ == fail_after) throw std::runtime_error("storage lost mid-way");
            fn(id, r);
        });
    }
    [[nodiscard]] std::size_t size() const { return inner.size(); }
};

} // namespace

TEST_CASE("snapshot files: written atomically, read whole", "[snapshot][file]") {
    TempDir dir;
    const std::string path = (dir.path / "state.snap").string();
    ClientStatusStore<> store;
    fill_small(store);
    CHECK(store.save_snapshot_file(path, "offset 7") == 4);
    CHECK(dir.names() == std::vector<std::string>{"state.snap"}); // no temporary file left
    const std::string first = read_bytes(path);
    CHECK(first == small_snapshot("offset 7"));

    ClientStatusStore<ConcurrentStorage> loaded;
    CHECK(loaded.load_snapshot_file(path).metadata == "offset 7");
    CHECK(state_of(loaded) == state_of(store));

    SECTION("a save that fails half-way leaves the previous file intact and no temporary file") {
        ClientStatusStore<FailingStorage> failing;
        fill_small(failing);
        failing.storage().fail_after = 2;
        CHECK_THROWS_WITH(failing.save_snapshot_file(path, "offset 8"), "storage lost mid-way");
        CHECK(read_bytes(path) == first);
        CHECK(dir.names() == std::vector<std::string>{"state.snap"});
        // Without the failure, it replaces the file.
        failing.storage().fail_after = 1000;
        (void)failing.ingest(connect(ch1, t0 + 24 * hour, "GID_c@@@new"));
        CHECK(failing.save_snapshot_file(path, "offset 9") == 5);
        CHECK(dir.names() == std::vector<std::string>{"state.snap"});
        ClientStatusStore<> reloaded;
        CHECK(reloaded.load_snapshot_file(path).metadata == "offset 9");
        CHECK(reloaded.is_online("GID_c@@@new"));
    }
    SECTION("a path that cannot be written: the error names it, nothing is left behind") {
        fs::create_directories(dir.path / "a-directory");
        const std::string onto_directory = (dir.path / "a-directory").string();
        try {
            (void)store.save_snapshot_file(onto_directory);
            FAIL("no error");
        } catch (const SnapshotError& e) {
            CHECK(std::string(e.what()).find("snapshot: cannot rename ") == 0);
            CHECK(std::string(e.what()).find(onto_directory) != std::string::npos);
        }
        CHECK(dir.names() == std::vector<std::string>{"a-directory", "state.snap"});
        const std::string missing_dir = (dir.path / "no-such-dir" / "x.snap").string();
        try {
            (void)store.save_snapshot_file(missing_dir);
            FAIL("no error");
        } catch (const SnapshotError& e) {
            CHECK(std::string(e.what()).find("snapshot: cannot create " + missing_dir + ".tmp.") == 0);
            CHECK(std::string(e.what()).find("No such file or directory") != std::string::npos);
        }
    }
    SECTION("a file must hold exactly one snapshot") {
        {
            std::ofstream out(path, std::ios::binary | std::ios::app);
            out << "abc";
        }
        ClientStatusStore<> store2;
        CHECK_THROWS_WITH(store2.load_snapshot_file(path), "snapshot: 3 unexpected bytes after the end marker");
        CHECK(store2.size() == 0);
        CHECK_THROWS_WITH(store2.load_snapshot_file(dir.path.string()), "snapshot: cannot open " + dir.path.string() + ": Is a directory");
        const std::string missing = (dir.path / "nothing-here.snap").string();
        CHECK_THROWS_WITH(store2.load_snapshot_file(missing), "snapshot: cannot open " + missing + ": No such file or directory");
        {
            std::ofstream out(path, std::ios::binary | std::ios::trunc);
            out << first.substr(0, first.size() / 2);
        }
        CHECK_THROWS_AS(store2.load_snapshot_file(path), SnapshotError);
        CHECK(store2.size() == 0);
    }
}

// ---------------------------------------------------------------------------------------------
// The restart property.
// ---------------------------------------------------------------------------------------------

namespace {

std::string edge_text(const Edge& e) {
    return std::string(e.client_id) + (e.online ? " on " : " off ") + std::to_string(e.time_ms) + " " + std::string(e.channel_id) +
           " " + std::string(to_string(e.cause));
}

// Replays deliveries [from, to) into `store`, with maintenance at fixed delivery indices, and
// records each step's outcome and edges.
template <class Store>
void replay(Store& store, const std::vector<testing::Delivery>& deliveries, std::size_t from, std::size_t to,
            std::vector<std::string>& edges, std::vector<Outcome>& outcomes) {
    store.on_transition([&](const Edge& e) { edges.push_back(edge_text(e)); });
    for (std::size_t i = from; i < to; ++i) {
        const testing::Delivery& d = deliveries[i];
        outcomes.push_back(d.kind == testing::Delivery::Kind::event ? store.ingest(d.event)
                                                                    : store.reconcile(d.event.client_id, d.online, d.as_of_ms));
        if (i % 97 == 96) (void)store.prune(d.delivered_ms);
        if (i % 131 == 130) (void)store.expire_silent(d.delivered_ms, 20 * hour);
    }
    store.on_transition(nullptr);
}

std::map<std::string, std::vector<std::string>> by_client(const std::vector<std::string>& edges) {
    std::map<std::string, std::vector<std::string>> out;
    for (const std::string& e : edges) out[e.substr(0, e.find(' '))].push_back(e);
    return out;
}

bool same(const std::vector<Outcome>& a, const std::vector<Outcome>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].status != b[i].status || a[i].transition != b[i].transition || a[i].cause != b[i].cause ||
            a[i].transition_ms != b[i].transition_ms)
            return false;
    return true;
}

} // namespace

TEMPLATE_LIST_TEST_CASE("snapshot: cut a run anywhere, save, load into a fresh store, go on: the same end and the same edges",
                        "[snapshot][property]", Storages) {
    using namespace mqtt_presence::testing;
    const std::uint64_t seed = seed_from_environment(20251124);
    HistoryOptions history;
    history.reconcile_online_probability = 0.2;
    history.reconcile_offline_probability = 0.1;
    Options options;
    options.forget_offline_after_ms = 36 * hour; // prune forgets some clients
    const std::size_t planned = test_support::share_of_work<TestType>(300);
    std::size_t runs = 0, cuts_with_state = 0;
    for (std::uint64_t k = 0; k < planned; ++k) {
        const std::uint64_t run_seed = mix_seed(seed, k);
        const Batch batch = generate_batch(run_seed, k * 40, 40, history, DeliveryOptions{});
        const std::size_t n = batch.deliveries.size();
        Random rng(mix_seed(run_seed, 77));
        const std::size_t cut = rng.index(n + 1);
        INFO("MQTT_PRESENCE_SEED=" << seed << " run " << k << " (seed " << run_seed << "), cut at " << cut << " of " << n);

        ClientStatusStore<> whole(options);
        std::vector<std::string> whole_edges;
        std::vector<Outcome> whole_outcomes;
        replay(whole, batch.deliveries, 0, n, whole_edges, whole_outcomes);

        ClientStatusStore<> first(options);
        std::vector<std::string> edges;
        std::vector<Outcome> outcomes;
        replay(first, batch.deliveries, 0, cut, edges, outcomes);
        std::ostringstream saved;
        (void)first.save_snapshot(saved, "cut " + std::to_string(cut));
        if (first.size() > 0) ++cuts_with_state;

        ClientStatusStore<TestType> second(options);
        std::istringstream in(saved.str());
        REQUIRE(second.load_snapshot(in).metadata == "cut " + std::to_string(cut));
        REQUIRE(second.online_count() == first.online_count());
        replay(second, batch.deliveries, cut, n, edges, outcomes);

        REQUIRE(state_of(second) == state_of(whole));
        // Per client, the same edges in the same order (maintenance visits clients in the
        // storage's order, which differs between a loaded store and the original).
        REQUIRE(by_client(edges) == by_client(whole_edges));
        REQUIRE(same(outcomes, whole_outcomes));
        REQUIRE(second.online_count() == whole.online_count());
        REQUIRE(group_counts(second) == group_counts(whole));
        ++runs;
    }
    CHECK(runs == planned);
    CHECK(cuts_with_state > planned * 2 / 3);
}
