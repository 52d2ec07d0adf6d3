#pragma once
// Snapshots: the whole state of a store as a versioned binary stream, so that a restarted
// consumer loses nothing (ClientStatusStore::save_snapshot / load_snapshot, README.md,
// "Snapshots"). This header holds the format, its encoder and its verifying decoder, and the
// atomic file write; the store drives them through the storage's for_each and update.
//
// Format, version 1. Integers are little-endian; CRC-32 is zlib's (IEEE 802.3 polynomial,
// reflected 0xedb88320, initial value and final xor 0xffffffff); a time is a u64, all ones for
// "no time", else milliseconds since the epoch, at most 2^48 - 2.
//
//   header   magic        8 bytes  89 4d 51 50 0d 0a 1a 0a  ("\x89MQP\r\n\x1a\n": a file
//                                   mangled by a text-mode copy or cut to 7 bits is caught here)
//            version      u32      1
//            flags        u32      0 (a reader refuses flags it does not know)
//            meta_length  u32      at most max_snapshot_metadata_bytes (1 MiB)
//            metadata     meta_length bytes, the caller's (e.g. the consumer offset it covers)
//            crc          u32      CRC-32 of every header byte before it
//   record   tag          u8       'R' (0x52), one frame per client, in no particular order
//            length       u32      bytes of body
//            body         length bytes (below)
//            crc          u32      CRC-32 of tag, length and body
//   end      tag          u8       'E' (0x45)
//            records      u64      number of record frames
//            crc_of_crcs  u32      CRC-32 of the record frames' crc fields (4 bytes each, in order)
//            crc          u32      CRC-32 of tag, records and crc_of_crcs
//
//   body     client id    u16 length, bytes
//            latest_connect_ms, closed_through_ms, last_event_ms, last_offline_ms   4 times
//            flags        u8       bit 0: last_offline_graceful
//            channels     u16      count, then per channel, in the record's order:
//              channel id   u16 length, bytes ("" for the synthetic channel of a reconcile)
//              address      u8 length, bytes
//              connect_ms, close_ms, disconnect_ms                                  3 times
//              close cause  u8       0 none, 2 tcpclean, 3 disconnect, 4 takeover, 5 reconcile, 6 expiry
//              flags        u8       bit 0: synthetic
//
// A record holds everything ClientRecord holds: every channel (open, tombstones, half-known,
// synthetic) with its times and cause, the watermarks and the last offline edge; so a loaded
// store decides exactly as the saved one would have (a duplicate stays a duplicate).
//
// Reading verifies everything before anything is applied: the magic, the version, every
// checksum, every length (a truncated input is caught wherever it ends), the record count,
// each record's content (ids through the same checks as events' ids, times in range, causes
// known, the channel caps of the loading store's Options, at most one synthetic channel, no
// channel or client twice). Errors are SnapshotError exceptions naming the problem and where,
// e.g. "snapshot: truncated in record 17", "snapshot: checksum mismatch in record 3",
// "snapshot: unsupported version 7 (this library reads version 1)". Records are numbered
// from 1 in the order they are stored.
//
// Standard library only, plus the POSIX calls open/fsync/rename for the atomic file write
// (std::filesystem elsewhere).

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "detail/record_check.hpp"
#include "event.hpp"
#include "rules.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define MQTT_PRESENCE_SNAPSHOT_POSIX 1
#endif

namespace mqtt_presence {

/// A snapshot that cannot be read or written: truncated, corrupt, of another version, or a file
/// that cannot be opened, written, synced or renamed. what() names the problem.
class SnapshotError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The snapshot format this library writes and reads.
inline constexpr std::uint32_t snapshot_version = 1;
/// Largest user metadata a snapshot carries (save_snapshot's `metadata`).
inline constexpr std::size_t max_snapshot_metadata_bytes = std::size_t{1} << 20;

/// What load_snapshot read, besides the records it installed.
struct SnapshotInfo {
    std::uint32_t version = snapshot_version;
    std::uint64_t records = 0; ///< clients loaded
    std::string metadata;      ///< the caller's metadata given to save_snapshot (e.g. an offset)
};

namespace detail::snapshot {

inline constexpr unsigned char magic[8] = {0x89, 'M', 'Q', 'P', '\r', '\n', 0x1a, '\n'};
inline constexpr unsigned char record_tag = 'R';
inline constexpr unsigned char end_tag = 'E';
inline constexpr std::uint64_t no_time_code = ~std::uint64_t{0};

// --- CRC-32 (zlib's) ---------------------------------------------------------------------

struct CrcTable {
    std::uint32_t value[8][256];
    constexpr CrcTable() : value{} {
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? 0xedb88320U ^ (c >> 1) : c >> 1;
            value[0][i] = c;
        }
        for (std::uint32_t i = 0; i < 256; ++i)
            for (int t = 1; t < 8; ++t) value[t][i] = (value[t - 1][i] >> 8) ^ value[0][value[t - 1][i] & 0xffU];
    }
};
inline constexpr CrcTable crc_table{};

/// Continues a CRC-32 over `size` more bytes (start with crc32_init, end with crc32_final).
inline std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t size) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    const auto& t = crc_table.value;
    // Eight bytes a step (slicing-by-8), then byte by byte.
    for (; size >= 8; size -= 8, p += 8) {
        const std::uint32_t lo = crc ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
                                        std::uint32_t{p[3]} << 24);
        crc = t[7][lo & 0xffU] ^ t[6][(lo >> 8) & 0xffU] ^ t[5][(lo >> 16) & 0xffU] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
              t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    }
    for (; size > 0; --size, ++p) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xffU];
    return crc;
}
inline constexpr std::uint32_t crc32_init = 0xffffffffU;
[[nodiscard]] constexpr std::uint32_t crc32_final(std::uint32_t crc) noexcept { return crc ^ 0xffffffffU; }

/// CRC-32 of one buffer.
[[nodiscard]] inline std::uint32_t crc32(const void* data, std::size_t size) noexcept {
    return crc32_final(crc32_update(crc32_init, data, size));
}

// --- encoding ------------------------------------------------------------------------------

inline void put_u8(std::string& out, unsigned v) { out.push_back(static_cast<char>(v & 0xffU)); }
inline void put_u16(std::string& out, std::uint32_t v) {
    put_u8(out, v);
    put_u8(out, v >> 8);
}
inline void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) put_u8(out, v >> (8 * i));
}
inline void put_u64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) put_u8(out, static_cast<unsigned>(v >> (8 * i)));
}
inline void put_time(std::string& out, std::int64_t t) {
    put_u64(out, t == no_time ? no_time_code : static_cast<std::uint64_t>(t));
}

// Appends one record frame (tag, length, body, crc) to `out`.
inline void encode_record(std::string& out, std::string_view client_id, const ClientRecord& record) {
    const std::size_t start = out.size();
    put_u8(out, record_tag);
    put_u32(out, 0); // the length, filled in below
    const std::size_t body = out.size();
    put_u16(out, static_cast<std::uint32_t>(client_id.size()));
    out.append(client_id);
    put_time(out, record.latest_connect_ms);
    put_time(out, record.closed_through_ms);
    put_time(out, record.last_event_ms);
    put_time(out, record.last_offline_ms);
    put_u8(out, record.last_offline_graceful ? 1U : 0U);
    put_u16(out, static_cast<std::uint32_t>(record.channels.size()));
    detail::CompactString<16>::Scratch key_scratch;
    detail::CompactString<8>::Scratch address_scratch;
    for (const Channel& ch : record.channels) {
        const std::string_view key = ch.key.view(key_scratch);
        put_u16(out, static_cast<std::uint32_t>(key.size()));
        out.append(key);
        const std::string_view address = ch.address.view(address_scratch);
        put_u8(out, static_cast<unsigned>(address.size()));
        out.append(address);
        put_time(out, ch.connect_ms);
        put_time(out, ch.close_ms);
        put_time(out, ch.disconnect_ms);
        put_u8(out, static_cast<unsigned>(ch.close_cause));
        put_u8(out, ch.synthetic ? 1U : 0U);
    }
    const auto length = static_cast<std::uint32_t>(out.size() - body);
    for (int i = 0; i < 4; ++i)
        out[start + 1 + static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xffU);
    put_u32(out, crc32(out.data() + start, out.size() - start));
}

/// Writes a snapshot frame by frame: header(), record() per client, end().
class Writer {
public:
    explicit Writer(std::ostream& out) : m_out(out) { m_buffer.reserve(256); }

    void header(std::string_view metadata) {
        m_buffer.assign(reinterpret_cast<const char*>(magic), sizeof magic);
        put_u32(m_buffer, snapshot_version);
        put_u32(m_buffer, 0); // flags
        put_u32(m_buffer, static_cast<std::uint32_t>(metadata.size()));
        m_buffer.append(metadata);
        put_u32(m_buffer, crc32(m_buffer.data(), m_buffer.size()));
        flush("the header", 0);
    }

    void record(std::string_view client_id, const ClientRecord& record) {
        m_buffer.clear();
        encode_record(m_buffer, client_id, record);
        m_crc_of_crcs = crc32_update(m_crc_of_crcs, m_buffer.data() + m_buffer.size() - 4, 4);
        ++m_records;
        flush("record ", m_records);
    }

    void end() {
        m_buffer.clear();
        put_u8(m_buffer, end_tag);
        put_u64(m_buffer, m_records);
        put_u32(m_buffer, crc32_final(m_crc_of_crcs));
        put_u32(m_buffer, crc32(m_buffer.data(), m_buffer.size()));
        flush("the end marker", 0);
        m_out.flush();
        if (!m_out) throw SnapshotError("snapshot: the output stream failed while flushing");
    }

    [[nodiscard]] std::uint64_t records() const noexcept { return m_records; }

private:
    // `what` and, when not 0, `number`: the frame, for the message.
    void flush(const char* what, std::uint64_t number) {
        m_out.write(m_buffer.data(), static_cast<std::streamsize>(m_buffer.size()));
        if (!m_out)
            throw SnapshotError(std::string("snapshot: the output stream failed while writing ") + what +
                                (number != 0 ? std::to_string(number) : std::string()));
    }

    std::ostream& m_out;
    std::string m_buffer;
    std::uint32_t m_crc_of_crcs = crc32_init;
    std::uint64_t m_records = 0;
};

// --- decoding ------------------------------------------------------------------------------

/// One client read from a snapshot, verified.
struct Loaded {
    std::string client_id;
    ClientRecord record;
};

/// A whole snapshot read and verified, not yet applied.
struct LoadedSnapshot {
    SnapshotInfo info;
    std::vector<Loaded> clients;
};

[[noreturn]] inline void fail(const std::string& message) { throw SnapshotError("snapshot: " + message); }

// Reads exactly `size` bytes into `out` (replacing its content), in steps, so that a corrupt
// length never allocates more than the input holds. False when the input ends first.
inline bool read_exact(std::istream& in, std::size_t size, std::string& out) {
    constexpr std::size_t step = std::size_t{1} << 16;
    out.clear();
    while (out.size() < size) {
        const std::size_t want = std::min(step, size - out.size());
        const std::size_t have = out.size();
        out.resize(have + want);
        in.read(&out[have], static_cast<std::streamsize>(want));
        const auto got = static_cast<std::size_t>(in.gcount());
        if (got != want) {
            out.resize(have + got);
            return false;
        }
    }
    return true;
}

// A bounds-checked reader over a buffer; reads past the end mark it as overrun.
class Cursor {
public:
    explicit Cursor(std::string_view data) noexcept : m_data(data) {}

    unsigned u8() noexcept { return take(1) ? static_cast<unsigned char>(m_data[m_pos - 1]) : 0U; }
    std::uint32_t u16() noexcept { return static_cast<std::uint32_t>(uint(2)); }
    std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(uint(4)); }
    std::uint64_t u64() noexcept { return uint(8); }
    std::string_view bytes(std::size_t n) noexcept {
        return take(n) ? m_data.substr(m_pos - n, n) : std::string_view{};
    }

    [[nodiscard]] bool overrun() const noexcept { return m_overrun; }
    [[nodiscard]] bool at_end() const noexcept { return m_pos == m_data.size(); }

private:
    bool take(std::size_t n) noexcept {
        if (m_overrun || m_data.size() - m_pos < n) {
            m_overrun = true;
            return false;
        }
        m_pos += n;
        return true;
    }
    std::uint64_t uint(std::size_t n) noexcept {
        if (!take(n)) return 0;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i)
            v |= std::uint64_t{static_cast<unsigned char>(m_data[m_pos - n + i])} << (8 * i);
        return v;
    }

    std::string_view m_data;
    std::size_t m_pos = 0;
    bool m_overrun = false;
};

inline std::uint32_t u32_at(const std::string& s, std::size_t at) noexcept {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(s[at + i])} << (8 * i);
    return v;
}

// A time field: no_time, or a time PackedTime holds. False for anything else.
inline bool decode_time(std::uint64_t code, std::int64_t& out) noexcept {
    if (code == no_time_code) {
        out = no_time;
        return true;
    }
    if (code > static_cast<std::uint64_t>(detail::PackedTime::max)) return false;
    out = static_cast<std::int64_t>(code);
    return true;
}

// A client id quoted for a message: at most 64 bytes of it.
inline std::string quote_id(std::string_view id) {
    std::string out = "\"";
    out.append(id.substr(0, 64));
    if (id.size() > 64) out += "...";
    return out + "\"";
}

// Decodes and verifies record `number`'s body (its checksum already verified) against the
// loading store's options.
inline Loaded decode_record(std::string_view body, std::uint64_t number, const Options& options) {
    // Messages are built only when needed: loading a million records must not build a million.
    auto where = [&] { return "record " + std::to_string(number); };
    Cursor c(body);
    Loaded out;
    auto malformed = [&](const char* what) { fail(where() + " is malformed: " + what); };
    const std::string_view id = c.bytes(c.u16());
    if (c.overrun()) malformed("its client id runs past its end");
    if (const auto why = check_id(id, true); !why.empty()) fail(where() + ": " + std::string(why));
    out.client_id.assign(id);
    auto who = [&] { return where() + " (client " + quote_id(id) + ")"; };
    ClientRecord& r = out.record;
    bool times_ok = true;
    std::int64_t times[4] = {};
    for (std::int64_t& t : times) times_ok = decode_time(c.u64(), t) && times_ok;
    r.latest_connect_ms = times[0];
    r.closed_through_ms = times[1];
    r.last_event_ms = times[2];
    r.last_offline_ms = times[3];
    const unsigned flags = c.u8();
    const std::uint32_t count = c.u16();
    if (c.overrun()) malformed("it ends inside its fixed fields");
    if (!times_ok) fail(who() + ": a time is out of range");
    if ((flags & ~1U) != 0) fail(who() + ": unknown record flags");
    r.last_offline_graceful = (flags & 1U) != 0;
    // Refused before anything is allocated for them: more channels than the caps allow.
    const std::size_t cap = max_record_channels(options);
    if (count > cap)
        fail(who() + ": " + std::to_string(count) + " channels, more than this store's caps allow (" +
             std::to_string(cap) + ")");
    r.channels.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        const std::string_view key = c.bytes(c.u16());
        const std::string_view address = c.bytes(c.u8());
        std::int64_t connect = no_time, close = no_time, disconnect = no_time;
        bool channel_times_ok = decode_time(c.u64(), connect);
        channel_times_ok = decode_time(c.u64(), close) && channel_times_ok;
        channel_times_ok = decode_time(c.u64(), disconnect) && channel_times_ok;
        const unsigned cause = c.u8();
        const unsigned channel_flags = c.u8();
        if (c.overrun()) malformed("a channel runs past its end");
        auto channel_where = [&] { return who() + ", channel " + std::to_string(i + 1); };
        if (!channel_times_ok) fail(channel_where() + ": a time is out of range");
        if ((channel_flags & ~1U) != 0) fail(channel_where() + ": unknown channel flags");
        Channel ch;
        ch.synthetic = (channel_flags & 1U) != 0;
        ch.close_cause = static_cast<Cause>(cause);
        ch.key.assign(key);
        ch.address.assign(address);
        ch.connect_ms = connect;
        ch.close_ms = close;
        ch.disconnect_ms = disconnect;
        r.channels.push_back(std::move(ch));
    }
    if (!c.at_end()) malformed("bytes after its last channel");
    // What the rules could not have produced (shared with every other reader of records).
    if (const RecordProblem problem = check_record(r, options)) {
        if (problem.channel == 0) fail(who() + ": " + problem.what);
        fail(who() + ", channel " + std::to_string(problem.channel) + ": " + problem.what);
    }
    r.remember_presence();
    return out;
}

// The longest record body the loading store's caps allow: the longest ids and addresses in
// every channel a record may hold.
constexpr std::uint64_t max_record_bytes(const Options& options) noexcept {
    const std::uint64_t channels = std::uint64_t{options.max_open_channels} + options.max_tombstones + 1;
    constexpr std::uint64_t time_bytes = 8;
    return 2 + max_id_bytes + 4 * time_bytes + 1 + 2 +
           channels * (2 + max_id_bytes + 1 + max_address_bytes + 3 * time_bytes + 2);
}

/// Reads one whole snapshot from `in` and verifies it; applies nothing. Leaves `in` just after
/// the end marker. Throws SnapshotError.
inline LoadedSnapshot read(std::istream& in, const Options& options) {
    LoadedSnapshot out;
    std::string buffer;
    // Header: magic first, then the version, so that another file or another version is named
    // as such before its bytes are judged by this version's layout.
    if (!read_exact(in, sizeof magic, buffer)) {
        if (std::memcmp(buffer.data(), magic, buffer.size()) != 0)
            fail("not an mqtt_presence snapshot (wrong magic number)");
        fail(buffer.empty() ? "the input is empty" : "truncated in the header");
    }
    if (std::memcmp(buffer.data(), magic, sizeof magic) != 0)
        fail("not an mqtt_presence snapshot (wrong magic number)");
    std::string header = buffer;
    if (!read_exact(in, 12, buffer)) fail("truncated in the header");
    header += buffer;
    const std::uint32_t version = u32_at(header, 8);
    if (version != snapshot_version)
        fail("unsupported version " + std::to_string(version) + " (this library reads version " +
             std::to_string(snapshot_version) + ")");
    const std::uint32_t flags = u32_at(header, 12);
    const std::uint32_t meta_length = u32_at(header, 16);
    if (meta_length > max_snapshot_metadata_bytes)
        fail("corrupt header: its metadata length " + std::to_string(meta_length) + " is beyond the 1 MiB limit");
    if (!read_exact(in, std::size_t{meta_length} + 4, buffer)) fail("truncated in the header");
    header += buffer;
    if (crc32(header.data(), header.size() - 4) != u32_at(header, header.size() - 4))
        fail("checksum mismatch in the header");
    if (flags != 0) fail("unknown header flags " + std::to_string(flags) + " (written by a newer library?)");
    out.info.version = version;
    out.info.metadata.assign(header, 20, meta_length);

    // Records, then the end marker.
    std::uint32_t crc_of_crcs = crc32_init;
    std::uint64_t number = 0;
    auto after = [&] {
        return number == 0 ? std::string("after the header") : "after record " + std::to_string(number);
    };
    for (;;) {
        const int tag = in.get();
        if (tag == std::char_traits<char>::eof()) fail("truncated " + after() + ": the end marker is missing");
        const char tag_byte = static_cast<char>(tag);
        if (tag == end_tag) {
            if (!read_exact(in, 16, buffer)) fail("truncated in the end marker");
            std::uint32_t crc = crc32_update(crc32_init, &tag_byte, 1);
            crc = crc32_final(crc32_update(crc, buffer.data(), 12));
            if (crc != u32_at(buffer, 12)) fail("checksum mismatch in the end marker");
            std::uint64_t count = 0;
            for (std::size_t i = 0; i < 8; ++i)
                count |= std::uint64_t{static_cast<unsigned char>(buffer[i])} << (8 * i);
            if (count != number)
                fail("the end marker counts " + std::to_string(count) + " records, the snapshot holds " +
                     std::to_string(number));
            if (crc32_final(crc_of_crcs) != u32_at(buffer, 8))
                fail("the records do not match the end marker's checksum (a record replaced or moved?)");
            break;
        }
        if (tag != record_tag) {
            char hex[16];
            std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(tag));
            fail(std::string("unknown frame tag ") + hex + " " + after());
        }
        ++number;
        if (!read_exact(in, 4, buffer)) fail("truncated in record " + std::to_string(number));
        const std::uint32_t length = u32_at(buffer, 0);
        if (length > max_record_bytes(options))
            fail("record " + std::to_string(number) + ": its length " + std::to_string(length) +
                 " is more than any record can take (damaged?)");
        std::uint32_t crc = crc32_update(crc32_update(crc32_init, &tag_byte, 1), buffer.data(), 4);
        if (!read_exact(in, std::size_t{length} + 4, buffer)) fail("truncated in record " + std::to_string(number));
        crc = crc32_final(crc32_update(crc, buffer.data(), length));
        if (crc != u32_at(buffer, length)) fail("checksum mismatch in record " + std::to_string(number));
        crc_of_crcs = crc32_update(crc_of_crcs, buffer.data() + length, 4);
        out.clients.push_back(decode_record(std::string_view(buffer).substr(0, length), number, options));
    }
    out.info.records = number;

    // No client twice.
    std::unordered_set<std::string_view> seen;
    seen.reserve(out.clients.size());
    for (std::size_t i = 0; i < out.clients.size(); ++i)
        if (!seen.insert(out.clients[i].client_id).second)
            fail("record " + std::to_string(i + 1) + ": client " + quote_id(out.clients[i].client_id) +
                 " appears twice");
    return out;
}

// --- files ---------------------------------------------------------------------------------

inline std::string error_text(int err) { return std::system_category().message(err); }

#if defined(MQTT_PRESENCE_SNAPSHOT_POSIX)

// An output stream buffer over a POSIX file descriptor; remembers the first write error.
class FdOutBuf : public std::streambuf {
public:
    explicit FdOutBuf(int fd) : m_fd(fd), m_buffer(std::size_t{1} << 16) {
        setp(m_buffer.data(), m_buffer.data() + m_buffer.size());
    }
    [[nodiscard]] int error() const noexcept { return m_error; }

protected:
    int_type overflow(int_type ch) override {
        if (!drain()) return traits_type::eof();
        if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
        *pptr() = traits_type::to_char_type(ch);
        pbump(1);
        return ch;
    }
    int sync() override { return drain() ? 0 : -1; }

private:
    bool drain() {
        const char* p = pbase();
        std::size_t left = static_cast<std::size_t>(pptr() - pbase());
        while (left > 0 && m_error == 0) {
            const ::ssize_t n = ::write(m_fd, p, left);
            if (n < 0) {
                if (errno != EINTR) m_error = errno;
                continue;
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        setp(m_buffer.data(), m_buffer.data() + m_buffer.size());
        return m_error == 0;
    }

    int m_fd;
    std::vector<char> m_buffer;
    int m_error = 0;
};

#endif

/// Writes a file atomically: `write(std::ostream&)` fills a temporary file in the same
/// directory, which is flushed to the disk (fsync) and then renamed over `path`, and the
/// directory is synced, so that a crash at any point leaves either the previous file or the
/// new one, complete. On any failure (write() throwing included) the temporary file is
/// removed, `path` is untouched, and the error is rethrown (a SnapshotError for I/O).
template <class Write>
void write_file_atomically(const std::string& path, Write&& write) {
    static std::atomic<unsigned> sequence{0};
    const unsigned n = sequence.fetch_add(1, std::memory_order_relaxed);
#if defined(MQTT_PRESENCE_SNAPSHOT_POSIX)
    // The temporary file's name is unique to this process and call, so that two saves never
    // write into one file.
    struct TempFile {
        std::string path;
        int fd = -1;
        bool renamed = false;
        ~TempFile() {
            if (fd >= 0) ::close(fd);
            if (!renamed) ::unlink(path.c_str());
        }
    } temp{path + ".tmp." + std::to_string(static_cast<long long>(::getpid())) + "." + std::to_string(n)};
    temp.fd = ::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (temp.fd < 0) {
        temp.renamed = true; // not created: nothing to remove (and never someone else's file)
        throw SnapshotError("snapshot: cannot create " + temp.path + ": " + error_text(errno));
    }
    {
        FdOutBuf buffer(temp.fd);
        std::ostream out(&buffer);
        try {
            write(static_cast<std::ostream&>(out));
            out.flush();
        } catch (const SnapshotError&) {
            if (buffer.error() != 0)
                throw SnapshotError("snapshot: cannot write " + temp.path + ": " + error_text(buffer.error()));
            throw;
        }
        if (buffer.error() != 0)
            throw SnapshotError("snapshot: cannot write " + temp.path + ": " + error_text(buffer.error()));
        if (!out) throw SnapshotError("snapshot: cannot write " + temp.path);
    }
    if (::fsync(temp.fd) != 0)
        throw SnapshotError("snapshot: cannot flush " + temp.path + " to disk: " + error_text(errno));
    const int fd = std::exchange(temp.fd, -1);
    if (::close(fd) != 0) throw SnapshotError("snapshot: cannot write " + temp.path + ": " + error_text(errno));
    if (::rename(temp.path.c_str(), path.c_str()) != 0)
        throw SnapshotError("snapshot: cannot rename " + temp.path + " to " + path + ": " + error_text(errno));
    temp.renamed = true;
    // The rename is durable once the directory is.
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_CLOEXEC);
    if (dir_fd < 0)
        throw SnapshotError("snapshot: " + path +
                            " was written, but its directory cannot be opened to sync it: " + error_text(errno));
    const int synced = ::fsync(dir_fd);
    const int err = errno;
    ::close(dir_fd);
    // Some file systems cannot sync a directory (EINVAL): nothing more can be done there.
    if (synced != 0 && err != EINVAL && err != ENOTSUP)
        throw SnapshotError("snapshot: " + path +
                            " was written, but its directory cannot be synced: " + error_text(err));
#else
    // No POSIX: std::ofstream and std::filesystem::rename (which replaces the target); the
    // data is flushed to the operating system, not forced to the disk.
    const std::string temp = path + ".tmp." + std::to_string(n);
    try {
        {
            std::ofstream out(temp, std::ios::binary | std::ios::trunc);
            if (!out) throw SnapshotError("snapshot: cannot create " + temp);
            write(static_cast<std::ostream&>(out));
            out.flush();
            if (!out) throw SnapshotError("snapshot: cannot write " + temp);
        }
        std::error_code ec;
        std::filesystem::rename(temp, path, ec);
        if (ec) throw SnapshotError("snapshot: cannot rename " + temp + " to " + path + ": " + ec.message());
    } catch (...) {
        std::error_code ignored;
        std::filesystem::remove(temp, ignored);
        throw;
    }
#endif
}

/// Opens `path` for reading, calls read(std::istream&), and requires that it read the file to
/// its end. Throws SnapshotError.
template <class Read>
auto read_file(const std::string& path, Read&& read) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail("cannot open " + path + ": " + error_text(EISDIR));
    std::ifstream in(path, std::ios::binary);
    if (!in) fail("cannot open " + path + ": " + error_text(errno));
    auto result = read(static_cast<std::istream&>(in));
    in.ignore(std::numeric_limits<std::streamsize>::max());
    if (in.bad()) fail("cannot read " + path);
    if (in.gcount() != 0) fail(std::to_string(in.gcount()) + " unexpected bytes after the end marker");
    return result;
}

} // namespace detail::snapshot
} // namespace mqtt_presence
