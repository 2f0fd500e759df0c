#!/bin/bash
# bench/selftest.sh -- check that bench/run.sh produces every row and plot.
#
# Usage: bash bench/selftest.sh        (as root, like bench/run.sh)
#
# Runs `bench/run.sh --quick` on a tiny data set -- synthetic keys and, to
# stay off the network, the Debian paths sample in test/data/ when it is
# there (the real apt-file path is used otherwise) -- into a temporary
# directory, then checks that results.md has every expected table and row,
# that no measurement failed, that every index answered like a seq scan,
# and that every plot is a non-empty PNG.  No timing is asserted.
# Then runs `bench/concurrency.sh --quick` on 3,000 paths with 1 s runs and
# checks its results.md (a row with a TPS for every mix, client count and
# index, a memkv/btree ratio for every memkv row, no failed run, every
# inserted key new) and its plot.
# Then runs `bench/ingest.sh --quick` on 3,000 paths with 80,000 inserts
# at freeze threshold 2,000 and checks its summary table (a figure for
# btree and a ratio for memkv in every row), that every row was inserted,
# that the worker froze and the run directory was read, that nothing
# failed, and its plot.
# Then runs `bench/scale.sh --quick` on 3,000 paths and 3,000 URL-like
# keys and checks that every row of both sizes' tables has its figures
# and ratio, every plan uses its index, the answers equal a seq scan's,
# nothing failed, and its plot.
# Prints "N passed, M failed" and exits non-zero on any failure.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
TMP=$(mktemp -d /var/tmp/memkv-bench-selftest.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { local desc=$1; shift; if "$@"; then ok "$desc"; else not_ok "$desc"; fi; }

export MEMKV_BENCH_DATA=$TMP/data
if [ -s "$REPO/test/data/debian-paths.txt" ]; then
	export MEMKV_BENCH_PATHS_FILE=$REPO/test/data/debian-paths.txt
fi
SETS=(synthetic paths)
OUT=$TMP/out

echo "# bench/run.sh --quick (tiny) into $OUT"
if bash "$BENCH_DIR/run.sh" --quick --keys 3000 --inserts 1000 \
	--scaling 500,1000,3000 --data synthetic,paths --out "$OUT" \
	>"$TMP/run.log" 2>&1; then
	ok "run.sh exits 0"
else
	not_ok "run.sh exits 0"
	tail -30 "$TMP/run.log"
fi
MD=$OUT/results.md
check "results.md exists" test -s "$MD"
[ -s "$MD" ] || { echo "$PASSED passed, $FAILED failed"; exit 1; }

# has_row PATTERN: a table row of results.md starts with PATTERN.
has_row() { grep -qF "| $1 |" "$MD"; }

for key in date command machine PostgreSQL repetitions; do
	check "header: $key" has_row "$key"
done

MAIN_ROWS=(
	"CREATE INDEX (s)"
	"index size after build (B/key)"
	"memkv shared memory after build (B/key)"
	"COPY 1,000 rows into the indexed table (s)"
	"index size after COPY (B/key)"
	"memkv shared memory after COPY (B/key)"
	"memkv_freeze after COPY (s)"
	"index size after freeze (B/key)"
	"memkv shared memory after freeze (B/key)"
	"single-row INSERT (TPS)"
	"point lookup (TPS)"
	"missing key (TPS)"
	"prefix count LIKE 'dir/%' (TPS)"
	"range >= key ORDER BY k LIMIT 20 (TPS)"
	"index-only ORDER BY k LIMIT 20 (TPS)"
	"point lookup after COPY (TPS)"
	"AM probe, existing key (ns/probe)"
	"AM probe, missing key (ns/probe)"
	"AM probe, existing key (CPU ns/probe)"
	"AM probe, missing key (CPU ns/probe)"
	"answers = seq scan (150 queries)"
)
for set in "${SETS[@]}"; do
	# The section of results.md for this data set.
	sed -n "/^## $set: /,/^## /p" "$MD" >"$TMP/section-$set.md"
	check "$set: table present" test -s "$TMP/section-$set.md"
	for row in "${MAIN_ROWS[@]}"; do
		check "$set: row '$row'" grep -qF "| $row |" "$TMP/section-$set.md"
	done
	for q in "point lookup" "missing key" "prefix count LIKE 'dir/%'" \
		"range >= key ORDER BY k LIMIT 20" "index-only ORDER BY k LIMIT 20"; do
		check "$set: plan row '$q'" grep -qF "| $q |" "$TMP/section-$set.md"
	done
	# btree must have a number in every row it applies to.
	check "$set: btree measured everywhere" \
		awk -F'|' '/ \((s|B\/key|TPS|ns\/probe)\) \|/ && $2 !~ /memkv|freeze/ && $3 !~ /^ [0-9][0-9,.]* $/ { bad = 1 } END { exit bad }' \
		"$TMP/section-$set.md"
	if grep -q 'failed (see notes)' "$TMP/section-$set.md"; then
		not_ok "$set: no measurement failed"
		sed -n '/^## Notes/,$p' "$MD"
	else
		ok "$set: no measurement failed"
	fi
	if grep -F '| answers = seq scan' "$TMP/section-$set.md" | grep -q -e NO -e failed; then
		not_ok "$set: every index answers like a seq scan"
		grep -F '| answers = seq scan' "$TMP/section-$set.md"
	else
		ok "$set: every index answers like a seq scan"
	fi
done

check "scaling: synthetic table" grep -q '^### synthetic' "$MD"
check "scaling: paths table" grep -q '^### paths' "$MD"
for n in 500 1,000 3,000; do
	check "scaling: rows for $n keys" grep -qE "^\| $n \| index size \(B/key\) \|" "$MD"
done

for png in bytes_per_key probe_ns scaling_size scaling_tps scaling_probe \
	tps_synthetic tps_paths; do
	check "plot $png.png is a PNG" \
		bash -c "test -s '$OUT/$png.png' && file -b '$OUT/$png.png' | grep -q '^PNG image data'"
	check "results.md shows $png.png" grep -qF "($png.png)" "$MD"
done

if grep -q '^| memkv | ok |' "$MD"; then
	echo "# memkv was measured"
	# the paired table of every set: each row with its pairs and a median
	for set in "${SETS[@]}"; do
		sed -n '/in alternation/,/^Plans of/p' "$TMP/section-$set.md" >"$TMP/paired-$set.md"
		for row in "CREATE INDEX (s)" "point lookup (TPS)" "missing key (TPS)" \
			"prefix count LIKE 'dir/%' (TPS)" \
			"range >= key ORDER BY k LIMIT 20 (TPS)" \
			"index-only ORDER BY k LIMIT 20 (TPS)"; do
			check "$set: paired row '$row' has a median" \
				bash -c 'grep -F "| $1 |" "$2" | grep -qE "\| \*\*[0-9]+\.[0-9]+\*\* \|$"' _ "$row" "$TMP/paired-$set.md"
		done
	done
	# the mixed table of every set: each query with its runs and a median
	for set in "${SETS[@]}"; do
		for row in "point lookup" "missing key" "prefix count LIKE 'dir/%'" \
			"range >= key ORDER BY k LIMIT 20" "index-only ORDER BY k LIMIT 20"; do
			check "$set: mixed row '$row' has a median" \
				bash -c 'grep -F "| $1, mixed |" "$2" | grep -qE "\| \*\*[0-9]+\.[0-9]+\*\* \|$"' _ "$row" "$TMP/section-$set.md"
		done
	done
	check "paired: every query used the index" \
		bash -c "! grep -q 'paired/.* does not use' '$OUT/notes.txt'"
else
	echo "# memkv was not measured: $(grep '^| memkv |' "$MD" || true)"
fi

# ---------------------------------------------------------------- concurrency.sh

COUT=$TMP/conc
echo "# bench/concurrency.sh --quick (tiny) into $COUT"
if bash "$BENCH_DIR/concurrency.sh" --quick --keys 3000 --duration 1 \
	--clients "1 4" --freeze-runs --stripes "2" --out "$COUT" \
	>"$TMP/conc.log" 2>&1; then
	ok "concurrency.sh exits 0"
else
	not_ok "concurrency.sh exits 0"
	tail -30 "$TMP/conc.log"
fi
CMD=$COUT/results.md
check "concurrency: results.md exists" test -s "$CMD"
for key in date command "server settings" "memkv settings" "stripes (M2)"; do
	check "concurrency: header '$key'" grep -qF "| $key |" "$CMD"
done
# conc_row MIX CLIENTS KIND: the row of KIND at CLIENTS in MIX's table has
# a TPS and, for memkv, a ratio to btree.
conc_row()
{
	sed -n "/^## $1/,/^## /p" "$CMD" | awk -F'|' -v c="$2" -v k="$3" '
		$2 == " " c " " && $3 == " " k " " {
			found = 1
			if ($4 !~ /^ [0-9][0-9,.]* $/) bad = 1
			if (k != "btree" && $5 !~ /^ \*\*[0-9]+\.[0-9]+\*\*/) bad = 1
		}
		END { exit !(found && !bad) }'
}
for mix in mixed read insert; do
	for c in 1 4; do
		for kind in btree memkv; do
			check "concurrency: $mix, $c clients, $kind has a TPS" conc_row "$mix" "$c" "$kind"
		done
		[ "$mix" = read ] && continue
		check "concurrency: $mix, $c clients, memkv-f100k has a TPS" \
			conc_row "$mix" "$c" memkv-f100k
	done
done
# memkv.freeze_threshold = 0: the plain memkv index must never freeze.
check "concurrency: no background freeze with threshold 0" \
	awk -F'\t' '$3 == "memkv" && $10 != "0" { bad = 1 } END { exit bad }' "$COUT/raw.tsv"
check "concurrency: no failed run" \
	bash -c "! grep -qE 'pgbench failed|does not use|were not new' '$COUT/notes.txt'"
check "concurrency: stripes measured or n/a" \
	grep -qE '^\| stripes \(M2\) \| (measured|n/a)' "$CMD"
check "concurrency: plot is a PNG" \
	bash -c "test -s '$COUT/concurrency_tps.png' && file -b '$COUT/concurrency_tps.png' | grep -q '^PNG image data'"


# ---------------------------------------------------------------- ingest.sh

IOUT=$TMP/ingest
echo "# bench/ingest.sh --quick (tiny) into $IOUT"
if bash "$BENCH_DIR/ingest.sh" --quick --keys 3000 --inserts 80000 \
	--thresholds 2000 --out "$IOUT" >"$TMP/ingest.log" 2>&1; then
	ok "ingest.sh exits 0"
else
	not_ok "ingest.sh exits 0"
	tail -30 "$TMP/ingest.log"
fi
IMD=$IOUT/results.md
check "ingest: results.md exists" test -s "$IMD"
for key in date command "server settings" "memkv settings" "memkv indexes"; do
	check "ingest: header '$key'" grep -qF "| $key |" "$IMD"
done
# ingest_row LABEL: the summary row LABEL has a number for btree and one
# with a ratio to btree for memkv-t2000.
ingest_row()
{
	sed -n '/^## Summary/,/^## /p' "$IMD" | awk -F'|' -v l=" $1 " '
		$2 == l {
			found = 1
			if ($3 !~ /^ [0-9][0-9,.]* $/) bad = 1
			if ($4 !~ /^ [0-9][0-9,.]* \([0-9.]+x\) $/) bad = 1
		}
		END { exit !(found && !bad) }'
}
for row in "ingest time (s)" "insert rate (rows/s)" "WAL per inserted row, all (B)" \
	"write amplification: all WAL / inserted key bytes" \
	"write amplification: index WAL (the rest) / inserted key bytes" \
	"index size after (B/key)" "point lookups during the ingest (TPS)" \
	"range LIMIT 20 during the ingest (TPS)"; do
	check "ingest: summary row '$row'" ingest_row "$row"
done
check "ingest: every row inserted, each key new" \
	awk -F'\t' 'NR > 1 && $2 != 80000 { bad = 1 } END { exit bad || NR != 3 }' "$IOUT/summary.tsv"
# 80,000 inserts at threshold 2,000: the worker froze, the runs were read
check "ingest: memkv froze in the background and its runs were read" \
	awk -F'\t' '$1 == "memkv-t2000" && $14 > 0 && $22 ~ /^[0-9]+$/ && $22 > 0 { ok = 1 } END { exit !ok }' \
	"$IOUT/summary.tsv"
check "ingest: samples of both variants" \
	bash -c "[ \$(grep -c '^btree' '$IOUT/samples.tsv') -ge 2 ] && [ \$(grep -c '^memkv-t2000' '$IOUT/samples.tsv') -ge 2 ]"
check "ingest: no failure noted" test ! -s "$IOUT/notes.txt"
check "ingest: plot is a PNG" \
	bash -c "test -s '$IOUT/ingest.png' && file -b '$IOUT/ingest.png' | grep -q '^PNG image data'"

# ---------------------------------------------------------------- scale.sh

SOUT=$TMP/scale
echo "# bench/scale.sh --quick (tiny) into $SOUT"
if bash "$BENCH_DIR/scale.sh" --quick --no-install --sizes "paths:3000 urls:3000" \
	--probes 500 --out "$SOUT" >"$TMP/scale.log" 2>&1; then
	ok "scale.sh exits 0"
else
	not_ok "scale.sh exits 0"
	tail -30 "$TMP/scale.log"
fi
SMD=$SOUT/results.md
check "scale: results.md exists" test -s "$SMD"
# scale_rows SIZE_HEADING: that size's table has a figure in the btree and
# memkv columns and a ratio in every measured row, all plans on their
# index, answers equal to a seq scan's
scale_rows()
{
	awk -v h="#### $1" 'index($0, h) == 1 { on = 1; next } /^#/ { on = 0 } on' "$SMD" | awk -F'|' '
		/CREATE INDEX|index size|statement latency/ {
			n++
			if ($3 !~ /[0-9]/ || $4 !~ /[0-9]/ || $5 !~ /[0-9]/) bad = 1
		}
		/^\| plans/ && ($3 !~ /all on its index/ || $4 !~ /all on its index/) { bad = 1 }
		/^\| answers = seq scan/ { a = 1; if ($3 !~ /yes/ || $4 !~ /yes/) bad = 1 }
		END { exit !(n == 8 && a && !bad) }'
}
for size in "paths, 3,000 keys" "urls, 3,000 keys"; do
	check "scale: every row of '$size' has its figures" scale_rows "$size"
done
check "scale: no failure noted" test ! -s "$SOUT/notes.txt"
check "scale: plot is a PNG" \
	bash -c "test -s '$SOUT/scale.png' && file -b '$SOUT/scale.png' | grep -q '^PNG image data'"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
