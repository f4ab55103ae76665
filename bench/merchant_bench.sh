#!/bin/sh
# The merchant + embedding step over a store of N receipts (default 1000),
# local embedder at 1536 dimensions; then the local embedder's throughput.
#   bench/merchant_bench.sh [BUILD_DIR] [N]
set -eu
B=${1:-build}
N=${2:-1000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d /tmp/rcpt-merchant-bench.XXXXXX)
trap 'rm -rf "$D"' EXIT
export RCPT_SOURCE_DIR="$SRC" RCPT_VEC_CACHE="$D/vec-cache" RCPT_EMBED_DIM=1536 RCPT_LOG_LEVEL=warn
unset OPENAI_API_KEY RCPT_EMBED_API_KEY GOOGLE_PLACES_API_KEY RCPT_PLACES_API_KEY
"$B/rcpt" lua "$SRC/bench/merchant_bench.lua" setup "$D" "$N"
echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg) (2 shared cores)"
"$B/rcpt" lua "$SRC/bench/merchant_bench.lua" run "$D" 7
"$B/rcpt" lua "$SRC/bench/merchant_bench.lua" run "$D" 3 compact
cat <<'NOTE'
what the step's optimisations bought (wall ms depend on the load from other jobs on the 2 shared
cores; the CPU median is the steadier figure):
  main 848c07e:        median 310 ms, peak RSS 586 MB (resolve 119, embed 56, write_deltas 157 ms)
  perf branch:         median 221 ms, peak RSS 313 MB (resolve 82, embed 33, write_deltas 85 ms; lighter load)
  main 1efc69c vs merchperf, back to back on one store (load average ~11):
    main:      median 258 ms (CPU median 102 ms), peak RSS 314 MB
    merchperf: median 206 ms (CPU median  58 ms), peak RSS  72 MB
    (wall medians swing 140-700 ms with the load; the CPU median moves far less)
  with compact_after (the local default) compaction dominates: ~35 s and 1.5 GB per receipt
  here (the dense `words` snapshot, 234,000 x 1536), the compaction work's, not this step's
  - perf: deltas staged as one file in {cache}/scratch/ (no mkdir -p / rm -rf forks); the
    CompactionRun digest by vec.sha256; vec.open without mmap (586 -> 315 MB)
  - merchperf: resolution reads the `lines` snapshot as an exact sparse copy (vec.open_sparse:
    the local embedder's vectors are ~96% zeros; 45,000 x 1536 = 276 MB dense -> ~17 MB of
    non-zero entries + ids/metadata), so the snapshot is no longer resident densely; the 3 street
    + 2 phone queries are embedded in one call and searched in one pass (8 queries per pass, one
    FMA per non-zero entry, then the dense kernel rescoring a provably sufficient window, so the
    hits and float scores are those of the exhaustive scan): ~5-10 ms instead of 5 scans of
    276 MB; the receipt context is built once (not 3 times); the file object store no longer
    fsyncs the metadata sidecar of every object (4 fewer fsyncs per receipt)
  still above the 50 ms goal (CPU ~70 ms on this machine, wall more under load): reading the
  receipt's 279 rows back from the store (~15-20 ms: the store decodes them), the word inputs
  (~8-18 ms of Lua), writing the two deltas (~20-30 ms CPU: the SQLite file, sha256, the copy
  into the object store, plus 2 fsyncs per object = 8 per receipt of wall time), the content
  digest text (~4-8 ms of Lua), and the first receipt of a process pays ~1.5 s to build the
  sparse copy (once per snapshot version)
NOTE
if [ -x "$B/bench/bench_embed_local" ]; then "$B/bench/bench_embed_local"; fi
