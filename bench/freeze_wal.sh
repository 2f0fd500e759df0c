#!/bin/bash
# bench/freeze_wal.sh -- what a freeze costs as the index grows: its time,
# its WAL per inserted key, and the index's size, against btree's time and
# WAL for the same inserts, in the same run (issue 15's freeze target).
#
# Usage (as root; PostgreSQL and memkv installed under BINDIR's tree, and
# the Debian paths fetched by bench/data.sh into /var/tmp/memkv-bench-data):
#   bash bench/freeze_wal.sh BINDIR LABEL [KEYS] [BATCH] [NBATCH]
# e.g. bash bench/freeze_wal.sh /usr/lib/postgresql/15/bin step5 1000000 100000 3
#
# A throwaway server (postgres OS user, temp directory, private port and
# socket dir, stopped on exit) with default settings except: autovacuum
# off, memkv.freeze_threshold = 0 (no background freeze between the
# statements measured), max_wal_size = 8GB and checkpoint_timeout = 1h
# (no checkpoint inside the measured batches: the only checkpoint is the
# CHECKPOINT after the builds, so each index pays its full-page images once,
# on its first touch of a page).  Tables m (memkv) and b (btree) get the
# same KEYS shuffled Debian paths (paths.all shuffled with a fixed random
# source into paths.all.shuf if missing), then NBATCH times: BATCH new
# paths are COPYed into m, memkv_freeze runs, the same paths are COPYed
# into b.  Times are wall-clock around each psql call (connection
# included, a few ms); WAL is pg_waldump --stats over the LSN range of
# each statement (record bytes and full-page-image bytes apart).
#
# Prints per batch: LABEL|batch|memkv insert ms|freeze ms|btree insert ms|
#   memkv insert WAL/key|memkv freeze WAL/key|btree insert WAL/key|
#   memkv insert FPI/key|memkv freeze FPI/key|btree insert FPI/key
# then the totals line (sums over the batches: memkv inserts + freezes ms,
# btree inserts ms, WAL/key both, their ratios), the sizes in B/key of both
# indexes fresh and after, the memkv index after REINDEX (a fresh build of
# the same keys), the memkv index's free pages after the batches
# (pg_freespace: the freed delta-log pages, reusable by the next inserts),
# and memkv_verify's row count (must be 0).  pg_waldump's
# full output per statement is kept in $FREEZE_WAL_LOG (if set) as
# walstats-<batch>-<step>.txt.
set -e
BIN=$1; LABEL=$2; KEYS=${3:-1000000}; BATCH=${4:-100000}; NB=${5:-3}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_paths_shuf
PORT=$((20000 + RANDOM % 1000))
bench_scratch_server "$BIN" $PORT "memkv.log_freeze_min_duration = 0"
head -n $((KEYS + BATCH*NB)) $PATHS > $W/keys
head -n $KEYS $W/keys > $W/base; tail -n $((BATCH*NB)) $W/keys > $W/new
split -l $BATCH -d $W/new $W/new.
chown postgres: $W/*
P="runuser -u postgres -- $BIN/psql -h $W -p $PORT -XAtq -d postgres"
now() { date +%s%N; }
# walstats FROM TO NAME: "total_bytes fpi_bytes" of the WAL between two
# LSNs (pg_waldump --stats' Total line: N, record size, FPI size, combined)
walstats()
{
	runuser -u postgres -- $BIN/pg_waldump -p $W/data/pg_wal --stats -s "$1" -e "$2" \
		> $W/walstats.txt 2>&1 || true
	[ -n "${FREEZE_WAL_LOG:-}" ] && mkdir -p "$FREEZE_WAL_LOG" &&
		cp $W/walstats.txt "$FREEZE_WAL_LOG/walstats-$3.txt"
	awk '$1 == "Total" { gsub(/[(%)]/, ""); print $7, $5 }' $W/walstats.txt
}
$P -c "CREATE EXTENSION memkv; CREATE TABLE m(k text COLLATE \"C\"); CREATE TABLE b(k text COLLATE \"C\");"
$P -c "\\copy m FROM '$W/base'"; $P -c "\\copy b FROM '$W/base'"
$P -c "CREATE INDEX m_k ON m USING memkv (k); CREATE INDEX b_k ON b (k); CHECKPOINT;"
ms0=$($P -c "SELECT pg_relation_size('m_k')"); bs0=$($P -c "SELECT pg_relation_size('b_k')")
i=0; TM=0; TF=0; TB=0; WM=0; WF=0; WB=0
for f in $W/new.*; do
  i=$((i + 1))
  l0=$($P -c "SELECT pg_current_wal_lsn()")
  t0=$(now); $P -c "\\copy m FROM '$f'"; t1=$(now)
  l1=$($P -c "SELECT pg_current_wal_lsn()")
  t2=$(now); $P -c "SELECT memkv_freeze('m_k')" >/dev/null; t3=$(now)
  l2=$($P -c "SELECT pg_current_wal_lsn()")
  t4=$(now); $P -c "\\copy b FROM '$f'"; t5=$(now)
  l3=$($P -c "SELECT pg_current_wal_lsn()")
  read -r wm fm <<<"$(walstats $l0 $l1 $i-memkv-insert)"
  read -r wf ff <<<"$(walstats $l1 $l2 $i-memkv-freeze)"
  read -r wb fb <<<"$(walstats $l2 $l3 $i-btree-insert)"
  TM=$((TM + (t1 - t0) / 1000000)); TF=$((TF + (t3 - t2) / 1000000)); TB=$((TB + (t5 - t4) / 1000000))
  WM=$((WM + wm)); WF=$((WF + wf)); WB=$((WB + wb))
  echo "$LABEL|$i|$(( (t1 - t0) / 1000000 ))|$(( (t3 - t2) / 1000000 ))|$(( (t5 - t4) / 1000000 ))|$((wm / BATCH))|$((wf / BATCH))|$((wb / BATCH))|$((fm / BATCH))|$((ff / BATCH))|$((fb / BATCH))"
done
N=$((BATCH * NB))
echo "$LABEL totals|memkv inserts + freezes ms $((TM + TF)) (inserts $TM, freezes $TF)|btree inserts ms $TB|ratio $(awk "BEGIN { printf \"%.2f\", ($TM + $TF) / $TB }")|WAL/key memkv $(((WM + WF) / N)) btree $((WB / N)) ratio $(awk "BEGIN { printf \"%.2f\", ($WM + $WF) / $WB }")"
ms1=$($P -c "SELECT pg_relation_size('m_k')")
# pages the freezes freed (the delta log's, the FSM's): reusable, not returned
$P -c "CREATE EXTENSION pg_freespacemap"
$P -c "SELECT '$LABEL memkv free pages after', count(*), 'of', pg_relation_size('m_k') / 8192, 'B/key without them', round((pg_relation_size('m_k') - 8192 * count(*)) / $((KEYS + N)).0, 1) FROM pg_freespace('m_k') WHERE avail > 0"
$P -c "REINDEX INDEX m_k"
$P -c "SELECT '$LABEL sizes B/key fresh -> after', round($ms0 / $KEYS.0, 1), round($ms1 / count(*)::numeric, 1), 'after REINDEX', round(pg_relation_size('m_k') / count(*)::numeric, 1), 'btree', round($bs0 / $KEYS.0, 1), round(pg_relation_size('b_k') / count(*)::numeric, 1) FROM m"
$P -c "SELECT count(*) FROM memkv_verify('m_k')"
[ -n "${FREEZE_WAL_LOG:-}" ] && cp $W/log "$FREEZE_WAL_LOG/server.log"
exit 0
