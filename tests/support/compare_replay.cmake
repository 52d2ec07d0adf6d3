# cmake -DGEN=<mqtt_presence_gen_history> -DREPLAY=<mqtt_presence_replay> -DWORK_DIR=<dir>
#       [-DSEED=N] [-DCLIENTS=N] -P compare_replay.cmake
#
# Generates a delivered event stream and its true online set, replays the stream, and requires
# the replay's --online-out file to equal the true online set byte for byte. The seed defaults
# to $ENV{MQTT_PRESENCE_SEED}, else 20191011; it is printed on failure.

cmake_minimum_required(VERSION 3.23)

foreach(_var GEN REPLAY WORK_DIR)
  if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
    message(FATAL_ERROR "compare_replay.cmake: -D${_var}=... is required")
  endif()
endforeach()
if(NOT DEFINED SEED)
  if(DEFINED ENV{MQTT_PRESENCE_SEED} AND NOT "$ENV{MQTT_PRESENCE_SEED}" STREQUAL "")
    set(SEED "$ENV{MQTT_PRESENCE_SEED}")
  else()
    set(SEED 20191011)
  endif()
endif()
if(NOT DEFINED CLIENTS)
  set(CLIENTS 3000)
endif()

set(_events "${WORK_DIR}/events.jsonl")
set(_expected "${WORK_DIR}/expected_online.txt")
set(_actual "${WORK_DIR}/online.txt")
set(_repro "reproduce: MQTT_PRESENCE_SEED=${SEED}; stream ${_events}")
file(MAKE_DIRECTORY "${WORK_DIR}")
file(REMOVE "${_events}" "${_expected}" "${_actual}")

execute_process(
  COMMAND "${GEN}" --seed "${SEED}" --clients "${CLIENTS}" --events-out "${_events}" --online-out "${_expected}"
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _gen_out ERROR_VARIABLE _gen_err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "generator failed (${_rc}): ${_gen_err}\n${_repro}")
endif()
string(JSON _lines ERROR_VARIABLE _json_err GET "${_gen_out}" events)
string(JSON _want_online ERROR_VARIABLE _json_err2 GET "${_gen_out}" online)
if(_json_err OR _json_err2)
  message(FATAL_ERROR "generator summary is not the expected JSON: ${_gen_out}")
endif()
message(STATUS "seed ${SEED}: ${_lines} events, ${_want_online} clients truly online")

execute_process(
  COMMAND "${REPLAY}" --online-out "${_actual}" "${_events}"
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _summary ERROR_VARIABLE _replay_err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "mqtt_presence_replay failed (${_rc}): ${_replay_err}\n${_repro}")
endif()
if(NOT EXISTS "${_actual}")
  message(FATAL_ERROR "mqtt_presence_replay did not write --online-out ${_actual}\n${_repro}")
endif()

# The summary: one JSON object on the last line of standard output; every line was read, none rejected.
string(STRIP "${_summary}" _summary)
string(REGEX REPLACE "^.*\n" "" _summary_line "${_summary}")
string(JSON _events_read ERROR_VARIABLE _json_err GET "${_summary_line}" events)
string(JSON _rejected ERROR_VARIABLE _json_err2 GET "${_summary_line}" rejected)
if(_json_err OR _json_err2)
  message(FATAL_ERROR "mqtt_presence_replay printed no JSON summary with \"events\" and \"rejected\": "
                      "'${_summary_line}'\n${_repro}")
endif()
if(NOT _events_read EQUAL _lines OR NOT _rejected EQUAL 0)
  message(FATAL_ERROR "mqtt_presence_replay read ${_events_read} events (${_rejected} rejected), "
                      "the stream has ${_lines}: ${_replay_err}\n${_repro}")
endif()

execute_process(COMMAND "${CMAKE_COMMAND}" -E compare_files "${_expected}" "${_actual}" RESULT_VARIABLE _differ)
if(_differ)
  # Name the differences: which clients are missing and which are extra (first few of each).
  file(STRINGS "${_expected}" _want)
  file(STRINGS "${_actual}" _got)
  set(_missing "")
  set(_extra "")
  foreach(_id IN LISTS _want)
    if(NOT _id IN_LIST _got)
      list(APPEND _missing "${_id}")
    endif()
  endforeach()
  foreach(_id IN LISTS _got)
    if(NOT _id IN_LIST _want)
      list(APPEND _extra "${_id}")
    endif()
  endforeach()
  list(LENGTH _want _n_want)
  list(LENGTH _got _n_got)
  list(LENGTH _missing _n_missing)
  list(LENGTH _extra _n_extra)
  if(_n_missing GREATER 5)
    list(SUBLIST _missing 0 5 _missing)
  endif()
  if(_n_extra GREATER 5)
    list(SUBLIST _extra 0 5 _extra)
  endif()
  message(FATAL_ERROR
    "--online-out differs from the true online set: expected ${_n_want} lines, got ${_n_got}\n"
    "  truly online but not listed (${_n_missing}): ${_missing}\n"
    "  listed but truly offline (${_n_extra}): ${_extra}\n"
    "  (same ids but different bytes means order or line ends differ)\n"
    "expected ${_expected}\nactual   ${_actual}\n${_repro}")
endif()
message(STATUS "online set matches the true timeline (${_want_online} clients)")
