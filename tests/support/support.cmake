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

# Runs one command against a private redis-server on a free port ("{port}" in its arguments):
# the replay tool's Redis tests (replay/redis.cmake). POSIX only, like support/redis_server.hpp;
# built when the tool has Redis support and redis-server is installed.
if(TARGET mqtt_presence::redis AND NOT WIN32)
  find_program(MQTT_PRESENCE_REDIS_SERVER redis-server PATHS /usr/bin /usr/sbin /usr/local/bin)
  if(MQTT_PRESENCE_REDIS_SERVER)
    add_executable(mqtt_presence_with_redis "${CMAKE_CURRENT_LIST_DIR}/with_redis.cpp")
    target_compile_features(mqtt_presence_with_redis PRIVATE cxx_std_17) # it needs no part of the library
    target_link_libraries(mqtt_presence_with_redis PRIVATE mqtt_presence_dev)
  endif()
endif()
