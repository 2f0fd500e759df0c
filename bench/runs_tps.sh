#!/bin/bash
# bench/runs_tps.sh BINDIR -- reads through several runs against one: 1M
# shuffled Debian paths, then 3 x 100K inserts each followed by
# memkv_freeze (four runs), btree fed the same rows; point-lookup and
# prefix-count (^@, 25-byte prefixes) TPS for both, 1 client, 15 s each;
# then REINDEX of the memkv index (one run) and the same again.  A
# throwaway server as postgres, temp dir, private port and socket dir,
# stopped on exit.  The prefix count has no btree plan (^@ is not
# btree-indexable): its btree figure is a seq scan, shown for scale only.
# Usage (as root): bash bench/runs_tps.sh /usr/lib/postgresql/15/bin
set -e
BIN=$1; W=$(mktemp -d /tmp/rt.XXXX); chmod 755 $W; chown postgres: $W
head -n 1300000 /var/tmp/memkv-bench-data/paths.all.shuf > $W/keys; chown postgres: $W/keys
PORT=$((22000 + RANDOM % 1000))
runuser -u postgres -- $BIN/initdb -D $W/data --locale=C -E UTF8 >/dev/null
printf "shared_preload_libraries = 'memkv'\nport = $PORT\nunix_socket_directories = '$W'\nlisten_addresses = ''\nautovacuum = off\nmemkv.freeze_threshold = 0\n" >> $W/data/postgresql.conf
trap "runuser -u postgres -- $BIN/pg_ctl -D $W/data -m immediate stop >/dev/null 2>&1; rm -rf $W" EXIT
runuser -u postgres -- $BIN/pg_ctl -D $W/data -l $W/log -w start >/dev/null
P="runuser -u postgres -- $BIN/psql -h $W -p $PORT -XAtq -d postgres"
$P -c "CREATE EXTENSION memkv; CREATE TABLE src(id serial primary key, k text COLLATE \"C\");"
$P -c "\\copy src(k) FROM '$W/keys'"
$P -c "CREATE TABLE m AS SELECT k FROM src WHERE id <= 1000000; CREATE TABLE b AS SELECT k FROM src WHERE id <= 1000000;
CREATE INDEX m_k ON m USING memkv (k); CREATE INDEX b_k ON b (k);"
for i in 0 1 2; do $P -c "INSERT INTO m SELECT k FROM src WHERE id > 1000000 + $i*100000 AND id <= 1100000 + $i*100000; INSERT INTO b SELECT k FROM src WHERE id > 1000000 + $i*100000 AND id <= 1100000 + $i*100000; SELECT memkv_freeze('m_k');" >/dev/null; done
$P -c "VACUUM (ANALYZE) src" -c "ANALYZE m" -c "ANALYZE b" >/dev/null
run() { # table label
  printf '\\set id random(1, 1300000)\nSELECT count(*) FROM %s WHERE k = (SELECT k FROM src WHERE id = :id);\n' $1 > $W/pt.sql
  printf '\\set id random(1, 1300000)\nSELECT count(*) FROM %s WHERE k ^@ (SELECT left(k, 25) FROM src WHERE id = :id);\n' $1 > $W/px.sql
  chown postgres: $W/*.sql
  pt=$(runuser -u postgres -- $BIN/pgbench -h $W -p $PORT -n -c 1 -T 15 -f $W/pt.sql postgres 2>/dev/null | grep -oP 'tps = \K[0-9.]+')
  px=$(runuser -u postgres -- $BIN/pgbench -h $W -p $PORT -n -c 1 -T 15 -f $W/px.sql postgres 2>/dev/null | grep -oP 'tps = \K[0-9.]+')
  echo "$2 $1 point=$pt prefix=$px"
}
run m "4runs"; run b "4runs"
$P -c "REINDEX INDEX m_k" >/dev/null
run m "1run"; run b "1run"
