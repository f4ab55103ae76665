#!/usr/bin/env bash
# rcpt.vec benchmarks beside their peers, in one run (figures vary up to ~2x between runs here).
#   bench/vec.sh [query|compact|all]     (default all)
# Env: SKIP_HNSW=1 skips the (slow: ~5 min) hnswlib build. N (100000) DIM (1536) NQ (50 queries) THREADS (2) NDELTA (1000) BASE (200000)
#      RCPT_BUILD_DIR (build) VEC_BENCH_DIR (/tmp/rcpt-vec-bench: data files, kept between runs)
# Peers: scripts/install-deps.sh bench (python3-faiss, python3-hnswlib, python3-numpy,
# libopenblas0-pthread), run with Debian's /usr/bin/python3 and OPENBLAS_CORETYPE/L2_SIZE unset.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${RCPT_BUILD_DIR:-$root/build}
work=${VEC_BENCH_DIR:-/tmp/rcpt-vec-bench}
N=${N:-100000}; DIM=${DIM:-1536}; NQ=${NQ:-50}; T=${THREADS:-2}
NDELTA=${NDELTA:-1000}; BASE=${BASE:-200000}
what=${1:-all}
mkdir -p "$work"
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" --target rcptcore -j2 >/dev/null
cc -O2 -g -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$root/core" "$root/bench/vec_query.c" \
   "$build/librcpt.a" $(pkg-config --libs sqlite3 libcrypto libcurl libpng libjpeg) -lpthread -lm \
   -o "$work/vec_query"
py() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 "$root/bench/vec_peers.py" "$@"; }
secs() { date +%s.%N; }

if [[ $what == query || $what == all ]]; then
  data=$work/x-$N-$DIM.f32; queries=$work/q-$NQ-$DIM.f32
  [ -f "$data" ] || "$work/vec_query" gen "$data" "$N" "$DIM" 1
  [ -f "$queries" ] || "$work/vec_query" gen "$queries" "$NQ" "$DIM" 2
  echo "== exact top-10, $N x $DIM float32 ($(( N * DIM * 4 / 1000000 )) MB), $NQ single queries, $T threads"
  "$work/vec_query" sum "$data" "$N" "$DIM" "$T"
  "$work/vec_query" query "$data" "$N" "$DIM" "$queries" "$NQ" "$T" "$work/rcpt.ids"
  py faiss "$data" "$N" "$DIM" "$queries" "$NQ" "$T" "$work/faiss.ids"
  py agree "$work/rcpt.ids" "$work/faiss.ids" | sed 's/^agree/rcpt vs faiss top-10 agreement/'
  [ -n "${SKIP_HNSW:-}" ] || py hnsw "$data" "$N" "$DIM" "$queries" "$NQ" "$T" "$work/faiss.ids"
  "$work/vec_query" load "$data" "$N" "$DIM" "$work/snap-$N.sqlite"
fi

if [[ $what == compact || $what == all ]]; then
  echo "== compaction: $NDELTA deltas of 45 line + 234 word vectors (1536-d)"
  for base in 0 "$BASE"; do
    out=$("$work/vec_query" compact "$work" "$NDELTA" "$base")
    echo "$out" | grep -v '^OUT '
    f=$(echo "$out" | sed -n 's/^OUT //p')
    a=$(secs); cpu=$( { /usr/bin/time -f "%U %S" cp "$f" "$work/copy.sqlite"; } 2>&1 ); b=$(secs); sync "$work/copy.sqlite"; c=$(secs)
    echo "cp of the same $(stat -c %s "$f") bytes: $(echo "$b - $a" | bc) s (with sync $(echo "$c - $a" | bc) s), cpu_s=$(echo "$cpu" | awk '{print $1 + $2}')"
    rm -f "$work/copy.sqlite" "$f"
  done
fi
