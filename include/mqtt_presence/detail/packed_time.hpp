#pragma once
// An event time (epoch milliseconds, or "no time") kept in 6 bytes with alignment 1, so that
// records stay small: every time the rules store lies in [0, 2^48 - 2] (validated event times
// end at the year 9999, about 2.5e14 ms; the largest derived time adds at most ten years of
// tolerance), and all-ones stands for no_time. Reads and writes convert to and from
// std::int64_t, so code using it reads like code using std::int64_t.
//
// On a little-endian machine a read is one 8-byte load, masked: the time's 6 bytes and the 2
// after them, which must therefore belong to the object that holds the PackedTime. So a
// PackedTime is only ever a data member with at least read_bytes - 6 bytes of its holder after
// it, which every holder checks (static_assert(PackedTime::readable_in(offsetof(Holder, m),
// sizeof(Holder)))), and never an object of its own: only its holders (Channel, ClientRecord)
// may copy-construct one. (Two loads, of 4 and 2 bytes, put together cost the ingest of an
// event about 40 instructions more: it reads times a dozen times.)
// Plumbing: nothing outside the library should name it.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace mqtt_presence {
struct Channel;
struct ClientRecord;
} // namespace mqtt_presence

namespace mqtt_presence::detail {

class PackedTime {
    // Only the holders copy one (with themselves): `auto t = channel.connect_ms` does not
    // compile, nor does a PackedTime made of a number; only a member is read.
    friend struct mqtt_presence::Channel;
    friend struct mqtt_presence::ClientRecord;
    PackedTime(const PackedTime&) noexcept = default;
    PackedTime(PackedTime&&) noexcept = default;

public:
    /// The largest time it holds (all-ones is no_time).
    static constexpr std::int64_t max = (std::int64_t{1} << 48) - 2;
    static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();

    /// no_time. (For the holders' members: see above.)
    PackedTime() noexcept = default;
    ~PackedTime() = default;
    PackedTime& operator=(const PackedTime&) noexcept = default;
    PackedTime& operator=(PackedTime&&) noexcept = default;
    PackedTime& operator=(std::int64_t t) noexcept {
        set(t);
        return *this;
    }

    /// Bytes a read touches from the start of the PackedTime: its own and, on a little-endian
    /// machine, 2 of its holder's after it (see above).
    static constexpr std::size_t read_bytes = 8;
    /// Whether a PackedTime at `offset` in a holder of `holder_size` bytes may be read.
    static constexpr bool readable_in(std::size_t offset, std::size_t holder_size) noexcept {
        return offset + read_bytes <= holder_size;
    }

    operator std::int64_t() const noexcept { // NOLINT(google-explicit-constructor)
        const std::uint64_t v = bits();
        return v == all_ones ? none : static_cast<std::int64_t>(v);
    }

    /// The time plus one, or 0 for no_time: ordered as the times are, no_time first, so that
    /// the newest of several times is a plain max (see from_rank).
    [[nodiscard]] std::uint64_t rank() const noexcept { return (bits() + 1) & all_ones; }
    /// The time whose rank() is `rank`.
    [[nodiscard]] static std::int64_t from_rank(std::uint64_t rank) noexcept {
        return rank == 0 ? none : static_cast<std::int64_t>(rank) - 1;
    }

    /// Whether it holds no_time (cheaper than comparing the value).
    [[nodiscard]] bool is_none() const noexcept {
        std::uint16_t high = 0;
        std::memcpy(&high, m_bytes + sizeof(std::uint32_t), sizeof high);
        if (high != 0xffff) return false;
        std::uint32_t low = 0;
        std::memcpy(&low, m_bytes, sizeof low);
        return low == 0xffffffffU;
    }

private:
    static constexpr std::uint64_t all_ones = (std::uint64_t{1} << 48) - 1;

    // The 48 bits stored.
    [[nodiscard]] std::uint64_t bits() const noexcept {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        // The low 4 bytes, the high 2, then 2 of the holder's (see above), masked off.
        std::uint64_t word = 0;
        std::memcpy(&word, reinterpret_cast<const unsigned char*>(this), sizeof word);
        return word & all_ones;
#else
        std::uint32_t low = 0;
        std::uint16_t high = 0;
        std::memcpy(&low, m_bytes, sizeof low);
        std::memcpy(&high, m_bytes + sizeof low, sizeof high);
        return std::uint64_t{high} << 32 | low;
#endif
    }

    // The low 32 and high 16 bits, each stored in the machine's own byte order.
    void set(std::int64_t t) noexcept {
        assert(t == none || (t >= 0 && t <= max));
        std::uint64_t v = all_ones;
        if (t != none) v = t < 0 ? 0 : (t > max ? static_cast<std::uint64_t>(max) : static_cast<std::uint64_t>(t));
        const auto low = static_cast<std::uint32_t>(v);
        const auto high = static_cast<std::uint16_t>(v >> 32);
        std::memcpy(m_bytes, &low, sizeof low);
        std::memcpy(m_bytes + sizeof low, &high, sizeof high);
    }

    unsigned char m_bytes[6]{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
};

static_assert(sizeof(PackedTime) == 6 && alignof(PackedTime) == 1);

} // namespace mqtt_presence::detail
