#!/usr/bin/env bash
# rcpt.vec benchmarks beside their peers, in one run (figures vary up to ~2x between runs here).
#   bench/vec.sh [query|compact|all]     (default all)
# Env: SKIP_HNSW=1 skips the (slow: ~5 min) hnswlib build. N (100000) DIM (1536) NQ (50 queries) THREADS (2) NDELTA (1000) BASE (200000)
#      RUNS (3 compactions per case) MODE=eager (also time the old, all-in-memory compaction)
#      VERIFY=0 (compaction inputs not checked against their manifests)
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
   "$build/librcpt.a" $(pkg-config --libs sqlite3 libcrypto libcurl libpng libjpeg libxxhash) -lpthread -lm \
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
  # Each run: one compaction (every input verified against its manifest's
  # checksum, as on download; VERIFY=0 skips that), then `cp` of the file it
  # wrote, so both see the same machine load; medians over RUNS runs.
  #   cp            the compactor's staging copy is not fsync'ed either
  #   +fsync        the compaction's output fsync'ed (`sync FILE`) after it, against cp
  #                 then `sync` of the copy: the compactor must make its snapshot durable
  #                 before publishing (the file object store fsyncs in put_file)
  #   cpu           user+system seconds of the compacting process (+ its sync) and of
  #                 cp (+ its sync)
  # MODE=eager also runs the old path (every vector loaded into memory first).
  R=${RUNS:-3}
  noverify=; [[ ${VERIFY:-1} == 0 ]] && noverify=noverify
  med() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
  # elapsed and cpu seconds of a command: "E U+S"
  timed() { /usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1, $2 + $3}'; }
  echo "== compaction: $NDELTA deltas of 45 line + 234 word vectors (1536-d), median of $R runs, inputs ${noverify:-verified}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  for base in 0 "$BASE"; do
    for mode in lazy ${MODE:+$MODE}; do
      : >"$work/runs.txt"
      for r in $(seq "$R"); do
        out=$("$work/vec_query" compact "$work" "$NDELTA" "$base" "$mode" $noverify)
        echo "$out" | grep -v '^OUT ' | sed 's/^/  run: /'
        f=$(echo "$out" | sed -n 's/^OUT //p')
        tc=$(echo "$out" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p'); cc=$(echo "$out" | sed -n 's/.*cpu_s=\([0-9.]*\).*/\1/p')
        read -r tso cso < <(timed sync "$f")
        read -r tcp ccp < <(timed cp "$f" "$work/copy.sqlite")
        read -r tsc csc < <(timed sync "$work/copy.sqlite")
        bytes=$(stat -c %s "$f")
        merged=$(echo "$out" | sed -n 's/.*merged=\([0-9]*\).*/\1/p')
        # compact cp compact+fsync cp+fsync cpu_compact cpu_cp(+sync) merged bytes
        echo "$tc $tcp $(echo "$tc + $tso" | bc) $(echo "$tcp + $tsc" | bc) $(echo "$cc + $cso" | bc) $(echo "$ccp + $csc" | bc) $merged $bytes" >>"$work/runs.txt"
        echo "  cp of the same $bytes bytes: $tcp s (cpu $ccp s); fsync of the compaction's output $tso s, of the copy $tsc s"
        rm -f "$work/copy.sqlite" "$f"
      done
      col() { awk -v c="$1" '{print $c}' "$work/runs.txt" | med; }
      tc=$(col 1); tp=$(col 2); tcf=$(col 3); tpf=$(col 4); cc=$(col 5); cp_cpu=$(col 6)
      merged=$(awk 'NR == 1 {print $7}' "$work/runs.txt"); bytes=$(awk 'NR == 1 {print $8}' "$work/runs.txt")
      printf 'compact %-5s base=%-7s seconds=%.2f vectors_per_s=%.0f bytes_written=%s | cp %.2f s ratio=%.2fx (goal <= 3x) | +fsync: compact %.2f s, cp %.2f s, ratio=%.2fx | cpu: compact %.2f s, cp %.2f s, ratio=%.2fx | load %s\n' \
        "$mode" "$base" "$tc" "$(echo "$merged / $tc" | bc -l)" "$bytes" "$tp" "$(echo "$tc / $tp" | bc -l)" \
        "$tcf" "$tpf" "$(echo "$tcf / $tpf" | bc -l)" "$cc" "$cp_cpu" "$(echo "$cc / $cp_cpu" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
fi
