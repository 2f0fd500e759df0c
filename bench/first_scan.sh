#!/bin/bash
# bench/first_scan.sh -- how long the first queries after CREATE INDEX take:
# memkv's first range scans build or ask for its accelerators (the largest
# run's shared copy, its key blocks), btree's read its pages into shared
# buffers.  Same run, same keys.
#
# Usage (as root; PostgreSQL and memkv installed under BINDIR's tree, the
# Debian paths fetched by bench/data.sh into /var/tmp/memkv-bench-data):
#   bash bench/first_scan.sh BINDIR LABEL [KEYS] [ROUNDS]
# e.g. bash bench/first_scan.sh /opt/pgh/t1/usr/lib/postgresql/15/bin kb-worker 1000000 3
#
# A throwaway server (postgres OS user, temp directory, private port and
# socket dir, stopped on exit), shared_buffers 1GB, memkv.shared_memory
# 1GB, autovacuum off.  Two tables get the same KEYS shuffled Debian paths,
# one with a memkv index, one with a btree index (COLLATE "C").  ROUNDS
# times, for each: REINDEX, CHECKPOINT, then in one new session five
# `k >= key ORDER BY k LIMIT 20` queries of random loaded keys, each timed
# by psql's \timing.  Then, for memkv, memkv_state's cache_bytes against
# the run's own bytes (key blocks present once cache_bytes is larger),
# after a second's pause.
#
# Prints per round and index: LABEL|round|index|ms of query 1|2|3|4|5
set -e
BIN=$1; LABEL=$2; KEYS=${3:-1000000}; ROUNDS=${4:-3}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths_shuf
PORT=$((21000 + RANDOM % 1000))
bench_scratch_server "$BIN" $PORT "shared_buffers = 1GB" "memkv.shared_memory = 1GB"
head -n "$KEYS" "$PATHS" > "$W/keys"
chown postgres: "$W/keys"
Q() { runuser -u postgres -- "$BIN/psql" -h "$W" -p $PORT -X -q -A -t -v ON_ERROR_STOP=1 -d postgres "$@"; }
Q -c "CREATE EXTENSION memkv" -c "CREATE TABLE keys (id serial PRIMARY KEY, k text)" \
	-c "\\copy keys(k) from '$W/keys'" \
	-c "CREATE TABLE tm AS SELECT id, k FROM keys" \
	-c "CREATE TABLE tb AS SELECT id, k COLLATE \"C\" AS k FROM keys" \
	-c "CREATE INDEX tm_k ON tm USING memkv (k)" -c "CREATE INDEX tb_k ON tb (k)" \
	-c "VACUUM ANALYZE"
for r in $(seq 1 "$ROUNDS"); do
	for t in tm tb; do
		Q -c "REINDEX INDEX ${t}_k" -c CHECKPOINT
		times=$({
			echo '\timing on'
			for i in 1 2 3 4 5; do
				echo "SELECT count(*) FROM (SELECT id, k FROM $t WHERE k >= (SELECT k FROM keys WHERE id = $((RANDOM * 30 % KEYS + 1))) ORDER BY k LIMIT 20) s;"
			done
		} | Q | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | paste -sd'|')
		echo "$LABEL|$r|$t|$times"
	done
	sleep 1
	echo "$LABEL|$r|memkv cache_bytes vs run bytes|$(Q -c "SELECT cache_bytes || '|' || (fst_bytes + posting_bytes) FROM memkv_state('tm_k')")"
done
