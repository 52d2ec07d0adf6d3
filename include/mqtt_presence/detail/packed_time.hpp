#pragma once
// An event time (epoch milliseconds, or "no time") kept in 6 bytes with alignment 1, so that
// records stay small: every time the rules store lies in [0, 2^48 - 2] (validated event times
// end at the year 9999, about 2.5e14 ms; the largest derived time adds at most ten years of
// tolerance), and all-ones stands for no_time. Reads and writes convert to and from
// std::int64_t, so code using it reads like code using std::int64_t.
// Plumbing: nothing outside the library should name it.

#include <cassert>
#include <cstdint>
#include <limits>

namespace mqtt_presence::detail {

class PackedTime {
public:
    /// The largest time it holds (all-ones is no_time).
    static constexpr std::int64_t max = (std::int64_t{1} << 48) - 2;
    static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();

    constexpr PackedTime() noexcept = default;
    constexpr PackedTime(std::int64_t t) noexcept { set(t); } // NOLINT(google-explicit-constructor)
    constexpr PackedTime& operator=(std::int64_t t) noexcept {
        set(t);
        return *this;
    }

    constexpr operator std::int64_t() const noexcept { // NOLINT(google-explicit-constructor)
        std::uint64_t v = 0;
        for (int i = 5; i >= 0; --i) v = v << 8 | m_bytes[i];
        return v == all_ones ? none : static_cast<std::int64_t>(v);
    }

private:
    static constexpr std::uint64_t all_ones = (std::uint64_t{1} << 48) - 1;

    constexpr void set(std::int64_t t) noexcept {
        assert(t == none || (t >= 0 && t <= max));
        std::uint64_t v = all_ones;
        if (t != none) v = t < 0 ? 0 : (t > max ? static_cast<std::uint64_t>(max) : static_cast<std::uint64_t>(t));
        for (int i = 0; i < 6; ++i) {
            m_bytes[i] = static_cast<unsigned char>(v & 0xff);
            v >>= 8;
        }
    }

    unsigned char m_bytes[6]{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
};

static_assert(sizeof(PackedTime) == 6 && alignof(PackedTime) == 1);

} // namespace mqtt_presence::detail
