#!/usr/bin/env bash
# Run the main job on the examples shipped in examples/, on a fresh Debian 12:
# install the build dependencies, build rcpt, and `rcpt ingest` the NATIVE
# screenshot, then the PHOTO and SCAN examples with --dir, into a fresh store
# and object folder.  Prints the summaries.
#
#   scripts/run-example.sh [OUT_DIR]     (default ./.rcpt-example, made afresh on every run;
#                                         a given OUT_DIR must not exist yet or be empty)
#   BUILD=build                          the build folder (default build)
#
# What is left in OUT_DIR afterwards:
#   OUT_DIR/rcpt.db        the entity store (sqlite; `rcpt export --store sqlite:OUT_DIR/rcpt.db`)
#   OUT_DIR/objects/       the buckets: uploads/, raw/, site/
# Look at an image with `rcpt repl` (RCPT_STORE=sqlite:OUT_DIR/rcpt.db
# RCPT_OBJECTS=file:OUT_DIR/objects) and receipt("<image id>").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-}
if [ -z "$out" ]; then
  # the script's own folder: start it afresh so the command can be run again
  out=./.rcpt-example
  rm -rf "$out"
fi
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac

if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; then
  echo "run-example: $out already holds a store; give another folder (or remove it)" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target rcpt

rcpt=("$build/rcpt" ingest --store "sqlite:$out/rcpt.db" --objects "file:$out/objects")
echo "== NATIVE: examples/native"
"${rcpt[@]}" "$root/examples/native/receipt.png" "$root/examples/native/receipt.ocr.json"
echo
echo "== PHOTO and SCAN: examples/photo, examples/scan (--dir)"
"${rcpt[@]}" --dir "$root/examples/photo"
"${rcpt[@]}" --dir "$root/examples/scan"
echo
echo "store:   sqlite:$out/rcpt.db"
echo "objects: file:$out/objects"
