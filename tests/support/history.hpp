#pragma once
// The history generator and true-timeline oracle moved into the library's public testing header,
// <mqtt_presence/testing.hpp> (namespace mqtt_presence::testing, the same names). This header
// stays for the tests and benches that include it by this path.
#include <mqtt_presence/testing.hpp>
