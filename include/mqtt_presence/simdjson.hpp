#pragma once
// mqtt_presence with the simdjson adapter: Alibaba lifecycle messages → Event on simdjson's
// On-Demand API (AlibabaSimdjsonParser), with the checks and messages of <mqtt_presence/json.hpp>.
// Brings simdjson, not nlohmann_json.

#include "mqtt_presence.hpp"
#include "json/alibaba_simdjson.hpp"
