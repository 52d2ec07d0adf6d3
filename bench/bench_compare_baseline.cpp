// The baseline side of mqtt_presence_bench_compare: another version of the library (the
// directory given to CMake as MQTT_PRESENCE_COMPARE_BASELINE), compiled in this translation unit
// alone with `mqtt_presence` defined as `mqtt_presence_baseline` (bench/CMakeLists.txt), so that
// its names do not collide with this checkout's. It is included by its absolute path, which
// compare_baseline.hpp (written by CMake) holds; its own includes are relative to it.

#include "compare_baseline.hpp"

#include "compare.hpp"

namespace mqtt_presence_compare {

std::unique_ptr<Runner> make_baseline(const std::vector<EventView>& stream) {
    return std::make_unique<StoreRunner<mqtt_presence::ClientStatusStore<>, mqtt_presence::Event>>(stream);
}

} // namespace mqtt_presence_compare
