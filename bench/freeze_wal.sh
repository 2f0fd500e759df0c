#!/bin/bash
# bench/freeze_wal.sh -- what a freeze costs as the index grows: its time,
# its WAL per inserted key, and the index's size, against btree's WAL for
# the same inserts, in the same run.
#
# Usage (as root; PostgreSQL and memkv installed under BINDIR's tree, and
# the Debian paths fetched by bench/data.sh into /var/tmp/memkv-bench-data):
#   bash bench/freeze_wal.sh BINDIR LABEL [KEYS] [BATCH] [NBATCH]
# e.g. bash bench/freeze_wal.sh /usr/lib/postgresql/15/bin step5 1000000 100000 3
#
# A throwaway server (postgres OS user, temp directory, private port and
# socket dir, stopped on exit) with default settings but autovacuum off and
# memkv.freeze_threshold = 0.  Tables m (memkv) and b (btree) get the same
# KEYS shuffled Debian paths (paths.all shuffled with a fixed random source
# into paths.all.shuf if missing), then NBATCH times: BATCH new paths are
# COPYed into m, memkv_freeze runs, the same paths are COPYed into b.
# Prints per batch: LABEL|freeze ms|memkv insert WAL/key|memkv freeze
# WAL/key|btree insert WAL/key; then B/key of both indexes fresh and after;
# then memkv_verify's row count (must be 0).
set -e
BIN=$1; LABEL=$2; KEYS=${3:-1000000}; BATCH=${4:-100000}; NB=${5:-3}
DATA=/var/tmp/memkv-bench-data
[ -f $DATA/paths.all.shuf ] ||
	shuf --random-source=<(yes) $DATA/paths.all > $DATA/paths.all.shuf
W=$(mktemp -d /tmp/fw.XXXX); chmod 755 $W; chown postgres: $W
head -n $((KEYS + BATCH*NB)) $DATA/paths.all.shuf > $W/keys
head -n $KEYS $W/keys > $W/base; tail -n $((BATCH*NB)) $W/keys > $W/new
split -l $BATCH -d $W/new $W/new.
chown postgres: $W/*
PORT=$((20000 + RANDOM % 1000))
runuser -u postgres -- $BIN/initdb -D $W/data --locale=C -E UTF8 >/dev/null
cat >> $W/data/postgresql.conf <<EOC
shared_preload_libraries = 'memkv'
port = $PORT
unix_socket_directories = '$W'
listen_addresses = ''
autovacuum = off
max_wal_size = 8GB
memkv.freeze_threshold = 0
EOC
trap "runuser -u postgres -- $BIN/pg_ctl -D $W/data -m immediate stop >/dev/null 2>&1; rm -rf $W" EXIT
runuser -u postgres -- $BIN/pg_ctl -D $W/data -l $W/log -w start >/dev/null
P="runuser -u postgres -- $BIN/psql -h $W -p $PORT -XAtq -d postgres"
$P -c "CREATE EXTENSION memkv; CREATE TABLE m(k text COLLATE \"C\"); CREATE TABLE b(k text COLLATE \"C\");"
$P -c "\\copy m FROM '$W/base'"; $P -c "\\copy b FROM '$W/base'"
$P -c "CREATE INDEX m_k ON m USING memkv (k); CREATE INDEX b_k ON b (k); CHECKPOINT;"
ms0=$($P -c "SELECT pg_relation_size('m_k')"); bs0=$($P -c "SELECT pg_relation_size('b_k')")
for f in $W/new.*; do
  l0=$($P -c "SELECT pg_current_wal_lsn()")
  $P -c "\\copy m FROM '$f'"
  l1=$($P -c "SELECT pg_current_wal_lsn()")
  t=$($P -c "SELECT extract(epoch FROM clock_timestamp()) * 1000" )
  $P -c "SELECT memkv_freeze('m_k')" >/dev/null
  t2=$($P -c "SELECT extract(epoch FROM clock_timestamp()) * 1000" )
  l2=$($P -c "SELECT pg_current_wal_lsn()")
  $P -c "\\copy b FROM '$f'"
  l3=$($P -c "SELECT pg_current_wal_lsn()")
  $P -c "SELECT '$LABEL', round($t2 - $t) AS freeze_ms,
     round(pg_wal_lsn_diff('$l1','$l0') / $BATCH.0) AS memkv_ins_wal_per_key,
     round(pg_wal_lsn_diff('$l2','$l1') / $BATCH.0) AS memkv_freeze_wal_per_key,
     round(pg_wal_lsn_diff('$l3','$l2') / $BATCH.0) AS btree_wal_per_key"
done
$P -c "SELECT '$LABEL sizes B/key fresh -> after', round($ms0 / $KEYS.0, 1), round(pg_relation_size('m_k') / count(*)::numeric, 1), 'btree', round($bs0 / $KEYS.0, 1), round(pg_relation_size('b_k') / count(*)::numeric, 1) FROM m"
$P -c "SELECT count(*) FROM memkv_verify('m_k')"
