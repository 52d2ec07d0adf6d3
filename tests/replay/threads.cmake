# --threads N: the reading thread deals blocks of lines round-robin to N workers, so one
# client's events are applied in another order than the file's. The final state must not
# notice: events, rejected, clients, online and the --online-out list are those of one thread
# (the outcome breakdown may differ, and is not compared). Bad lines are still reported with
# their own file and line number, in some order.
#
# Also given: -DGEN=<mqtt_presence_gen_history>. The generated stream's seed is
# $ENV{MQTT_PRESENCE_SEED}, else a fixed one; failures name it.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

if(NOT DEFINED GEN)
  message(FATAL_ERROR "replay test: -DGEN=... is required")
endif()
generate_stream() # first: the seed also goes into the messages about the sample
set(THREAD_COUNTS 1 2 4)
# The counts that must not depend on the number of threads.
set(STABLE_KEYS events rejected clients online)

# replay_threads(<name> <input> <expected online file or "">): replays `input` with every
# thread count, requires the same stable counts and online list each time (and, if given, the
# expected list); sets <name>_counts (the stable counts) and <name>_<N>_err in the caller.
function(replay_threads name input expected)
  set(first "")
  foreach(n IN LISTS THREAD_COUNTS)
    replay(run ARGS --threads ${n} --online-out "${WORK}/${name}-${n}.txt" "${input}")
    expect_eq("${run_rc}" "0" "exit status, ${name}, --threads ${n} (seed ${seed})")
    expect_summary("${run_out}")
    string(REGEX REPLACE "\n$" "" json "${run_out}")
    set(counts "")
    foreach(key IN LISTS STABLE_KEYS)
      string(JSON value ERROR_VARIABLE error GET "${json}" "${key}")
      string(APPEND counts "${key}=${value} ")
    endforeach()
    if(first STREQUAL "")
      set(first "${n}")
      set(first_counts "${counts}")
      read_text("${WORK}/${name}-${n}.txt" first_online)
    else()
      expect_eq("${counts}" "${first_counts}" "${name}: counts with --threads ${n} against --threads ${first} (seed ${seed})")
      expect_file_text("${WORK}/${name}-${n}.txt" "${first_online}"
        "${name}: online list with --threads ${n} against --threads ${first} (seed ${seed})")
    endif()
    if(NOT expected STREQUAL "")
      expect_same_file("${WORK}/${name}-${n}.txt" "${expected}" "${name}: online list with --threads ${n} (seed ${seed})")
    endif()
    set(${name}_${n}_err "${run_err}" PARENT_SCOPE)
  endforeach()
  set(${name}_counts "${first_counts}" PARENT_SCOPE)
endfunction()

# --- the sample: the hand-worked result, whatever the thread count ---------------------------
replay_threads(sample "${EXAMPLES}/sample.jsonl" "${EXAMPLES}/sample.online.txt")
expect_eq("${sample_counts}" "events=17 rejected=0 clients=7 online=3 " "sample counts")
foreach(n IN LISTS THREAD_COUNTS)
  expect_eq("${sample_${n}_err}" "" "standard error, sample, --threads ${n}")
endforeach()

# --- a generated stream of a few thousand lines: the true online set --------------------------
message(STATUS "seed ${seed}: ${generated_lines} events, ${generated_online} clients truly online")
replay_threads(generated "${events}" "${WORK}/generated.truth.txt")
expect_eq("${generated_counts}" "events=${generated_lines} rejected=0 clients=400 online=${generated_online} "
  "generated stream counts (seed ${seed})")

# Standard input takes the same path.
replay(piped INPUT "${events}" ARGS --threads 4 --online-out "${WORK}/piped.txt")
expect_eq("${piped_rc}" "0" "exit status, standard input, --threads 4")
expect_summary("${piped_out}" events ${generated_lines} rejected 0 online ${generated_online})
expect_same_file("${WORK}/piped.txt" "${WORK}/generated.truth.txt" "online list, standard input, --threads 4")

# --- bad lines spread over many blocks (so over every worker) -------------------------------
# After every 300th generated line: a bad line of one of four kinds and a blank line; in the
# middle, a line longer than 1 MiB (rejected by the reading thread itself).
set(bad_kinds
  "not json|malformed JSON"
  "{\"clientId\":\"GID_bad@@@x\",\"time\":1,\"eventType\":\"online\",\"channelId\":\"c\"}|unknown \"eventType\" \"online\""
  "{\"clientId\":\"GID_bad@@@x\",\"time\":1,\"eventType\":\"connect\"}|missing field \"channelId\""
  "<LB>1<RB>|message must be a JSON object")
list(LENGTH bad_kinds kind_count)
string(REPEAT "x" 1048577 too_long)
file(READ "${events}" text)
# Brackets (in IPv6 addresses) would confuse CMake's lists; they are put back when writing.
string(REPLACE "[" "<LB>" text "${text}")
string(REPLACE "]" "<RB>" text "${text}")
string(REGEX REPLACE "\n$" "" text "${text}")
string(REPLACE "\n" ";" lines "${text}")
list(LENGTH lines line_count)
math(EXPR middle "${line_count} / 2")
set(out "")
set(number 0)    # line number in the output
set(index 0)     # generated lines copied
set(expected "") # "<line>: <reason>" of every bad line, in file order
set(kind 0)
foreach(line IN LISTS lines)
  string(APPEND out "${line}\n")
  math(EXPR number "${number} + 1")
  math(EXPR index "${index} + 1")
  math(EXPR every "${index} % 300")
  if(every EQUAL 0)
    list(GET bad_kinds ${kind} entry)
    string(FIND "${entry}" "|" bar)
    string(SUBSTRING "${entry}" 0 ${bar} bad_line)
    math(EXPR bar "${bar} + 1")
    string(SUBSTRING "${entry}" ${bar} -1 reason)
    math(EXPR number "${number} + 1")
    string(APPEND out "${bad_line}\n\n")
    list(APPEND expected "${number}: ${reason}")
    math(EXPR number "${number} + 1")
    math(EXPR kind "(${kind} + 1) % ${kind_count}")
  endif()
  if(index EQUAL middle)
    math(EXPR number "${number} + 1")
    string(APPEND out "${too_long}\n")
    list(APPEND expected "${number}: line longer than 1 MiB")
  endif()
endforeach()
string(REPLACE "<LB>" "[" out "${out}")
string(REPLACE "<RB>" "]" out "${out}")
set(bad_input "${WORK}/with-bad-lines.jsonl")
file(WRITE "${bad_input}" "${out}")
list(LENGTH expected bad_count)
math(EXPR with_bad_events "${generated_lines} + ${bad_count}")

replay_threads(with_bad "${bad_input}" "${WORK}/generated.truth.txt")
expect_eq("${with_bad_counts}"
  "events=${with_bad_events} rejected=${bad_count} clients=400 online=${generated_online} "
  "counts with bad lines (seed ${seed})")

# Every bad line reported once, with its own number and reason, whatever the order.
function(expect_reports err file expected what)
  reported_lines("${err}" "${file}" numbers)
  set(got "${numbers_reasons}")
  list(SORT got COMPARE NATURAL)
  list(LENGTH got got_count)
  list(LENGTH expected want_count)
  expect_eq("${got_count}" "${want_count}" "${what}: number of reports")
  if(NOT got_count EQUAL want_count OR want_count EQUAL 0)
    return()
  endif()
  foreach(i RANGE 1 ${got_count})
    math(EXPR at "${i} - 1")
    list(GET got ${at} report)
    list(GET expected ${at} want)
    string(FIND "${report}" "${want}" found)
    if(NOT found EQUAL 0)
      message(SEND_ERROR "${what}: expected a report starting with [${want}], got [${report}]")
    endif()
  endforeach()
  split_lines("${err}" all)
  list(LENGTH all all_count)
  expect_eq("${all_count}" "${want_count}" "${what}: lines on standard error")
endfunction()

foreach(n IN LISTS THREAD_COUNTS)
  expect_reports("${with_bad_${n}_err}" "${bad_input}" "${expected}" "reports with --threads ${n} (seed ${seed})")
endforeach()

# Two files in one run: blocks never mix files, and line numbers restart in each.
replay(two ARGS --threads 4 "${HERE}/malformed.jsonl" "${bad_input}")
expect_eq("${two_rc}" "0" "exit status, two files, --threads 4")
math(EXPR two_events "${with_bad_events} + 14")
math(EXPR two_rejected "${bad_count} + 8")
expect_summary("${two_out}" events ${two_events} rejected ${two_rejected})
set(malformed_expected
  "2: malformed JSON" "5: missing field \"channelId\"" "6: unknown \"eventType\" \"disconnected\""
  "7: \"channelId\" must be a string" "9: \"time\" is negative" "10: \"clientId\" is empty"
  "13: \"time\" must be an integer" "15: message must be a JSON object")
split_lines("${two_err}" two_lines)
set(err_malformed "")
set(err_bad "")
foreach(line IN LISTS two_lines)
  if(line MATCHES "malformed\\.jsonl:")
    string(APPEND err_malformed "${line}\n")
  else()
    string(APPEND err_bad "${line}\n")
  endif()
endforeach()
expect_reports("${err_malformed}" "${HERE}/malformed.jsonl" "${malformed_expected}" "malformed.jsonl, --threads 4")
expect_reports("${err_bad}" "${bad_input}" "${expected}" "second file, --threads 4")

# --- the command line ----------------------------------------------------------------------
foreach(value 0 -1 1.5 two 257)
  replay(bad ARGS --threads "${value}" "${EXAMPLES}/sample.jsonl")
  expect_eq("${bad_rc}" "2" "exit status for --threads '${value}'")
  expect_eq("${bad_out}" "" "standard output for --threads '${value}'")
  expect_contains("${bad_err}" "usage: mqtt_presence_replay" "usage for --threads '${value}'")
endforeach()
replay(bad ARGS --threads=0 "${EXAMPLES}/sample.jsonl")
expect_eq("${bad_rc}" "2" "exit status for --threads=0")
expect_contains("${bad_err}" "--threads needs a number from 1 to 256" "--threads 0 named")
replay(bad ARGS "${EXAMPLES}/sample.jsonl" --threads)
expect_eq("${bad_rc}" "2" "exit status for --threads without a value")
