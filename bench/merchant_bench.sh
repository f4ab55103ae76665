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
if [ -x "$B/bench/bench_embed_local" ]; then "$B/bench/bench_embed_local"; fi
