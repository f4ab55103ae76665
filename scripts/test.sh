#!/usr/bin/env bash
# Install, build and run every test: the README's test command, and what CI runs.
#   scripts/test.sh            install deps, build (build/), run the suite, then the
#                              same suite built with ASan + UBSan (build-asan/)
#   RCPT_LONG=1 scripts/test.sh   the long mode (more crash/fuzz/load iterations)
#   scripts/test.sh --no-asan  skip the sanitizer pass (quicker local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
asan=1
for a in "$@"; do
  case $a in
    --no-asan) asan=0 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
jobs=$(nproc 2>/dev/null || echo 2)
timeout=900
[ "${RCPT_LONG:-}" = 1 ] && timeout=7200

scripts/install-deps.sh
# npm stand-ins (s3rver, DynamoDB Local, local-aws-sqs): one folder per group
for pj in tests/node*/package.json; do
  [ -f "$pj" ] || continue
  (cd "$(dirname "$pj")" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
done

run_suite() { # build-dir ctest-args -- extra-cmake-args...
  local dir=$1; shift
  local ctest_args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do ctest_args+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  # RCPT_LONG=1 reaches every test through ctest's inherited environment;
  # its crash and load specs run for tens of minutes, hence the longer bound
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout "$timeout" "${ctest_args[@]}")
}

# Fuzzing (tests/fuzz, issue 7): the libFuzzer targets built with clang, ASan
# and UBSan (build-fuzz/), the inputs that once crashed them replayed
# (ctest -L fuzz), then each target fuzzed for a short bounded time on a
# scratch copy of its seed corpus: 10 s each (RCPT_LONG=1: 120 s each),
# $jobs at a time.  Prints executions, execs/s, corpus and coverage per
# target; a crash fails the run and its input stays in build-fuzz/crashes/.
# The short run uses a fixed seed (RCPT_FUZZ_SEED, tests/fuzz/run.sh) so that
# it replays a prefix of what `RCPT_FUZZ_SEED=1129 tests/fuzz/run.sh 600` has
# already explored before a change lands; the long mode draws a new seed.
echo "== fuzz (build-fuzz/)"
if [ "${RCPT_LONG:-0}" != 1 ]; then export RCPT_FUZZ_SEED=${RCPT_FUZZ_SEED:-1129}; fi
if command -v clang >/dev/null; then
  CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRCPT_SANITIZE=ON -DRCPT_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzz_targets >/dev/null
  (cd build-fuzz && ctest -L fuzz --output-on-failure)
  RCPT_FUZZ_NO_BUILD=1 RCPT_FUZZ_JOBS=$jobs tests/fuzz/run.sh "$([ "${RCPT_LONG:-0}" = 1 ] && echo 120 || echo 10)"
else
  echo "test.sh: clang missing (scripts/deps/build.txt): fuzz targets NOT run" >&2
  exit 1
fi

if [ "$asan" = 1 ]; then
  # Specs labelled noasan exercise stand-ins (DynamoDB Local's JVM, npm servers)
  # or the test-data generator rather than our C code paths; they run in the
  # plain pass below.
  echo "== build and test with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
  RCPT_SANITIZED=1 run_suite build-asan -LE noasan -- -DRCPT_SANITIZE=ON
fi

# The plain build and every test last, so that the run ends with ctest's
# count of the whole suite.
echo "== build and test (build/)"
run_suite build --
