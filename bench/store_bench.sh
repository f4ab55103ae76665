#!/bin/sh
# Storing OCR rows: rcpt (parse + validate + put_ocr into SQLite) beside the
# floor Python reaches for the same work with its standard library: json.loads
# of the same file plus an executemany of the same number of rows, of the
# same sizes, into an SQLite table of the same shape (one transaction, WAL).
# The peer stores each row's DynamoDB JSON text, as a plain implementation
# would; rcpt stores its compact encoding and renders that JSON on read
# (core/store/ocr_compact.h): that difference is rcpt's design, not a
# handicap of the peer.  The last table puts both medians side by side.
#   bench/store_bench.sh [RUNS]        (BUILD=build by default)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
RUNS=${1:-15}
DATA=${RCPT_TEST_DATA:-$ROOT/../shared/data}
cmake --build "$BUILD" -j2 --target store_bench rcpt >/dev/null
TMP=$(mktemp -d /tmp/rcpt-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
RCPT_SOURCE_DIR=$ROOT "$BUILD/rcpt" lua bench/gen_large.lua "$TMP/large_receipt.ocr.json" 2>/dev/null
FILES="$DATA/vision_bar_receipt.ocr.json $TMP/large_receipt.ocr.json"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench/store_bench" -n "$RUNS" $FILES | tee "$TMP/rcpt.txt"
# the rows rcpt wrote, as (pk, sk, type, json) sizes, for the Python peer
cat >"$TMP/rows.lua" <<'LUA'
local store, ocr = require("rcpt.store"), require("rcpt.ocr")
local tmp = arg[1]
for i = 2, #arg do
  local st = assert(store.open("sqlite:" .. tmp .. "/rows" .. i .. ".db"))
  local f = assert(io.open(arg[i], "rb")); local doc = assert(ocr.parse(f:read("a"))); f:close()
  assert(st:put_ocr("3f52804b-2fad-4e00-92c8-b593da3a8ed3", doc))
  assert(st:export(tmp .. "/rows" .. i .. ".jsonl"))
  st:close()
end
LUA
"$BUILD/rcpt" lua "$TMP/rows.lua" "$TMP" $FILES
/usr/bin/python3 - "$RUNS" "$TMP" $FILES <<'PY' | tee "$TMP/py.txt"
import json, os, sqlite3, statistics, sys, time
runs, tmp, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
print("python3 peer (json.loads + sqlite3 executemany of the same rows, same schema):")
for i, path in enumerate(files, start=2):
    raw = open(path, "rb").read()
    rows = []
    for line in open(os.path.join(tmp, "rows%d.jsonl" % i)):
        item = json.loads(line)["Item"]
        rows.append((item["PK"]["S"], item["SK"]["S"], item["TYPE"]["S"], json.dumps(item, separators=(",", ":"), ensure_ascii=False)))
    db = os.path.join(tmp, "py%d.db" % i)
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("pragma journal_mode=wal"); c.execute("pragma synchronous=normal"); c.execute("pragma cache_size=-65536")
    c.execute("create table items(pk text not null, sk text not null, type text, gsi1pk text, gsi1sk text,"
              " gsi2pk text, gsi2sk text, gsi3pk text, gsi3sk text, item text not null, unique(pk, sk))")
    c.execute("create index items_type on items(type) where type is not null")
    ts = []
    for r in range(runs):
        t0 = time.perf_counter()
        json.loads(raw)
        c.execute("begin")
        c.executemany("insert or replace into items(pk, sk, type, item) values (?, ?, ?, ?)",
                      ((pk + "#%d" % r, sk, ty, js) for pk, sk, ty, js in rows))
        c.execute("commit")
        ts.append((time.perf_counter() - t0) * 1000)
    c.close()
    print("  %-32s %7d B %5d rows  json.loads+insert     %8.2f ms" % (os.path.basename(path), len(raw), len(rows), statistics.median(ts)))
PY
# side by side: the median of each, the ratio, MB/s of OCR JSON
echo "side by side (median ms of $RUNS runs; parse + validate + store):"
printf '  %-30s %10s %10s %10s %10s %8s\n' file rcpt_ms python_ms rcpt_MB/s py_MB/s py/rcpt
for f in $FILES; do
  b=$(basename "$f")
  awk -v b="$b" -v rf="$TMP/rcpt.txt" -v pf="$TMP/py.txt" 'BEGIN {
    while ((getline l < rf) > 0) { n = split(l, a, " "); if (a[1] == b && l ~ /parse\+validate\+store/) { bytes = a[2]; for (i = 1; i <= n; i++) if (a[i] == "parse+validate+store") r = a[i + 1] } }
    while ((getline l < pf) > 0) { n = split(l, a, " "); if (a[1] == b) { for (i = 1; i <= n; i++) if (a[i] == "json.loads+insert") p = a[i + 1] } }
    printf "  %-30s %10.2f %10.2f %10.0f %10.0f %7.1fx\n", b, r, p, bytes / 1e3 / r, bytes / 1e3 / p, p / r }'
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
