#!/bin/bash
# bench/filter_lookup.sh -- what a second run costs a point lookup, with and
# without its membership filter (src/README, "Per-run filter"), counted in
# instructions by callgrind, against btree on the same rows.
#
# Usage (as root; the server runs as postgres):
#   bash bench/filter_lookup.sh BINDIR PORT KEYS_FILE CPUPER [N1 N2]
#
#   BINDIR     PostgreSQL binaries with memkv installed
#   PORT       a free port; the server is private (socket in its dir)
#   KEYS_FILE  one key a line, shuffled (bench/data.sh paths 1000000)
#   CPUPER     the per-transaction instruction counter (/work/notes/cpuper.sh:
#              pgbench -c1 -t N1 then -t N2 under callgrind, difference
#              per transaction); default N1 300, N2 1300
#
# Four tables hold the keys (id, k): tm, tn and t1 with a memkv index, tb
# with btree (COLLATE "C").  tm, tn and tb are put in the state "one run
# (CREATE INDEX over all keys) + a second run of 10% of them as k || '/~z'
# || id (a freeze) + a small delta (1% as k || '/~d' || id)"; tn's second
# run is written with memkv.debug_filter_bits = 0 (no filter), tm's with
# the default filter; btree gets the same rows.  t1 has no second run (one
# run and the delta): what a second run costs is tm's (tn's) figure minus
# t1's.  The point script is
# bench/concurrency.sh's: the lookup of a random loaded key -- present in
# the bottom run, absent from the second run, and for a tenth of them a
# proper prefix of a second-run key.  Prints the index sizes, the second
# runs' writer lines (pages, filter blocks) and instructions per lookup.
# Results and the server stay in /var/tmp/h1-filter (delete it after).
set -euo pipefail
BIN=$1 PORT=$2 KEYS_FILE=$3 CPUPER=$4 N1=${5:-300} N2=${6:-1300}
W=/var/tmp/h1-filter
D=$W/data S=$W/sock
rm -rf "$W"
mkdir -p "$S"
chown -R postgres: "$W"
cp "$KEYS_FILE" "$W/keys.txt"
chown postgres: "$W/keys.txt"
pg() { runuser -u postgres -- "$@"; }
pg "$BIN/initdb" -D "$D" --locale=C --encoding=UTF8 >/dev/null
cat >>"$D/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$S'
shared_preload_libraries = 'memkv'
shared_buffers = 1GB
memkv.shared_memory = 512
memkv.freeze_threshold = 0
autovacuum = off
jit = off
max_wal_size = 4GB
EOF
pg "$BIN/pg_ctl" -D "$D" -l "$W/server.log" -w start >/dev/null
q() { pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$S" -p "$PORT" -d postgres "$@"; }
q -c "CREATE EXTENSION memkv" \
  -c "CREATE TABLE raw (k text)" \
  -c "COPY raw FROM '$W/keys.txt'" \
  -c "CREATE TABLE keys AS SELECT (row_number() OVER ())::int AS id, k COLLATE \"C\" AS k FROM raw" \
  -c "CREATE UNIQUE INDEX keys_id ON keys (id)" \
  -c "DROP TABLE raw"
for t in tm tn t1 tb; do
	q -c "CREATE TABLE $t (id int, k text COLLATE \"C\")" \
	  -c "INSERT INTO $t SELECT id, k FROM keys"
done
q -c "CREATE INDEX tm_k ON tm USING memkv (k)" \
  -c "CREATE INDEX tn_k ON tn USING memkv (k)" \
  -c "CREATE INDEX t1_k ON t1 USING memkv (k)" \
  -c "CREATE INDEX tb_k ON tb (k)"
for t in tm tn t1 tb; do
	set_bits=""
	[ $t = tn ] && set_bits="SET memkv.debug_filter_bits = 0;"
	[ $t = t1 ] ||
		q -c "$set_bits INSERT INTO $t SELECT -1, k || '/~z' || id FROM keys WHERE id % 10 = 0"
	if [ $t = tm ] || [ $t = tn ]; then
		q -c "$set_bits SET client_min_messages = debug1; SELECT memkv_freeze('${t}_k')" 2>&1 |
			grep 'run writer' || true
	fi
	q -c "INSERT INTO $t SELECT -1, k || '/~d' || id FROM keys WHERE id % 100 = 1" \
	  -c "ANALYZE $t"
	printf '%s\n' "\\set id random(1, $(wc -l <"$W/keys.txt"))" \
		"SELECT id FROM $t WHERE k = (SELECT k FROM keys WHERE id = :id);" \
		>"$W/point-$t.pgb"
done
q -c CHECKPOINT
q -At -c "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname IN ('tm_k', 'tn_k', 't1_k', 'tb_k') ORDER BY 1"
q -At -c "SELECT 'runs ' || runs FROM memkv_state('tm_k')" -c "SELECT 'runs ' || runs FROM memkv_state('tn_k')"
q -At -c "EXPLAIN (COSTS OFF) SELECT id FROM tm WHERE k = 'x'"
pg "$BIN/pg_ctl" -D "$D" -m fast -w stop >/dev/null
chown postgres: "$W"/point-*.pgb
for t in ${ORDER:-tm tn t1 tb}; do
	bash "$CPUPER" "$BIN" "$D" "$S" "$PORT" "$W/point-$t.pgb" "$N1" "$N2" | grep -E 'Ir/txn|files'
done
