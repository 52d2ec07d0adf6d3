#pragma once
// The outcome of parsing one Alibaba message, for comparing two parsers: success, every field
// of the event, or the error text; and mutated messages to compare them on. Needs nlohmann
// (mqtt_presence::json).

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mqtt_presence/json.hpp>
#include <mqtt_presence/testing.hpp>

namespace test_support {

struct Parsed {
    bool ok = false;
    mqtt_presence::Event event;
    std::string error;
};

inline Parsed by_nlohmann(std::string_view line) {
    Parsed out;
    out.ok = mqtt_presence::parse_alibaba_event(line, out.event, out.error);
    return out;
}

// `text` with every byte outside printable ASCII as \xNN, cut after 300 bytes.
inline std::string printable(std::string_view text) {
    constexpr std::size_t max_shown = 300;
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < max_shown; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(static_cast<char>(c));
        } else {
            constexpr char digits[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0xF]);
        }
    }
    if (text.size() > max_shown) out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

inline std::string describe(const Parsed& o) {
    if (!o.ok) return "refused: " + o.error;
    return "event {" + printable(o.event.client_id) + ", " + printable(o.event.channel_id) + ", " +
           std::string(mqtt_presence::to_string(o.event.type)) + ", " + std::to_string(o.event.time_ms) + ", " +
           printable(o.event.client_ip) + "}";
}

inline bool same(const Parsed& a, const Parsed& b) {
    if (a.ok != b.ok) return false;
    if (!a.ok) return a.error == b.error;
    return a.event.client_id == b.event.client_id && a.event.channel_id == b.event.channel_id &&
           a.event.type == b.event.type && a.event.time_ms == b.event.time_ms && a.event.client_ip == b.event.client_ip;
}

// `count` messages, each one of `seeds` with min_steps to 3 random edits: a byte replaced by,
// or one inserted from, `bytes`; 1 to 3 bytes erased; the message cut; a piece of it copied
// elsewhere; one of `pieces` inserted; two bytes swapped.
inline std::vector<std::string> mutated_lines(mqtt_presence::testing::Random& rng, const std::vector<std::string>& seeds,
                                              std::size_t count, const std::string& bytes,
                                              const std::vector<std::string>& pieces, std::size_t min_steps) {
    std::vector<std::string> lines;
    lines.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        std::string s = rng.pick(seeds);
        const std::size_t steps = min_steps + rng.index(4 - min_steps);
        for (std::size_t m = 0; m < steps && !s.empty(); ++m) {
            const std::size_t at = rng.index(s.size() + 1);
            switch (rng.index(7)) {
            case 0:
                if (at < s.size()) s[at] = bytes[rng.index(bytes.size())];
                break;
            case 1: s.insert(at, 1, bytes[rng.index(bytes.size())]); break;
            case 2:
                if (at < s.size()) s.erase(at, 1 + rng.index(3));
                break;
            case 3: s.resize(at); break;
            case 4:
                if (at < s.size()) s.insert(rng.index(s.size() + 1), s.substr(at, 1 + rng.index(8)));
                break;
            case 5: s.insert(at, rng.pick(pieces)); break;
            default:
                if (at < s.size()) std::swap(s[at], s[rng.index(s.size())]);
                break;
            }
        }
        lines.push_back(std::move(s));
    }
    return lines;
}

} // namespace test_support
