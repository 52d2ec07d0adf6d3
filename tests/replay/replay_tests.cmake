# End-to-end tests of the replay tool: each runs the real binary from a `cmake -P` script in
# tests/replay/ (helpers in common.cmake) and checks exact results worked out by hand, or, for
# generated streams (GEN, from support/support.cmake), the true online set; DAMAGE damages a
# file in place (support/damage_file.cpp). HAVE_SIMDJSON says
# whether the tool was built with --parser simdjson.
foreach(_replay_case sample malformed sorted stdin files errors crlf limits options threads parsers snapshot groups)
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
