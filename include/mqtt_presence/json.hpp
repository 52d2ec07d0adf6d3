#pragma once
// mqtt_presence broker adapters: JSON lifecycle messages → Event. Brings nlohmann_json.

#include "json/alibaba.hpp"
#include "mqtt_presence.hpp"
