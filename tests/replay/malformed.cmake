# Bad lines among good ones: each is reported with its own line number (blank lines count in the
# numbering but are not events), counted as rejected and skipped; the state is what the good
# lines alone give; the exit status is still 0.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(input "${HERE}/malformed.jsonl")
replay(run ARGS --online-out "${WORK}/online.txt" "${input}")
expect_eq("${run_rc}" "0" "exit status")
# 16 lines: 2 blank, 6 good (one a duplicate), 8 bad.
expect_summary("${run_out}"
  events 14 applied 5 duplicates 1 refused 0 rejected 8
  went_online 4 went_offline 1 clients 4 online 3)
expect_file_text("${WORK}/online.txt"
  "GID_demo@@@alpha\nGID_demo@@@beta\nGID_demo@@@zeta\n" "online set")

reported_lines("${run_err}" "${input}" numbers)
expect_eq("${numbers}" "2;5;6;7;9;10;13;15" "lines reported")
split_lines("${run_err}" all)
list(LENGTH all count)
expect_eq("${count}" "8" "number of lines on standard error")
set(i 0)
foreach(reason
    "2: malformed JSON"
    "5: missing field \"channelId\""
    "6: unknown \"eventType\" \"disconnected\""
    "7: \"channelId\" must be a string"
    "9: \"time\" is negative"
    "10: \"clientId\" is empty"
    "13: \"time\" must be an integer"
    "15: message must be a JSON object")
  list(GET numbers_reasons ${i} got)
  string(FIND "${got}" "${reason}" at)
  if(NOT at EQUAL 0)
    message(SEND_ERROR "report ${i}: expected to start with [${reason}], got [${got}]")
  endif()
  math(EXPR i "${i} + 1")
endforeach()

# The good lines alone give the same state.
file(READ "${input}" text)
string(REGEX REPLACE "\n$" "" text "${text}")
string(REPLACE "\n" ";" lines "${text}")
set(good "")
set(n 0)
foreach(line IN LISTS lines)
  math(EXPR n "${n} + 1")
  if(NOT n IN_LIST numbers AND NOT line STREQUAL "")
    string(APPEND good "${line}\n")
  endif()
endforeach()
file(WRITE "${WORK}/good.jsonl" "${good}")
replay(good ARGS --online-out "${WORK}/good-online.txt" "${WORK}/good.jsonl")
expect_eq("${good_rc}" "0" "exit status, good lines only")
expect_eq("${good_err}" "" "standard error, good lines only")
expect_summary("${good_out}" events 6 applied 5 duplicates 1 rejected 0 online 3)
read_text("${WORK}/online.txt" with_bad)
expect_file_text("${WORK}/good-online.txt" "${with_bad}" "online set of the good lines alone")

# --quiet: nothing on standard error, the same counts.
replay(quiet ARGS --quiet "${input}")
expect_eq("${quiet_rc}" "0" "exit status with --quiet")
expect_eq("${quiet_err}" "" "standard error with --quiet")
expect_summary("${quiet_out}" events 14 rejected 8 online 3)
