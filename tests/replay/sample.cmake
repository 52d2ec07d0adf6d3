# The shipped sample replays to the online set worked out by hand (examples/data/sample.online.txt)
# with the counts below, also worked out by hand from the rules in README.md.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

replay(run ARGS --online-out "${WORK}/online.txt" "${EXAMPLES}/sample.jsonl")
expect_eq("${run_rc}" "0" "exit status")
expect_eq("${run_err}" "" "standard error")
expect_summary("${run_out}"
  events 17 applied 15 duplicates 2 refused 0 rejected 0
  superseded 0 behind_watermark 0 stale 0
  went_online 6 went_offline 3 clients 7 online 3)
expect_same_file("${WORK}/online.txt" "${EXAMPLES}/sample.online.txt" "online set of the sample")
