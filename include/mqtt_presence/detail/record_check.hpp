#pragma once
// The checks a ClientRecord read back from outside the process (a snapshot, a shared storage)
// must pass before a store uses it: what the rules could have produced under the reading
// store's Options. One place, so that every decoder refuses the same records with the same
// words. Standard library only.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "../event.hpp"
#include "../rules.hpp"

namespace mqtt_presence::detail {

/// What is wrong with a decoded record: `channel` is the 1-based index of the channel at fault
/// (0: the record as a whole), `what` says why. Empty `what`: nothing is wrong.
struct RecordProblem {
    std::size_t channel = 0;
    std::string what;

    [[nodiscard]] explicit operator bool() const noexcept { return !what.empty(); }
};

/// The most channels a record may hold under `options`: max_open_channels open ones,
/// max_tombstones others (which may outnumber max_tombstones for a while, when open channels
/// close, until the next new channel makes room) and one synthetic channel.
[[nodiscard]] constexpr std::size_t max_record_channels(const Options& options) noexcept {
    return std::size_t{options.max_open_channels} + options.max_tombstones + 1;
}

/// The latest time a record may hold: an event time (at most the end of the year 9999) plus
/// the ten years a tolerance may add to it (a dropped tombstone's watermark).
inline constexpr std::int64_t max_record_time_ms = max_time_ms + max_duration_ms;
static_assert(max_record_time_ms + max_duration_ms <= PackedTime::max, "a tolerance added to a record's time must fit");
inline constexpr std::string_view time_too_late = "a time after the year 9999 and the ten years a tolerance may add";

/// Whether two real channels of the record have the same id. Pairwise for the few channels a
/// record usually has (no allocation); sorted copies beyond that.
[[nodiscard]] inline bool has_duplicate_channel(const ClientRecord& record) {
    const auto& channels = record.channels;
    const std::size_t count = channels.size();
    if (count <= 32) {
        for (std::size_t i = 0; i < count; ++i)
            for (std::size_t j = i + 1; j < count; ++j)
                if (!channels[i].synthetic && !channels[j].synthetic && channels[i].key == channels[j].key) return true;
        return false;
    }
    std::vector<std::string> keys;
    keys.reserve(count);
    CompactString<16>::Scratch scratch;
    for (const Channel& ch : channels)
        if (!ch.synthetic) keys.emplace_back(ch.key.view(scratch));
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) != keys.end();
}

/// Checks a record's content against `options`: every channel has a time, its close time and
/// cause agree and the cause is a close cause, at most one synthetic channel (open, without an
/// id), real channel ids pass the event checks and appear once, no more open channels than
/// max_open_channels, no more channels than max_record_channels, the record is not empty
/// (stores keep none), and its presence, when known, is what its channels say. Every time is
/// at most max_record_time_ms: PackedTime holds larger ones, but the rules, which add
/// tolerances to stored times, rely on never finding one (nor a channel without a time).
[[nodiscard]] inline RecordProblem check_record(const ClientRecord& record, const Options& options) {
    const std::size_t count = record.channels.size();
    if (count > max_record_channels(options))
        return {0, std::to_string(count) + " channels, more than this store's caps allow (" +
                           std::to_string(max_record_channels(options)) + ")"};
    const auto too_late = [](std::int64_t t) { return t != no_time && t > max_record_time_ms; };
    if (too_late(record.latest_connect_ms) || too_late(record.closed_through_ms) || too_late(record.last_event_ms) ||
        too_late(record.last_offline_ms))
        return {0, std::string(time_too_late)};
    std::size_t open = 0;
    std::size_t synthetic = 0;
    CompactString<16>::Scratch scratch;
    for (std::size_t i = 0; i < count; ++i) {
        const Channel& ch = record.channels[i];
        const std::size_t number = i + 1;
        if (too_late(ch.connect_ms) || too_late(ch.close_ms) || too_late(ch.disconnect_ms))
            return {number, std::string(time_too_late)};
        if (ch.close_cause == Cause::connect || ch.close_cause > Cause::expiry)
            return {number, "unknown close cause " + std::to_string(static_cast<unsigned>(ch.close_cause))};
        if (ch.closed() != (ch.close_ms != no_time)) return {number, "its close time and close cause disagree"};
        if (ch.connect_ms == no_time && ch.close_ms == no_time && ch.disconnect_ms == no_time)
            return {number, "a channel with no time (no connect, close or disconnect)"};
        const std::string_view key = ch.key.view(scratch);
        if (ch.synthetic) {
            if (!key.empty()) return {number, "a synthetic channel with a channel id"};
            if (!ch.open()) return {number, "a synthetic channel that is not open"};
            ++synthetic;
            continue;
        }
        if (const auto why = check_id(key, false); !why.empty()) return {number, std::string(why)};
        if (ch.open()) ++open;
    }
    if (synthetic > 1) return {0, "more than one synthetic channel"};
    if (open > options.max_open_channels)
        return {0, std::to_string(open) + " open channels, more than max_open_channels (" +
                           std::to_string(options.max_open_channels) + ")"};
    if (has_duplicate_channel(record)) return {0, "a channel id appears twice"};
    if (record.empty()) return {0, "an empty record (stores keep none)"};
    if (record.presence > Presence::online) return {0, "an unknown presence value"};
    if (record.presence != Presence::unknown && (record.presence == Presence::online) != record.online())
        return {0, "its remembered presence disagrees with its channels"};
    return {};
}

} // namespace mqtt_presence::detail
