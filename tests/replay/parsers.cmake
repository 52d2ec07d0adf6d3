# --parser simdjson and --parser nlohmann accept the same lines and report the same errors, so a
# replay gives the same summary (all but the timings and "parser"), the same reports on standard
# error and the same --online-out file with either; simdjson is the default when the tool was
# built with it. Naming a parser the tool was built without is a command-line error (exit 2).
#
# Also given: -DGEN=<mqtt_presence_gen_history> and -DHAVE_SIMDJSON=ON|OFF (whether the tool was
# built with simdjson). The generated stream's seed is $ENV{MQTT_PRESENCE_SEED}, else a fixed one.
# parsers.jsonl: good lines that take unusual paths (a byte order mark, escapes, a quoted time, an
# unknown nested field, a huge number, spaces) and bad lines of every kind, each reported.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

foreach(_var GEN HAVE_SIMDJSON)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "replay test: -D${_var}=... is required")
  endif()
endforeach()
set(sample "${EXAMPLES}/sample.jsonl")

# The summary's "parser".
function(parser_of out outvar)
  string(REGEX REPLACE "\n$" "" json "${out}")
  string(JSON value ERROR_VARIABLE error GET "${json}" parser)
  set(${outvar} "${value}" PARENT_SCOPE)
endfunction()

# --- the command line ----------------------------------------------------------------------
replay(bogus ARGS --parser rapidjson "${sample}")
expect_eq("${bogus_rc}" "2" "exit status, --parser rapidjson")
expect_eq("${bogus_out}" "" "standard output, --parser rapidjson")
expect_contains("${bogus_err}" "option --parser needs simdjson or nlohmann, got \"rapidjson\"" "unknown parser named")
expect_contains("${bogus_err}" "usage: mqtt_presence_replay" "usage, --parser rapidjson")
replay(bare ARGS "${sample}" --parser)
expect_eq("${bare_rc}" "2" "exit status, --parser without a value")
replay(help ARGS --help)
expect_contains("${help_out}" "--parser NAME" "usage lists --parser")

replay(default ARGS "${sample}")
expect_eq("${default_rc}" "0" "exit status, default parser")
parser_of("${default_out}" default_parser)
replay(named ARGS --parser=nlohmann "${sample}")
expect_eq("${named_rc}" "0" "exit status, --parser=nlohmann")
parser_of("${named_out}" named_parser)
expect_eq("${named_parser}" "nlohmann" "summary \"parser\", --parser=nlohmann")

if(NOT HAVE_SIMDJSON)
  expect_eq("${default_parser}" "nlohmann" "summary \"parser\", default, built without simdjson")
  replay(missing ARGS --parser simdjson "${sample}")
  expect_eq("${missing_rc}" "2" "exit status, --parser simdjson, built without simdjson")
  expect_eq("${missing_out}" "" "standard output, --parser simdjson, built without simdjson")
  expect_contains("${missing_err}" "simdjson was not built into this mqtt_presence_replay"
    "--parser simdjson, built without simdjson")
  return()
endif()
expect_eq("${default_parser}" "simdjson" "summary \"parser\", default")

# --- the same replay with either parser --------------------------------------------------------
# compare(<name> <arg>...): replays with each parser; the exit status, the summary's counts, the
# reports and the online list must be the same. Sets <name>_out and <name>_err (simdjson's).
function(compare name)
  foreach(parser nlohmann simdjson)
    replay(run ARGS --parser ${parser} --online-out "${WORK}/${name}-${parser}.txt" ${ARGN})
    expect_summary("${run_out}")
    parser_of("${run_out}" used)
    expect_eq("${used}" "${parser}" "summary \"parser\", ${name}")
    summary_counts("${run_out}" counts_${parser})
    set(rc_${parser} "${run_rc}")
    set(err_${parser} "${run_err}")
  endforeach()
  expect_eq("${rc_simdjson}" "${rc_nlohmann}" "${name}: exit status, simdjson against nlohmann")
  expect_eq("${counts_simdjson}" "${counts_nlohmann}" "${name}: summary, simdjson against nlohmann")
  expect_eq("${err_simdjson}" "${err_nlohmann}" "${name}: standard error, simdjson against nlohmann")
  read_text("${WORK}/${name}-nlohmann.txt" online_nlohmann)
  expect_file_text("${WORK}/${name}-simdjson.txt" "${online_nlohmann}" "${name}: --online-out, simdjson against nlohmann")
  set(${name}_out "${run_out}" PARENT_SCOPE)
  set(${name}_err "${run_err}" PARENT_SCOPE)
endfunction()

compare(sample "${sample}")
expect_summary("${sample_out}" events 17 applied 15 duplicates 2 rejected 0 online 3)
expect_same_file("${WORK}/sample-simdjson.txt" "${EXAMPLES}/sample.online.txt" "online set of the sample, simdjson")

compare(malformed "${HERE}/malformed.jsonl")
expect_summary("${malformed_out}" events 14 rejected 8 online 3)

compare(assorted "${HERE}/parsers.jsonl")
expect_summary("${assorted_out}" events 26 applied 6 rejected 20 online 4)
reported_lines("${assorted_err}" "${HERE}/parsers.jsonl" numbers)
expect_eq("${numbers}" "6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23;24;25" "assorted: lines reported")

# A generated stream: the true online set, either way, also over several threads (each worker
# with its own parser) and from standard input.
generate_stream()
compare(generated "${events}")
expect_summary("${generated_out}" events ${generated_lines} rejected 0)
expect_same_file("${WORK}/generated-simdjson.txt" "${WORK}/generated.truth.txt" "generated: online set (seed ${seed})")

replay(threads INPUT "${events}" ARGS --parser simdjson --threads 2 --online-out "${WORK}/threads.txt")
expect_eq("${threads_rc}" "0" "exit status, --parser simdjson --threads 2")
expect_summary("${threads_out}" events ${generated_lines} rejected 0)
expect_same_file("${WORK}/threads.txt" "${WORK}/generated.truth.txt" "online set, --parser simdjson --threads 2 (seed ${seed})")
replay(threads ARGS --parser simdjson --threads 2 "${HERE}/parsers.jsonl")
expect_summary("${threads_out}" events 26 rejected 20 online 4)
reported_lines("${threads_err}" "${HERE}/parsers.jsonl" numbers)
list(SORT numbers COMPARE NATURAL)
expect_eq("${numbers}" "6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23;24;25" "assorted, --threads 2: lines reported")
