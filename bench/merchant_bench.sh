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
"$B/rcpt" lua "$SRC/bench/merchant_bench.lua" run "$D" 7
"$B/rcpt" lua "$SRC/bench/merchant_bench.lua" run "$D" 3 compact
cat <<'NOTE'
what the step's optimisations bought (one run each, same machine, 2 shared cores, load from other jobs):
  before (main 848c07e): median 310 ms, peak RSS 586 MB (resolve 119, embed 56, write_deltas 157 ms)
  after  (perf branch):  median 221 ms, peak RSS 313 MB (resolve 82, embed 33, write_deltas 85 ms; lighter load)
  - vectors.write_delta/read_delta/apply_delta stage the delta as one file in {cache}/scratch/
    instead of a folder made by `mkdir -p` and dropped by `rm -rf` through os.execute (two forks per
    delta, two deltas per receipt)
  - the CompactionRun's content digest: sha256 in C (vec.sha256) instead of FNV-1a byte loops in Lua
    (content_run_id ~40 ms -> ~12 ms, the rest is building the text in Lua)
  - vec.open reads the SQLite file without mmap: its mapped pages counted in RSS while the 276 MB
    `lines` snapshot was loaded, peak RSS 586 MB -> ~315 MB
  still above the goal: the resident `lines` snapshot (45,000 x 1536 float32 = 276 MB; every line
  vector carries its receipt's phone/address anchors, so an "anchored rows only" filter keeps them all),
  5 full scans of it per receipt (3 street + 2 phone queries), and the file object store's fsyncs
  (4 per delta pair) in write_deltas
NOTE
if [ -x "$B/bench/bench_embed_local" ]; then "$B/bench/bench_embed_local"; fi
