# Several files are replayed in the order given, into one state; line numbers restart in each
# file and reports name it. The order shows in the transitions: kappa's connect (files_a) then
# its tcpclean (files_b) make an online and an offline edge; the other way round the connect
# arrives closed and there is no edge at all (rule 3). The final state is the same.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(a "${HERE}/files_a.jsonl")
set(b "${HERE}/files_b.jsonl")

# The reports of one run, as "<file>:<line>" in the order printed.
function(report_order err outvar)
  split_lines("${err}" lines)
  set(order "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^mqtt_presence_replay: (.*/)?([^/:]+):([0-9]+): ")
      list(APPEND order "${CMAKE_MATCH_2}:${CMAKE_MATCH_3}")
    else()
      list(APPEND order "unexpected: ${line}")
    endif()
  endforeach()
  set(${outvar} "${order}" PARENT_SCOPE)
endfunction()

replay(ab ARGS --online-out "${WORK}/ab.txt" "${a}" "${b}")
expect_eq("${ab_rc}" "0" "exit status, a b")
expect_summary("${ab_out}"
  events 5 applied 3 duplicates 0 rejected 2 went_online 2 went_offline 1 clients 2 online 1)
expect_file_text("${WORK}/ab.txt" "GID_demo@@@lambda\n" "online set, a b")
report_order("${ab_err}" order)
expect_eq("${order}" "files_a.jsonl:2;files_b.jsonl:1" "reports, a b")

replay(ba ARGS --online-out "${WORK}/ba.txt" "${b}" "${a}")
expect_eq("${ba_rc}" "0" "exit status, b a")
expect_summary("${ba_out}"
  events 5 applied 3 duplicates 0 rejected 2 went_online 1 went_offline 0 clients 2 online 1)
expect_file_text("${WORK}/ba.txt" "GID_demo@@@lambda\n" "online set, b a")
report_order("${ba_err}" order)
expect_eq("${order}" "files_b.jsonl:1;files_a.jsonl:2" "reports, b a")

# A file, then standard input.
replay(a_stdin INPUT "${b}" ARGS "${a}" -)
expect_eq("${a_stdin_rc}" "0" "exit status, a -")
expect_summary("${a_stdin_out}" events 5 rejected 2 went_online 2 went_offline 1 online 1)
report_order("${a_stdin_err}" order)
expect_eq("${order}" "files_a.jsonl:2;<stdin>:1" "reports, a -")

# The same dump twice: the second copy is all duplicates and changes nothing.
replay(twice ARGS --online-out "${WORK}/twice.txt" "${EXAMPLES}/sample.jsonl" "${EXAMPLES}/sample.jsonl")
expect_eq("${twice_rc}" "0" "exit status, sample twice")
expect_summary("${twice_out}"
  events 34 applied 15 duplicates 19 rejected 0 went_online 6 went_offline 3 clients 7 online 3)
expect_same_file("${WORK}/twice.txt" "${EXAMPLES}/sample.online.txt" "online set, sample twice")
