#!/bin/sh
# The merchant + embedding step over a store of N receipts (default 1000),
# local embedder at 1536 dimensions; then the whole default pipeline for one
# NATIVE receipt (1170x2532 PNG, 45 lines / 234 words) over the same store,
# local compaction off (compaction: bench/vec.sh); then the local embedder's
# throughput.
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
"$B/rcpt" lua "$SRC/bench/merchant_bench.lua" pipeline "$D" 9
cat <<'NOTE'
what the step's optimisations bought (wall ms depend on the load from other jobs on the 2 shared
cores; the CPU median is the steadier figure):
  main 848c07e:        median 310 ms, peak RSS 586 MB (resolve 119, embed 56, write_deltas 157 ms)
  perf branch:         median 221 ms, peak RSS 313 MB (resolve 82, embed 33, write_deltas 85 ms; lighter load)
  main 1efc69c vs merchperf, back to back on one store (load average ~11):
    main:      median 258 ms (CPU median 102 ms), peak RSS 314 MB
    merchperf: median 206 ms (CPU median  58 ms), peak RSS  72 MB
  main 72dd3b3 vs merchperf2, back to back on copies of one store, 9 receipts each, twice
  (load average ~3.8 on the 2 cores):
    main:       median 108 / 90 ms (CPU median 52 / 62 ms), peak RSS 73 MB
    merchperf2: median  53 / 40 ms (CPU median 31 / 30 ms), peak RSS 70 MB
    (wall medians swing with the load; the CPU median moves far less)
  with compact_after (the local default) compaction dominates: ~13 s and 1.6 GB per receipt
  here at 72dd3b3 (~35 s before; the dense `words` snapshot, 234,000 x 1536), the compaction
  work's, not this step's
  whole bench at merchperf2, load average 2.2: median 38.5 ms over 7 (CPU median 27.6 ms),
  peak RSS 69 MB
  - perf: deltas staged as one file in {cache}/scratch/ (no mkdir -p / rm -rf forks); the
    CompactionRun digest by vec.sha256; vec.open without mmap (586 -> 315 MB)
  - merchperf: resolution reads the `lines` snapshot as an exact sparse copy (vec.open_sparse:
    the local embedder's vectors are ~96% zeros; 45,000 x 1536 = 276 MB dense -> ~17 MB of
    non-zero entries + ids/metadata), so the snapshot is no longer resident densely; the 3 street
    + 2 phone queries are embedded in one call and searched in one pass (8 queries per pass, one
    FMA per non-zero entry, then the dense kernel rescoring a provably sufficient window, so the
    hits and float scores are those of the exhaustive scan); the receipt context is built once
    (not 3 times); the file object store no longer fsyncs the metadata sidecar of every object
  - merchperf2: the OCR step (native / refine) hands the receipt rows it has just written to
    the step (ctx.receipt_rows = merchant_embed.rows_from_ocr: the document's tables with the
    store's number rounding, equal to the stored rows field for field, checked on real OCR)
    instead of the step reading the 279 rows back (the read stays for callers without rows;
    `run DIR 9 reread` times that path: CPU median 44 vs 32 ms, peak RSS 82 vs 70 MB, same
    load); the deltas' scratch SQLite file is moved,
    not copied, into a file: store, and the 4 delta objects are put without fsync and made
    durable in one st:sync before the CompactionRun row refers to them (writeback started for
    all, then the fsyncs, which mostly find the journal already committed: 8 sequential fsyncs
    of ~3 ms median under this load -> a batch whose fsyncs take ~0.4 ms median); the `lines`
    delta just written stays open as the next receipt's pending delta (no download and
    re-read, ~3.5 ms when compaction runs behind, as here and on AWS); the CompactionRun
    content digest built in C (vec.content_sha256, the same run ids); word neighbours over
    flat arrays
  where the ~30 ms of CPU go now (warm, per receipt): writing the deltas ~13 ms (the SQLite
  files ~4, their sha256 ~1.6 and the ETag md5 ~3.7 over 2.5 MB, the upserts ~2.5, creating
  ~12 files and folders), resolution ~7 (rows 1.6, context 1.4, the 5 queries ~3.5), inputs
  and embedding ~6, the rest ~4
  the first receipt of a process costs ~0.4-0.5 s of CPU more (printed apart above): it opens
  the published `lines` snapshot as a sparse copy, which reads all 45,000 x 1536 floats of the
  file once; a warm process (Lambda, worker) keeps it until the pointer names a new version
the WHOLE pipeline (`pipeline`: rcpt.handler on the SQS record, as `rcpt ingest` runs it; OCR JSON
parse, image rows, classify, native with the raw PNG, 4 CDN JPEGs and sha256, receipt rows,
decision, then the step above; RCPT_COMPACT_AFTER off), 1,000 receipts in the store:
  pipebench before (main b7e051c), load average ~7: median 593 ms wall, CPU median 256 ms,
    VmHWM 82 MB; the CDN resizes (3 LANCZOS downscales of 3 MP) 131 ms of CPU
  pipebench (resize: AVX2 integer passes, exact, and rows over the 2 CPUs), load average 2.3:
    median 200 ms wall (196..210), CPU median 195 ms, VmHWM 92 MB over 8 warm receipts
  pipebench merged with main a7847d9 (its PNG encoder deflates strips on both CPUs), load
  average 1.5: median 121 ms wall (118..129), CPU median 130 ms, VmHWM 95 MB, 8 warm receipts
    load_image (PNG decode, libpng+zlib) 28, native 54 (raw PNG encode 8, the 3 resizes 15,
    4 JPEG encodes 10, sha256 6, receipt rows + objects ~15), resolve 8, embed 6,
    write_deltas 19, store_ocr 3, parse 1, rest 1 ms
  NOT under the 50 ms goal: the image work is ~65 ms of it (the PNG decode alone 28: one zlib
  stream, so one core).  Next: a faster inflate (libdeflate); the 4 JPEG encodes and the sha256
  on the second core beside each other; fewer fsyncs in write_deltas
NOTE
if [ -x "$B/bench/bench_embed_local" ]; then "$B/bench/bench_embed_local"; fi
