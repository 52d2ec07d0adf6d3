# Helpers for the end-to-end tests of mqtt_presence_replay. Each test is a `cmake -P` script
# that includes this file and is given:
#   -DREPLAY=<path>    the mqtt_presence_replay binary
#   -DEXAMPLES=<dir>   examples/data (the shipped sample)
#   -DWORK=<dir>       a scratch directory of its own, emptied here
# Failures are reported with SEND_ERROR so that one run shows every broken expectation; the
# script then exits non-zero.

cmake_minimum_required(VERSION 3.23) # script mode starts with no policies set

foreach(_var REPLAY EXAMPLES WORK)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "replay test: -D${_var}=... is required")
  endif()
endforeach()
set(HERE "${CMAKE_CURRENT_LIST_DIR}")
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
# Runs that read no standard input get an empty one, so that a tool wrongly waiting on the
# terminal fails fast instead of hanging.
file(WRITE "${WORK}/empty-stdin" "")

set(SUMMARY_KEYS events applied duplicates refused rejected superseded behind_watermark stale
    went_online went_offline clients online seconds events_per_sec)
set(SUMMARY_COUNTS events applied duplicates refused rejected superseded behind_watermark stale
    went_online went_offline clients online)

# replay(<prefix> [INPUT <file>] ARGS <arg>...): runs the tool; sets <prefix>_rc, <prefix>_out
# and <prefix>_err in the caller.
function(replay prefix)
  cmake_parse_arguments(PARSE_ARGV 1 R "" "INPUT" "ARGS")
  if(NOT R_INPUT)
    set(R_INPUT "${WORK}/empty-stdin")
  endif()
  execute_process(COMMAND "${REPLAY}" ${R_ARGS}
    INPUT_FILE "${R_INPUT}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${prefix}_rc "${rc}" PARENT_SCOPE)
  set(${prefix}_out "${out}" PARENT_SCOPE)
  set(${prefix}_err "${err}" PARENT_SCOPE)
endfunction()

function(expect_eq actual expected what)
  if(NOT "${actual}" STREQUAL "${expected}")
    message(SEND_ERROR "${what}:\n  expected: [${expected}]\n  actual:   [${actual}]")
  endif()
endfunction()

function(expect_contains text part what)
  string(FIND "${text}" "${part}" at)
  if(at EQUAL -1)
    message(SEND_ERROR "${what}: [${part}] not found in:\n${text}")
  endif()
endfunction()

# A file's bytes ("" and an error when it does not exist).
function(read_text path outvar)
  if(NOT EXISTS "${path}")
    message(SEND_ERROR "missing file ${path}")
    set(${outvar} "" PARENT_SCOPE)
    return()
  endif()
  file(READ "${path}" text)
  set(${outvar} "${text}" PARENT_SCOPE)
endfunction()

function(expect_file_text path expected what)
  read_text("${path}" text)
  expect_eq("${text}" "${expected}" "${what}")
endfunction()

# Expected files may be checked out with CRLF line ends; the tool always writes LF.
function(expect_same_file actual_path expected_path what)
  read_text("${expected_path}" expected)
  string(REPLACE "\r\n" "\n" expected "${expected}")
  expect_file_text("${actual_path}" "${expected}" "${what}")
endfunction()

# Splits text into lines as a list. ';' and brackets, which CMake lists treat specially, become
# ',' '(' ')': good enough to compare messages.
function(split_lines text outvar)
  string(REPLACE ";" "," text "${text}")
  string(REPLACE "[" "(" text "${text}")
  string(REPLACE "]" ")" text "${text}")
  string(REGEX REPLACE "\n$" "" text "${text}")
  if(text STREQUAL "")
    set(${outvar} "" PARENT_SCOPE)
    return()
  endif()
  string(REPLACE "\n" ";" lines "${text}")
  set(${outvar} "${lines}" PARENT_SCOPE)
endfunction()

# The line numbers, in the order reported, of the bad-line reports about file `name` in `err`;
# and the reasons, as "<line>: <reason>", in <outvar>_reasons.
function(reported_lines err name outvar)
  split_lines("${err}" lines)
  set(prefix "mqtt_presence_replay: ${name}:")
  string(LENGTH "${prefix}" prefix_length)
  set(numbers "")
  set(reasons "")
  foreach(line IN LISTS lines)
    string(FIND "${line}" "${prefix}" at)
    if(NOT at EQUAL 0)
      continue()
    endif()
    string(SUBSTRING "${line}" ${prefix_length} -1 rest)
    if(rest MATCHES "^([0-9]+): (.*)$")
      list(APPEND numbers "${CMAKE_MATCH_1}")
      list(APPEND reasons "${CMAKE_MATCH_1}: ${CMAKE_MATCH_2}")
    endif()
  endforeach()
  set(${outvar} "${numbers}" PARENT_SCOPE)
  set(${outvar}_reasons "${reasons}" PARENT_SCOPE)
endfunction()

# Checks that `out` is exactly one line holding one JSON object with every summary key as a
# number and events = applied + duplicates + refused + rejected; then any KEY VALUE pairs
# given. Sets summary_<key> in the caller.
function(expect_summary out)
  if(NOT out MATCHES "^[{][^\n]*[}]\n$")
    message(SEND_ERROR "summary is not one line holding one JSON object:\n[${out}]")
    return()
  endif()
  string(REGEX REPLACE "\n$" "" json "${out}")
  foreach(key IN LISTS SUMMARY_KEYS)
    string(JSON type ERROR_VARIABLE error TYPE "${json}" "${key}")
    if(error OR NOT type STREQUAL "NUMBER")
      message(SEND_ERROR "summary key \"${key}\" missing or not a number (${type}${error}): ${json}")
      set(value "")
    else()
      string(JSON value GET "${json}" "${key}")
    endif()
    set(v_${key} "${value}")
    set(summary_${key} "${value}" PARENT_SCOPE)
  endforeach()
  if("${v_events}${v_applied}${v_duplicates}${v_refused}${v_rejected}" MATCHES "^[0-9]+$")
    math(EXPR sum "${v_applied} + ${v_duplicates} + ${v_refused} + ${v_rejected}")
    expect_eq("${v_events}" "${sum}" "events = applied + duplicates + refused + rejected in ${json}")
    math(EXPR parts "${v_superseded} + ${v_behind_watermark} + ${v_stale}")
    if(parts GREATER v_applied)
      message(SEND_ERROR "superseded + behind_watermark + stale exceed applied: ${json}")
    endif()
    if(v_online GREATER v_clients)
      message(SEND_ERROR "more online than clients: ${json}")
    endif()
  endif()
  set(pairs ${ARGN})
  while(pairs)
    list(POP_FRONT pairs key value)
    expect_eq("${v_${key}}" "${value}" "summary \"${key}\" in ${json}")
  endwhile()
endfunction()

# The summary's counts (all but the timings) as one string, to compare two runs.
function(summary_counts out outvar)
  string(REGEX REPLACE "\n$" "" json "${out}")
  set(counts "")
  foreach(key IN LISTS SUMMARY_COUNTS)
    string(JSON value ERROR_VARIABLE error GET "${json}" "${key}")
    string(APPEND counts "${key}=${value} ")
  endforeach()
  set(${outvar} "${counts}" PARENT_SCOPE)
endfunction()

# Writes a generated stream of 400 clients to ${WORK}/generated.jsonl and their true online set
# to ${WORK}/generated.truth.txt with -DGEN=<mqtt_presence_gen_history>; sets `seed` (from
# $ENV{MQTT_PRESENCE_SEED}, else a fixed one), `events` (the stream's path), `generated_lines`
# and `generated_online` in the caller's scope. Failures name the seed.
function(generate_stream)
  if(DEFINED ENV{MQTT_PRESENCE_SEED} AND NOT "$ENV{MQTT_PRESENCE_SEED}" STREQUAL "")
    set(seed "$ENV{MQTT_PRESENCE_SEED}")
  else()
    set(seed 20191011)
  endif()
  set(events "${WORK}/generated.jsonl")
  execute_process(
    COMMAND "${GEN}" --seed "${seed}" --clients 400 --events-out "${events}" --online-out "${WORK}/generated.truth.txt"
    RESULT_VARIABLE rc OUTPUT_VARIABLE gen_out ERROR_VARIABLE gen_err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generator failed (${rc}): ${gen_err} (seed ${seed})")
  endif()
  string(JSON lines GET "${gen_out}" events)
  string(JSON online GET "${gen_out}" online)
  set(seed "${seed}" PARENT_SCOPE)
  set(events "${events}" PARENT_SCOPE)
  set(generated_lines "${lines}" PARENT_SCOPE)
  set(generated_online "${online}" PARENT_SCOPE)
endfunction()
