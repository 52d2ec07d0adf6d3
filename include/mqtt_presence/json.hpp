#pragma once
// mqtt_presence broker adapters: JSON lifecycle messages → Event. Brings nlohmann_json.

#include "mqtt_presence.hpp"
#include "json/alibaba.hpp"
#include "json/aws_iot.hpp"
#include "json/azure_eg_mqtt.hpp"
#include "json/emqx.hpp"
