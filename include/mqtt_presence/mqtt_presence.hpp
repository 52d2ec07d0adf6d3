#pragma once
// mqtt_presence: is this MQTT client online right now? The core; standard library only.
// Adapters for broker JSON are in <mqtt_presence/json.hpp>.

#include "debounce.hpp"
#include "event.hpp"
#include "rules.hpp"
#include "snapshot.hpp"
#include "storage/concept.hpp"
#include "storage/concurrent.hpp"
#include "storage/in_memory.hpp"
#include "store.hpp"
#include "version.hpp"
