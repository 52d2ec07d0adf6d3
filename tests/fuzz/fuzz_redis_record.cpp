// fuzz_redis_record: arbitrary bytes as one record in RedisStorage's compact encoding
// (detail/record_codec.hpp). Input: three bytes of options (fuzz::choose: flags,
// max_open_channels, max_tombstones), then the encoded record. decode_record either refuses it
// with std::runtime_error, or returns a record that passes detail::check_record (and the
// invariants of fuzz_support.hpp), is accepted under the default (larger) caps too, re-encodes
// to bytes that decode to the same record and encode to the same bytes, reads the same from a
// snapshot (the two readers share their checks), and stays readable after the rules apply
// events to it (RedisStorage writes it back and reads it again).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"

namespace {

using namespace mqtt_presence;
namespace codec = mqtt_presence::detail::record_codec;

constexpr std::string_view client = "GID_fuzz@@@record";

// The record through the encoding: decodes (under `options`) to the same, re-encodes the same.
void check_round_trip(const ClientRecord& record, const Options& options, const char* when) {
    const std::string bytes = codec::encode_record(record);
    ClientRecord back;
    try {
        back = codec::decode_record(bytes, options);
    } catch (const std::runtime_error& e) {
        FUZZ_CHECK(false, std::string(when) + ": the encoding of a record does not decode: " + e.what());
    }
    FUZZ_CHECK(fuzz::record_digest(client, back) == fuzz::record_digest(client, record),
               std::string(when) + ": a record changed through encoding and decoding");
    FUZZ_CHECK(codec::encode_record(back) == bytes, std::string(when) + ": the encoding is not stable");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const Options options = fuzz::choose(input.substr(0, 3)).options;
    const std::string_view bytes = input.substr(3);
    ClientRecord record;
    try {
        record = codec::decode_record(bytes, options);
    } catch (const std::runtime_error& e) {
        FUZZ_CHECK(e.what()[0] != '\0', "a refusal without a reason");
        return 0;
    }
    fuzz::check_record_invariants(client, record, options, false);
    try {
        (void)codec::decode_record(bytes, Options{});
    } catch (const std::runtime_error& e) {
        FUZZ_CHECK(false, std::string("accepted under small caps, refused under the defaults: ") + e.what());
    }
    check_round_trip(record, options, "decoded");

    // The snapshot reader accepts the same record and reads it back the same.
    {
        std::stringstream stream;
        detail::snapshot::Writer writer(stream);
        writer.header({});
        writer.record(client, record);
        writer.end();
        ClientStatusStore<> store(options);
        try {
            (void)store.load_snapshot(stream);
        } catch (const SnapshotError& e) {
            FUZZ_CHECK(false, std::string("the Redis decoder accepts a record the snapshot reader refuses: ") + e.what());
        }
        std::string loaded;
        store.storage().visit(client, [&](const ClientRecord* r) {
            FUZZ_CHECK(r != nullptr, "the snapshot's record is missing");
            loaded = fuzz::record_digest(client, *r);
        });
        FUZZ_CHECK(loaded == fuzz::record_digest(client, record), "the snapshot reader reads another record");
        fuzz::check_store(store, false);
    }

    // The rules on the decoded record: after each event it still passes the checks and the
    // encoding, as RedisStorage stores it back and reads it again.
    ClientRecord changed = record;
    for (const Event& event : fuzz::probe_events(client, record)) {
        (void)apply(changed, event, options);
        if (changed.empty()) break; // a storage erases it
        fuzz::check_record_invariants(client, changed, options, false);
        check_round_trip(changed, options, "after an event");
    }
    if (!changed.empty()) {
        (void)reconcile(changed, true, max_time_ms, options);
        fuzz::check_record_invariants(client, changed, options, false);
        check_round_trip(changed, options, "after a reconcile");
    }
    return 0;
}
