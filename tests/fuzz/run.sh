#!/usr/bin/env bash
# Run the libFuzzer targets of tests/fuzz.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     (default: 60 s, every target)
# Builds build-fuzz/ with clang, ASan, UBSan and coverage when needed
# (RCPT_FUZZ_BUILD=DIR to use another dir, RCPT_FUZZ_NO_BUILD=1 to skip the
# build), then runs each target for SECONDS on a scratch copy of its seed
# corpus (build-fuzz/fuzz-corpus/<target>/: new inputs never go into the
# repo) and prints per target: executions, execs/s, corpus size before and
# after, coverage before and after, crashes.  A crashing input is kept under
# build-fuzz/crashes/ and the script exits non-zero.
#   RCPT_FUZZ_JOBS=N   run N targets at once (default 1)
#   RCPT_FUZZ_SEED=S   libFuzzer's -seed (default: a new random seed each run).  A
#                      fixed seed makes a time-bounded run explore the same inputs
#                      in the same order on any machine, only further on a faster
#                      one: scripts/test.sh fixes it so that CI never fails on a
#                      crash a longer local run of the same seed did not see first.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
build=${RCPT_FUZZ_BUILD:-$root/build-fuzz}

if [ "${RCPT_FUZZ_NO_BUILD:-0}" != 1 ]; then
  command -v clang >/dev/null || { echo "run.sh: clang is needed (scripts/deps/build.txt)" >&2; exit 2; }
  if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRCPT_SANITIZE=ON \
      -DRCPT_FUZZ=ON >/dev/null || exit 2
  fi
  cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target fuzz_targets >/dev/null || {
    echo "run.sh: build failed (cmake --build $build --target fuzz_targets)" >&2; exit 2; }
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

mkdir -p "$build/crashes" "$build/fuzz-logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp}

run_one() { # target -> writes $build/fuzz-logs/<t>.summary
  local t=$1 exe="$build/tests/fuzz/$1"
  local seeds="$here/corpus/${t#fuzz_}" scratch="$build/fuzz-corpus/$t" log="$build/fuzz-logs/$t.log"
  if [ ! -x "$exe" ]; then echo "$t: not built ($exe)" > "$build/fuzz-logs/$t.summary"; return 1; fi
  rm -rf "$scratch"; mkdir -p "$scratch"
  [ -d "$seeds" ] && cp "$seeds"/* "$scratch"/ 2>/dev/null
  local seeds_n; seeds_n=$(find "$scratch" -type f | wc -l)
  local dict=()
  case $t in
    fuzz_s3xml) dict=(-dict="$here/xml.dict") ;;
    fuzz_image|fuzz_vecfile) ;;
    *) dict=(-dict="$here/json.dict") ;;
  esac
  local t0=$SECONDS
  (cd "$build/crashes" && "$exe" "$scratch" "${dict[@]}" -max_total_time="$secs" -timeout=20 \
      -rss_limit_mb=2560 ${RCPT_FUZZ_SEED:+-seed="$RCPT_FUZZ_SEED"} -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" >"$log" 2>&1)
  local rc=$? el=$((SECONDS - t0))
  local execs rate cov0 cov1 corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov0=$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | head -1)
  cov1=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(find "$scratch" -type f | wc -l)
  local crashes; crashes=$(grep -c "^artifact_prefix=\|Test unit written to" "$log")
  [ "$rc" != 0 ] && [ "$crashes" = 0 ] && crashes="1 (exit $rc)"
  printf '%-20s %10s execs %8s/s %5ss  corpus %4s -> %-5s cov %5s -> %-5s (+%s)  crashes %s\n' \
    "$t" "${execs:-?}" "${rate:-?}" "$el" "$seeds_n" "$corp" "${cov0:-?}" "${cov1:-?}" \
    "$(( ${cov1:-0} - ${cov0:-0} ))" "$crashes" > "$build/fuzz-logs/$t.summary"
  if [ "$rc" != 0 ]; then
    { echo "  log: $log"; grep -m3 -E "ERROR: |runtime error|invariant failed|Test unit written" "$log" | sed 's/^/  /'; } \
      >> "$build/fuzz-logs/$t.summary"
  fi
  return "$rc"
}

jobs=${RCPT_FUZZ_JOBS:-1}
echo "fuzzing ${#targets[@]} target(s), $secs s each ($jobs at a time); logs in $build/fuzz-logs"
fail=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
total=0
for t in "${targets[@]}"; do
  cat "$build/fuzz-logs/$t.summary"
  e=$(awk '{print $2}' "$build/fuzz-logs/$t.summary"); [[ $e =~ ^[0-9]+$ ]] && total=$((total + e))
done
echo "total: $total executions"
if [ "$fail" != 0 ]; then echo "FUZZ FAILURE: crashing inputs kept in $build/crashes/" >&2; exit 1; fi
