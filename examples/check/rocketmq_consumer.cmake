# Test of examples/rocketmq_consumer.cpp (cmake -P):
#   -D CONSUMER=<program> -D DATA_DIR=<examples/data> -D WORK_DIR=<scratch directory>
#
# Run 1: examples/data/sample.jsonl with one bad message inserted after its 9th line, on standard
# input, in batches of 4, the storage failing part way through the second batch. What it must
# print follows from the sample (README, "The sample dump": 17 events, 15 applied, 2 duplicates,
# 6 online and 3 offline edges, online at the end as in sample.online.txt):
#   18 messages in 5 batches; the second delivered twice (6 deliveries); the bad one acknowledged;
#   the two events stored before the failure come back as duplicates (2 + 2 = 4), and no edge is
#   repeated; alerts for the clients offline for at least 60 s before the newest event
#   (1764000101000): sensor-02 (since 1764000030000) and sensor-04 (since 1764000040020), not
#   gateway-01 (51 s); snapshots after batches 2 and 4 and at the end.
# Run 2: the sample file as it is, as an argument, in the default batches: the same online set.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
file(STRINGS "${DATA_DIR}/sample.jsonl" lines)
list(LENGTH lines count)
if(NOT count EQUAL 17)
  message(FATAL_ERROR "sample.jsonl: expected 17 lines, found ${count}")
endif()
set(input "")
set(n 0)
foreach(line IN LISTS lines)
  string(APPEND input "${line}\n")
  math(EXPR n "${n} + 1")
  if(n EQUAL 9)
    string(APPEND input "{\"clientId\":\"GID_demo@@@sensor-09\",\"time\":1764000021000,\"eventType\":\"reboot\",\"channelId\":\"0f5e3c2a9b8d7e6f5a4b3c2d1e0f9a8b\"}\n")
  endif()
endforeach()
file(WRITE "${WORK_DIR}/input.jsonl" "${input}")
file(READ "${DATA_DIR}/sample.online.txt" expected_online)

execute_process(
  COMMAND "${CONSUMER}" --batch 4 --fail-batch 2 --snapshot "${WORK_DIR}/state.snap" --online-out "${WORK_DIR}/online.txt"
  INPUT_FILE "${WORK_DIR}/input.jsonl"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run 1: exit status ${rc}")
endif()
foreach(pattern
    "summary: messages 18, batches 5, deliveries 6 \\(1 after RECONSUME_LATER\\), bad messages 1, applied 15, duplicates 4, went online 6, went offline 3, alerts 2, snapshots 3\n"
    "batch 2: 4 messages, from msg-5\n  storage error: storage unavailable \\(simulated\\) -> RECONSUME_LATER\n"
    "batch 2 redelivered: 4 messages, from msg-5\n"
    "alert: GID_demo@@@sensor-02 offline since 1764000030000 \\(tcpclean\\)"
    "alert: GID_demo@@@sensor-04 offline since 1764000040020 \\(tcpclean\\)"
    "snapshot: 7 clients at offset 18\n")
  if(NOT out MATCHES "${pattern}")
    message(FATAL_ERROR "run 1: the output lacks: ${pattern}")
  endif()
endforeach()
if(out MATCHES "alert: GID_demo@@@gateway-01")
  message(FATAL_ERROR "run 1: gateway-01 was offline for less than a minute, yet alerted")
endif()
if(NOT err MATCHES "bad message msg-10 acknowledged, not retried: unknown \"eventType\" \"reboot\"")
  message(FATAL_ERROR "run 1: the bad message was not reported")
endif()
string(REGEX MATCHALL "action: [^ ]+ online at" online_actions "${out}")
list(LENGTH online_actions online_action_count)
if(NOT online_action_count EQUAL 6)
  message(FATAL_ERROR "run 1: ${online_action_count} online actions, expected 6 (one per flip)")
endif()
if(NOT EXISTS "${WORK_DIR}/state.snap")
  message(FATAL_ERROR "run 1: no snapshot written")
endif()
file(READ "${WORK_DIR}/online.txt" online)
if(NOT online STREQUAL expected_online)
  message(FATAL_ERROR "run 1: online set\n${online}differs from sample.online.txt\n${expected_online}")
endif()

execute_process(
  COMMAND "${CONSUMER}" --online-out "${WORK_DIR}/online2.txt" "${DATA_DIR}/sample.jsonl"
  OUTPUT_VARIABLE out2 ERROR_VARIABLE err2 RESULT_VARIABLE rc2 TIMEOUT 60)
if(NOT rc2 EQUAL 0 OR NOT out2 MATCHES "batches 1, deliveries 1 \\(0 after RECONSUME_LATER\\), bad messages 0, applied 15, duplicates 2")
  message(FATAL_ERROR "run 2: exit status ${rc2}\n${out2}${err2}")
endif()
file(READ "${WORK_DIR}/online2.txt" online2)
if(NOT online2 STREQUAL expected_online)
  message(FATAL_ERROR "run 2: online set\n${online2}differs from sample.online.txt")
endif()
message("rocketmq_consumer: both runs end with the online set of sample.online.txt")
