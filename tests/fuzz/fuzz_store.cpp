// fuzz_store: the rules and the store, without a parser in the way. Bytes become a history of
// events, reconciles and maintenance of four clients on eight channels, so that the fuzzer
// composes overlapping connections, reorderings, copies, lost closes, caps and windows far more
// often than it does through JSON; every operation is checked, then the final state
// (fuzz_support.hpp: CheckedStore, check_final_state).
//
// Input: 9 bytes of options (fuzz::choose), then 3 bytes per operation:
//   a  bits 0-1 the client (GID_a@@@1, GID_a@@@2, GID_b@@@1, "solo": no group)
//      bits 2-4 what: 0-2 connect, 3 disconnect, 4-5 tcpclean, 6 a close without a channel
//               (tcpclean, or disconnect when bit 2 of c is set), 7 reconcile or maintenance
//      bits 5-7 the channel: c0..c5, or one of two 32-hex-digit ids (packed in records)
//   b  the clock moves by (signed) b steps before the operation (it may go back: reordering)
//   c  bits 0-1 the step: 1 ms, 1 s, 1 min, 10 min; bit 2 as above; bit 3 an address on
//      connects; for what 7: bit 4 reconcile (bit 5: online) or else maintenance
//      (bit 5: prune, else expire_silent with the options' max_age_ms)
// The clock starts at 2025-11-24T16:00:00Z and stays within 0 .. year 9999.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

using namespace mqtt_presence;

constexpr std::string_view clients[] = {"GID_a@@@1", "GID_a@@@2", "GID_b@@@1", "solo"};
constexpr std::string_view channels[] = {"c0", "c1", "c2", "c3", "c4", "c5", "2b9b1281046046faafe5e0b458e4a1b2",
                                         "7f3c2d1e0a9b8c7d6e5f4a3b2c1d0e9f"};
constexpr std::int64_t steps[] = {1, 1000, 60 * 1000, 10 * 60 * 1000};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 9) return 0;
    const fuzz::Choice choice = fuzz::choose(std::string_view(reinterpret_cast<const char*>(data), 9));
    fuzz::CheckedStore checked(choice.options);
    std::int64_t clock = 1764000000000;
    for (std::size_t i = 9; i + 3 <= size; i += 3) {
        const unsigned a = data[i], c = data[i + 2];
        const auto b = static_cast<std::int8_t>(data[i + 1]);
        clock = std::clamp<std::int64_t>(clock + b * steps[c & 3U], 0, max_time_ms);
        const std::string client(clients[a & 3U]);
        const unsigned what = (a >> 2) & 7U;
        const std::string channel(channels[a >> 5]);
        Event event{client, channel, EventType::connect, clock, ""};
        if (what <= 2) {
            if ((c & 8U) != 0) event.client_ip = "192.0.2." + std::to_string(a >> 5) + ":" + std::to_string(1000 + (c >> 4));
        } else if (what == 3) {
            event.type = EventType::disconnect;
        } else if (what <= 5) {
            event.type = EventType::tcpclean;
        } else if (what == 6) {
            event.type = (c & 4U) != 0 ? EventType::disconnect : EventType::tcpclean;
            event.channel_id.clear();
        } else {
            if ((c & 16U) != 0)
                (void)checked.reconcile(client, (c & 32U) != 0, clock);
            else if ((c & 32U) != 0)
                (void)checked.prune(clock);
            else
                (void)checked.expire(clock, choice.max_age_ms);
            continue;
        }
        (void)checked.ingest(event);
    }
    fuzz::check_final_state(checked);
    return 0;
}
