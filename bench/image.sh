#!/usr/bin/env bash
# Pixels benchmark: rcpt (bench/image_bench.c) beside Pillow and OpenCV
# (Debian's python3-pil and python3-opencv) on the same synthetic 12 MP photo
# and the same coefficients.   usage: bench/image.sh [RUNS]   (default 5)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
"$here/scripts/install-deps.sh" bench
cmake -S "$here" -B "$here/build" >/dev/null
cmake --build "$here/build" -j2 --target image_bench >/dev/null
tmp=$(mktemp -d /tmp/rcpt-image-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$here/build/bench/image_bench" --dir "$tmp" --runs "$runs" > "$tmp/rcpt.txt"
/usr/bin/python3 "$here/bench/image_peers.py" "$tmp" "$runs" "$tmp/rcpt.txt"
