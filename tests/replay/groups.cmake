# --group-counts: the summary gains "groups", the number of online clients per Group ID (the
# text before "@@@"), in byte order of the group; the counts add up to "online" and match the
# --online-out list, with one thread or several. Without the option there is no "groups".
#
# Also given: -DGEN=<mqtt_presence_gen_history>.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

if(NOT DEFINED GEN)
  message(FATAL_ERROR "replay test: -DGEN=... is required")
endif()
generate_stream()

replay(sample ARGS --group-counts "${EXAMPLES}/sample.jsonl")
expect_eq("${sample_rc}" "0" "exit status, sample")
expect_summary("${sample_out}" online 3)
expect_contains("${sample_out}" "\"online\":3,\"groups\":{\"GID_demo\":3}," "groups in the sample's summary")
replay(plain ARGS "${EXAMPLES}/sample.jsonl")
string(FIND "${plain_out}" "\"groups\"" at)
expect_eq("${at}" "-1" "no groups without --group-counts")

# Client ids without a Group ID count under "".
file(WRITE "${WORK}/mixed.jsonl"
  "{\"clientId\":\"GID_b@@@d1\",\"channelId\":\"c1\",\"eventType\":\"connect\",\"time\":1}\n"
  "{\"clientId\":\"plain\",\"channelId\":\"c1\",\"eventType\":\"connect\",\"time\":1}\n"
  "{\"clientId\":\"GID_a@@@d1\",\"channelId\":\"c1\",\"eventType\":\"connect\",\"time\":1}\n"
  "{\"clientId\":\"GID_a@@@d2\",\"channelId\":\"c1\",\"eventType\":\"connect\",\"time\":1}\n"
  "{\"clientId\":\"GID_b@@@d1\",\"channelId\":\"c1\",\"eventType\":\"tcpclean\",\"time\":2}\n")
replay(mixed ARGS --group-counts "${WORK}/mixed.jsonl")
expect_summary("${mixed_out}" online 3)
expect_contains("${mixed_out}" "\"groups\":{\"\":1,\"GID_a\":2}," "groups of mixed ids, GID_b gone offline")

foreach(threads 1 2 4)
  replay(run ARGS --threads ${threads} --group-counts --online-out "${WORK}/online-${threads}.txt" "${events}")
  expect_eq("${run_rc}" "0" "exit status, --threads ${threads} (seed ${seed})")
  expect_summary("${run_out}" online ${generated_online})
  string(REGEX REPLACE "\n$" "" json "${run_out}")
  string(JSON type TYPE "${json}" groups)
  expect_eq("${type}" "OBJECT" "\"groups\" is an object, --threads ${threads}")
  string(JSON count LENGTH "${json}" groups)
  # Expected: per group, the online ids with that prefix.
  file(STRINGS "${WORK}/online-${threads}.txt" online_ids)
  set(expected_groups "")
  foreach(id IN LISTS online_ids)
    string(FIND "${id}" "@@@" sep)
    string(SUBSTRING "${id}" 0 ${sep} group)
    list(APPEND expected_groups "${group}")
  endforeach()
  list(REMOVE_DUPLICATES expected_groups)
  list(SORT expected_groups)
  list(LENGTH expected_groups expected_count)
  expect_eq("${count}" "${expected_count}" "number of groups, --threads ${threads}")
  set(sum 0)
  set(previous "")
  math(EXPR last "${count} - 1")
  foreach(i RANGE 0 ${last})
    string(JSON group MEMBER "${json}" groups ${i})
    string(JSON online GET "${json}" groups "${group}")
    math(EXPR sum "${sum} + ${online}")
    list(GET expected_groups ${i} want_group)
    expect_eq("${group}" "${want_group}" "group ${i} in byte order, --threads ${threads}")
    set(n 0)
    foreach(id IN LISTS online_ids)
      string(FIND "${id}" "${group}@@@" at)
      if(at EQUAL 0)
        math(EXPR n "${n} + 1")
      endif()
    endforeach()
    expect_eq("${online}" "${n}" "online clients of ${group}, --threads ${threads} (seed ${seed})")
  endforeach()
  expect_eq("${sum}" "${generated_online}" "groups add up to online, --threads ${threads} (seed ${seed})")
endforeach()
