# --redis: replay processes that share one state in Redis. Registered in replay_tests.cmake when
# the tool has Redis support and redis-server exists; every case but `errors` runs under
# mqtt_presence_with_redis, which starts a private redis-server and passes its port. Given, on
# top of common.cmake's variables:
#   -DCASE=<case>          which test (below)
#   -DREDIS_PORT=<port>    the private server's port (not for `errors`)
#   -DREDIS_SOCKET=<path>  its Unix socket (unix_socket only)
#   -DGEN=<mqtt_presence_gen_history>
# Cases:
#   shared       two processes at once, each replaying the clients of one half of a generated
#                stream, on one prefix; then a third run with no input must list exactly the
#                truly online clients. Then two processes at once each replaying the whole
#                stream (both writing every client: compare-and-set conflicts), the same check.
#   options      --redis-clear, --redis-buckets (checked across processes), --group-counts,
#                --snapshot-out of the shared state and --snapshot-in into it, on the sample
#   password     AUTH with the password from MQTT_PRESENCE_REDIS_PASSWORD
#   unix_socket  --redis unix:PATH with --redis-prefix
#   errors       no server needed: an unreachable address fails with exit status 1 and a
#                message naming it; combinations that make no sense are refused with exit
#                status 2
# The generated stream's seed is $ENV{MQTT_PRESENCE_SEED}, else a fixed one; failures name it.
#
# Child mode (-DCHILD_ARGS=<arg>|<arg>|...): runs the tool once with those arguments (separated
# by '|': a ';' list would be split on its way through the pipeline's list), its standard output
# and error into ${CHILD_OUT}.out and .err and its exit status into ${CHILD_OUT}.rc. The cases run
# two children as the stages of one execute_process pipeline, which CMake starts at the same
# time; a child writes nothing to its own standard output, so the stages pass nothing on.

cmake_minimum_required(VERSION 3.23)

if(DEFINED CHILD_ARGS)
  string(REPLACE "|" ";" args "${CHILD_ARGS}")
  execute_process(COMMAND "${REPLAY}" ${args}
    INPUT_FILE "${CHILD_IN}"
    OUTPUT_FILE "${CHILD_OUT}.out" ERROR_FILE "${CHILD_OUT}.err"
    RESULT_VARIABLE rc)
  file(WRITE "${CHILD_OUT}.rc" "${rc}")
  return()
endif()

include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

if(NOT DEFINED CASE)
  message(FATAL_ERROR "replay test: -DCASE=... is required")
endif()
if(NOT CASE STREQUAL "errors" AND NOT DEFINED REDIS_PORT)
  message(FATAL_ERROR "replay test: -DREDIS_PORT=... is required (run it under mqtt_presence_with_redis)")
endif()
# A password from the calling environment must not change what the cases see.
unset(ENV{MQTT_PRESENCE_REDIS_PASSWORD})
unset(ENV{MQTT_PRESENCE_REDIS_USER})
set(SERVER "127.0.0.1:${REDIS_PORT}")

# together(<name_a> <args_a> <name_b> <args_b>): runs the tool twice at the same time (arguments
# as lists, with no '|' in them); sets <name>_rc, <name>_out and <name>_err for each in the caller.
function(together name_a args_a name_b args_b)
  set(commands "")
  foreach(which a b)
    string(REPLACE ";" "|" args "${args_${which}}")
    list(APPEND commands COMMAND "${CMAKE_COMMAND}" "-DREPLAY=${REPLAY}" "-DCHILD_ARGS=${args}"
      "-DCHILD_IN=${WORK}/empty-stdin" "-DCHILD_OUT=${WORK}/${name_${which}}" -P "${CMAKE_CURRENT_FUNCTION_LIST_FILE}")
  endforeach()
  execute_process(${commands} INPUT_FILE "${WORK}/empty-stdin" RESULTS_VARIABLE rcs ERROR_VARIABLE err)
  if(NOT rcs STREQUAL "0;0")
    message(FATAL_ERROR "running two replays at once failed (${rcs}): ${err}")
  endif()
  foreach(which a b)
    set(name "${name_${which}}")
    foreach(part rc out err)
      read_text("${WORK}/${name}.${part}" text)
      set(${name}_${part} "${text}" PARENT_SCOPE)
    endforeach()
  endforeach()
endfunction()

# expect_shared_truth(<what> <prefix>): a run with no input on the prefix reports the generated
# stream's clients and online count, and --online-out lists exactly the truly online clients.
function(expect_shared_truth what prefix)
  replay(final ARGS --redis "${SERVER}/${prefix}" --group-counts --online-out "${WORK}/${prefix}online.txt")
  expect_eq("${final_rc}" "0" "exit status, reading the shared state after ${what} (seed ${seed})")
  expect_eq("${final_err}" "" "standard error, reading the shared state after ${what}")
  expect_summary("${final_out}" events 0 applied 0 clients ${clients} online ${generated_online})
  expect_same_file("${WORK}/${prefix}online.txt" "${WORK}/generated.truth.txt"
    "online list of the shared state after ${what} (seed ${seed})")
  string(JSON groups ERROR_VARIABLE error GET "${final_out}" groups)
  expect_eq("${groups}" "${local_groups}" "group counts of the shared state after ${what} (seed ${seed})")
endfunction()

if(CASE STREQUAL "shared")
  if(NOT DEFINED GEN)
    message(FATAL_ERROR "replay test: -DGEN=... is required")
  endif()
  # As generate_stream() in common.cmake, with more clients: long enough for the two processes
  # to overlap and to take turns being first on a client.
  if(DEFINED ENV{MQTT_PRESENCE_SEED} AND NOT "$ENV{MQTT_PRESENCE_SEED}" STREQUAL "")
    set(seed "$ENV{MQTT_PRESENCE_SEED}")
  else()
    set(seed 20191011)
  endif()
  set(clients 3000)
  set(events "${WORK}/generated.jsonl")
  execute_process(
    COMMAND "${GEN}" --seed "${seed}" --clients ${clients} --events-out "${events}" --online-out "${WORK}/generated.truth.txt"
    RESULT_VARIABLE rc OUTPUT_VARIABLE gen_out ERROR_VARIABLE gen_err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generator failed (${rc}): ${gen_err} (seed ${seed})")
  endif()
  string(JSON generated_lines GET "${gen_out}" events)
  string(JSON generated_online GET "${gen_out}" online)
  message(STATUS "seed ${seed}: ${generated_lines} events, ${generated_online} clients truly online")
  # The same stream in this process's memory: its group counts, to compare.
  replay(local ARGS --group-counts "${events}")
  expect_eq("${local_rc}" "0" "exit status, the stream in memory")
  string(JSON local_groups GET "${local_out}" groups)

  # The stream's clients dealt into two halves by the last digit of the client id (every
  # generated id ends in its number): each client's events go to one process, in the stream's
  # order (as a queue partitioned by client delivers them).
  # (file(STRINGS) filters the lines itself: a loop over them in CMake takes seconds.)
  set(half_lines 0)
  foreach(half a b)
    if(half STREQUAL "a")
      set(digits 02468)
    else()
      set(digits 13579)
    endif()
    file(STRINGS "${events}" lines ENCODING UTF-8 REGEX "\"clientId\":\"[^\"]*[${digits}]\"")
    list(LENGTH lines count)
    math(EXPR half_lines "${half_lines} + ${count}")
    list(JOIN lines "\n" text)
    file(WRITE "${WORK}/half_${half}.jsonl" "${text}\n")
  endforeach()
  expect_eq("${half_lines}" "${generated_lines}" "lines of the two halves together: every client id ends in a digit")

  together(run_a "--redis;${SERVER}/halves:;${WORK}/half_a.jsonl" run_b "--redis;${SERVER}/halves:;${WORK}/half_b.jsonl")
  set(events_read 0)
  foreach(run run_a run_b)
    expect_eq("${${run}_rc}" "0" "exit status, ${run} of the halves (seed ${seed})")
    expect_eq("${${run}_err}" "" "standard error, ${run} of the halves")
    expect_summary("${${run}_out}" rejected 0)
    math(EXPR events_read "${events_read} + ${summary_events}")
    if(summary_events EQUAL 0)
      message(SEND_ERROR "${run} of the halves replayed no line (seed ${seed})")
    endif()
    if(summary_clients GREATER clients OR summary_online GREATER summary_clients)
      message(SEND_ERROR "${run} of the halves: impossible shared counts: ${${run}_out}")
    endif()
  endforeach()
  expect_eq("${events_read}" "${generated_lines}" "lines replayed by the two halves together (seed ${seed})")
  expect_shared_truth("two processes replaying a half each" "halves:")

  # Both processes replay the whole stream at once: they write the same clients' records, each
  # sometimes first, and meet in compare-and-set conflicts. Each goes through the stream in order,
  # so every event is first applied in the stream's order, and its second copy changes nothing
  # (rule 5): the state is the stream's.
  together(run_a "--redis;${SERVER}/twice:;${events}" run_b "--redis;${SERVER}/twice:;${events}")
  foreach(run run_a run_b)
    expect_eq("${${run}_rc}" "0" "exit status, ${run} of the whole stream twice (seed ${seed})")
    expect_eq("${${run}_err}" "" "standard error, ${run} of the whole stream twice")
    expect_summary("${${run}_out}" events ${generated_lines} rejected 0)
  endforeach()
  expect_shared_truth("two processes replaying the whole stream at once" "twice:")

elseif(CASE STREQUAL "options")
  set(sample "${EXAMPLES}/sample.jsonl")
  set(at "${SERVER}/opts:")

  replay(first ARGS --redis "${at}" --group-counts "${sample}")
  expect_eq("${first_rc}" "0" "exit status, the sample into Redis")
  expect_eq("${first_err}" "" "standard error, the sample into Redis")
  expect_summary("${first_out}" events 17 applied 15 duplicates 2 clients 7 online 3 went_online 6 went_offline 3)
  expect_contains("${first_out}" "\"groups\":{\"GID_demo\":3}" "group counts of the shared state")

  # Again: the shared state already holds every event; this run's counts say so.
  replay(again ARGS --redis "${at}" --online-out "${WORK}/again.txt" "${sample}")
  expect_eq("${again_rc}" "0" "exit status, the sample again")
  expect_summary("${again_out}" events 17 applied 0 duplicates 17 went_online 0 went_offline 0 clients 7 online 3)
  expect_same_file("${WORK}/again.txt" "${EXAMPLES}/sample.online.txt" "online list, the sample again")

  # The bucket count is part of the layout: another one is refused, naming both.
  replay(buckets ARGS --redis "${at}" --redis-buckets 8 "${sample}")
  expect_eq("${buckets_rc}" "1" "exit status, another --redis-buckets on the same prefix")
  expect_eq("${buckets_out}" "" "standard output, another --redis-buckets")
  expect_contains("${buckets_err}" "mqtt_presence_replay: cannot use Redis: " "message, another --redis-buckets")
  expect_contains("${buckets_err}" "buckets=16" "message names the stored layout")
  expect_contains("${buckets_err}" "buckets=8" "message names the asked layout")

  # --snapshot-out of the shared state equals the in-memory replay's state; loaded with nothing
  # to replay, it is that state again.
  replay(save ARGS --redis "${at}" --snapshot-out "${WORK}/shared.snap" "${WORK}/empty-stdin")
  expect_eq("${save_rc}" "0" "exit status, --snapshot-out of the shared state")
  replay(load_local ARGS --snapshot-in "${WORK}/shared.snap" --online-out "${WORK}/local.txt" "${WORK}/empty-stdin")
  expect_eq("${load_local_rc}" "0" "exit status, the shared state's snapshot loaded in memory")
  expect_summary("${load_local_out}" clients 7 online 3)
  expect_same_file("${WORK}/local.txt" "${EXAMPLES}/sample.online.txt" "online list, the shared state's snapshot")

  # --snapshot-in needs an empty state: refused on the prefix in use, accepted with --redis-clear.
  replay(full ARGS --redis "${at}" --snapshot-in "${WORK}/shared.snap" "${WORK}/empty-stdin")
  expect_eq("${full_rc}" "1" "exit status, --snapshot-in into a prefix in use")
  expect_contains("${full_err}" "--snapshot-in needs an empty state, but Redis holds 7 clients under the prefix \"opts:\""
    "message, --snapshot-in into a prefix in use")
  replay(reload ARGS --redis "${at}" --redis-clear --snapshot-in "${WORK}/shared.snap"
    --online-out "${WORK}/reload.txt" "${WORK}/empty-stdin")
  expect_eq("${reload_rc}" "0" "exit status, --redis-clear --snapshot-in")
  expect_summary("${reload_out}" events 0 clients 7 online 3)
  expect_same_file("${WORK}/reload.txt" "${EXAMPLES}/sample.online.txt" "online list, --redis-clear --snapshot-in")

  # --redis-clear empties the prefix, whatever its bucket count: the way to choose another one.
  replay(cleared ARGS --redis "${at}" --redis-clear --redis-buckets 3 "${WORK}/empty-stdin")
  expect_eq("${cleared_rc}" "0" "exit status, --redis-clear --redis-buckets 3 on a prefix of 16 buckets")
  expect_summary("${cleared_out}" events 0 clients 0 online 0)
  replay(rebucketed ARGS --redis "${at}" --redis-buckets 3 "${sample}")
  expect_eq("${rebucketed_rc}" "0" "exit status, --redis-buckets 3 after the clear")
  expect_summary("${rebucketed_out}" events 17 applied 15 clients 7 online 3)
  replay(old_count ARGS --redis "${at}" "${WORK}/empty-stdin")
  expect_eq("${old_count_rc}" "1" "exit status, the old bucket count after the clear")
  expect_contains("${old_count_err}" "buckets=3" "message names the new layout")

  # Prefixes are separate states; --redis-prefix is the same as /PREFIX.
  replay(other ARGS --redis "${SERVER}" --redis-prefix other: "${WORK}/empty-stdin")
  expect_eq("${other_rc}" "0" "exit status, another prefix")
  expect_summary("${other_out}" clients 0 online 0)
  replay(same ARGS --redis "${SERVER}" --redis-prefix opts: --redis-buckets 3 "${WORK}/empty-stdin")
  expect_summary("${same_out}" clients 7 online 3)

elseif(CASE STREQUAL "password")
  replay(none ARGS --redis "${SERVER}/auth:" "${EXAMPLES}/sample.jsonl")
  expect_eq("${none_rc}" "1" "exit status, no password")
  expect_eq("${none_out}" "" "standard output, no password")
  expect_contains("${none_err}" "mqtt_presence_replay: cannot use Redis: " "message, no password")
  expect_contains("${none_err}" "${SERVER}" "message names the address, no password")
  set(ENV{MQTT_PRESENCE_REDIS_PASSWORD} "not-it")
  replay(wrong ARGS --redis "${SERVER}/auth:" "${EXAMPLES}/sample.jsonl")
  expect_eq("${wrong_rc}" "1" "exit status, a wrong password")
  expect_contains("${wrong_err}" "AUTH refused by ${SERVER}" "message, a wrong password")
  set(ENV{MQTT_PRESENCE_REDIS_PASSWORD} "s3cret")
  replay(right ARGS --redis "${SERVER}/auth:" --online-out "${WORK}/online.txt" "${EXAMPLES}/sample.jsonl")
  expect_eq("${right_rc}" "0" "exit status, the right password")
  expect_eq("${right_err}" "" "standard error, the right password")
  expect_summary("${right_out}" events 17 clients 7 online 3)
  expect_same_file("${WORK}/online.txt" "${EXAMPLES}/sample.online.txt" "online list, the right password")

elseif(CASE STREQUAL "unix_socket")
  if(NOT DEFINED REDIS_SOCKET)
    message(FATAL_ERROR "replay test: -DREDIS_SOCKET=... is required")
  endif()
  replay(sock ARGS --redis "unix:${REDIS_SOCKET}" --redis-prefix sock: "${EXAMPLES}/sample.jsonl")
  expect_eq("${sock_rc}" "0" "exit status, over the Unix socket")
  expect_eq("${sock_err}" "" "standard error, over the Unix socket")
  expect_summary("${sock_out}" events 17 clients 7 online 3)
  # The same state over TCP.
  replay(tcp ARGS --redis "${SERVER}/sock:" --online-out "${WORK}/online.txt" "${WORK}/empty-stdin")
  expect_eq("${tcp_rc}" "0" "exit status, the socket's state over TCP")
  expect_same_file("${WORK}/online.txt" "${EXAMPLES}/sample.online.txt" "online list, the socket's state over TCP")

elseif(CASE STREQUAL "errors")
  # Nothing listens on port 1 of the loopback address: refused at once, no summary.
  replay(dead ARGS --redis 127.0.0.1:1/dead: --online-out "${WORK}/dead.txt" "${EXAMPLES}/sample.jsonl")
  expect_eq("${dead_rc}" "1" "exit status, an unreachable Redis")
  expect_eq("${dead_out}" "" "standard output (no summary), an unreachable Redis")
  expect_contains("${dead_err}" "mqtt_presence_replay: cannot use Redis: " "message, an unreachable Redis")
  expect_contains("${dead_err}" "127.0.0.1:1" "message names the address, an unreachable Redis")
  if(EXISTS "${WORK}/dead.txt")
    message(SEND_ERROR "an unreachable Redis: --online-out was written")
  endif()

  # Bad command lines: exit status 2, a message naming the problem, nothing connected to.
  # usage_error(<expected message> <arg>...)
  function(usage_error expected)
    replay(bad ARGS ${ARGN} "${EXAMPLES}/sample.jsonl")
    expect_eq("${bad_rc}" "2" "exit status, ${ARGN}")
    expect_eq("${bad_out}" "" "standard output, ${ARGN}")
    expect_contains("${bad_err}" "mqtt_presence_replay: ${expected}" "message, ${ARGN}")
  endfunction()
  usage_error("options --redis and --threads cannot be combined" --redis 127.0.0.1:1 --threads 2)
  usage_error("option --redis-clear needs --redis" --redis-clear)
  usage_error("option --redis-buckets needs --redis" --redis-buckets 4)
  usage_error("option --redis-prefix needs --redis" --redis-prefix p:)
  usage_error("option --redis needs HOST:PORT[/PREFIX] or unix:PATH, got \"localhost\"" --redis localhost)
  usage_error("option --redis needs a port from 1 to 65535" --redis 127.0.0.1:65536)
  usage_error("option --redis needs an IPv6 address in brackets" --redis ::1:6379)
  usage_error("option --redis needs a prefix without '{' or '}' after the '/'" "--redis=127.0.0.1:1/a{b}:")
  usage_error("option --redis needs a prefix that is not empty after the '/'" --redis 127.0.0.1:1/)
  usage_error("option --redis-prefix needs a prefix without '{' or '}'" --redis 127.0.0.1:1 --redis-prefix "}")
  usage_error("--redis 127.0.0.1:1/a: gives a prefix already; drop --redis-prefix or the /PREFIX"
    --redis 127.0.0.1:1/a: --redis-prefix b:)
  usage_error("option --redis-buckets needs a number from 1 to 16384, got 0" --redis 127.0.0.1:1 --redis-buckets 0)
  usage_error("option --redis given twice" --redis 127.0.0.1:1 --redis 127.0.0.1:2)
  # Options the rules refuse are a bad command line too, before Redis is looked for.
  usage_error("mqtt_presence: " --redis 127.0.0.1:1 --retention-ms -1)

  replay(bad ARGS --redis)
  expect_eq("${bad_rc}" "2" "exit status, --redis without an address")
  expect_contains("${bad_err}" "mqtt_presence_replay: option --redis needs an argument" "message, --redis without an address")

  replay(help ARGS --help)
  foreach(option "--redis ADDRESS" "--redis-prefix PREFIX" "--redis-buckets N" "--redis-clear" "MQTT_PRESENCE_REDIS_PASSWORD")
    expect_contains("${help_out}" "${option}" "usage lists ${option}")
  endforeach()

else()
  message(FATAL_ERROR "replay test: unknown -DCASE=${CASE}")
endif()
