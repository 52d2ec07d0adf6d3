#pragma once
// A compact binary encoding of one ClientRecord, for storages that keep records outside the
// process (RedisStorage). About 45 bytes for a client with one open channel whose id is 32 hex
// digits and whose address is an IPv4 ip:port. Standard library only.
//
// Format, version 1 (varints are LEB128, at most 10 bytes; a "time" is a varint: 0 for no_time,
// else zigzag(t - base) + 1, where base is the record's first field):
//
//   version   u8      1
//   flags     u8      bit 0: last_offline_graceful; other bits 0
//   base      varint  last_event_ms + 1, or 0 when it has none (then base = 0)
//   times     3 times latest_connect_ms, closed_through_ms, last_offline_ms
//   channels  varint  count, then per channel:
//     flags     u8      bit 0 synthetic, bit 1 id packed, bit 2 address packed, bits 4-7 close cause
//     id        packed: 16 bytes (32 lowercase hex digits); else varint length, bytes
//     address   packed: 6 bytes (IPv4 a.b.c.d:port, written as decimal without leading zeros);
//               else u8 length, bytes
//     times     3 times connect_ms, close_ms, disconnect_ms
//
// decode_record() reads untrusted bytes: every length is bounded by what is left, an unknown
// version or flag is refused, every time must be one a PackedTime holds, and the decoded record
// must pass check_record() under the reading store's Options. It throws std::runtime_error whose
// message says what is wrong (the caller adds which record).

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "../rules.hpp"
#include "record_check.hpp"

namespace mqtt_presence::detail::record_codec {

inline constexpr unsigned char version = 1;

inline void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80U) {
        out.push_back(static_cast<char>((v & 0x7fU) | 0x80U));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

inline std::uint64_t zigzag(std::int64_t v) noexcept {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1U);
}

inline void put_time(std::string& out, std::int64_t t, std::int64_t base) {
    put_varint(out, t == no_time ? 0 : zigzag(t - base) + 1);
}

/// Appends the encoding of `record` to `out`.
inline void encode_record(std::string& out, const ClientRecord& record) {
    out.push_back(static_cast<char>(version));
    out.push_back(static_cast<char>(record.last_offline_graceful ? 1 : 0));
    const std::int64_t last_event = record.last_event_ms;
    const std::int64_t base = last_event == no_time ? 0 : last_event;
    put_varint(out, last_event == no_time ? 0 : static_cast<std::uint64_t>(last_event) + 1);
    put_time(out, record.latest_connect_ms, base);
    put_time(out, record.closed_through_ms, base);
    put_time(out, record.last_offline_ms, base);
    put_varint(out, record.channels.size());
    // The packed forms are the strings' own (CompactString encodes a text of 32 lowercase hex
    // digits, and an IPv4 ip:port, exactly so): copied, not parsed again.
    CompactString<16>::Scratch key_scratch;
    CompactString<8>::Scratch address_scratch;
    for (const Channel& ch : record.channels) {
        unsigned char packed_key[16];
        unsigned char packed_address[CompactString<8>::ipv4_bytes];
        const bool key_packed = ch.key.packed_hex(packed_key);
        const bool address_packed = ch.address.packed_ipv4(packed_address);
        out.push_back(static_cast<char>((ch.synthetic ? 1U : 0U) | (key_packed ? 2U : 0U) | (address_packed ? 4U : 0U) |
                                        static_cast<unsigned>(ch.close_cause) << 4));
        if (key_packed) {
            out.append(reinterpret_cast<const char*>(packed_key), sizeof packed_key);
        } else {
            const std::string_view key = ch.key.view(key_scratch);
            put_varint(out, key.size());
            out.append(key);
        }
        if (address_packed) {
            out.append(reinterpret_cast<const char*>(packed_address), sizeof packed_address);
        } else {
            const std::string_view address = ch.address.view(address_scratch);
            out.push_back(static_cast<char>(address.size()));
            out.append(address);
        }
        put_time(out, ch.connect_ms, base);
        put_time(out, ch.close_ms, base);
        put_time(out, ch.disconnect_ms, base);
    }
}

/// The encoding of `record`.
[[nodiscard]] inline std::string encode_record(const ClientRecord& record) {
    std::string out;
    out.reserve(64);
    encode_record(out, record);
    return out;
}

// A bounds-checked reader; every read past the end throws.
class Reader {
public:
    explicit Reader(std::string_view data) noexcept : m_data(data) {}

    unsigned char byte() {
        need(1, "it ends early");
        return static_cast<unsigned char>(m_data[m_pos++]);
    }
    std::string_view bytes(std::uint64_t n) {
        need(n, "a length runs past its end");
        const std::string_view out = m_data.substr(m_pos, static_cast<std::size_t>(n));
        m_pos += static_cast<std::size_t>(n);
        return out;
    }
    std::uint64_t varint() {
        std::uint64_t v = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            const unsigned char b = byte();
            if (shift == 63 && b > 1) break;
            v |= std::uint64_t{b & 0x7fU} << shift;
            if ((b & 0x80U) == 0) return v;
        }
        throw std::runtime_error("a number is too long");
    }
    std::int64_t time(std::int64_t base) {
        const std::uint64_t code = varint();
        if (code == 0) return no_time;
        const std::int64_t delta = unzigzag(code - 1);
        // base and the result are both within [0, PackedTime::max]: so is their difference.
        if (delta < -PackedTime::max || delta > PackedTime::max) throw std::runtime_error("a time is out of range");
        const std::int64_t t = base + delta;
        if (t < 0 || t > PackedTime::max) throw std::runtime_error("a time is out of range");
        return t;
    }
    [[nodiscard]] bool at_end() const noexcept { return m_pos == m_data.size(); }
    [[nodiscard]] std::size_t left() const noexcept { return m_data.size() - m_pos; }

private:
    void need(std::uint64_t n, const char* what) const {
        if (n > m_data.size() - m_pos) throw std::runtime_error(what);
    }

    std::string_view m_data;
    std::size_t m_pos = 0;
};

/// Decodes `data` into a record and checks it under `options`; throws std::runtime_error
/// saying what is wrong ("unknown format version 7", "channel 2: a time is out of range", ...).
[[nodiscard]] inline ClientRecord decode_record(std::string_view data, const Options& options) {
    Reader in(data);
    ClientRecord record;
    const unsigned char v = in.byte();
    if (v != version) throw std::runtime_error("unknown format version " + std::to_string(v));
    const unsigned char flags = in.byte();
    if ((flags & ~1U) != 0) throw std::runtime_error("unknown record flags");
    record.last_offline_graceful = (flags & 1U) != 0;
    const std::uint64_t base_code = in.varint();
    if (base_code > static_cast<std::uint64_t>(PackedTime::max) + 1) throw std::runtime_error("a time is out of range");
    const std::int64_t base = base_code == 0 ? 0 : static_cast<std::int64_t>(base_code - 1);
    record.last_event_ms = base_code == 0 ? no_time : base;
    record.latest_connect_ms = in.time(base);
    record.closed_through_ms = in.time(base);
    record.last_offline_ms = in.time(base);
    const std::uint64_t count = in.varint();
    // Each channel takes at least 6 bytes: refuse a count the data cannot hold before
    // allocating for it, and one the caps do not allow.
    if (count > in.left() / 6 || count > max_record_channels(options))
        throw std::runtime_error(std::to_string(count) +
                                 " channels, more than the data holds or this store's caps allow");
    record.channels.reserve(static_cast<std::size_t>(count));
    for (std::uint64_t i = 0; i < count; ++i) {
        try {
            const unsigned char channel_flags = in.byte();
            if ((channel_flags & 8U) != 0) throw std::runtime_error("unknown channel flags");
            Channel ch;
            ch.synthetic = (channel_flags & 1U) != 0;
            ch.close_cause = static_cast<Cause>(channel_flags >> 4);
            if ((channel_flags & 2U) != 0)
                ch.key.assign_packed_hex(in.bytes(16).data());
            else
                ch.key.assign(in.bytes(in.varint()));
            if ((channel_flags & 4U) != 0)
                ch.address.assign_packed_ipv4(in.bytes(CompactString<8>::ipv4_bytes).data());
            else
                ch.address.assign(in.bytes(in.byte()));
            ch.connect_ms = in.time(base);
            ch.close_ms = in.time(base);
            ch.disconnect_ms = in.time(base);
            record.channels.push_back(std::move(ch));
        } catch (const std::runtime_error& e) {
            throw std::runtime_error("channel " + std::to_string(i + 1) + ": " + e.what());
        }
    }
    if (!in.at_end()) throw std::runtime_error("bytes after its last channel");
    if (const RecordProblem problem = check_record(record, options)) {
        if (problem.channel == 0) throw std::runtime_error(problem.what);
        throw std::runtime_error("channel " + std::to_string(problem.channel) + ": " + problem.what);
    }
    record.remember_presence();
    return record;
}

} // namespace mqtt_presence::detail::record_codec
