# --snapshot-out and --snapshot-in: a stream replayed in two parts, the state carried from the
# first run to the second in a snapshot, ends exactly as the stream replayed at once, with one
# thread or several; a damaged, truncated, foreign or missing snapshot is refused before
# anything is replayed, with a message naming the file and the problem and exit status 1.
#
# Also given: -DGEN=<mqtt_presence_gen_history>, -DDAMAGE=<mqtt_presence_damage_file>. The
# generated stream's seed is $ENV{MQTT_PRESENCE_SEED}, else a fixed one; failures name it.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

foreach(_var GEN DAMAGE)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "replay test: -D${_var}=... is required")
  endif()
endforeach()
generate_stream()

# The stream's two halves, cut at a line end near its middle.
file(READ "${events}" text)
string(LENGTH "${text}" length)
math(EXPR middle "${length} / 2")
string(SUBSTRING "${text}" ${middle} -1 tail)
string(FIND "${tail}" "\n" newline)
math(EXPR cut "${middle} + ${newline} + 1")
string(SUBSTRING "${text}" 0 ${cut} first_half)
string(SUBSTRING "${text}" ${cut} -1 second_half)
file(WRITE "${WORK}/first.jsonl" "${first_half}")
file(WRITE "${WORK}/second.jsonl" "${second_half}")

replay(whole ARGS --online-out "${WORK}/whole.txt" "${events}")
expect_eq("${whole_rc}" "0" "exit status, the whole stream (seed ${seed})")
expect_summary("${whole_out}" events ${generated_lines} online ${generated_online})
expect_same_file("${WORK}/whole.txt" "${WORK}/generated.truth.txt" "online list, the whole stream (seed ${seed})")
set(whole_clients "${summary_clients}")

foreach(threads 1 3)
  set(snap "${WORK}/first-${threads}.snap")
  replay(first ARGS --threads ${threads} --snapshot-out "${snap}" "${WORK}/first.jsonl")
  expect_eq("${first_rc}" "0" "exit status, first half, --threads ${threads} (seed ${seed})")
  expect_eq("${first_err}" "" "standard error, first half, --threads ${threads}")
  expect_summary("${first_out}")
  set(first_events "${summary_events}")
  if(NOT EXISTS "${snap}")
    message(SEND_ERROR "--snapshot-out did not write ${snap}")
  endif()
  file(GLOB leftovers "${WORK}/*.tmp.*")
  expect_eq("${leftovers}" "" "temporary files left by --snapshot-out")

  replay(second ARGS --threads ${threads} --snapshot-in "${snap}" --online-out "${WORK}/resumed-${threads}.txt"
    "${WORK}/second.jsonl")
  expect_eq("${second_rc}" "0" "exit status, second half from the snapshot, --threads ${threads} (seed ${seed})")
  expect_eq("${second_err}" "" "standard error, second half, --threads ${threads}")
  math(EXPR second_events "${generated_lines} - ${first_events}")
  expect_summary("${second_out}" events ${second_events} clients ${whole_clients} online ${generated_online})
  expect_same_file("${WORK}/resumed-${threads}.txt" "${WORK}/whole.txt"
    "online list, two parts through a snapshot, --threads ${threads} (seed ${seed})")
endforeach()

# A snapshot of the whole state, loaded with nothing to replay, is that state.
replay(all ARGS --snapshot-out "${WORK}/all.snap" "${events}")
expect_eq("${all_rc}" "0" "exit status, --snapshot-out of the whole stream")
replay(just_load ARGS --snapshot-in "${WORK}/all.snap" --online-out "${WORK}/just-load.txt" "${WORK}/empty-stdin")
expect_eq("${just_load_rc}" "0" "exit status, --snapshot-in alone")
expect_summary("${just_load_out}" events 0 clients ${whole_clients} online ${generated_online})
expect_same_file("${WORK}/just-load.txt" "${WORK}/whole.txt" "online list, --snapshot-in alone")

# Damaged snapshots: refused before anything is replayed, no summary, exit status 1.
# damaged(<name> <damage args> <expected message>)
function(damaged name expected)
  set(copy "${WORK}/${name}.snap")
  file(COPY_FILE "${WORK}/first-1.snap" "${copy}")
  if(ARGN)
    execute_process(COMMAND "${DAMAGE}" "${copy}" ${ARGN} RESULT_VARIABLE rc ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "damaging ${copy} failed: ${err}")
    endif()
  endif()
  replay(run ARGS --snapshot-in "${copy}" --online-out "${WORK}/${name}.txt" "${WORK}/second.jsonl")
  expect_eq("${run_rc}" "1" "exit status, ${name} snapshot")
  expect_eq("${run_out}" "" "standard output (no summary), ${name} snapshot")
  expect_contains("${run_err}" "mqtt_presence_replay: ${copy}: snapshot: ${expected}" "message, ${name} snapshot")
  if(EXISTS "${WORK}/${name}.txt")
    message(SEND_ERROR "${name} snapshot: --online-out was written although nothing was replayed")
  endif()
endfunction()
damaged(flipped "checksum mismatch in record" flip -200)
damaged(truncated "truncated in record" truncate -200)
damaged(cut_at_end "truncated in the end marker" truncate -1)
damaged(header "checksum mismatch in the header" flip 30)
damaged(magic "not an mqtt_presence snapshot (wrong magic number)" flip 0)
damaged(version "unsupported version 254 (this library reads version 1)" flip 8)
damaged(empty "the input is empty" truncate 0)
file(COPY_FILE "${WORK}/first.jsonl" "${WORK}/jsonl.snap")
replay(foreign ARGS --snapshot-in "${WORK}/jsonl.snap" "${WORK}/second.jsonl")
expect_eq("${foreign_rc}" "1" "exit status, a JSON Lines file as snapshot")
expect_contains("${foreign_err}" "snapshot: not an mqtt_presence snapshot (wrong magic number)" "message, JSON Lines as snapshot")
replay(missing ARGS --snapshot-in "${WORK}/no-such.snap" "${WORK}/second.jsonl")
expect_eq("${missing_rc}" "1" "exit status, a missing snapshot")
expect_contains("${missing_err}" "snapshot: cannot open ${WORK}/no-such.snap" "message, a missing snapshot")
replay(threads_damaged ARGS --threads 2 --snapshot-in "${WORK}/flipped.snap" "${WORK}/second.jsonl")
expect_eq("${threads_damaged_rc}" "1" "exit status, damaged snapshot, --threads 2")
expect_eq("${threads_damaged_out}" "" "standard output, damaged snapshot, --threads 2")

# --snapshot-out that cannot be written: the replay is done and summarised, exit status 1, and
# the error names the file.
replay(unwritable ARGS --snapshot-out "${WORK}/no-such-dir/out.snap" "${EXAMPLES}/sample.jsonl")
expect_eq("${unwritable_rc}" "1" "exit status, unwritable --snapshot-out")
expect_summary("${unwritable_out}" events 17 online 3)
expect_contains("${unwritable_err}" "mqtt_presence_replay: ${WORK}/no-such-dir/out.snap: snapshot: cannot create"
  "message, unwritable --snapshot-out")

# The command line.
foreach(option --snapshot-in --snapshot-out)
  replay(bad ARGS "${EXAMPLES}/sample.jsonl" ${option})
  expect_eq("${bad_rc}" "2" "exit status, ${option} without a file")
  expect_contains("${bad_err}" "option ${option} needs an argument" "message, ${option} without a file")
  replay(bad ARGS "${option}=" "${EXAMPLES}/sample.jsonl")
  expect_eq("${bad_rc}" "2" "exit status, ${option}= (empty)")
  expect_contains("${bad_err}" "option ${option} needs a file name" "message, ${option}=")
endforeach()
replay(help ARGS --help)
expect_contains("${help_out}" "--snapshot-in FILE" "usage lists --snapshot-in")
expect_contains("${help_out}" "--snapshot-out FILE" "usage lists --snapshot-out")
