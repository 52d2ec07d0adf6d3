# History generator and true-timeline oracle. Included from tests/CMakeLists.txt: relative
# paths and CMAKE_CURRENT_SOURCE_DIR are those of tests/.
# tests/support/history.hpp is header-only; test_differential.cpp includes it directly.

# Writes a generated, delivered event stream (JSON Lines) and its true online set.
add_executable(mqtt_presence_gen_history "${CMAKE_CURRENT_LIST_DIR}/gen_history.cpp")
target_link_libraries(mqtt_presence_gen_history PRIVATE mqtt_presence::json mqtt_presence_dev)

# Damages a file in place (truncates it, or inverts one byte): damaged snapshots for the
# replay tests.
add_executable(mqtt_presence_damage_file "${CMAKE_CURRENT_LIST_DIR}/damage_file.cpp")
target_link_libraries(mqtt_presence_damage_file PRIVATE mqtt_presence_dev)

# The replay tool, fed a generated stream, must find exactly the truly online clients.
# The seed is MQTT_PRESENCE_SEED from the environment at test time, else a fixed default.
if(TARGET mqtt_presence_replay)
  add_test(NAME replay.generated_matches_oracle
    COMMAND "${CMAKE_COMMAND}"
      "-DGEN=$<TARGET_FILE:mqtt_presence_gen_history>"
      "-DREPLAY=$<TARGET_FILE:mqtt_presence_replay>"
      "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/generated_replay"
      -DCLIENTS=3000
      -P "${CMAKE_CURRENT_LIST_DIR}/compare_replay.cmake")
endif()
