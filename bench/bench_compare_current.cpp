// The current side of mqtt_presence_bench_compare: this checkout's library, in a translation
// unit of its own shaped as the baseline's (bench_compare_baseline.cpp), so that the compiler
// makes the same choices for both (GCC limits how much it inlines by the size of a unit).

#include <mqtt_presence/mqtt_presence.hpp>

#include "compare.hpp"

namespace mqtt_presence_compare {

std::unique_ptr<Runner> make_current(const std::vector<EventView>& stream) {
    return std::make_unique<StoreRunner<mqtt_presence::ClientStatusStore<>, mqtt_presence::Event>>(stream);
}

} // namespace mqtt_presence_compare
