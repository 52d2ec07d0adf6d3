# A line longer than 1 MiB is rejected without stopping the replay; standard error stays bounded
# (100 reports, then one note) while every bad line is still counted.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(good1 "{\"clientId\":\"GID_demo@@@long1\",\"time\":1764000500000,\"eventType\":\"connect\",\"channelId\":\"0000000000000000000000000000c001\"}")
set(good2 "{\"clientId\":\"GID_demo@@@long2\",\"time\":1764000500000,\"eventType\":\"connect\",\"channelId\":\"0000000000000000000000000000c002\"}")
string(REPEAT "x" 1048576 mib)
string(REPEAT "x" 100000 long_id)
# Line 2: 3 MiB in a JSON string. Line 3: exactly 1 MiB + CRLF (short enough: bad JSON).
# Line 4: 1 MiB + 1 byte. Line 5: bad JSON whose error would quote 100 kB. Line 6: good.
# Line 7: 2 MiB and no newline at all.
file(WRITE "${WORK}/long.jsonl"
  "${good1}\n{\"pad\":\"${mib}${mib}${mib}\"}\n${mib}\r\n${mib}y\n{\"clientId\":\"${long_id}\n${good2}\n${mib}${mib}")
replay(run ARGS --online-out "${WORK}/online.txt" "${WORK}/long.jsonl")
expect_eq("${run_rc}" "0" "exit status")
expect_summary("${run_out}" events 7 applied 2 rejected 5 clients 2 online 2)
expect_file_text("${WORK}/online.txt" "GID_demo@@@long1\nGID_demo@@@long2\n" "online set")
reported_lines("${run_err}" "${WORK}/long.jsonl" numbers)
expect_eq("${numbers}" "2;3;4;5;7" "lines reported")
foreach(report IN LISTS numbers_reasons)
  if(report MATCHES "^[247]: " AND NOT report MATCHES "^[247]: line longer than 1 MiB$")
    message(SEND_ERROR "expected a too-long report, got [${report}]")
  elseif(report MATCHES "^[35]: " AND NOT report MATCHES "^[35]: malformed JSON")
    message(SEND_ERROR "expected a JSON syntax report, got [${report}]")
  endif()
endforeach()
string(LENGTH "${run_err}" err_length)
if(err_length GREATER 2000)
  message(SEND_ERROR "standard error holds ${err_length} bytes for 5 reports: a report echoes the line")
endif()

# 150 bad lines: 100 reports, one note for the other 50, all 150 counted.
string(REPEAT "{}\n" 150 bad)
file(WRITE "${WORK}/bad.jsonl" "${bad}${good1}\n")
replay(many ARGS "${WORK}/bad.jsonl")
expect_eq("${many_rc}" "0" "exit status, many bad lines")
expect_summary("${many_out}" events 151 applied 1 rejected 150 online 1)
reported_lines("${many_err}" "${WORK}/bad.jsonl" numbers)
list(LENGTH numbers reported)
expect_eq("${reported}" "100" "reports printed")
list(GET numbers -1 last)
expect_eq("${last}" "100" "last line reported")
split_lines("${many_err}" all)
list(LENGTH all count)
expect_eq("${count}" "101" "lines on standard error")
expect_contains("${many_err}" "50 more bad lines not reported" "note of the suppressed reports")
