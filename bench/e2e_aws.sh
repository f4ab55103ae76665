#!/usr/bin/env bash
# Per-receipt latency of the whole flow (NATIVE receipt, SQS event -> `rcpt lambda` -> OCR ->
# receipts -> merchant -> embeddings) against DynamoDB Local + s3rver + local-aws-sqs on
# loopback, with the per-step split from the JSON logs' duration_ms.
#   bench/e2e_aws.sh [N]      (N warm receipts, default 7; plus one cold)
# Runs under `unshare --net` (root): DynamoDB Local listens on every interface.
# Needs `npm ci` in tests/node and tests/node-aws, and build/rcpt (or $RCPT_BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
rcpt=${RCPT_BIN:-$src/build/rcpt}
[ -x "$rcpt" ] || { echo "e2e_aws: no $rcpt: build first" >&2; exit 2; }
export RCPT_SOURCE_DIR="$src" RCPT_BIN="$rcpt"
exec unshare --net sh -c 'ip link set lo up && exec "$@"' netns \
  "$rcpt" lua "$src/bench/e2e_aws.lua" outer "${1:-7}"
