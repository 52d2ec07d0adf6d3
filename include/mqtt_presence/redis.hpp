#pragma once
// The Redis storage policy (target mqtt_presence::redis, needs hiredis): several consumer
// processes share one presence state. See storage/redis.hpp.

#include "mqtt_presence.hpp"
#include "storage/redis.hpp"
