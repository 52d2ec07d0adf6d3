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

# mqtt_presence_flood_tests: floods of closes for random channels on a few clients and of
# connects from random client ids (Options::max_clients), over InMemoryStorage and, with two
# threads, ConcurrentStorage; the memory they leave behind is counted exactly. Its own program:
# it replaces the global operator new and delete and counts the tables' mapped blocks.
# MQTT_PRESENCE_FLOOD_EVENTS (environment, at run time) sets the flood's size (default 2,000,000),
# e.g. smaller for a sanitizer build. Built with MQTT_PRESENCE_NO_BLOCK_POOL: the block pool
# (detail/block_pool.hpp) keeps freed channel arrays for reuse in chunks that outlive a store,
# so "what the store holds" would include blocks that an earlier store freed; with operator new
# every block a store holds is counted while held, and none after.
add_executable(mqtt_presence_flood_tests main.cpp test_flood.cpp)
target_compile_definitions(mqtt_presence_flood_tests PRIVATE MQTT_PRESENCE_NO_BLOCK_POOL)
target_include_directories(mqtt_presence_flood_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
target_link_libraries(mqtt_presence_flood_tests PRIVATE
  mqtt_presence::mqtt_presence Catch2::Catch2 Threads::Threads ${CMAKE_DL_LIBS} mqtt_presence_dev)
catch_discover_tests(mqtt_presence_flood_tests EXTRA_ARGS -w NoTests PROPERTIES TIMEOUT 300)
