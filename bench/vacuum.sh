#!/bin/bash
# bench/vacuum.sh -- what VACUUM costs a memkv index after a few deletes:
# its time and WAL, against btree's and against the heap's own share, in
# the same run (issue 15 item 3).
#
# Usage (as root; PostgreSQL and memkv installed under BINDIR's tree, the
# Debian paths fetched by bench/data.sh into /var/tmp/memkv-bench-data):
#   bash bench/vacuum.sh BINDIR LABEL [KEYS] [DEAD_PERCENT] [ROUNDS]
# e.g. bash bench/vacuum.sh /opt/pgh/h1/usr/lib/postgresql/15/bin dead-lists 1000000 1 2
#
# A throwaway server (postgres OS user, temp directory, private port and
# socket dir, stopped on exit), autovacuum off, memkv.freeze_threshold = 0,
# max_wal_size = 8GB, checkpoint_timeout = 1h.  Three tables get the same
# KEYS shuffled Debian paths: h (no index), m (a memkv index: one run, from
# CREATE INDEX), b (a btree index).  CHECKPOINT, then ROUNDS times: the
# same DEAD_PERCENT of the rows (every row whose id mod 100 is below it,
# shifted each round) is deleted from each table, CHECKPOINT, and each
# table is VACUUMed; time is wall-clock around the psql call, WAL the
# insert LSN's distance.  The index's share is the table's figure less h's.
#
# Prints per round: LABEL|round|heap ms|memkv ms|btree ms|heap WAL kB|
#   memkv WAL kB|btree WAL kB|memkv index ms|btree index ms|memkv index
#   WAL kB|btree index WAL kB|memkv index pages before|after
# and memkv_verify's row count at the end (must be 0).
set -e
BIN=$1; LABEL=$2; KEYS=${3:-1000000}; DEAD=${4:-1}; ROUNDS=${5:-2}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths_shuf
PORT=$((21000 + RANDOM % 1000))
bench_scratch_server "$BIN" $PORT
head -n $KEYS $PATHS > $W/keys
chown postgres: $W/keys
Q() { runuser -u postgres -- $BIN/psql -h $W -p $PORT -X -q -A -t -v ON_ERROR_STOP=1 -d postgres "$@"; }
ms() { date +%s%3N; }
Q -c "CREATE EXTENSION memkv" -c "CREATE TABLE h (id serial, k text COLLATE \"C\")" \
	-c "\\copy h(k) from '$W/keys'" \
	-c "CREATE TABLE m AS SELECT * FROM h" -c "CREATE TABLE b AS SELECT * FROM h" \
	-c "CREATE INDEX m_k ON m USING memkv (k)" -c "CREATE INDEX b_k ON b (k)" \
	-c "VACUUM (FREEZE) h" -c "VACUUM (FREEZE) m" -c "VACUUM (FREEZE) b" -c "CHECKPOINT"
for r in $(seq 1 $ROUNDS); do
	lo=$(( (r - 1) * DEAD )); hi=$(( r * DEAD ))
	for t in h m b; do
		Q -c "DELETE FROM $t WHERE id % 100 >= $lo AND id % 100 < $hi"
	done
	Q -c CHECKPOINT
	pages0=$(Q -c "SELECT pg_relation_size('m_k') / 8192")
	declare -A T WAL
	for t in h m b; do
		l0=$(Q -c "SELECT pg_current_wal_insert_lsn()")
		t0=$(ms); Q -c "VACUUM $t"; t1=$(ms)
		T[$t]=$((t1 - t0))
		WAL[$t]=$(Q -c "SELECT (pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$l0') / 1024)::bigint")
	done
	pages1=$(Q -c "SELECT pg_relation_size('m_k') / 8192")
	echo "$LABEL|$r|${T[h]}|${T[m]}|${T[b]}|${WAL[h]}|${WAL[m]}|${WAL[b]}|$((T[m] - T[h]))|$((T[b] - T[h]))|$((WAL[m] - WAL[h]))|$((WAL[b] - WAL[h]))|$pages0|$pages1"
done
echo "$LABEL|verify rows|$(Q -c "SELECT count(*) FROM memkv_verify('m_k')")"
