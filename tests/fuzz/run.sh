#!/usr/bin/env bash
# Builds the libFuzzer targets (Clang; libFuzzer, AddressSanitizer, UndefinedBehaviorSanitizer)
# into build-fuzz, writes the seed corpora, replays the saved regressions, then runs each target
# for SECONDS, two at a time, on a fresh copy of its seeds (README.md, "Fuzzing").
#
#   bash tests/fuzz/run.sh SECONDS [TARGET...]     (no TARGET: all seven)
#
# Environment: MQTT_PRESENCE_FUZZ_BUILD (build directory, default <repository>/build-fuzz),
# MQTT_PRESENCE_FUZZ_JOBS (targets at a time, default 2), CXX_FUZZ (default clang++).
# Exit status 0 when nothing was found; 1 when a regression fails or a target crashed, leaked,
# timed out or ran out of memory (its inputs are under build-fuzz/artifacts/<target>/);
# 2 for a bad command line or a failed build.
set -euo pipefail

all_targets=(fuzz_alibaba fuzz_aws_iot fuzz_emqx fuzz_azure_eg_mqtt fuzz_store fuzz_snapshot fuzz_redis_record)

usage() {
    echo "usage: bash tests/fuzz/run.sh SECONDS [TARGET...]" >&2
    echo "targets: ${all_targets[*]}" >&2
    exit 2
}
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
seconds=$1
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "run.sh: unknown target $t" >&2; usage; }
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/tests/fuzz
build=${MQTT_PRESENCE_FUZZ_BUILD:-$root/build-fuzz}
jobs=${MQTT_PRESENCE_FUZZ_JOBS:-2}
cxx=${CXX_FUZZ:-clang++}
started=$(date +%s)

# --- build ------------------------------------------------------------------------------------
if ! cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >"$build.configure.log" 2>&1; then
    cat "$build.configure.log" >&2
    echo "run.sh: configuring $build failed" >&2
    exit 2
fi
rm -f "$build.configure.log"
# (Several --target names build one after the other: all targets go as the default target, in parallel.)
build_targets=(--target "${targets[@]}" fuzz_seeds)
[[ ${#targets[@]} -eq ${#all_targets[@]} ]] && build_targets=()
if ! cmake --build "$build" -j2 "${build_targets[@]}"; then
    echo "run.sh: building the fuzz targets failed" >&2
    exit 2
fi
built=$(date +%s)
"$build/fuzz_seeds" "$root" "$build/corpus/seed" >/dev/null

# --- regressions: every saved input once --------------------------------------------------
status=0
for t in "${targets[@]}"; do
    dir=$here/regressions/$t
    [[ -d $dir ]] || continue
    mapfile -t inputs < <(find "$dir" -type f ! -name '*.md' ! -name '.*' | sort)
    [[ ${#inputs[@]} -gt 0 ]] || continue
    if "$build/$t" -runs=1 "${inputs[@]}" >"$build/regressions-$t.log" 2>&1; then
        echo "$t: ${#inputs[@]} regression inputs pass"
    else
        echo "$t: a regression input fails (log: $build/regressions-$t.log)"
        status=1
    fi
done

# --- fuzzing, $jobs targets at a time -----------------------------------------------------
mkdir -p "$build/logs"
marker=$build/logs/.started
touch "$marker"
run_one() {
    local t=$1
    local work=$build/corpus/work/$t
    rm -rf "$work"
    mkdir -p "$work" "$build/artifacts/$t"
    cp "$build/corpus/seed/$t"/* "$work"/
    [[ -d $here/regressions/$t ]] && find "$here/regressions/$t" -type f ! -name '*.md' ! -name '.*' -exec cp {} "$work"/ \;
    local dict=()
    [[ -f $here/dict/$t.dict ]] && dict=("-dict=$here/dict/$t.dict")
    local rc=0
    (cd "$build/logs" && "$build/$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" "$work" >"$build/logs/$t.log" 2>&1) || rc=$?
    echo "$rc" >"$build/logs/$t.rc"
}
running=0
for t in "${targets[@]}"; do
    if [[ $running -ge $jobs ]]; then
        wait -n || true
        running=$((running - 1))
    fi
    echo "$t: fuzzing for $seconds s"
    run_one "$t" &
    running=$((running + 1))
done
wait || true

# --- summary --------------------------------------------------------------------------------
echo
for t in "${targets[@]}"; do
    log=$build/logs/$t.log
    rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo missing)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # A run that died early prints no final stats: its last status line counts.
    [[ -n $execs ]] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    [[ -n $execs ]] || execs=0
    corpus=$(find "$build/corpus/work/$t" -type f | wc -l)
    mapfile -t found < <(find "$build/artifacts/$t" -type f -newer "$marker" | sort)
    if [[ $rc == 0 && ${#found[@]} -eq 0 ]]; then
        printf '%-20s %6s s %12s execs  corpus %5s  nothing found\n' "$t" "$seconds" "$execs" "$corpus"
    else
        status=1
        kind=$(grep -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [a-z -]+[a-z]' "$log" | head -1 || true)
        printf '%-20s %6s s %12s execs  FOUND (exit %s) %s  log: %s\n' "$t" "$seconds" "$execs" "$rc" "${kind:-}" "$log"
        for f in "${found[@]}"; do echo "    $f"; done
    fi
done
finished=$(date +%s)
echo "build $((built - started)) s, total $((finished - started)) s"
exit $status
