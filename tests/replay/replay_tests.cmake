# End-to-end tests of the replay tool: each runs the real binary from a `cmake -P` script in
# tests/replay/ (helpers in common.cmake) and checks exact results worked out by hand, or, for
# generated streams (GEN, from support/support.cmake), the true online set; DAMAGE damages a
# file in place (support/damage_file.cpp). HAVE_SIMDJSON says
# whether the tool was built with --parser simdjson. formats: --format, the dumps of the other
# brokers (format_*.jsonl) read by their adapters.
foreach(_replay_case sample malformed sorted stdin files errors crlf limits options threads parsers snapshot groups
    formats)
  add_test(NAME replay.${_replay_case}
    COMMAND "${CMAKE_COMMAND}"
      "-DREPLAY=$<TARGET_FILE:mqtt_presence_replay>"
      "-DGEN=$<TARGET_FILE:mqtt_presence_gen_history>"
      "-DDAMAGE=$<TARGET_FILE:mqtt_presence_damage_file>"
      "-DHAVE_SIMDJSON=${MQTT_PRESENCE_HAVE_SIMDJSON}"
      "-DEXAMPLES=${PROJECT_SOURCE_DIR}/examples/data"
      "-DWORK=${CMAKE_CURRENT_BINARY_DIR}/replay/${_replay_case}"
      -P "${CMAKE_CURRENT_SOURCE_DIR}/replay/${_replay_case}.cmake")
  set_tests_properties(replay.${_replay_case} PROPERTIES TIMEOUT 120)
endforeach()

# --redis (replay/redis.cmake, one CASE per test): when the tool has Redis support and
# redis-server exists (support/support.cmake then builds mqtt_presence_with_redis, which runs a
# case against a private redis-server on a free port); else none (the suite reports Redis as
# skipped).
if(TARGET mqtt_presence::redis AND TARGET mqtt_presence_with_redis)
  foreach(_replay_case shared options password unix_socket errors)
    set(_replay_runner mqtt_presence_with_redis)
    if(_replay_case STREQUAL "password")
      list(APPEND _replay_runner --requirepass s3cret)
    elseif(_replay_case STREQUAL "unix_socket")
      list(APPEND _replay_runner --unix-socket)
    elseif(_replay_case STREQUAL "errors")
      set(_replay_runner "")
    endif()
    if(_replay_runner)
      list(APPEND _replay_runner --)
    endif()
    add_test(NAME replay.redis_${_replay_case}
      COMMAND ${_replay_runner} "${CMAKE_COMMAND}"
        "-DCASE=${_replay_case}" "-DREDIS_PORT={port}" "-DREDIS_SOCKET={socket}"
        "-DREPLAY=$<TARGET_FILE:mqtt_presence_replay>"
        "-DGEN=$<TARGET_FILE:mqtt_presence_gen_history>"
        "-DEXAMPLES=${PROJECT_SOURCE_DIR}/examples/data"
        "-DWORK=${CMAKE_CURRENT_BINARY_DIR}/replay/redis_${_replay_case}"
        -P "${CMAKE_CURRENT_SOURCE_DIR}/replay/redis.cmake")
    set_tests_properties(replay.redis_${_replay_case} PROPERTIES TIMEOUT 300)
  endforeach()
  # --format with --redis (replay/formats.cmake, which runs only its Redis part when given
  # REDIS_PORT).
  add_test(NAME replay.redis_formats
    COMMAND mqtt_presence_with_redis -- "${CMAKE_COMMAND}"
      "-DREDIS_PORT={port}"
      "-DREPLAY=$<TARGET_FILE:mqtt_presence_replay>"
      "-DHAVE_SIMDJSON=${MQTT_PRESENCE_HAVE_SIMDJSON}"
      "-DEXAMPLES=${PROJECT_SOURCE_DIR}/examples/data"
      "-DWORK=${CMAKE_CURRENT_BINARY_DIR}/replay/redis_formats"
      -P "${CMAKE_CURRENT_SOURCE_DIR}/replay/formats.cmake")
  set_tests_properties(replay.redis_formats PROPERTIES TIMEOUT 300)
endif()
