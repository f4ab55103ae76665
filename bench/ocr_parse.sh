#!/bin/sh
# Parse + validate of Vision OCR JSON: rcpt (C, streaming parser) beside
# Python 3's json.loads of the same files, in the same run.  Files: the real
# bar receipt and a generated large receipt (200 lines, 1,000 words, 5,000
# letters).
#   bench/ocr_parse.sh [RUNS]        (BUILD=build by default; RUNS=51)
#
# Rows:
#   cold     a fresh process per run, one parse (rcpt: bench_ocr_parse --once;
#            python: a new interpreter, one json.loads); median of RUNS
#            processes.  The parse arena's pages come fresh from the kernel.
#   warm     RUNS parses in one process with the allocator settings of the
#            rcpt host (bindings/host/main.c: mallopt keeps freed pages), as a
#            long-running `rcpt lambda` sees it; python: RUNS json.loads in one
#            interpreter (CPython keeps its arenas).  Measured twice, rcpt and
#            python alternating; the better median of each is shown.
#   default  RUNS parses in one process with glibc's default settings.
# "dom" and "tokens" are the DOM parser alone and the pull reader alone
# (no validation, no records), in the warm process.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
RUNS=${1:-51}
DATA=${RCPT_TEST_DATA:-$ROOT/../shared/data}
cmake --build "$BUILD" -j2 --target bench_ocr_parse rcpt >/dev/null
TMP=$(mktemp -d /tmp/rcpt-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
RCPT_SOURCE_DIR=$ROOT "$BUILD/rcpt" lua bench/gen_large.lua "$TMP/large_receipt.ocr.json" 2>/dev/null
B="$BUILD/bench/bench_ocr_parse"
for f in "$DATA/vision_bar_receipt.ocr.json" "$TMP/large_receipt.ocr.json"; do
  i=0
  while [ $i -lt "$RUNS" ]; do
    "$B" --once "$f" | sed 's/^/once /' >>"$TMP/c.txt"
    /usr/bin/python3 -c '
import json, sys, time
text = open(sys.argv[1], encoding="utf-8").read()
t0 = time.perf_counter(); json.loads(text); t = (time.perf_counter() - t0) * 1e3
print("pyonce", sys.argv[1], len(text.encode()), "%.4f" % t)' "$f" >>"$TMP/c.txt"
    i=$((i + 1))
  done
  # warm: rcpt and python one after the other, twice, so that both see the
  # same load on a shared machine (the faster of the two medians is kept)
  for k in 1 2; do
    "$B" -n "$RUNS" --mallopt "$f" | sed 's/^/warm /' >>"$TMP/c.txt"
    /usr/bin/python3 -c '
import json, statistics, sys, time
text = open(sys.argv[1], encoding="utf-8").read()   # a str: UTF-8 decoding not timed
json.loads(text)
ts = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter(); json.loads(text); ts.append((time.perf_counter() - t0) * 1e3)
print("pywarm", sys.argv[1], len(text.encode()), "%.4f" % statistics.median(ts))' "$f" "$RUNS" >>"$TMP/c.txt"
  done
  "$B" -n "$RUNS" "$f" | sed 's/^/default /' >>"$TMP/c.txt"
done
/usr/bin/python3 - "$RUNS" "$TMP/c.txt" <<'PY'
import json, statistics, sys, time
runs = int(sys.argv[1])
rows = [l.split() for l in open(sys.argv[2])]
files, size, info, once, pyonce, warm, default, pywarm = [], {}, {}, {}, {}, {}, {}, {}
for r in rows:
    kind, path = r[0], r[1]
    if path not in files:
        files.append(path)
    size[path] = int(r[2])
    if kind == "once":
        once.setdefault(path, []).append(float(r[3]))
    elif kind == "pyonce":
        pyonce.setdefault(path, []).append(float(r[3]))
    elif kind == "pywarm":
        pywarm[path] = min(pywarm.get(path, 1e9), float(r[3]))
    elif kind == "warm":
        w = [float(x) for x in r[3:6]]
        warm[path] = w if path not in warm or w[0] < warm[path][0] else warm[path]
        info[path] = r[6:9]
    else:
        default[path] = float(r[3])
def mbs(path, ms):
    return size[path] / 1e6 / (ms / 1e3)

print("%-28s %8s %-17s %-8s %9s %9s %9s %9s %7s" % ("file", "bytes", "lines/words/lett", "mode",
      "rcpt ms", "rcpt MB/s", "py ms", "py MB/s", "py/rcpt"))
for path in files:
    name = path.rsplit("/", 1)[-1]
    lwl = "/".join(info[path])
    for mode, r, p in (("cold", statistics.median(once[path]), statistics.median(pyonce[path])),
                       ("warm", warm[path][0], pywarm[path]),
                       ("default", default[path], pywarm[path])):
        print("%-28s %8d %-17s %-8s %9.3f %9.0f %9.3f %9.0f %6.1fx" % (name, size[path], lwl, mode, r,
              mbs(path, r), p, mbs(path, p), p / r))
        name, lwl = "", ""
    print("%-28s %8s %-17s %-8s %9.3f %9.0f   (DOM parser alone, warm)" % ("", "", "", "dom", warm[path][1],
          mbs(path, warm[path][1])))
    print("%-28s %8s %-17s %-8s %9.3f %9.0f   (pull reader alone, warm)" % ("", "", "", "tokens", warm[path][2],
          mbs(path, warm[path][2])))
print("median of %d runs each; rcpt = rcpt_ocr_parse + free (JSON + validation + records);"
      " py = json.loads alone (no validation)" % runs)
print("default = glibc's allocator defaults, in one process (python's row repeats its warm figure)")
PY
