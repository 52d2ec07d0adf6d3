# Hostile input. Included from tests/CMakeLists.txt: CMAKE_CURRENT_SOURCE_DIR is tests/.
#
# mqtt_presence_bad_input_tests: every adapter (Alibaba with nlohmann and, when built, with
# simdjson; AWS IoT; EMQX; Azure Event Grid MQTT) over a corpus of bad messages: each refused
# with the precise error, by the throwing and the non-throwing parser alike, and the store
# byte-for-byte unchanged; absurd Events straight into ingest() as well.
add_executable(mqtt_presence_bad_input_tests main.cpp test_bad_input.cpp)
target_include_directories(mqtt_presence_bad_input_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
target_link_libraries(mqtt_presence_bad_input_tests PRIVATE mqtt_presence::json Catch2::Catch2 mqtt_presence_dev)
if(TARGET mqtt_presence::simdjson)
  target_link_libraries(mqtt_presence_bad_input_tests PRIVATE mqtt_presence::simdjson)
  target_compile_definitions(mqtt_presence_bad_input_tests PRIVATE MQTT_PRESENCE_TEST_SIMDJSON)
endif()
catch_discover_tests(mqtt_presence_bad_input_tests EXTRA_ARGS -w NoTests)
