# The rule switches on the command line. options.jsonl holds three clients:
#   omega: connect, then only a disconnect (no tcpclean yet)
#   sigma: connect s1, 100 s later connect s2 (s1's close lost), then s2's tcpclean
#   tau:   connect t1, tcpclean t1; 600 s later connect t2; t1's connect redelivered; tcpclean t2
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(input "${HERE}/options.jsonl")

# check(<what> <online list> <option>...): the summary must hold the pairs in EXPECT.
function(check what online_list)
  replay(run ARGS ${ARGN} --online-out "${WORK}/online.txt" "${input}")
  expect_eq("${run_rc}" "0" "exit status, ${what}")
  expect_eq("${run_err}" "" "standard error, ${what}")
  expect_summary("${run_out}" ${EXPECT})
  expect_file_text("${WORK}/online.txt" "${online_list}" "online set, ${what}")
endfunction()

# Defaults: a disconnect does not close (omega online); s2 takes s1 over (100 s > 60 s), so
# s2's tcpclean takes sigma offline; t1's redelivered connect is a duplicate of its tombstone.
set(EXPECT events 10 applied 9 duplicates 1 behind_watermark 0 went_online 4 went_offline 3 online 1)
check("defaults" "GID_demo@@@omega\n")

set(EXPECT events 10 applied 9 duplicates 1 went_online 4 went_offline 4 online 0)
check("--close-on-disconnect" "" --close-on-disconnect)

# Without takeover, or with s2 within the tolerance (not "more than" it), s1 stays open.
set(EXPECT events 10 applied 9 duplicates 1 went_online 4 went_offline 2 online 2)
check("--no-takeover" "GID_demo@@@omega\nGID_demo@@@sigma\n" --no-takeover)
check("--takeover-tolerance-ms 100000" "GID_demo@@@omega\nGID_demo@@@sigma\n" --takeover-tolerance-ms 100000)
set(EXPECT events 10 applied 9 duplicates 1 went_online 4 went_offline 3 online 1)
check("--takeover-tolerance-ms=99999" "GID_demo@@@omega\n" --takeover-tolerance-ms=99999)

# A 60 s retention drops t1's tombstone when t2 connects 600 s later; the watermark left in its
# place still keeps the redelivered connect closed (behind_watermark instead of duplicate).
set(EXPECT events 10 applied 10 duplicates 0 behind_watermark 1 went_online 4 went_offline 3 online 1)
check("--retention-ms 60000" "GID_demo@@@omega\n" --retention-ms 60000)
