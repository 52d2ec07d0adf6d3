#!/usr/bin/env bash
# Instructions per event of ingest and of each JSON parser, counted by callgrind (valgrind) in
# the benchmark build (see bench/bench_instructions.cpp for what each part runs). Deterministic:
# two versions of the code compare on a shared machine, where times swing by the hour.
#
#   bash bench/instructions.sh [BUILD_DIR] [CLIENTS]     # defaults: build-bench, 20000
#
# Needs valgrind and BUILD_DIR built with -DMQTT_PRESENCE_BUILD_BENCH=ON (target
# mqtt_presence_bench_instructions). A part the build lacks (simdjson) is reported as such.
set -euo pipefail
build=${1:-build-bench}
clients=${2:-20000}
program="$build/bench/mqtt_presence_bench_instructions"
if [ ! -x "$program" ]; then
  echo "instructions.sh: $program not found: build with -DMQTT_PRESENCE_BUILD_BENCH=ON" >&2
  exit 1
fi
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind not found (Debian: apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%-12s %14s %10s %16s\n' part events clients instr/event
for part in ingest nlohmann simdjson simdjson-od; do
  # Instrumented from the measured part on (the program asks callgrind to start there when it
  # was built with valgrind/callgrind.h); counted inside measured_* only. A program built
  # without the header collects nothing so: it runs again, instrumented from the start.
  for start in no yes; do
    status=0
    valgrind --tool=callgrind --callgrind-out-file="$work/out" --instr-atstart=$start \
      "--toggle-collect=*measured_*" "$program" "$part" --clients "$clients" >"$work/stdout" 2>"$work/stderr" ||
      status=$?
    collected=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/stderr")
    [ "$status" -ne 0 ] || [ "${collected:-0}" -ne 0 ] && break
  done
  if [ "$status" -eq 2 ]; then
    printf '%-12s %s\n' "$part" "not in this build"
    continue
  elif [ "$status" -ne 0 ]; then
    cat "$work/stderr" >&2
    exit "$status"
  fi
  events=$(sed -n 's/^events //p' "$work/stdout")
  awk -v p="$part" -v c="$collected" -v e="$events" -v n="$clients" \
    'BEGIN { printf "%-12s %14d %10d %16.0f\n", p, e, n, c / e }'
done
