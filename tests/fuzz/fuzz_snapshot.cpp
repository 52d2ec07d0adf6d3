// fuzz_snapshot: arbitrary bytes as a snapshot (snapshot.hpp). Input: a mode byte, three bytes
// of options (fuzz::choose: flags, max_open_channels, max_tombstones), then the snapshot. Mode
// (counted from '0'): bit 1 recomputes every checksum the bytes' layout implies, bit 2 also the
// end marker's record count, so that mutations reach the record decoder past the CRC-32s.
// load_snapshot either throws SnapshotError and leaves the (empty) store exactly as it was, or
// loads a state that passes the invariants, saves and loads again to the same state and
// metadata, and stays consistent under a few events per client. A store that already tracks
// clients refuses any input with std::logic_error before reading a byte, unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"

namespace {

using namespace mqtt_presence;
namespace snap = mqtt_presence::detail::snapshot;

void put_u32_at(std::string& s, std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xffU);
}

// The checksums (and, when asked, the record count) the layout of `s` implies, written in.
std::string fix_checksums(std::string s, bool fix_count) {
    if (s.size() < 20) return s;
    const std::uint32_t meta_length = snap::u32_at(s, 16);
    if (meta_length > max_snapshot_metadata_bytes || s.size() < 24 + std::size_t{meta_length}) return s;
    std::size_t pos = 20 + std::size_t{meta_length};
    put_u32_at(s, pos, snap::crc32(s.data(), pos));
    pos += 4;
    std::uint32_t crc_of_crcs = snap::crc32_init;
    std::uint64_t records = 0;
    while (pos < s.size()) {
        const auto tag = static_cast<unsigned char>(s[pos]);
        if (tag == snap::record_tag) {
            if (s.size() - pos < 5) break;
            const std::uint32_t length = snap::u32_at(s, pos + 1);
            if (s.size() - pos - 5 < std::size_t{length} + 4) break;
            const std::size_t crc_at = pos + 5 + length;
            put_u32_at(s, crc_at, snap::crc32(s.data() + pos, 5 + std::size_t{length}));
            crc_of_crcs = snap::crc32_update(crc_of_crcs, s.data() + crc_at, 4);
            ++records;
            pos = crc_at + 4;
        } else if (tag == snap::end_tag) {
            if (s.size() - pos < 17) break;
            if (fix_count)
                for (std::size_t i = 0; i < 8; ++i) s[pos + 1 + i] = static_cast<char>((records >> (8 * i)) & 0xffU);
            put_u32_at(s, pos + 9, snap::crc32_final(crc_of_crcs));
            put_u32_at(s, pos + 13, snap::crc32(s.data() + pos, 13));
            break;
        } else {
            break;
        }
    }
    return s;
}

// A store tracking a few clients (one online, one offline, one online through a reconcile).
ClientStatusStore<>& prefilled() {
    static ClientStatusStore<> store = [] {
        ClientStatusStore<> s;
        s.ingest(Event{"GID_a@@@one", "2b9b1281046046faafe5e0b458e4a1b2", EventType::connect, 1764000000000, "192.0.2.7:1"});
        s.ingest(Event{"GID_a@@@two", "c1", EventType::connect, 1764000000000, ""});
        s.ingest(Event{"GID_a@@@two", "c1", EventType::tcpclean, 1764000001000, ""});
        (void)s.reconcile("three", true, 1764000002000);
        return s;
    }();
    return store;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const unsigned mode = (static_cast<unsigned char>(input[0]) + 256U - '0') & 0xffU;
    const Options options = fuzz::choose(input.substr(1, 3)).options;
    std::string bytes(input.substr(4));
    if ((mode & 1U) != 0) bytes = fix_checksums(std::move(bytes), (mode & 2U) != 0);

    // A store that tracks clients: refused before anything is read, unchanged.
    {
        ClientStatusStore<>& full = prefilled();
        static const std::string digest = fuzz::store_digest(full);
        static const std::size_t online = full.online_count();
        std::istringstream in(bytes);
        bool refused = false;
        try {
            (void)full.load_snapshot(in);
        } catch (const std::logic_error&) {
            refused = true;
        }
        FUZZ_CHECK(refused, "load_snapshot into a store tracking clients did not throw std::logic_error");
        FUZZ_CHECK(in.tellg() == 0, "load_snapshot into a store tracking clients read from the stream");
        FUZZ_CHECK(fuzz::store_digest(full) == digest && full.online_count() == online,
                   "a refused load_snapshot changed the store");
    }

    fuzz::CheckedStore checked(options, false);
    ClientStatusStore<>& store = checked.store();
    std::istringstream in(bytes);
    SnapshotInfo info;
    try {
        info = store.load_snapshot(in);
    } catch (const SnapshotError& e) {
        const std::string what = e.what();
        FUZZ_CHECK(what.rfind("snapshot: ", 0) == 0 && what.size() > 10, "SnapshotError \"" + fuzz::printable(what) + "\"");
        FUZZ_CHECK(store.size() == 0 && store.online_count() == 0 && fuzz::store_digest(store).empty() &&
                           fuzz::reported_groups(store).empty() && store.counters().events == 0,
                   "a refused snapshot (" + what + ") left something in the store");
        return 0;
    }
    FUZZ_CHECK(info.records == store.size(), "load_snapshot says " + std::to_string(info.records) + " records, the store has " +
                                                     std::to_string(store.size()));
    FUZZ_CHECK(info.version == snapshot_version, "load_snapshot's version");
    FUZZ_CHECK(store.counters().went_online == 0 && store.counters().events == 0, "load_snapshot counted something");
    fuzz::check_store(store, false);
    fuzz::check_snapshot_round_trip(store, false, info.metadata);
    fuzz::check_record_codec(store);

    // The loaded state under events: a few per client, for the first four clients by id.
    std::vector<std::pair<std::string, ClientRecord>> clients;
    store.storage().for_each([&](std::string_view id, const ClientRecord& record) { clients.emplace_back(id, record); });
    std::sort(clients.begin(), clients.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (clients.size() > 4) clients.resize(4);
    for (const auto& [id, record] : clients) {
        for (const Event& event : fuzz::probe_events(id, record)) checked.ingest(event);
        (void)checked.reconcile(id, true, std::min<std::int64_t>(checked.newest_ms() + 1, max_time_ms));
    }
    fuzz::check_snapshot_round_trip(store, false);
    fuzz::check_record_codec(store);
    return 0;
}
