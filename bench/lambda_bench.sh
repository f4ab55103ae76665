#!/usr/bin/env bash
# Cold start and warm overhead of `rcpt lambda` against the loopback Runtime API
# stand-in, side by side with a trivial libcurl client (bench/lambda_client.c).
#   bench/lambda_bench.sh [--runs 15] [--n 2000] [--repeat 5]
# Uses $RCPT_BIN, else build/rcpt (built with cmake --build build first).
set -euo pipefail
cd "$(dirname "$0")/.."
rcpt=${RCPT_BIN:-build/rcpt}
[ -x "$rcpt" ] || { echo "lambda_bench: no $rcpt: build first (cmake -S . -B build && cmake --build build -j2)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/rcpt-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -Wall -o "$tmp/lambda_client" bench/lambda_client.c $(pkg-config --cflags --libs libcurl)
py=/usr/bin/python3; [ -x "$py" ] || py=python3
"$rcpt" --version
"$py" bench/lambda_bench.py "$rcpt" "$tmp/lambda_client" "$@"
