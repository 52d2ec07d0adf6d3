# --online-out lists the online ids in byte order (upper case before lower case, "dev1" before
# "dev10" before "dev1_x", UTF-8 after ASCII), one per line, newline-terminated.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

replay(run ARGS "${HERE}/sorted.jsonl" --online-out "${WORK}/online.txt")
expect_eq("${run_rc}" "0" "exit status")
expect_summary("${run_out}" events 10 applied 10 went_online 9 went_offline 1 clients 9 online 8)
expect_same_file("${WORK}/online.txt" "${HERE}/sorted.online.txt" "sorted online set")

# No one online: an empty file, not a missing one.
file(WRITE "${WORK}/nobody.jsonl"
  "{\"clientId\":\"GID_demo@@@x\",\"time\":1764000400000,\"eventType\":\"tcpclean\",\"channelId\":\"00000000000000000000000000000b01\"}\n")
replay(nobody ARGS --online-out "${WORK}/nobody.txt" "${WORK}/nobody.jsonl")
expect_eq("${nobody_rc}" "0" "exit status, nobody online")
expect_summary("${nobody_out}" events 1 applied 1 clients 1 online 0)
expect_file_text("${WORK}/nobody.txt" "" "online set, nobody online")
