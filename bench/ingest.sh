#!/bin/bash
# bench/ingest.sh -- sustained ingest with the background worker (issue 15;
# step 13 of src/README's "Implementation plan"): memkv against btree.
#
# Usage:
#   bash bench/ingest.sh [--quick] [--keys N] [--inserts N]
#                        [--thresholds "100000 1000000"] [--clients C]
#                        [--point-clients P] [--range-clients R]
#                        [--rows R] [--sample S] [--baseline S]
#                        [--out DIR] [--port P] [--no-install]
#                        [--memkv-ref REF] [--bindir DIR]
#
# One command, run as root on a Debian 12 machine, with the conventions of
# bench/run.sh and bench/concurrency.sh (shared through bench/lib.sh):
# installs what is missing, builds memkv into a private copy of the
# PostgreSQL installation PG_CONFIG names (or takes --bindir), samples N
# Debian paths (bench/data.sh), starts a throwaway server as the postgres
# OS user on a private port and socket dir (test/lib/pgserver.sh; stopped
# on exit, also on failure), and then, for btree and for each memkv
# variant in turn, on a fresh copy of the same N-row table:
#
#   1. builds the index (btree COLLATE "C", or memkv WITH
#      (freeze_threshold = T) for each T of --thresholds), CHECKPOINT;
#   2. baseline: --baseline seconds of the query clients alone;
#   3. ingest: --clients pgbench clients insert --inserts new keys, --rows
#      per transaction (INSERT ... SELECT of --rows loaded keys, picked by
#      a hash of the client, its counter and the row number, each plus
#      '/~CLIENT.SEQ.ROW': never seen before), while --point-clients run
#      point lookups (k = key) and --range-clients run
#      k >= key ORDER BY k LIMIT 20, each as its own pgbench with
#      --progress every --sample seconds; the query clients stop when the
#      inserts are done;
#   4. every --sample seconds meanwhile, one row of samples.tsv: rows
#      inserted, WAL bytes, index and table size, and for memkv the runs
#      (read from the metapage's run directory with pageinspect), the delta
#      and frozen TIDs, freezes, merges and their cumulative time
#      (memkv_state);
#   5. at the end: the WAL of the ingest split by pg_waldump --stats into
#      the table's (Heap, Heap2, Transaction) and the rest (the index's,
#      checkpoints'), pg_stat_wal's full-page images, the freeze and merge
#      lines of the server log (memkv.log_freeze_min_duration = 0).
#
# Server settings: PostgreSQL's and memkv's defaults (shared_buffers
# 128MB, memkv.shared_memory, max_wal_size 1GB, checkpoint_timeout 5min:
# checkpoints happen during the ingest as they would in production) except
# autovacuum off (no VACUUM freezes or cleans mid-run: the worker alone
# freezes), fsync off (test/lib/pgserver.sh; WAL bytes are still counted),
# wal_keep_size large enough for pg_waldump to read the whole ingest, and
# memkv.log_freeze_min_duration = 0.
#
# Results (--out, default bench/results/ingest-<UTC time>/): results.md
# (summary table memkv vs btree, per-variant timelines), samples.tsv,
# queries.tsv (per-interval TPS), summary.tsv, ingest.png (runs, rows,
# query TPS against time), logs/.  bench/README.md explains every number.
#
# Defaults: 1,000,000 keys, 5,000,000 inserts, thresholds "100000
# 1000000", 8 insert clients, 10 rows per insert, 1 point and 1 range
# client, 5 s samples, 10 s baseline.  Issue 15 asks for 20,000,000
# inserts: --inserts 20000000 (results.md says how long that would take
# from the measured rate).
# --quick: 20,000 keys, 100,000 inserts, threshold 5000, 2 insert clients,
# 1 s samples and baseline (explicit options win).

set -euo pipefail

BENCH_NAME=ingest.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
CMDLINE="bash bench/ingest.sh$(printf ' %q' "$@")"
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

bench_defaults
INSERTS=
THRESHOLDS=
CLIENTS=
POINT_CLIENTS=1
RANGE_CLIENTS=1
ROWS=10
SAMPLE=
BASELINE=

while [ $# -gt 0 ]; do
	bench_common_option "$@"
	if [ "$BENCH_SHIFT" -gt 0 ]; then shift "$BENCH_SHIFT"; continue; fi
	[ $# -ge 2 ] || case $1 in -h|--help) ;; *)
		echo "ingest.sh: unknown argument or missing value: $1 (see --help)" >&2; exit 2 ;; esac
	case $1 in
		--inserts) INSERTS=$2; shift 2 ;;
		--thresholds) THRESHOLDS=$2; shift 2 ;;
		--clients) CLIENTS=$2; shift 2 ;;
		--point-clients) POINT_CLIENTS=$2; shift 2 ;;
		--range-clients) RANGE_CLIENTS=$2; shift 2 ;;
		--rows) ROWS=$2; shift 2 ;;
		--sample) SAMPLE=$2; shift 2 ;;
		--baseline) BASELINE=$2; shift 2 ;;
		-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) echo "ingest.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

if [ "$QUICK" = 1 ]; then
	KEYS=${KEYS:-20000}
	INSERTS=${INSERTS:-100000}
	THRESHOLDS=${THRESHOLDS:-5000}
	CLIENTS=${CLIENTS:-2}
	SAMPLE=${SAMPLE:-1}
	BASELINE=${BASELINE:-1}
else
	KEYS=${KEYS:-1000000}
	INSERTS=${INSERTS:-5000000}
	THRESHOLDS=${THRESHOLDS:-100000 1000000}
	CLIENTS=${CLIENTS:-8}
	SAMPLE=${SAMPLE:-5}
	BASELINE=${BASELINE:-10}
fi
for v in KEYS INSERTS CLIENTS ROWS SAMPLE BASELINE POINT_CLIENTS RANGE_CLIENTS; do
	bench_positive "--$(echo "$v" | tr 'A-Z_' 'a-z-')" "${!v}"
done
for t in $THRESHOLDS; do bench_positive "--thresholds" "$t"; done
# each insert client runs TXNS transactions of ROWS rows
TXNS=$(( (INSERTS + CLIENTS * ROWS - 1) / (CLIENTS * ROWS) ))
INSERTS=$((TXNS * CLIENTS * ROWS))
CORES=$(nproc)

bench_out_init "ingest-$(date -u +%Y%m%dT%H%M%SZ)"
SAMPLES=$OUT/samples.tsv
QUERIES=$OUT/queries.tsv
SUMMARY=$OUT/summary.tsv
printf 'variant\tt\trows\twal_bytes\tindex_bytes\ttable_bytes\truns\trun_keys\tdelta_tids\tfrozen_tids\tfreezes\tmerges\tlayer_op_s\n' >"$SAMPLES"
printf 'variant\tphase\tquery\tt\ttps\n' >"$QUERIES"
printf '%s\n' "variant rows key_bytes elapsed_s wal_total wal_table wal_rest wal_fpi_bytes fpi_count index_before index_after table_after table_rows freezes freeze_s merges merge_s point_tps range_tps base_point_tps base_range_tps runs_end run_keys_end" |
	tr ' ' '\t' >"$SUMMARY"

# ---------------------------------------------------------------- setup

[ "$INSTALL" = 1 ] && bench_install_deps
# shellcheck source=bench/data.sh
. "$BENCH_DIR/data.sh"

WORK=$(mktemp -d /var/tmp/memkv-bench-ingest.XXXXXX)
chmod 755 "$WORK"
QPIDS=()
cleanup()
{
	local p
	for p in "${QPIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	pg_server_stop
	rm -rf "$WORK"
}
trap cleanup EXIT
log "building memkv into a private PostgreSQL copy"
bench_build_memkv

log "sampling $KEYS paths"
data_sample paths "$KEYS" "$WORK/sample.txt"
awk '{ print NR "\t" $0 }' "$WORK/sample.txt" >"$WORK/keys.tsv"
chmod 644 "$WORK/keys.tsv"

# WAL kept for pg_waldump: about 1.5 kB per inserted row, at least 1 GB
WAL_KEEP_MB=$(( INSERTS * 1500 / 1048576 ))
[ "$WAL_KEEP_MB" -ge 1024 ] || WAL_KEEP_MB=1024
# shellcheck source=test/lib/pgserver.sh
. "$REPO/test/lib/pgserver.sh"
CONF=(
	"max_connections = $((CLIENTS + POINT_CLIENTS + RANGE_CLIENTS + 20))"
	"autovacuum = off"
	"wal_keep_size = ${WAL_KEEP_MB}MB"
	"memkv.log_freeze_min_duration = 0"
	"jit = off"
	"statement_timeout = '30min'"
)
log "starting a throwaway server in $WORK/pg on port $PORT"
pg_server_start "$WORK/pg" "$PORT" "${CONF[@]}" >"$OUT/logs/server-start.log" 2>&1 ||
	die "server does not start (logs/server-start.log)"
trap cleanup EXIT

export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

q -c 'CREATE EXTENSION memkv' >/dev/null
q >/dev/null <<-EOF
	CREATE TABLE keys (id int PRIMARY KEY, k text COLLATE "C");
	COPY keys FROM '$WORK/keys.tsv';
	VACUUM ANALYZE keys;
EOF

# Runs of a memkv index, from its metapage: the run directory starts at
# byte 24 (after the page header); bytes 0-3 of it are the magic "MKV1"
# little-endian, byte 4 the format version (3), byte 72 the number of
# stripes, 73 the number of runs; then 6 bytes per stripe and 116 per run,
# whose key count is the little-endian u64 at +16 (src/rundir.c's layout).
# NULLs if the page is not in that format.
RUNS_FN_OK=1
if ! q >"$OUT/logs/pageinspect.log" 2>&1 <<-'EOF'
	CREATE EXTENSION pageinspect;
	CREATE FUNCTION bench_runs(idx regclass, OUT nruns int, OUT run_keys text)
	LANGUAGE sql AS $$
	WITH p AS (SELECT get_raw_page(idx::text, 0) AS b),
	d AS (SELECT b, get_byte(b, 24 + 73) AS n, get_byte(b, 24 + 72) AS ns,
	             get_byte(b, 24) = 49 AND get_byte(b, 25) = 86 AND
	             get_byte(b, 26) = 75 AND get_byte(b, 27) = 77 AND
	             get_byte(b, 28) = 3 AS ok FROM p)
	SELECT CASE WHEN ok THEN n END,
	       CASE WHEN ok THEN (SELECT string_agg(
	           (SELECT sum(get_byte(b, 24 + 76 + 6 * ns + 116 * i + 16 + j)::numeric
	                       * 256 ^ j) FROM generate_series(0, 7) j)::bigint::text,
	           '+' ORDER BY i) FROM generate_series(0, n - 1) i) END
	FROM d
	$$;
EOF
then
	# memkv_state() has the run count (extension 2.0), not keys per run
	RUNS_FN_OK=0
	log "pageinspect is not available: run counts from memkv_state(), no keys per run (logs/pageinspect.log)"
fi

# ---------------------------------------------------------------- variants

VARIANTS="btree"
for t in $THRESHOLDS; do VARIANTS+=" memkv-t$t"; done

# index_ddl VARIANT
index_ddl()
{
	case $1 in
		btree) echo "CREATE INDEX ti_k ON ti (k)" ;;
		memkv-t*) echo "CREATE INDEX ti_k ON ti USING memkv (k) WITH (freeze_threshold = ${1#memkv-t})" ;;
	esac
}

# write_scripts DIR: the insert, point and range pgbench scripts on ti.
write_scripts()
{
	local dir=$1
	mkdir -p "$dir"
	printf '%s\n' "\\set seq :seq + 1" \
		"INSERT INTO ti (id, k) SELECT -1, s.k || '/~' || :client_id || '.' || :seq || '.' || g FROM generate_series(1, $ROWS) g JOIN keys s ON s.id = 1 + (hashint8((:seq::bigint * $ROWS + g) * 4096 + :client_id)::bigint & 2147483647) % $KEYS;" \
		>"$dir/insert.pgb"
	printf '%s\n' "\\set id random(1, $KEYS)" \
		"SELECT id FROM ti WHERE k = (SELECT k FROM keys WHERE id = :id);" \
		>"$dir/point.pgb"
	printf '%s\n' "\\set id random(1, $KEYS)" \
		"SELECT id, k FROM ti WHERE k >= (SELECT k FROM keys WHERE id = :id) ORDER BY k LIMIT 20;" \
		>"$dir/range.pgb"
}

# check_plans VARIANT: the point and range queries must use ti_k.
check_plans()
{
	local sql plan
	for sql in "SELECT id FROM ti WHERE k = (SELECT k FROM keys WHERE id = 1)" \
		"SELECT id, k FROM ti WHERE k >= (SELECT k FROM keys WHERE id = 1) ORDER BY k LIMIT 20"; do
		plan=$(q -c "EXPLAIN (COSTS OFF) $sql")
		printf '== %s\n%s\n%s\n\n' "$1" "$sql" "$plan" >>"$OUT/plans.txt"
		echo "$plan" | grep -q " ti_k" ||
			note "$1: the plan of '$sql' does not use ti_k (plans.txt)"
	done
}

# sample VARIANT T0 LSN0 INS0: one row of samples.tsv
sample()
{
	local v=$1 t0=$2 lsn0=$3 ins0=$4 now row
	now=$(date +%s.%N)
	if [ "$v" = btree ]; then
		row=$(q -F $'\t' -c "SELECT n_tup_ins - $ins0, pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0'),
			pg_relation_size('ti_k'), pg_relation_size('ti'), '-', '-', '-', '-', '-', '-', '-'
			FROM pg_stat_user_tables WHERE relid = 'ti'::regclass") || return 0
	else
		row=$(q -F $'\t' -c "SELECT n_tup_ins - $ins0, pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn0'),
			pg_relation_size('ti_k'), pg_relation_size('ti'),
			$( [ "$RUNS_FN_OK" = 1 ] && echo "coalesce(r.nruns::text, '?'), coalesce(r.run_keys, '?')" || echo "s.runs::text, '-'"),
			coalesce(s.delta_tids, s.log_tuples), s.frozen_tids, s.freezes,
			s.stat_freezes - s.freezes, round((s.stat_freeze_time / 1000)::numeric, 3)
			FROM pg_stat_user_tables t, memkv_state('ti_k') s
			$( [ "$RUNS_FN_OK" = 1 ] && echo ", bench_runs('ti_k') r")
			WHERE t.relid = 'ti'::regclass") || return 0
	fi
	printf '%s\t%s\t%s\n' "$v" "$(awk -v a="$now" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')" \
		"$row" >>"$SAMPLES"
}

# progress_tps FILE VARIANT QUERY T0 T1: pgbench --progress-timestamp
# lines of FILE into queries.tsv (t relative to T0; phase "ingest" for the
# intervals that ended by T1, the end of the inserts, "after" for the
# last, partial one); echo the mean TPS of the ingest intervals, or, if the
# ingest ended within the first interval (a quick run on a fast machine),
# the TPS of that first interval, which the ingest overlapped
progress_tps()
{
	local f=$1 v=$2 query=$3 t0=$4 t1=$5
	sed -n 's/^progress: \([0-9.]*\) s, \([0-9.]*\) tps.*/\1 \2/p' "$f" |
		awk -v v="$v" -v qq="$query" -v t0="$t0" -v t1="$t1" -v out="$QUERIES" '
			{
				ph = ($1 <= t1 + 0.05) ? "ingest" : "after"
				printf "%s\t%s\t%s\t%.1f\t%s\n", v, ph, qq, $1 - t0, $2 >> out
				if (ph == "ingest") { s += $2; n++ }
				else if (first == "") first = $2
			}
			END {
				if (n) printf "%.1f\n", s / n
				else if (first != "") printf "%.1f\n", first
				else print "-"
			}'
}

# start_queries DIR SECONDS TAG: the point and range pgbench clients in
# the background (their PIDs in QPIDS), logs in DIR/TAG-{point,range}.log
start_queries()
{
	local dir=$1 secs=$2 tag=$3 kind n
	QPIDS=()
	for kind in point range; do
		if [ $kind = point ]; then n=$POINT_CLIENTS; else n=$RANGE_CLIENTS; fi
		(cd "$dir" && exec pgbench -n -M prepared -c "$n" -j "$n" -T "$secs" \
			--progress="$SAMPLE" --progress-timestamp -f $kind.pgb \
			>"$dir/$tag-$kind.log" 2>&1) &
		QPIDS+=($!)
	done
}

stop_queries()
{
	local p
	for p in "${QPIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${QPIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	QPIDS=()
}

# layer_ops VARIANT: "freezes freeze_s merges merge_s" from the server
# log lines of the index's freezes and merges since the variant began
layer_ops()
{
	tail -c +"$LOG_OFFSET" "$WORK/pg/server.log" | awk '
		/memkv (freeze|merge) of index .*ti_k/ {
			op = ($0 ~ /memkv freeze of/) ? "f" : "m"
			match($0, /elapsed: [0-9.]+ s/)
			e = substr($0, RSTART + 9, RLENGTH - 11)
			n[op]++; s[op] += e
		}
		END { printf "%d %.2f %d %.2f\n", n["f"], s["f"], n["m"], s["m"] }'
}

# wal_split LSN0 LSN1: "total table rest fpi_bytes" bytes of WAL in the
# range (pg_waldump --stats; table = Heap + Heap2 + Transaction)
wal_split()
{
	pg_as_postgres "$PG_BINDIR/pg_waldump" -p "$WORK/pg/data/pg_wal" --stats \
		-s "$1" -e "$2" >"$WORK/walstats.txt" 2>&1 || true
	cp "$WORK/walstats.txt" "$OUT/logs/walstats-$3.txt"
	awk '{ gsub(/[(%)]/, "") }
		$1 == "Total" { tot = $7; fpi = $5 }
		$1 == "Heap" || $1 == "Heap2" || $1 == "Transaction" { tab += $8 }
		END { if (tot == "") print "- - - -"; else printf "%.0f %.0f %.0f %.0f\n", tot, tab, tot - tab, fpi }' \
		"$WORK/walstats.txt"
}

# run_variant VARIANT: steps 1 to 5 above; one line of summary.tsv
run_variant()
{
	local v=$1 dir=$WORK/run-$1 t0 lsn0 ins0 fpi0 ipid secs size0 rows keybytes
	local base_point base_range point range lsn1 fpi1 t1 elapsed wal ops sz next
	write_scripts "$dir"
	log "$v: table and index"
	q >/dev/null <<-EOF
		DROP TABLE IF EXISTS ti;
		CREATE TABLE ti (id bigint NOT NULL, k text COLLATE "C");
		INSERT INTO ti SELECT id, k FROM keys ORDER BY id;
		VACUUM ANALYZE ti;
		$(index_ddl "$v");
		CHECKPOINT;
	EOF
	check_plans "$v"
	chmod -R a+rwX "$dir"

	log "$v: baseline, query clients alone for $BASELINE s"
	start_queries "$dir" "$BASELINE" base
	for p in "${QPIDS[@]}"; do wait "$p" || note "$v: baseline pgbench failed ($p)"; done
	QPIDS=()
	for f in "$dir"/base-*.log; do mv "$f" "$OUT/logs/$v-$(basename "$f")"; done
	base_point=$(sed -n 's/^tps = \([0-9.]*\) .*without.*/\1/p' "$OUT/logs/$v-base-point.log" | tail -1)
	base_range=$(sed -n 's/^tps = \([0-9.]*\) .*without.*/\1/p' "$OUT/logs/$v-base-range.log" | tail -1)

	size0=$(q -c "SELECT pg_relation_size('ti_k')")
	LOG_OFFSET=$(( $(stat -c %s "$WORK/pg/server.log") + 1 ))
	read -r lsn0 ins0 fpi0 < <(q -F ' ' -c "SELECT pg_current_wal_lsn(), n_tup_ins,
		(SELECT wal_fpi FROM pg_stat_wal) FROM pg_stat_user_tables WHERE relid = 'ti'::regclass")
	t0=$(date +%s.%N)
	log "$v: ingest of $INSERTS rows ($CLIENTS clients x $TXNS transactions x $ROWS rows) with $POINT_CLIENTS point and $RANGE_CLIENTS range clients"
	start_queries "$dir" 864000 ingest
	(cd "$dir" && pgbench -n -M prepared -c "$CLIENTS" -j "$(( CLIENTS < 2 * CORES ? CLIENTS : 2 * CORES ))" \
		-t "$TXNS" -D seq=0 --progress="$SAMPLE" --progress-timestamp -f insert.pgb \
		>"$OUT/logs/$v-insert.log" 2>&1; rc=$?; date +%s.%N >"$dir/insert.end"; exit $rc) &
	ipid=$!
	# a sample every SAMPLE seconds; the query clients stop as soon as
	# the inserts are done (polled every 0.2 s)
	sample "$v" "$t0" "$lsn0" "$ins0"
	next=$(awk -v a="$t0" -v s="$SAMPLE" 'BEGIN { printf "%.3f", a + s }')
	while kill -0 "$ipid" 2>/dev/null; do
		sleep 0.2
		if awk -v n="$(date +%s.%N)" -v x="$next" 'BEGIN { exit !(n >= x) }'; then
			sample "$v" "$t0" "$lsn0" "$ins0"
			next=$(awk -v a="$next" -v s="$SAMPLE" 'BEGIN { printf "%.3f", a + s }')
		fi
	done
	wait "$ipid" || note "$v: the insert pgbench failed (logs/$v-insert.log)"
	# the query clients report once at least (a quick ingest may be shorter
	# than one progress interval: progress_tps then takes that interval)
	while awk -v n="$(date +%s.%N)" -v a="$t0" -v s="$SAMPLE" 'BEGIN { exit !(n < a + s + 0.5) }'; do
		sleep 0.1
	done
	stop_queries
	t1=$(cat "$dir/insert.end")
	sleep 1		# let the backends' WAL statistics reach pg_stat_wal
	sample "$v" "$t0" "$lsn0" "$ins0"
	for f in "$dir"/ingest-*.log; do mv "$f" "$OUT/logs/$v-$(basename "$f")"; done
	point=$(progress_tps "$OUT/logs/$v-ingest-point.log" "$v" point "$t0" "$t1")
	range=$(progress_tps "$OUT/logs/$v-ingest-range.log" "$v" range "$t0" "$t1")
	progress_tps "$OUT/logs/$v-insert.log" "$v" insert-txn "$t0" "$t1" >/dev/null

	read -r lsn1 fpi1 < <(q -F ' ' -c "SELECT pg_current_wal_lsn(), wal_fpi FROM pg_stat_wal")
	elapsed=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
	read -r rows keybytes < <(q -F ' ' -c "SELECT count(*), sum(octet_length(k)) FROM ti WHERE id < 0")
	[ "$rows" = "$INSERTS" ] || note "$v: $rows rows inserted, $INSERTS expected"
	[ "$(q -c "SELECT count(*) - count(DISTINCT k) FROM ti WHERE id < 0")" = 0 ] ||
		note "$v: some inserted keys were not new"
	log "$v: $rows rows in $elapsed s; WAL split (pg_waldump)"
	wal=$(wal_split "$lsn0" "$lsn1" "$v")
	ops="- - - -"
	[ "$v" = btree ] || ops=$(layer_ops)
	sz=$(q -F ' ' -c "SELECT pg_relation_size('ti_k'), pg_relation_size('ti'), count(*) FROM ti")
	# the answers must still be right: every inserted key is found
	if [ "$(q -c "SET enable_seqscan = off; SELECT count(*) FROM (SELECT k FROM ti WHERE id < 0 ORDER BY random() LIMIT 1000) s WHERE EXISTS (SELECT 1 FROM ti t WHERE t.k = s.k)" | tail -1)" != 1000 ]; then
		note "$v: some inserted keys are not found through the index"
	fi
	if [ "$v" != btree ]; then
		[ "$(q -c "SELECT count(*) FROM memkv_verify('ti_k')")" = 0 ] ||
			note "$v: memkv_verify reports problems: $(q -c "SELECT string_agg(v, '; ') FROM memkv_verify('ti_k') v")"
	fi
	echo "$v $rows $keybytes $elapsed $wal $((fpi1 - fpi0)) $size0 $sz $ops $point $range ${base_point:--} ${base_range:--} $(tail -1 "$SAMPLES" | cut -f7-8)" |
		tr ' ' '\t' >>"$SUMMARY"
	rm -rf "$dir"
}

# ---------------------------------------------------------------- run

bench_meta_common "$CMDLINE"
meta keys "$KEYS"
meta avg_key_bytes "$(q -c 'SELECT round(avg(octet_length(k)), 1) FROM keys')"
meta inserts "$INSERTS"
meta clients "$CLIENTS insert clients ($ROWS rows per transaction, $TXNS transactions each), $POINT_CLIENTS point, $RANGE_CLIENTS range"
meta sample "$SAMPLE"
meta baseline "$BASELINE"
meta variants "$VARIANTS"
meta quick "$QUICK"
meta server_settings "$(q -F '=' -c "SELECT name, current_setting(name) FROM pg_settings
	WHERE name IN ('max_connections', 'shared_buffers', 'fsync', 'synchronous_commit',
	  'wal_level', 'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'wal_keep_size',
	  'maintenance_work_mem', 'full_page_writes') ORDER BY name" | paste -sd' ')"
meta memkv_settings "$(q -F '=' -c "SELECT name, current_setting(name) FROM pg_settings
	WHERE name LIKE 'memkv.%' ORDER BY name" | paste -sd' ')"
meta memkv_variants "$(for v in $VARIANTS; do printf '%s: `%s`; ' "$v" "$(index_ddl "$v")"; done | sed 's/; $//')"
meta pgbench "inserts: pgbench -n -M prepared -c $CLIENTS -j $(( CLIENTS < 2 * CORES ? CLIENTS : 2 * CORES )) -t $TXNS; queries: pgbench -n -M prepared -c 1 per script, --progress=$SAMPLE"
: >"$OUT/plans.txt"

for v in $VARIANTS; do run_variant "$v"; done
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
cp "$WORK/pg/server.log" "$OUT/logs/server.log" 2>/dev/null || true

log "writing $OUT/results.md and the plot"
python3 "$BENCH_DIR/ingest_report.py" "$OUT"
log "done: $OUT/results.md"
