#!/usr/bin/env bash
# This checkout's ingest against another revision's, in one program that times them in turns
# (bench/bench_compare.cpp): how two versions are told apart on a machine whose speed swings by
# more than the difference between them.
#
#   bash bench/compare.sh REV [BUILD_DIR] [-- PROGRAM_OPTIONS]
#   e.g. bash bench/compare.sh HEAD~3 -- --clients 20000 --rounds 31
#
# REV: a revision of this repository; its include/ is exported (git archive) to a temporary
# directory, and "this checkout" is the working tree, uncommitted changes included. BUILD_DIR
# (default build-compare, under the repository when relative) is configured Release, with the
# benchmarks and MQTT_PRESENCE_COMPARE_BASELINE naming that directory. Options after -- go to
# the program (--clients, --rounds, --reserve, --seed: see bench_compare.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ "$1" = "--" ]; then
  echo "usage: bash bench/compare.sh REV [BUILD_DIR] [-- PROGRAM_OPTIONS]" >&2
  exit 2
fi
rev=$1
shift
build=build-compare
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  build=$1
  shift
fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi
commit=$(git rev-parse --verify --quiet "$rev^{commit}") || {
  echo "compare.sh: $rev is not a revision of this repository" >&2
  exit 2
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive "$commit" include | tar -x -C "$work"
# The build's output only when it fails.
if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DMQTT_PRESENCE_BUILD_BENCH=ON \
  -DMQTT_PRESENCE_COMPARE_BASELINE="$work/include" &&
  cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target mqtt_presence_bench_compare; } >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "compare.sh: the build failed (above)" >&2
  exit 1
fi
echo "baseline: $rev ($commit); this: the working tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- include || echo ' with changes to include/')"
"$build/bench/mqtt_presence_bench_compare" "$@"
