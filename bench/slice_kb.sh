#!/bin/bash
# bench/slice_kb.sh -- range scans of a run of several slices with and
# without key blocks (issue 15): the same index, the same server, memkv.so
# files swapped between rounds, btree in the same run as the reference.
#
# Usage (as root; PostgreSQL and memkv installed under BINDIR's tree, the
# Debian paths fetched by bench/data.sh into /var/tmp/memkv-bench-data):
#   bash bench/slice_kb.sh BINDIR KEYS ROUNDS LABEL=SO [LABEL=SO ...]
# e.g. bash bench/slice_kb.sh /opt/pgh/h2/usr/lib/postgresql/15/bin 4000000 2 \
#          main=/tmp/main.so h2=/tmp/h2.so
#
# A throwaway server (postgres OS user, temp directory, private port and
# socket dir, stopped on exit), shared_buffers 1GB, memkv.shared_memory
# 1GB (room for the run's copy and its key blocks), autovacuum off.  Two
# tables get the same KEYS shuffled Debian paths, one with a memkv index
# built at the default maintenance_work_mem (64MB: several slices from
# about 3M paths on), one with a btree index (COLLATE "C").  The memkv.so
# installed in BINDIR's pkglibdir is replaced by each SO in turn (the
# server restarted) and put back on exit.  Each round, for each SO: a
# range scan, then up to 60 s for the background worker to build key
# blocks (cache_bytes above the run's bytes); then, for memkv and btree,
# five timed index-only counts of the wide range 'usr/share' ..
# 'usr/sharf' (psql \timing, ms) and 10 s of pgbench (one client) running
# `k >= random loaded key ORDER BY k LIMIT 20` (TPS).
#
# Prints: LABEL|round|index|count ms 1|..|5|LIMIT 20 TPS|cache_bytes|run bytes
set -e
BIN=$1; KEYS=$2; ROUNDS=$3
shift 3
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths_shuf
LIB=$("$BIN/pg_config" --pkglibdir)
cp "$LIB/memkv.so" /tmp/slice_kb.orig.so
PORT=$((22000 + RANDOM % 1000))
bench_scratch_server "$BIN" $PORT "shared_buffers = 1GB" "memkv.shared_memory = 1GB"
# shellcheck disable=SC2064  # expand now
trap "cp /tmp/slice_kb.orig.so '$LIB/memkv.so'; runuser -u postgres -- '$BIN/pg_ctl' -D '$W/data' -m immediate stop >/dev/null 2>&1; rm -rf '$W'" EXIT
head -n "$KEYS" "$PATHS" > "$W/keys"
chown postgres: "$W/keys"
Q() { runuser -u postgres -- "$BIN/psql" -h "$W" -p $PORT -X -q -A -t -v ON_ERROR_STOP=1 -d postgres "$@"; }
Q -c "CREATE EXTENSION memkv" -c "CREATE TABLE keys (id serial PRIMARY KEY, k text)" \
	-c "\\copy keys(k) from '$W/keys'" \
	-c "CREATE TABLE tm AS SELECT id, k FROM keys" \
	-c "CREATE TABLE tb AS SELECT id, k COLLATE \"C\" AS k FROM keys"
Q -c "SET client_min_messages = debug1" -c "CREATE INDEX tm_k ON tm USING memkv (k)" 2>&1 |
	sed -n 's/.*\(memkv run writer: .*\)/build: \1/p'
Q -c "CREATE INDEX tb_k ON tb (k)" -c "VACUUM ANALYZE" -c CHECKPOINT
OFF="SET enable_seqscan = off; SET enable_bitmapscan = off;"
cat > "$W/limit.sql" <<EOF
\\set id random(1, $KEYS)
SELECT count(*) FROM (SELECT id, k FROM :t WHERE k >= (SELECT k FROM keys WHERE id = :id) ORDER BY k LIMIT 20) s;
EOF
chown postgres: "$W/limit.sql"
for r in $(seq 1 "$ROUNDS"); do
	for so in "$@"; do
		label=${so%%=*}
		runuser -u postgres -- "$BIN/pg_ctl" -D "$W/data" -m fast stop >/dev/null
		cp "${so#*=}" "$LIB/memkv.so"
		runuser -u postgres -- "$BIN/pg_ctl" -D "$W/data" -l "$W/log" -w start >/dev/null
		Q -c "$OFF SELECT count(*) FROM tm WHERE k >= 'usr/share' AND k < 'usr/sharf'" >/dev/null
		for _ in $(seq 1 60); do
			[ "$(Q -c "SELECT cache_bytes > fst_bytes + posting_bytes FROM memkv_state('tm_k')")" = t ] && break
			sleep 1
		done
		for t in tm tb; do
			ms=$({
				echo "$OFF"
				echo '\timing on'
				for i in 0 1 2 3 4 5; do
					echo "SELECT count(*) FROM $t WHERE k >= 'usr/share' AND k < 'usr/sharf';"
				done
			} | Q | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n 5 | paste -sd'|')
			tps=$(runuser -u postgres -- "$BIN/pgbench" -h "$W" -p $PORT -n -c 1 -T 10 \
				-D t=$t -f "$W/limit.sql" postgres 2>/dev/null |
				sed -n 's/^tps = \([0-9.]*\).*/\1/p')
			echo "$label|$r|$t|$ms|$tps|$(Q -c "SELECT cache_bytes || '|' || (fst_bytes + posting_bytes) FROM memkv_state('tm_k')")"
		done
	done
done
