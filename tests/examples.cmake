# The examples run as tests, their output checked (included from tests/CMakeLists.txt). Each
# example is built with warnings as errors (examples/CMakeLists.txt); the expected outputs follow
# from the examples' inputs by the rules, as their comments explain.
set(_mp_examples "${PROJECT_SOURCE_DIR}/examples")

# A storage policy of your own: the audit trail, the flap, the duplicate, the invalid event.
if(TARGET mqtt_presence_custom_storage)
  add_test(NAME example.custom_storage COMMAND mqtt_presence_custom_storage)
  set_tests_properties(example.custom_storage PROPERTIES PASS_REGULAR_EXPRESSION
    "^edge: GID_demo@@@dev2 online at 1764000000000
ingest GID_demo@@@dev2 connect ch-b1: applied
ingest GID_demo@@@dev2 connect ch-b2: applied
ingest GID_demo@@@dev2 tcpclean ch-b1: applied
edge: GID_demo@@@dev1 online at 1764000001000
ingest GID_demo@@@dev1 connect ch-a1: applied
edge: GID_demo@@@dev1 offline at 1764000060000
ingest GID_demo@@@dev1 tcpclean ch-a1: applied
ingest GID_demo@@@dev1 connect ch-a1: duplicate
ingest GID_demo@@@dev3 connect : invalid
audit trail:
  GID_demo@@@dev2 created: online, 1 channel\\(s\\) kept
  GID_demo@@@dev2 updated: online, 2 channel\\(s\\) kept
  GID_demo@@@dev2 updated: online, 2 channel\\(s\\) kept
  GID_demo@@@dev1 created: online, 1 channel\\(s\\) kept
  GID_demo@@@dev1 updated: offline, 1 channel\\(s\\) kept
  GID_demo@@@dev1 updated: offline, 1 channel\\(s\\) kept
clients stored: 2, online: 1
online: GID_demo@@@dev2
GID_demo@@@dev1 online: false
GID_demo@@@dev2 online: true
$")

  # The same file without visit() must fail with the message its comment quotes.
  add_executable(example_custom_storage_without_visit EXCLUDE_FROM_ALL "${_mp_examples}/custom_storage.cpp")
  target_compile_definitions(example_custom_storage_without_visit PRIVATE CUSTOM_STORAGE_WITHOUT_VISIT)
  target_link_libraries(example_custom_storage_without_visit PRIVATE mqtt_presence::mqtt_presence)
  add_test(NAME example.custom_storage.missing_visit
    COMMAND "${CMAKE_COMMAND}" --build "${PROJECT_BINARY_DIR}" --target example_custom_storage_without_visit)
  set_tests_properties(example.custom_storage.missing_visit PROPERTIES
    RESOURCE_LOCK build_tree
    PASS_REGULAR_EXPRESSION
      "mqtt_presence: Storage must provide visit\\(client_id, fn\\) const calling fn\\(const ClientRecord\\*\\); see mqtt_presence/storage/concept.hpp")
endif()

# Testing a consumer with <mqtt_presence/testing.hpp> (the README's code): the library's answers
# match the truth, those of "the last event wins" do not.
if(TARGET mqtt_presence_testing_consumer)
  add_test(NAME example.testing_consumer COMMAND mqtt_presence_testing_consumer)
  set_tests_properties(example.testing_consumer PROPERTIES PASS_REGULAR_EXPRESSION
    "MyConsumer: matches the truth\nLastEventWins: differs from the truth\n[1-9][0-9]* of 1000 clients differ from the truth")
endif()

# A RocketMQ listener fed examples/data/sample.jsonl: see examples/check/rocketmq_consumer.cmake.
if(TARGET mqtt_presence_rocketmq_consumer)
  add_test(NAME example.rocketmq_consumer
    COMMAND "${CMAKE_COMMAND}" "-DCONSUMER=$<TARGET_FILE:mqtt_presence_rocketmq_consumer>"
      "-DDATA_DIR=${_mp_examples}/data" "-DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/example_rocketmq_consumer"
      -P "${_mp_examples}/check/rocketmq_consumer.cmake")
endif()

# mosquitto_sub piped into the replay tool (examples/mosquitto_presence.sh) against a private
# mosquitto; shown as skipped, with the reason, when mosquitto is not installed.
if(TARGET mqtt_presence_replay AND NOT WIN32)
  find_program(MQTT_PRESENCE_MOSQUITTO mosquitto PATHS /usr/sbin /usr/local/sbin)
  find_program(MQTT_PRESENCE_MOSQUITTO_SUB mosquitto_sub)
  find_program(MQTT_PRESENCE_MOSQUITTO_PUB mosquitto_pub)
  find_program(MQTT_PRESENCE_BASH bash)
  if(MQTT_PRESENCE_MOSQUITTO AND MQTT_PRESENCE_MOSQUITTO_SUB AND MQTT_PRESENCE_MOSQUITTO_PUB AND MQTT_PRESENCE_BASH)
    add_test(NAME example.mosquitto_presence
      COMMAND "${MQTT_PRESENCE_BASH}" "${_mp_examples}/check/mosquitto_presence.sh" "${MQTT_PRESENCE_MOSQUITTO}"
        "$<TARGET_FILE:mqtt_presence_replay>" "${_mp_examples}/mosquitto_presence.sh"
        "${CMAKE_CURRENT_BINARY_DIR}/example_mosquitto_presence")
    set_tests_properties(example.mosquitto_presence PROPERTIES TIMEOUT 120 SKIP_REGULAR_EXPRESSION "SKIPPED:")
  else()
    add_test(NAME example.mosquitto_presence COMMAND "${CMAKE_COMMAND}" -E echo
      "SKIPPED: mosquitto, mosquitto_sub or mosquitto_pub not found (Debian: apt-get install mosquitto mosquitto-clients); examples/mosquitto_presence.sh was not tested")
    set_tests_properties(example.mosquitto_presence PROPERTIES SKIP_REGULAR_EXPRESSION "SKIPPED")
  endif()
endif()
