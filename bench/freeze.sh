#!/bin/bash
# bench/freeze.sh -- time memkv_freeze of N delta keys into an N-key frozen
# layer while another session keeps inserting into the same table.
#
# Usage:
#   bash bench/freeze.sh [--keys N] [--reps R] [--pre S] [--port P]
#                        [--out DIR] [--no-install] [--memkv-ref REF]
#                        [--memkv-src DIR] [--perf] [--set 'NAME = VALUE']
#
# One command, run as root on a Debian 12 machine (it apt-gets what is
# missing: PostgreSQL 15 and its server headers, build tools, openssl,
# perf with --perf).  Like bench/run.sh it
# installs memkv (the working tree, --memkv-ref REF via git archive, or the
# source tree --memkv-src DIR) into a private copy of the PostgreSQL 15
# installation under its work dir, starts a throwaway server from it as
# the postgres OS user (test/lib/pgserver.sh; private port and socket dir)
# and stops it on exit, also on failure.
#
# Each repetition:
#   1. t(id, k) gets N Debian paths (bench/data.sh, set `paths`) and a
#      memkv index is built on k: a frozen layer of N keys;
#   2. N more distinct paths are COPYed in: they sit in the delta
#      (memkv.freeze_threshold = 0 and memkv.shared_memory = 1GB, so no
#      automatic freeze); memkv_state() must show delta_keys = N;
#   3. one pgbench client starts inserting single rows into t, each new
#      key a held-out path plus '/<random>', its id minus the insert's
#      clock_timestamp() in microseconds;
#   4. after --pre seconds (default 6), SELECT memkv_freeze(index) runs in
#      another session, timed with clock_timestamp() around it; the rows
#      pgbench inserted until then are in the delta too, and the table
#      reports how many keys the freeze took (N plus those);
#   5. pgbench is stopped.  Insert TPS during the freeze and in the window
#      of the same length just before it come from the ids' timestamps;
#      memkv_state() before/after, memkv_verify() (must return nothing),
#      frozen + delta TIDs = rows of t, and the answers of a few counts
#      through the index and by a sequential scan (must be equal).
#
# --set 'NAME = VALUE': an extra postgresql.conf line (repeatable).  The
# server otherwise keeps PostgreSQL's defaults where this script does not
# need other values (maintenance_work_mem, which sizes the FST builder's
# registry in a freeze, stays 64MB as a background freeze would have it).
#
# --perf: also record the freezing backend with
#   perf record -g -e cpu-clock (perf-repR.data and perf-repR.txt in the
#   out dir).  Profiling slows the freeze a little; figures of such runs
#   are for the breakdown, not for the target.
#
# Results (--out, default bench/results/freeze-<UTC time>/): results.md
# (the markdown table it also prints), raw.tsv (every repetition),
# state-repR.txt, logs/.  Medians over the repetitions are reported.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
CMDLINE="bash bench/freeze.sh $*"

KEYS=1000000
REPS=3
PRE=6
OUT=
PORT=${MEMKV_BENCH_PORT:-$((56433 + $$ % 1000))}
INSTALL=1
MEMKV_REF=
MEMKV_SRC=$REPO
PERF=0
EXTRA_CONF=()
NPOOL=10000
SHARED_BUFFERS=1GB
MEMKV_SHMEM_MB=1024

while [ $# -gt 0 ]; do
	case $1 in
		--keys) KEYS=$2; shift 2 ;;
		--reps) REPS=$2; shift 2 ;;
		--pre) PRE=$2; shift 2 ;;
		--out) OUT=$2; shift 2 ;;
		--port) PORT=$2; shift 2 ;;
		--no-install) INSTALL=0; shift ;;
		--memkv-ref) MEMKV_REF=$2; shift 2 ;;
		--memkv-src) MEMKV_SRC=$(cd "$2" && pwd); shift 2 ;;
		--perf) PERF=1; shift ;;
		--set) EXTRA_CONF+=("$2"); shift 2 ;;
		-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) echo "freeze.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "freeze.sh: run as root" >&2; exit 1; }

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$BENCH_DIR/results/freeze-$STAMP}
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
RAW=$OUT/raw.tsv
: >"$OUT/phases.txt"
printf 'rep\tfreeze_s\tfreeze_cpu_s\tmax_insert_gap_ms\tmax_insert_gap_before_ms\ttps_before\ttps_during\tbefore_window_s\tdelta_at_freeze\tload_before\tload_after\tverify_problems\tanswers_equal\ttids_equal_rows\n' >"$RAW"

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/logs/run.log" >&2; }
die() { log "FAILED: $*"; exit 1; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# ---------------------------------------------------------------- setup

if [ "$INSTALL" = 1 ]; then
	pkgs=()
	[ -x /usr/lib/postgresql/15/bin/postgres ] || pkgs+=(postgresql-15)
	[ -f /usr/include/postgresql/15/server/postgres.h ] ||
		pkgs+=(postgresql-server-dev-15)
	command -v make >/dev/null && command -v gcc >/dev/null ||
		pkgs+=(build-essential)
	command -v openssl >/dev/null || pkgs+=(openssl)
	[ "$PERF" = 0 ] || command -v perf >/dev/null || pkgs+=(linux-perf)
	if [ ${#pkgs[@]} -gt 0 ]; then
		log "installing ${pkgs[*]}"
		apt-get update -q >>"$OUT/logs/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" \
			>>"$OUT/logs/apt.log" 2>&1
	fi
fi
# shellcheck source=bench/data.sh
. "$BENCH_DIR/data.sh"

WORK=$(mktemp -d /var/tmp/memkv-bench-freeze.XXXXXX)
chmod 755 "$WORK"
PGBENCH_PID=
PERF_PID=
cleanup()
{
	[ -z "$PGBENCH_PID" ] || kill "$PGBENCH_PID" 2>/dev/null || true
	[ -z "$PERF_PID" ] || kill "$PERF_PID" 2>/dev/null || true
	pg_server_stop
	rm -rf "$WORK"
}
trap 'rm -rf "$WORK"' EXIT

# The same private installation as bench/run.sh: PostgreSQL's bin, lib and
# share copied under $WORK, memkv installed there with DESTDIR.
log "building memkv into a private PostgreSQL copy"
PGROOT=$WORK/pginst
mkdir -p "$PGROOT/usr/lib/postgresql" "$PGROOT/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$PGROOT/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$PGROOT/usr/share/postgresql/"
if [ -n "$MEMKV_REF" ]; then
	MEMKV_SRC=$WORK/memkv-src
	mkdir "$MEMKV_SRC"
	git -C "$REPO" archive "$MEMKV_REF" | tar -x -C "$MEMKV_SRC"
fi
{ make -C "$MEMKV_SRC" -j2 && make -C "$MEMKV_SRC" install DESTDIR="$PGROOT"; } \
	>"$OUT/logs/memkv-build.log" 2>&1 ||
	die "memkv does not build (logs/memkv-build.log)"
chmod -R a+rX "$PGROOT"
export PG_BINDIR=$PGROOT/usr/lib/postgresql/15/bin
export PATH=$PG_BINDIR:$PATH

if [ -n "$MEMKV_REF" ]; then
	COMMIT=$(git -C "$REPO" log -1 --format='%h %s' "$MEMKV_REF")
elif [ "$MEMKV_SRC" = "$REPO" ]; then
	COMMIT="$(git -C "$REPO" log -1 --format='%h %s')$(git -C "$REPO" status --porcelain -- src Makefile '*.sql' | grep -q . && echo ' + uncommitted changes (working tree)')"
else
	COMMIT="source tree $MEMKV_SRC"
fi

log "sampling $((2 * KEYS + NPOOL)) paths"
SAMPLE=$WORK/sample.txt
data_sample paths $((2 * KEYS + NPOOL)) "$SAMPLE"
awk -v n="$KEYS" 'NR <= n { print NR "\t" $0 }' "$SAMPLE" >"$WORK/load.tsv"
awk -v n="$KEYS" 'NR > n && NR <= 2 * n { print NR "\t" $0 }' "$SAMPLE" >"$WORK/copy.tsv"
awk -v n="$KEYS" 'NR > 2 * n { print NR - 2 * n "\t" $0 }' "$SAMPLE" >"$WORK/pool.tsv"
chmod 644 "$WORK"/*.tsv

# shellcheck source=test/lib/pgserver.sh
. "$REPO/test/lib/pgserver.sh"
log "starting a throwaway server in $WORK/pg on port $PORT"
pg_server_start "$WORK/pg" "$PORT" \
	"shared_buffers = $SHARED_BUFFERS" \
	"memkv.shared_memory = $MEMKV_SHMEM_MB" \
	"memkv.freeze_threshold = 0" \
	"max_wal_size = 8GB" \
	"checkpoint_timeout = 1h" \
	"autovacuum = off" \
	"jit = off" \
	"max_parallel_maintenance_workers = 0" \
	"max_parallel_workers_per_gather = 0" \
	"statement_timeout = '10min'" ${EXTRA_CONF[@]+"${EXTRA_CONF[@]}"} \
	>"$OUT/logs/server-start.log" 2>&1 ||
	die "server does not start (logs/server-start.log)"
trap cleanup EXIT

export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

q -c 'CREATE EXTENSION memkv'
q >/dev/null <<-EOF
	CREATE TABLE t (id bigint NOT NULL, k text COLLATE "C");
	CREATE TABLE pool (id int PRIMARY KEY, k text COLLATE "C");
	COPY pool FROM '$WORK/pool.tsv';
	VACUUM ANALYZE pool;
EOF

# Single-row inserts: a held-out path plus a random suffix (new keys that
# share real prefixes), id = minus the microsecond time of the insert.
cat >"$WORK/insert.pgb" <<-EOF
	\\set id random(1, $NPOOL)
	\\set r random(1, 1000000000)
	INSERT INTO t SELECT -(extract(epoch FROM clock_timestamp()) * 1000000)::bigint, k || '/' || :r FROM pool WHERE id = :id;
EOF

STATE_COLS="generation, log_pages, delta_keys, delta_tids, shmem_bytes, frozen_keys, frozen_tids, frozen_pages, fst_bytes, posting_bytes, freezes"

# Queries whose answers are compared between the index and a seq scan:
# prefixes of loaded, copied and pgbench-inserted keys, ranges, equality.
answer_queries()
{
	local kload kcopy kpool
	kload=$(q -c "SELECT quote_literal(k) FROM t WHERE id = 1")
	kcopy=$(q -c "SELECT quote_literal(k) FROM t WHERE id = $((KEYS + 1))")
	kpool=$(q -c "SELECT quote_literal(k) FROM pool WHERE id = 1")
	cat <<-EOF
		SELECT count(*) FROM t WHERE k >= '';
		SELECT count(*) FROM t WHERE k LIKE 'usr/share/doc/%';
		SELECT count(*) FROM t WHERE k >= 'usr/lib/python3' AND k < 'usr/lib/python4';
		SELECT count(*) FROM t WHERE k = $kload;
		SELECT count(*) FROM t WHERE k = $kcopy;
		SELECT count(*) FROM t WHERE k ^@ $kpool;
		SELECT count(*), min(k), max(k) FROM t WHERE k > 'usr/share/z';
	EOF
}

declare -a FREEZE_S FREEZE_CPU TPS_B TPS_D
for rep in $(seq "$REPS"); do
	log "rep $rep/$REPS: load $KEYS rows, CREATE INDEX"
	q >/dev/null <<-EOF
		DROP INDEX IF EXISTS t_k_memkv;
		TRUNCATE t;
		COPY t FROM '$WORK/load.tsv';
		VACUUM ANALYZE t;
		CREATE INDEX t_k_memkv ON t USING memkv (k);
	EOF
	log "rep $rep: COPY $KEYS rows into the delta"
	q -c "COPY t FROM '$WORK/copy.tsv'" >/dev/null
	# ANALYZE, not VACUUM: memkv's vacuumcleanup would freeze the delta.
	q -c "ANALYZE t" >/dev/null
	STATE_BEFORE=$(q -F ' | ' -c "SELECT $STATE_COLS FROM memkv_state('t_k_memkv')")
	delta=$(q -c "SELECT delta_keys FROM memkv_state('t_k_memkv')")
	frozen=$(q -c "SELECT frozen_keys FROM memkv_state('t_k_memkv')")
	[ "$delta" = "$KEYS" ] && [ "$frozen" = "$KEYS" ] ||
		die "rep $rep: expected $KEYS frozen and $KEYS delta keys, memkv_state says $frozen and $delta"
	q -c CHECKPOINT >/dev/null

	log "rep $rep: pgbench inserting; memkv_freeze after ${PRE}s"
	pgbench -n -M prepared -c 1 -j 1 -T 3600 -f "$WORK/insert.pgb" \
		>"$OUT/logs/pgbench-rep$rep.log" 2>&1 &
	PGBENCH_PID=$!
	T_START=$(q -c "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
	sleep "$PRE"
	LOAD_BEFORE=$(loadavg)

	# The freezing session: its backend's pid is written first (for perf),
	# then it waits for the go file, then freezes between two timestamps.
	rm -f "$WORK/go" "$WORK/freeze.pid"
	cat >"$WORK/freeze.sql" <<-EOF
		\\o $WORK/freeze.pid
		SELECT pg_backend_pid();
		\\o
		\\! while [ ! -e $WORK/go ]; do sleep 0.05; done
		SELECT 't0', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
		SET client_min_messages = debug1;
		SELECT memkv_freeze('t_k_memkv');
		RESET client_min_messages;
		SELECT 't1', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
		\! cat /proc/\$(tr -d ' ' <$WORK/freeze.pid)/stat >$WORK/stat1
	EOF
	q -F ' ' -f "$WORK/freeze.sql" >"$WORK/freeze.out" 2>"$OUT/logs/freeze-rep$rep.err" &
	FREEZE_PID=$!
	while [ ! -s "$WORK/freeze.pid" ]; do
		kill -0 "$FREEZE_PID" 2>/dev/null || die "freeze session ended early (logs/freeze-rep$rep.err)"
		sleep 0.05
	done
	if [ "$PERF" = 1 ]; then
		perf record -q -g -e cpu-clock -p "$(tr -d ' \n' <"$WORK/freeze.pid")" \
			-o "$OUT/perf-rep$rep.data" >"$OUT/logs/perf-rep$rep.log" 2>&1 &
		PERF_PID=$!
		sleep 1
	fi
	cat "/proc/$(tr -d ' \n' <"$WORK/freeze.pid")/stat" >"$WORK/stat0"
	touch "$WORK/go"
	wait "$FREEZE_PID" || die "memkv_freeze failed (logs/freeze-rep$rep.err)"
	if [ -n "$PERF_PID" ]; then
		kill -INT "$PERF_PID"
		wait "$PERF_PID" || true
		PERF_PID=
		perf report -i "$OUT/perf-rep$rep.data" --no-children --stdio \
			--percent-limit 0.5 -g none >"$OUT/perf-rep$rep.txt" 2>/dev/null || true
	fi
	LOAD_AFTER=$(loadavg)
	sleep 1
	kill "$PGBENCH_PID"
	wait "$PGBENCH_PID" 2>/dev/null || true
	PGBENCH_PID=

	T0=$(awk '$1 == "t0" { print $2 }' "$WORK/freeze.out")
	T1=$(awk '$1 == "t1" { print $2 }' "$WORK/freeze.out")
	[ -n "$T0" ] && [ -n "$T1" ] || die "rep $rep: no freeze timestamps"
	# The window before: as long as the freeze, but not reaching back into
	# pgbench's first second.
	BEFORE_FROM=$(( T0 - (T1 - T0) ))
	[ "$BEFORE_FROM" -ge $(( T_START + 1000000 )) ] || BEFORE_FROM=$(( T_START + 1000000 ))
	read -r N_BEFORE N_DURING < <(q -F ' ' -c "
		SELECT count(*) FILTER (WHERE -id >= $BEFORE_FROM AND -id < $T0),
		       count(*) FILTER (WHERE -id >= $T0 AND -id <= $T1)
		FROM t WHERE id < 0")
	# the longest wait between two inserts during the freeze (and up to
	# 0.5 s after it, so a stall at its end counts), and in the window
	# before it, in ms
	gap_sql()
	{
		q -c "SELECT coalesce(round(max(d) / 1000.0, 1), 0) FROM (
			SELECT -id - lag(-id) OVER (ORDER BY -id) AS d FROM t
			WHERE id < 0 AND -id BETWEEN $1 AND $2) s"
	}
	GAP=$(gap_sql "$T0" $(( T1 + 500000 )))
	GAP_BEFORE=$(gap_sql "$BEFORE_FROM" "$T0")
	PHASES=$(grep -o 'memkv freeze of .*' "$OUT/logs/freeze-rep$rep.err" | sed 's/^memkv freeze of "[^"]*": //' || true)
	# the freezing backend's CPU time (user + system), in clock ticks
	CPU=$(awk -v hz="$(getconf CLK_TCK)" 'FNR == 1 { sub(/^.*\) /, ""); t[FILENAME] = $12 + $13 }
		END { printf "%.2f\n", (t[ARGV[2]] - t[ARGV[1]]) / hz }' "$WORK/stat0" "$WORK/stat1")
	read -r FS TB TD BW < <(awk -v t0="$T0" -v t1="$T1" -v bf="$BEFORE_FROM" \
		-v nb="$N_BEFORE" -v nd="$N_DURING" 'BEGIN {
			printf "%.3f %.0f %.0f %.1f\n", (t1 - t0) / 1e6,
				nb / ((t0 - bf) / 1e6), nd / ((t1 - t0) / 1e6), (t0 - bf) / 1e6 }')

	STATE_AFTER=$(q -F ' | ' -c "SELECT $STATE_COLS FROM memkv_state('t_k_memkv')")
	# what the freeze took from the delta: the COPY plus pgbench's rows
	# until then (the new layer's TIDs less the old one's)
	DELTA_AT_FREEZE=$(( $(q -c "SELECT frozen_tids FROM memkv_state('t_k_memkv')") - KEYS ))
	PROBLEMS=$(q -c "SELECT count(*) FROM memkv_verify('t_k_memkv')")
	q -c "SELECT * FROM memkv_verify('t_k_memkv')" >"$OUT/logs/verify-rep$rep.txt"
	ROWS=$(q -c "SELECT count(*) FROM t WHERE k IS NOT NULL")
	TIDS=$(q -c "SELECT frozen_tids + delta_tids FROM memkv_state('t_k_memkv')")
	TIDS_OK=$([ "$ROWS" = "$TIDS" ] && echo yes || echo "no ($TIDS TIDs, $ROWS rows)")

	answer_queries >"$WORK/answers.sql"
	{ echo "SET enable_seqscan = off;"; sed 's/^/EXPLAIN (COSTS OFF) /' "$WORK/answers.sql"; } |
		q >"$OUT/logs/plans-rep$rep.txt"
	{ echo "SET enable_seqscan = off;"; cat "$WORK/answers.sql"; } | q >"$WORK/ans-index.txt"
	{ echo "SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;"
	  cat "$WORK/answers.sql"; } | q >"$WORK/ans-seq.txt"
	cp "$WORK/ans-index.txt" "$OUT/logs/answers-index-rep$rep.txt"
	cp "$WORK/ans-seq.txt" "$OUT/logs/answers-seq-rep$rep.txt"
	ANSWERS=$(cmp -s "$WORK/ans-index.txt" "$WORK/ans-seq.txt" && echo yes || echo no)
	if [ "$(grep -c t_k_memkv "$OUT/logs/plans-rep$rep.txt")" -lt "$(wc -l <"$WORK/answers.sql")" ]; then
		ANSWERS="$ANSWERS (not every query used the index: logs/plans-rep$rep.txt)"
	fi

	{
		echo "columns: $STATE_COLS"
		echo "before: $STATE_BEFORE"
		echo "after:  $STATE_AFTER"
	} >"$OUT/state-rep$rep.txt"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$FS" "$CPU" "$GAP" "$GAP_BEFORE" "$TB" "$TD" \
		"$BW" "$DELTA_AT_FREEZE" "$LOAD_BEFORE" "$LOAD_AFTER" "$PROBLEMS" "$ANSWERS" "$TIDS_OK" >>"$RAW"
	echo "rep $rep: $PHASES" >>"$OUT/phases.txt"
	log "rep $rep: freeze ${FS}s (backend CPU ${CPU}s; $PHASES), longest insert gap ${GAP} ms (${GAP_BEFORE} ms before), insert TPS ${TB} before / ${TD} during, verify problems $PROBLEMS, answers equal: $ANSWERS, TIDs = rows: $TIDS_OK"
	FREEZE_S+=("$FS"); FREEZE_CPU+=("$CPU"); TPS_B+=("$TB"); TPS_D+=("$TD")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

{
	echo "## memkv_freeze of $KEYS delta keys into a $KEYS-key frozen layer, with inserts"
	echo
	echo "Command: \`$CMDLINE\`  "
	echo "memkv: $COMMIT  "
	echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(uname -m), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; $(q -c 'SELECT version()' | cut -d, -f1)  "
	echo "Settings: shared_buffers=$SHARED_BUFFERS, memkv.shared_memory=${MEMKV_SHMEM_MB}MB, memkv.freeze_threshold=0, fsync=off, maintenance_work_mem=$(q -c 'SHOW maintenance_work_mem')${EXTRA_CONF[@]+, ${EXTRA_CONF[*]}}; 1 pgbench client inserting single rows (-M prepared) from ${PRE}s before the freeze to 1 s after it"
	echo
	echo "| rep | delta keys frozen | freeze (s) | freezing backend CPU (s) | longest insert wait during / before (ms) | insert TPS before | insert TPS during | during/before | load avg before → after | memkv_verify | answers index = seq scan | frozen+delta TIDs = rows |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|"
	while IFS=$'\t' read -r r fs cpu gap gapb tb td bw dk lb la pr an tk; do
		[ "$r" = rep ] && continue
		echo "| $r | $dk | $fs | $cpu | $gap / $gapb | $tb | $td | $(awk -v a="$td" -v b="$tb" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }') | $lb → $la | $([ "$pr" = 0 ] && echo 'no problems' || echo "$pr problems") | $an | $tk |"
	done <"$RAW"
	mb=$(median "${TPS_B[@]}" | xargs printf '%.0f'); md=$(median "${TPS_D[@]}" | xargs printf '%.0f')
	echo "| **median** | | **$(median "${FREEZE_S[@]}")** | **$(median "${FREEZE_CPU[@]}")** | | **$mb** | **$md** | **$(awk -v a="$md" -v b="$mb" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')** | | | | |"
	echo
	if [ -s "$OUT/phases.txt" ]; then
		echo "Phases of each freeze (its DEBUG1 message: wall-clock ms):"
		echo
		sed 's/^/- /' "$OUT/phases.txt"
		echo
	fi
	echo "memkv_state() of the last repetition ($STATE_COLS):"
	echo
	echo "- before: $STATE_BEFORE"
	echo "- after:  $STATE_AFTER"
} | tee "$OUT/results.md"
log "results in $OUT"
