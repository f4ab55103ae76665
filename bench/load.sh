#!/bin/sh
# Load figures for `rcpt ingest` (issue 7 item 4): N small generated NATIVE
# receipts (default 1,000) through the whole local flow on one SQLite store,
#   - in a row: one `rcpt ingest --dir` over all of them;
#   - two `rcpt ingest --dir` processes at once, one per half, same store;
# with local compaction after every receipt off (RCPT_COMPACT_AFTER=0) and one
# `rcpt compact` at the end (timed apart).  Prints receipts/s each way (and
# the ratio), VmRSS and RssAnon of each process after receipt 10, at half way
# and at its last sample
# (sampled from /proc every 0.2 s) with the growth per receipt, its VmHWM,
# and whether every row is there exactly once with no lock error on stderr.
# The checks are tests/spec/load_spec.lua's (tests/spec/support/load.lua).
#   nice bench/load.sh [N]        (BUILD=build by default)
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j2 --target rcpt >/dev/null
RCPT_SOURCE_DIR=$ROOT RCPT_BIN=$ROOT/$BUILD/rcpt exec "$ROOT/$BUILD/rcpt" lua bench/load.lua "${1:-1000}"
