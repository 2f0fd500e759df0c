#!/bin/bash
# bench/publish.sh -- make one run's results the committed bench/RESULTS.md.
#
# Usage: bash bench/publish.sh RESULT_DIR
#
# Copies RESULT_DIR/results.md to bench/RESULTS.md (plot links kept: the
# PNGs are copied next to it, into bench/) so that the latest full run is
# in the repository; the rest of RESULT_DIR stays ignored by git.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${1:?usage: bash bench/publish.sh RESULT_DIR}
[ -s "$SRC/results.md" ] || { echo "publish.sh: no $SRC/results.md" >&2; exit 1; }

{
	echo "<!-- Written by bench/publish.sh from a bench/run.sh result dir;"
	echo "     see bench/README.md for what every number means. -->"
	cat "$SRC/results.md"
} >"$BENCH_DIR/RESULTS.md"
for png in "$SRC"/*.png; do
	cp "$png" "$BENCH_DIR/"
done
echo "bench/RESULTS.md and $(ls "$SRC"/*.png | wc -l) plots updated from $SRC"
