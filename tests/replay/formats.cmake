# --format alibaba|aws-iot|emqx|azure-eg-mqtt: the input is read by that broker's adapter
# (alibaba, the default, by parse_alibaba_event or the simdjson parser; the others by their
# nlohmann adapter), and everything after it is the same for every format: the summary (with
# "format"), --online-out, --threads, --snapshot-out/--snapshot-in, --group-counts, --quiet, and
# the reports of bad lines with their line numbers. --parser simdjson reads only the Alibaba
# format: with another, it is a command-line error (exit 2), as is an unknown format.
#
# format_<format>.jsonl: one vendor's lifecycle messages for a few clients, delivered out of
# order, with a redelivered copy and one malformed line. A client is online iff one of its
# connections (AWS IoT: versionNumber; EMQX: connected_at; Azure Event Grid: sequenceNumber) has
# its connect and not its close; format_<format>.online.txt is the expected online list, and the
# counts below are worked out by hand from the rules (README.md, "The rules"):
#
# format_aws_iot.jsonl (times in s after 1573002230.757):
#   1 c1 connected v0 @0    applied, c1 went online
#   2 c2 disconnected v0 @5 applied: its close is remembered (rule 3)
#   3 c3 connected v0 @2    applied, c3 went online
#   4 c1 connected v1 @30   applied (c1 still online; 30 s is within the takeover tolerance)
#   5 malformed             rejected
#   6 c2 connected v0 @1    applied, arrives closed: c2 never online
#   7 = line 3              duplicate
#   8 c4 connected v0 @3    applied, c4 went online
#   9 c1 disconnected v0 @20 applied (c1 still online through v1)
#  10 c4 disconnected v0 @9 applied, c4 went offline
#   → online c1, c3: events 10, applied 8, duplicates 1, rejected 1, went_online 3,
#     went_offline 1, clients 4, online 2.
# format_emqx.jsonl (connected_at / disconnected_at in s after 1645003578): the same story,
#   the malformed line being line 8 (c1 connected @0; c2 disconnected (connected_at 1) @5; c3
#   connected @2; c1 connected @30; c3's copy; c4 connected @3; c1 disconnected (connected_at 0)
#   @20; malformed; c2 connected @1; c4 disconnected @9) → online c1, c3, the same counts.
# format_azure_eg_mqtt.jsonl (sessions s1..s4 of authentication names dev1..dev4; times in s
# after 2024-01-01T00:00:00Z):
#   1 s1 Connected seq 1 @0      applied, s1 went online
#   2 s1 Disconnected seq 1 @10  applied, s1 went offline
#   3 s2 Connected seq 1 @1      applied, s2 went online
#   4 s1 Connected seq 2 @20     applied, s1 went online
#   5 s3 Disconnected seq 1 @8   applied: its close is remembered (rule 3)
#   6 malformed                  rejected
#   7 = line 3                   duplicate
#   8 s3 Connected seq 1 @3      applied, arrives closed: s3 never online
#   9 s4 Connected seq 1 @4      applied, s4 went online
#  10 s2 Disconnected seq 1 @30  applied, s2 went offline
#   → online s1, s4: events 10, applied 8, duplicates 1, rejected 1, went_online 4,
#     went_offline 2, clients 4, online 2.
#
# Also given: -DHAVE_SIMDJSON=ON|OFF (whether the tool was built with --parser simdjson).
# With -DREDIS_PORT=<port> (replay.redis_formats, run under mqtt_presence_with_redis), only the
# --redis part at the end runs: each dump replayed into Redis, whole and in two parts by two
# processes one after the other, gives the same counts and online list as in this process.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

if(NOT DEFINED HAVE_SIMDJSON)
  message(FATAL_ERROR "replay test: -DHAVE_SIMDJSON=... is required")
endif()
set(sample "${EXAMPLES}/sample.jsonl")

# The counts worked out above, per format, and the line that is bad.
set(aws-iot_bad 5)
set(aws-iot_counts events 10 applied 8 duplicates 1 refused 0 rejected 1 superseded 0 behind_watermark 0 stale 0
    went_online 3 went_offline 1 clients 4 online 2)
set(emqx_bad 8)
set(emqx_counts events 10 applied 8 duplicates 1 refused 0 rejected 1 superseded 0 behind_watermark 0 stale 0
    went_online 3 went_offline 1 clients 4 online 2)
set(azure-eg-mqtt_bad 6)
set(azure-eg-mqtt_counts events 10 applied 8 duplicates 1 refused 0 rejected 1 superseded 0 behind_watermark 0
    stale 0 went_online 4 went_offline 2 clients 4 online 2)
set(formats aws-iot emqx azure-eg-mqtt)

if(DEFINED REDIS_PORT)
  # A password from the calling environment must not change what the test sees.
  unset(ENV{MQTT_PRESENCE_REDIS_PASSWORD})
  unset(ENV{MQTT_PRESENCE_REDIS_USER})
  foreach(format IN LISTS formats)
    string(REPLACE "-" "_" stem "${format}")
    set(input "${HERE}/format_${stem}.jsonl")
    set(expected_online "${HERE}/format_${stem}.online.txt")
    set(redis --redis "127.0.0.1:${REDIS_PORT}/formats-${stem}:")
    replay(whole ARGS --format ${format} ${redis} --redis-clear --online-out "${WORK}/${stem}-redis.txt" "${input}")
    expect_eq("${whole_rc}" "0" "${format} --redis: exit status (${whole_err})")
    expect_summary("${whole_out}" ${${format}_counts})
    expect_contains("${whole_out}" "\"format\":\"${format}\"" "${format} --redis: summary \"format\"")
    expect_same_file("${WORK}/${stem}-redis.txt" "${expected_online}" "${format} --redis: online set")
    reported_lines("${whole_err}" "${input}" numbers)
    expect_eq("${numbers}" "${${format}_bad}" "${format} --redis: lines reported")

    # In two parts, by two processes on a fresh prefix; then a run with no input lists everybody.
    file(STRINGS "${input}" lines)
    list(SUBLIST lines 0 5 first)
    list(SUBLIST lines 5 -1 second)
    list(JOIN first "\n" first)
    list(JOIN second "\n" second)
    file(WRITE "${WORK}/${stem}-part1.jsonl" "${first}\n")
    file(WRITE "${WORK}/${stem}-part2.jsonl" "${second}\n")
    set(redis --redis "127.0.0.1:${REDIS_PORT}/formats-${stem}-parts:")
    replay(part1 ARGS --format ${format} ${redis} --redis-clear --quiet "${WORK}/${stem}-part1.jsonl")
    expect_eq("${part1_rc}" "0" "${format} --redis, part 1: exit status (${part1_err})")
    replay(part2 ARGS --format ${format} ${redis} --quiet "${WORK}/${stem}-part2.jsonl")
    expect_eq("${part2_rc}" "0" "${format} --redis, part 2: exit status (${part2_err})")
    expect_summary("${part2_out}" clients 4 online 2)
    replay(after ARGS --format ${format} ${redis} --online-out "${WORK}/${stem}-parts.txt")
    expect_eq("${after_rc}" "0" "${format} --redis, no input: exit status (${after_err})")
    expect_summary("${after_out}" events 0 clients 4 online 2)
    expect_same_file("${WORK}/${stem}-parts.txt" "${expected_online}" "${format} --redis, in two parts: online set")
  endforeach()
  return()
endif()

# The summary's string value `key` ("" when missing).
function(summary_string out key outvar)
  string(REGEX REPLACE "\n$" "" json "${out}")
  string(JSON value ERROR_VARIABLE error GET "${json}" "${key}")
  if(error)
    set(value "")
  endif()
  set(${outvar} "${value}" PARENT_SCOPE)
endfunction()

# --- the command line ----------------------------------------------------------------------
replay(help ARGS --help)
expect_eq("${help_rc}" "0" "exit status, --help")
expect_contains("${help_out}" "--format NAME" "usage lists --format")
foreach(name alibaba aws-iot emqx azure-eg-mqtt)
  expect_contains("${help_out}" " ${name} " "usage names the format ${name}")
endforeach()

foreach(args "--format;nope" "--format=nope")
  replay(nope ARGS ${args} "${sample}")
  expect_eq("${nope_rc}" "2" "exit status, ${args}")
  expect_eq("${nope_out}" "" "standard output, ${args}")
  expect_contains("${nope_err}"
    "mqtt_presence_replay: option --format needs alibaba, aws-iot, emqx or azure-eg-mqtt, got \"nope\""
    "the formats listed, ${args}")
  expect_contains("${nope_err}" "usage: mqtt_presence_replay" "usage, ${args}")
endforeach()
replay(bare ARGS "${sample}" --format)
expect_eq("${bare_rc}" "2" "exit status, --format without a value")
expect_contains("${bare_err}" "option --format needs an argument" "--format without a value")
replay(empty ARGS --format= "${sample}")
expect_eq("${empty_rc}" "2" "exit status, --format=")
replay(upper ARGS --format AWS-IOT "${sample}")
expect_eq("${upper_rc}" "2" "exit status, --format AWS-IOT (names are case-sensitive)")

# --parser simdjson with another format, in either order: refused before anything is read.
foreach(args
    "--format;aws-iot;--parser;simdjson"
    "--parser;simdjson;--format;aws-iot"
    "--parser=simdjson;--format=emqx"
    "--format;azure-eg-mqtt;--parser=simdjson")
  replay(simd ARGS ${args} "${HERE}/format_aws_iot.jsonl")
  expect_eq("${simd_rc}" "2" "exit status, ${args}")
  expect_eq("${simd_out}" "" "standard output, ${args}")
  expect_contains("${simd_err}" "usage: mqtt_presence_replay" "usage, ${args}")
  if(HAVE_SIMDJSON)
    expect_contains("${simd_err}" "option --parser simdjson reads only --format alibaba" "message, ${args}")
  else()
    expect_contains("${simd_err}" "simdjson was not built into this mqtt_presence_replay" "message, ${args}")
  endif()
endforeach()

# The default format is alibaba; naming it changes nothing, with either parser.
replay(default ARGS "${sample}")
expect_eq("${default_rc}" "0" "exit status, the sample")
expect_summary("${default_out}" events 17 applied 15 duplicates 2 rejected 0 online 3)
summary_string("${default_out}" format format)
expect_eq("${format}" "alibaba" "summary \"format\", default")
summary_counts("${default_out}" default_counts)
set(alibaba_parsers nlohmann)
if(HAVE_SIMDJSON)
  list(APPEND alibaba_parsers simdjson)
endif()
foreach(parser ${alibaba_parsers})
  replay(alibaba ARGS --format alibaba --parser ${parser} --online-out "${WORK}/alibaba-${parser}.txt" "${sample}")
  expect_eq("${alibaba_rc}" "0" "exit status, --format alibaba --parser ${parser}")
  summary_counts("${alibaba_out}" counts)
  expect_eq("${counts}" "${default_counts}" "summary, --format alibaba --parser ${parser}")
  summary_string("${alibaba_out}" format format)
  expect_eq("${format}" "alibaba" "summary \"format\", --format alibaba --parser ${parser}")
  summary_string("${alibaba_out}" parser used)
  expect_eq("${used}" "${parser}" "summary \"parser\", --format alibaba --parser ${parser}")
  expect_same_file("${WORK}/alibaba-${parser}.txt" "${EXAMPLES}/sample.online.txt" "online set, --format alibaba --parser ${parser}")
endforeach()

# --- each vendor's dump --------------------------------------------------------------------
# check_format(<format> <bad line> <summary KEY VALUE pairs>...)
function(check_format format bad_line)
  string(REPLACE "-" "_" stem "${format}")
  set(input "${HERE}/format_${stem}.jsonl")
  set(expected_online "${HERE}/format_${stem}.online.txt")
  set(counts ${ARGN})

  # Its default parser, and the same named.
  foreach(parser_args "" "--parser;nlohmann" "--parser=nlohmann")
    replay(run ARGS --format ${format} ${parser_args} --online-out "${WORK}/${stem}.txt" "${input}")
    expect_eq("${run_rc}" "0" "${format} ${parser_args}: exit status")
    expect_summary("${run_out}" ${counts})
    summary_string("${run_out}" format got)
    expect_eq("${got}" "${format}" "${format} ${parser_args}: summary \"format\"")
    summary_string("${run_out}" parser got)
    expect_eq("${got}" "nlohmann" "${format} ${parser_args}: summary \"parser\"")
    expect_same_file("${WORK}/${stem}.txt" "${expected_online}" "${format} ${parser_args}: online set")
    reported_lines("${run_err}" "${input}" numbers)
    expect_eq("${numbers}" "${bad_line}" "${format} ${parser_args}: lines reported")
    split_lines("${run_err}" all)
    list(LENGTH all count)
    expect_eq("${count}" "1" "${format} ${parser_args}: number of lines on standard error")
    # Every adapter checks the syntax first (detail/json_syntax.hpp): the line is cut short.
    list(GET numbers_reasons 0 reason)
    if(NOT reason MATCHES "^${bad_line}: malformed JSON: unexpected end of input")
      message(SEND_ERROR "${format}: the report of line ${bad_line} is not of malformed JSON: [${run_err}]")
    endif()
  endforeach()
  summary_counts("${run_out}" one_thread)

  # The good lines alone give the same state, and no report.
  file(STRINGS "${input}" lines)
  math(EXPR bad_index "${bad_line} - 1")
  list(REMOVE_AT lines ${bad_index})
  list(JOIN lines "\n" good)
  file(WRITE "${WORK}/${stem}-good.jsonl" "${good}\n")
  replay(good ARGS --format ${format} --online-out "${WORK}/${stem}-good.txt" "${WORK}/${stem}-good.jsonl")
  expect_eq("${good_rc}" "0" "${format}, good lines only: exit status")
  expect_eq("${good_err}" "" "${format}, good lines only: standard error")
  expect_same_file("${WORK}/${stem}-good.txt" "${expected_online}" "${format}, good lines only: online set")

  # Several threads: the same final state; the bad line still reported with its number.
  replay(threads ARGS --format ${format} --threads 2 --online-out "${WORK}/${stem}-threads.txt" "${input}")
  expect_eq("${threads_rc}" "0" "${format} --threads 2: exit status")
  set(pairs ${counts})
  set(final "")
  while(pairs)
    list(POP_FRONT pairs key value)
    if(key MATCHES "^(events|rejected|clients|online)$")
      list(APPEND final ${key} ${value})
    endif()
  endwhile()
  expect_summary("${threads_out}" ${final})
  summary_string("${threads_out}" format got)
  expect_eq("${got}" "${format}" "${format} --threads 2: summary \"format\"")
  expect_same_file("${WORK}/${stem}-threads.txt" "${expected_online}" "${format} --threads 2: online set")
  reported_lines("${threads_err}" "${input}" numbers)
  expect_eq("${numbers}" "${bad_line}" "${format} --threads 2: lines reported")

  # Standard input, and --quiet.
  replay(stdin INPUT "${input}" ARGS --format=${format} --online-out "${WORK}/${stem}-stdin.txt")
  expect_eq("${stdin_rc}" "0" "${format} from standard input: exit status")
  summary_counts("${stdin_out}" got)
  expect_eq("${got}" "${one_thread}" "${format} from standard input: summary")
  expect_same_file("${WORK}/${stem}-stdin.txt" "${expected_online}" "${format} from standard input: online set")
  reported_lines("${stdin_err}" "<stdin>" numbers)
  expect_eq("${numbers}" "${bad_line}" "${format} from standard input: lines reported")
  replay(quiet ARGS --format ${format} --quiet "${input}")
  expect_eq("${quiet_err}" "" "${format} --quiet: standard error")
  summary_counts("${quiet_out}" got)
  expect_eq("${got}" "${one_thread}" "${format} --quiet: summary")

  # --group-counts: these ids have no Group ID, so every online client counts under "".
  replay(groups ARGS --format ${format} --group-counts "${input}")
  expect_contains("${groups_out}" "\"groups\":{\"\":2}," "${format} --group-counts")

  # --snapshot-out, then --snapshot-in with no input: the same state.
  replay(save ARGS --format ${format} --snapshot-out "${WORK}/${stem}.snap" "${input}")
  expect_eq("${save_rc}" "0" "${format} --snapshot-out: exit status")
  replay(load ARGS --format ${format} --snapshot-in "${WORK}/${stem}.snap" --online-out "${WORK}/${stem}-load.txt")
  expect_eq("${load_rc}" "0" "${format} --snapshot-in: exit status")
  expect_eq("${load_err}" "" "${format} --snapshot-in: standard error")
  expect_summary("${load_out}" events 0 clients 4 online 2)
  expect_same_file("${WORK}/${stem}-load.txt" "${expected_online}" "${format} --snapshot-in: online set")

  # Read as another format, every line is refused (and reported), and nothing is ingested.
  replay(wrong ARGS --quiet "${input}")
  expect_eq("${wrong_rc}" "0" "${format} dump read as alibaba: exit status")
  expect_summary("${wrong_out}" events 10 applied 0 rejected 10 clients 0 online 0)
endfunction()

foreach(format IN LISTS formats)
  check_format(${format} ${${format}_bad} ${${format}_counts})
endforeach()

# One vendor's dump read as another's: every line refused.
replay(crossed ARGS --format emqx --quiet "${HERE}/format_aws_iot.jsonl")
expect_eq("${crossed_rc}" "0" "an AWS IoT dump read as emqx: exit status")
expect_summary("${crossed_out}" events 10 applied 0 rejected 10 clients 0 online 0)
