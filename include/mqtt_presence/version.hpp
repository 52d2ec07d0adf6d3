#pragma once
// The single source of truth for the library's version; CMake reads it from here.

#define MQTT_PRESENCE_VERSION_MAJOR 0
#define MQTT_PRESENCE_VERSION_MINOR 1
#define MQTT_PRESENCE_VERSION_PATCH 0

/// The version as one integer, MAJOR * 10000 + MINOR * 100 + PATCH.
#define MQTT_PRESENCE_VERSION                                                                                          \
    (MQTT_PRESENCE_VERSION_MAJOR * 10000 + MQTT_PRESENCE_VERSION_MINOR * 100 + MQTT_PRESENCE_VERSION_PATCH)
