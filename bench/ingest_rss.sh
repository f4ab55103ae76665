#!/bin/sh
# Peak RSS (and wall time) of `rcpt ingest`, end to end in one process:
#   - the generated large receipt (200 lines, 1,000 words, 5,000 letters:
#     bench/gen_large.lua) over a small 600x800 PNG (issue 2);
#   - one PHOTO image end to end: the real bar receipt's OCR over a generated
#     12 MP (3024x4032) camera JPEG, and the examples/photo preset (issue 3;
#     goal: peak RSS under 3x the decoded image, 3024*4032*3 bytes);
# beside the floor: `rcpt lua` running an empty script.  Peak RSS is the
# child's ru_maxrss (getrusage RUSAGE_CHILDREN, python3), median of RUNS.
# The refinement worker is off (RCPT_LOCAL_WORKER=0): the figure is the
# first pass, the Lambda's work.
#   bench/ingest_rss.sh [RUNS]        (BUILD=build by default)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
RUNS=${1:-3}
DATA=${RCPT_TEST_DATA:-$ROOT/../shared/data}
cmake --build "$BUILD" -j2 --target rcpt >/dev/null
TMP=$(mktemp -d /tmp/rcpt-bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
RCPT=$ROOT/$BUILD/rcpt
RCPT_SOURCE_DIR=$ROOT "$RCPT" lua bench/gen_large.lua "$TMP/large.ocr.json" 2>/dev/null
cat >"$TMP/mk.lua" <<'LUA'
local image, synth = require("rcpt.image"), require("rcpt.synth")
local tmp, bar = arg[1], arg[2]
local function write(p, s) local f = assert(io.open(p, "wb")); f:write(s); f:close() end
local img <close> = assert(image.new(600, 800, 3, 235))
write(tmp .. "/large.png", assert(img:encode_png()))
local f = assert(io.open(bar, "rb")); local text = f:read("a"); f:close()
local r = synth.photo_over(text, 3024, 4032)
write(tmp .. "/bar.jpg", r.image_bytes)
write(tmp .. "/bar.ocr.json", text)
LUA
"$RCPT" lua "$TMP/mk.lua" "$TMP" "$DATA/vision_bar_receipt.ocr.json"
: >"$TMP/empty.lua"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$RUNS" "$TMP" "$RCPT" "$ROOT" <<'PY'
import os, resource, shutil, statistics, subprocess, sys, time
runs, tmp, rcpt, root = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
env = dict(os.environ, RCPT_LOCAL_WORKER="0", RCPT_LOG_LEVEL="error")
def measure(args):
    rss, wall = [], []
    for i in range(runs):
        d = os.path.join(tmp, "run")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        t0 = time.perf_counter()
        # ru_maxrss of RUSAGE_CHILDREN is the max over waited-for children:
        # one child per fork keeps it this run's figure
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            p = subprocess.run(args, cwd=d, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            os.write(w, ("%d %d\n" % (p.returncode, ru.ru_maxrss)).encode())
            os._exit(0)
        os.close(w)
        out = os.read(r, 100).decode().split()
        os.waitpid(pid, 0)
        wall.append(time.perf_counter() - t0)
        if out[0] != "0":
            sys.exit("failed: %s" % " ".join(args))
        rss.append(int(out[1]) / 1024.0)
    return statistics.median(rss), statistics.median(wall)
decoded = 3024 * 4032 * 3 / 1048576.0
cases = [
    ("floor: rcpt lua (empty script)", [rcpt, "lua", os.path.join(tmp, "empty.lua")], None),
    ("ingest large receipt (200/1000/5000) + 600x800 PNG",
     [rcpt, "ingest", os.path.join(tmp, "large.png"), os.path.join(tmp, "large.ocr.json")], None),
    ("ingest PHOTO: bar receipt over 12 MP JPEG",
     [rcpt, "ingest", os.path.join(tmp, "bar.jpg"), os.path.join(tmp, "bar.ocr.json")], decoded),
    ("ingest PHOTO: examples/photo (12 MP JPEG)",
     [rcpt, "ingest", os.path.join(root, "examples/photo/photo.jpg"), os.path.join(root, "examples/photo/photo.ocr.json")], decoded),
]
print("%-52s %12s %9s %14s" % ("case (median of %d)" % runs, "peak RSS MB", "wall s", "RSS / decoded"))
for name, args, dec in cases:
    rss, wall = measure(args)
    print("%-52s %12.1f %9.2f %14s" % (name, rss, wall, ("%.2fx of %.1f MB" % (rss / dec, dec)) if dec else "-"))
PY
