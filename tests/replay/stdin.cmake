# Standard input, as "-" or as no FILE at all, gives what the file gives; reports name it <stdin>.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(sample "${EXAMPLES}/sample.jsonl")
replay(file ARGS --online-out "${WORK}/file.txt" "${sample}")
expect_eq("${file_rc}" "0" "exit status, file")
expect_summary("${file_out}" events 17 online 3)
summary_counts("${file_out}" file_counts)
read_text("${WORK}/file.txt" file_online)

replay(dash INPUT "${sample}" ARGS --online-out "${WORK}/dash.txt" -)
expect_eq("${dash_rc}" "0" "exit status, -")
expect_summary("${dash_out}")
summary_counts("${dash_out}" dash_counts)
expect_eq("${dash_counts}" "${file_counts}" "counts, - vs file")
expect_file_text("${WORK}/dash.txt" "${file_online}" "online set, - vs file")

replay(none INPUT "${sample}" ARGS --online-out "${WORK}/none.txt")
expect_eq("${none_rc}" "0" "exit status, no FILE")
expect_summary("${none_out}")
summary_counts("${none_out}" none_counts)
expect_eq("${none_counts}" "${file_counts}" "counts, no FILE vs file")
expect_file_text("${WORK}/none.txt" "${file_online}" "online set, no FILE vs file")

replay(bad INPUT "${HERE}/malformed.jsonl")
expect_eq("${bad_rc}" "0" "exit status, malformed on standard input")
expect_summary("${bad_out}" events 14 rejected 8)
reported_lines("${bad_err}" "<stdin>" numbers)
expect_eq("${numbers}" "2;5;6;7;9;10;13;15" "lines reported for <stdin>")
