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
"$BUILD/bench/bench_ocr_parse" -n "$RUNS" "$DATA/vision_bar_receipt.ocr.json" "$TMP/large_receipt.ocr.json" >"$TMP/c.txt"
/usr/bin/python3 - "$RUNS" "$TMP/c.txt" <<'PY'
import json, statistics, sys, time
runs = int(sys.argv[1])
rows = [l.split() for l in open(sys.argv[2])]
print("%-28s %9s %7s %7s %9s %9s %9s %9s %8s %8s" % ("file", "bytes", "lines", "words", "letters",
      "rcpt ms", "rcpt MB/s", "py ms", "py MB/s", "ratio"))
for path, size, ocr_ms, json_ms, nl, nw, nc in rows:
    text = open(path, encoding="utf-8").read()   # json.loads of a str: decoding not timed
    json.loads(text)
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        json.loads(text)
        ts.append((time.perf_counter() - t0) * 1e3)
    py = statistics.median(ts)
    mb = int(size) / 1e6
    name = path.rsplit("/", 1)[-1]
    print("%-28s %9s %7s %7s %9s %9.3f %9.0f %9.3f %9.0f %7.1fx" % (name, size, nl, nw, nc, float(ocr_ms),
          mb / (float(ocr_ms) / 1e3), py, mb / (py / 1e3), py / float(ocr_ms)))
    print("%-28s %9s %7s %7s %9s %9.3f %9.0f   (JSON DOM alone, no validation)" % ("", "", "", "", "",
          float(json_ms), mb / (float(json_ms) / 1e3)))
print("median of %d runs each; rcpt = rcpt_ocr_parse (JSON + validation + records), py = json.loads alone" % runs)
PY
