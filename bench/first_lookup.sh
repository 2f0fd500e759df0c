#!/bin/bash
# bench/first_lookup.sh -- what a new session's first point lookup costs:
# index blocks fetched (pg_stat_get_xact_blocks_fetched) and the backend's
# instructions (valgrind --tool=callgrind in a single-user backend: this
# machine has no PMU for perf) of the session's first statement, a lookup
# of one loaded key.  memkv's run memo reads the run header then, and
# opens the slices: all of them for a run header of
# version 1 (memkv.debug_header_version = 1, how every run was read before
# slices were opened lazily), only the lookup's for version 2.  Same run,
# same keys, against btree.
#
# Usage (as root; PostgreSQL and memkv installed under BINDIR's tree, the
# Debian paths fetched by bench/data.sh into /var/tmp/memkv-bench-data):
#   bash bench/first_lookup.sh BINDIR [KEYS] [ROUNDS] [MWM] [CONF_LINE ...]
# e.g. bash bench/first_lookup.sh /opt/pgh/h1/bin 7303784 5 64MB \
#        "memkv.shared_memory = 1MB"
#
# A throwaway server (postgres OS user, temp directory, private port and
# socket dir, stopped on exit), default settings but autovacuum off,
# memkv.freeze_threshold 0 and the CONF_LINEs (at 7.3M paths the run fits
# the default arena's half as a shared copy, which lookups then read
# instead of pages: memkv.shared_memory = 1MB keeps it out, as at 20M
# keys).  Three tables get the same KEYS shuffled paths:
# tv with a memkv index whose run header is version 1, tm with a version-2
# one, tb with a btree index (COLLATE "C"); maintenance_work_mem MWM
# (default 64MB, PostgreSQL's default) at CREATE INDEX decides the slices.
# A warm-up session looks one key up in each (shared buffers then hold the
# pages, as in a server that has run a while).  Then ROUNDS times, each
# index in turn (the order rotates every round), a new session looks up
# another random loaded key as its first statement.
#
# Prints one line per lookup: round|table|blocks fetched, the medians per
# table, then each table's instructions.
set -e
BIN=$1; KEYS=${2:-7303784}; ROUNDS=${3:-5}; MWM=${4:-64MB}
shift $(($# < 4 ? $# : 4))
BENCH_NAME=first_lookup.sh
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths_shuf
PORT=$((22000 + RANDOM % 1000))
bench_scratch_server "$BIN" $PORT "$@"
head -n "$KEYS" "$PATHS" > "$W/keys"
chown postgres: "$W/keys"
Q() { runuser -u postgres -- "$BIN/psql" -h "$W" -p $PORT -X -q -A -t -v ON_ERROR_STOP=1 -d postgres "$@"; }
Q -c "CREATE EXTENSION memkv" -c "CREATE TABLE keys (id serial PRIMARY KEY, k text)" \
	-c "\\copy keys(k) from '$W/keys'" \
	-c "CREATE TABLE tv AS SELECT id, k FROM keys" \
	-c "CREATE TABLE tm AS SELECT id, k FROM keys" \
	-c "CREATE TABLE tb AS SELECT id, k COLLATE \"C\" AS k FROM keys" \
	-c "SET maintenance_work_mem = '$MWM'" \
	-c "SET memkv.debug_header_version = 1" -c "CREATE INDEX tv_k ON tv USING memkv (k)" \
	-c "CREATE INDEX tb_k ON tb (k)"
slices=$(Q -c "SET maintenance_work_mem = '$MWM'" -c "SET client_min_messages = debug1" \
	-c "CREATE INDEX tm_k ON tm USING memkv (k)" 2>&1 |
	sed -n 's/.*memkv run writer: run .* keys in \([0-9]*\) slices.*/\1/p')
Q -c "VACUUM ANALYZE" -c CHECKPOINT
echo "# $KEYS keys, maintenance_work_mem $MWM: one run of $slices slices"
key() { Q -c "SELECT k FROM keys WHERE id = $((RANDOM * 32768 % KEYS + 1 + RANDOM % 7))"; }

# One new session: its first statement looks a random loaded key up in
# table $1; prints the index blocks it fetched.
first_lookup()
{
	local t=$1 k
	k=$(key)
	Q -c "SET enable_seqscan = off" -c "SET enable_bitmapscan = off" -c BEGIN \
		-c "SELECT count(*) FROM $t WHERE k = \$q\$$k\$q\$" \
		-c "SELECT pg_stat_get_xact_blocks_fetched('${t}_k'::regclass)" -c COMMIT |
		awk 'NR == 1 && $1 < 1 {exit 1} NR == 2 {print}'
}

for t in tv tm tb; do first_lookup $t >/dev/null; done
tables=(tv tm tb)
for r in $(seq 1 "$ROUNDS"); do
	for i in 0 1 2; do
		t=${tables[$(((i + r) % 3))]}
		echo "$r|$t|$(first_lookup "$t")"
	done
done | tee "$W/lines"
echo "# median blocks per first lookup: table|blocks"
for t in tv tm tb; do
	echo "$t|$(grep "|$t|" "$W/lines" | cut -d'|' -f3 | sort -n |
		awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')"
done

# Instructions: the server stopped, one single-user backend per table
# under callgrind, counting only PortalRun (the statements' execution, the
# run memo's reads included) of: two SETs and the lookup of one key, the
# same key for all three tables.
k=$(key)
runuser -u postgres -- "$BIN/pg_ctl" -D "$W/data" -w stop >/dev/null
echo "# instructions in PortalRun of a new backend's first lookup: table|instructions"
for t in tv tm tb; do
	printf '%s\n' "SET enable_seqscan = off" "SET enable_bitmapscan = off" \
		"SELECT count(*) FROM $t WHERE k = \$q\$$k\$q\$" > "$W/single.sql"
	chown postgres: "$W/single.sql"
	runuser -u postgres -- valgrind --tool=callgrind --toggle-collect=PortalRun \
		--callgrind-out-file="$W/cg.$t" "$BIN/postgres" --single -D "$W/data" postgres \
		< "$W/single.sql" > "$W/single.$t.out" 2>&1
	echo "$t|$(callgrind_annotate "$W/cg.$t" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)"
done
runuser -u postgres -- "$BIN/pg_ctl" -D "$W/data" -l "$W/log" -w start >/dev/null
