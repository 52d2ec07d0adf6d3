# Exit statuses: 1 for a file that cannot be opened or written, 2 for a bad command line,
# 0 for --help (usage on standard output).
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(sample "${EXAMPLES}/sample.jsonl")

# A missing file stops the run: nothing after it is read and no summary is printed.
replay(missing ARGS "${sample}" "${WORK}/no-such-file.jsonl" "${sample}")
expect_eq("${missing_rc}" "1" "exit status, missing file")
expect_eq("${missing_out}" "" "standard output, missing file")
expect_contains("${missing_err}" "mqtt_presence_replay: cannot open ${WORK}/no-such-file.jsonl"
  "error naming the missing file")

foreach(case "--bogus" "-x" "--online-out" "--retention-ms" "--takeover-tolerance-ms=12s"
             "--retention-ms=")
  replay(bad ARGS ${sample} ${case})
  expect_eq("${bad_rc}" "2" "exit status for ${case}")
  expect_eq("${bad_out}" "" "standard output for ${case}")
  expect_contains("${bad_err}" "usage: mqtt_presence_replay" "usage on standard error for ${case}")
endforeach()
replay(bad ARGS --bogus "${sample}")
expect_contains("${bad_err}" "mqtt_presence_replay: unknown option --bogus" "unknown option named")
replay(bad ARGS "${sample}" --online-out)
expect_contains("${bad_err}" "--online-out needs an argument" "missing argument named")

# Values the store refuses: its own message, exit 2.
replay(bad ARGS --retention-ms -1 "${sample}")
expect_eq("${bad_rc}" "2" "exit status, negative retention")
expect_eq("${bad_out}" "" "standard output, negative retention")
expect_contains("${bad_err}" "tombstone_retention_ms must be between 0 and ten years" "store's message")
replay(bad ARGS --takeover-tolerance-ms -5 "${sample}")
expect_eq("${bad_rc}" "2" "exit status, negative tolerance")
expect_contains("${bad_err}" "takeover_tolerance_ms must be between 0 and ten years" "store's message")

foreach(help -h --help)
  replay(help ARGS ${help} --bogus)
  expect_eq("${help_rc}" "0" "exit status for ${help}")
  expect_eq("${help_err}" "" "standard error for ${help}")
  expect_contains("${help_out}" "usage: mqtt_presence_replay" "usage on standard output for ${help}")
  expect_contains("${help_out}" "--online-out FILE" "usage lists --online-out")
endforeach()

# --online-out into a directory that does not exist: the replay is done and summarised, but
# the list could not be written.
replay(unwritable ARGS --online-out "${WORK}/no-such-dir/online.txt" "${sample}")
expect_eq("${unwritable_rc}" "1" "exit status, unwritable --online-out")
expect_contains("${unwritable_err}" "cannot write ${WORK}/no-such-dir/online.txt" "error naming the file")
expect_summary("${unwritable_out}" events 17 online 3)

# "--" ends the options: a file named like one.
file(WRITE "${WORK}/--quiet" "")
replay(dashdash ARGS -- "${WORK}/--quiet")
expect_eq("${dashdash_rc}" "0" "exit status, file after --")
expect_summary("${dashdash_out}" events 0 clients 0)
