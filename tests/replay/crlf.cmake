# CRLF line ends (and whitespace-only lines, and a last line without a newline) read as LF.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

file(READ "${EXAMPLES}/sample.jsonl" sample)
string(REPLACE "\r\n" "\n" sample "${sample}")
string(REPLACE "\n" "\r\n" crlf "${sample}")
file(WRITE "${WORK}/sample-crlf.jsonl" "${crlf}")
replay(run ARGS --online-out "${WORK}/online.txt" "${WORK}/sample-crlf.jsonl")
expect_eq("${run_rc}" "0" "exit status")
expect_eq("${run_err}" "" "standard error")
expect_summary("${run_out}"
  events 17 applied 15 duplicates 2 rejected 0 went_online 6 went_offline 3 clients 7 online 3)
expect_same_file("${WORK}/online.txt" "${EXAMPLES}/sample.online.txt" "online set, CRLF")

# Whitespace-only lines are neither events nor errors but keep their numbers; no final newline.
string(REGEX REPLACE "\r\n$" "" crlf "${crlf}")
file(WRITE "${WORK}/spaced.jsonl" " \t \r\n\r\n${crlf}\r\n   \r\n\r\nnot json\r\n${crlf}")
replay(spaced ARGS --online-out "${WORK}/spaced.txt" "${WORK}/spaced.jsonl")
expect_eq("${spaced_rc}" "0" "exit status, spaced")
expect_summary("${spaced_out}" events 35 applied 15 duplicates 19 rejected 1 online 3)
reported_lines("${spaced_err}" "${WORK}/spaced.jsonl" numbers)
# 2 blank, 17 events, 2 blank: the bad line is line 22.
expect_eq("${numbers}" "22" "line reported, CRLF")
expect_same_file("${WORK}/spaced.txt" "${EXAMPLES}/sample.online.txt" "online set, spaced")

# Line numbers of bad lines are the same with CRLF.
file(READ "${HERE}/malformed.jsonl" malformed)
string(REPLACE "\r\n" "\n" malformed "${malformed}")
string(REPLACE "\n" "\r\n" malformed "${malformed}")
file(WRITE "${WORK}/malformed-crlf.jsonl" "${malformed}")
replay(bad ARGS "${WORK}/malformed-crlf.jsonl")
expect_summary("${bad_out}" events 14 applied 5 duplicates 1 rejected 8 online 3)
reported_lines("${bad_err}" "${WORK}/malformed-crlf.jsonl" numbers)
expect_eq("${numbers}" "2;5;6;7;9;10;13;15" "lines reported, CRLF")
