#pragma once
// mqtt_presence with the simdjson adapter: Alibaba lifecycle messages → Event on simdjson's
// On-Demand API (AlibabaSimdjsonParser), with the checks and messages of <mqtt_presence/json.hpp>.
// Brings simdjson, not nlohmann_json.

#include "json/alibaba_simdjson.hpp"
#include "mqtt_presence.hpp"
