#!/bin/sh
# Parse + validate of Vision OCR JSON: rcpt (C) beside Python 3's json.loads
# of the same files in the same run.  Files: the real bar receipt and a
# generated large receipt (200 lines, 1,000 words, 5,000 letters).
#   bench/ocr_parse.sh [RUNS]        (BUILD=build by default)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
RUNS=${1:-31}
DATA=${RCPT_TEST_DATA:-$ROOT/../shared/data}
cmake --build "$BUILD" -j2 --target bench_ocr_parse rcpt >/dev/null
TMP=$(mktemp -d /tmp/rcpt-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
RCPT_SOURCE_DIR=$ROOT "$BUILD/rcpt" lua bench/gen_large.lua "$TMP/large_receipt.ocr.json"
FILES="$DATA/vision_bar_receipt.ocr.json $TMP/large_receipt.ocr.json"
# cold: glibc's defaults; every parse of a multi-MB document gets fresh pages
# from the kernel (page faults are about half the time).  warm: freed memory
# stays in the process, as CPython's allocator keeps its arenas between the
# json.loads calls it is compared with.
"$BUILD/bench/bench_ocr_parse" -n "$RUNS" $FILES | sed 's/^/cold /' >"$TMP/c.txt"
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \
  "$BUILD/bench/bench_ocr_parse" -n "$RUNS" $FILES | sed 's/^/warm /' >>"$TMP/c.txt"
/usr/bin/python3 - "$RUNS" "$TMP/c.txt" <<'PY'
import json, statistics, sys, time
runs = int(sys.argv[1])
rows = [l.split() for l in open(sys.argv[2])]
py_ms = {}
print("%-4s %-28s %8s %5s %5s %7s %9s %9s %9s %8s %7s" % ("mem", "file", "bytes", "lines", "words", "letters",
      "rcpt ms", "rcpt MB/s", "py ms", "py MB/s", "ratio"))
for mode, path, size, ocr_ms, json_ms, nl, nw, nc in rows:
    if path not in py_ms:
        text = open(path, encoding="utf-8").read()   # json.loads of a str: decoding not timed
        json.loads(text)
        ts = []
        for _ in range(runs):
            t0 = time.perf_counter()
            json.loads(text)
            ts.append((time.perf_counter() - t0) * 1e3)
        py_ms[path] = statistics.median(ts)
    py = py_ms[path]
    mb = int(size) / 1e6
    name = path.rsplit("/", 1)[-1]
    print("%-4s %-28s %8s %5s %5s %7s %9.3f %9.0f %9.3f %8.0f %6.1fx" % (mode, name, size, nl, nw, nc, float(ocr_ms),
          mb / (float(ocr_ms) / 1e3), py, mb / (py / 1e3), py / float(ocr_ms)))
    print("%-4s %-28s %8s %5s %5s %7s %9.3f %9.0f   (JSON DOM alone, no validation)" % ("", "", "", "", "", "",
          float(json_ms), mb / (float(json_ms) / 1e3)))
print("median of %d runs each; rcpt = rcpt_ocr_parse (JSON + validation + records), py = json.loads alone" % runs)
PY
