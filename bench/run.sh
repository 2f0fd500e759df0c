#!/bin/bash
# bench/run.sh -- measure memkv side by side with btree and SP-GiST.
#
# Usage:
#   bash bench/run.sh [--quick] [--keys N] [--data paths,npm,synthetic]
#                     [--reps R] [--duration S] [--scaling N,N,...|none]
#                     [--inserts N] [--out DIR] [--port P] [--no-install]
#                     [--memkv-ref REF] [--transactions T] [--no-paired]
#
# One command, run as root on a Debian 12 machine: installs what it needs,
# builds memkv from this repository and the probe extension bench/probe and
# installs both into a private copy of the PostgreSQL installation that
# PG_CONFIG names (Debian's PostgreSQL 15 by default), so that nothing else that runs `make install`
# on the machine meanwhile can change what is measured; fetches the data
# sets (bench/data.sh), starts a throwaway server from that copy
# (test/lib/pgserver.sh) and, for each data set, measures btree
# (COLLATE "C"), SP-GiST and memkv on the same table in the same run.
# Only one index exists on the column at a time.  Every measurement is
# repeated R times and the median is reported, with its ratio to btree.
# Then, per data set, the paired measurements: btree and memkv each on its
# own copy of the table, CREATE INDEX (2R + 1 pairs) and every query (R
# pairs) run in alternation, so that a change in the machine's speed hits
# both alike; their ratio is the median of the pairs' ratios (--no-paired
# skips them).
# Then the mixed runs: each query on both copies in one pgbench run, the
# clients choosing btree's or memkv's table at random per transaction;
# their mean latencies compare the two under exactly the same conditions.
# Then a scaling run (size and point lookups at 100K, 1M, 4M keys).
#
# Results: bench/results/<UTC timestamp>/ (or --out): results.md, raw.tsv
# (every repetition), plans.txt (EXPLAIN of every measured query), logs/,
# and PNG plots.  bench/README.md explains every number.
#
# --quick: ~20K keys, 1 repetition, pgbench runs of 300 transactions per
# client (--transactions; instead of --duration seconds), tiny scaling sizes.
# --memkv-ref REF: build memkv from that commit (git archive) instead of
# the working tree, so that the numbers belong to exactly one commit.
# If memkv does not build, install or load, its column says so and the
# run goes on with btree and SP-GiST.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
CMDLINE="bash bench/run.sh $*"

QUICK=0
KEYS=
DATASETS=paths,npm,synthetic
REPS=
DURATION=
TRANSACTIONS=
SCALING=
INSERTS=
OUT=
PORT=${MEMKV_BENCH_PORT:-$((55433 + $$ % 1000))}	# two runs rarely collide
INSTALL=1
MEMKV_REF=
PAIRED=1

while [ $# -gt 0 ]; do
	case $1 in
		--quick) QUICK=1; shift ;;
		--keys) KEYS=$2; shift 2 ;;
		--data) DATASETS=$2; shift 2 ;;
		--reps) REPS=$2; shift 2 ;;
		--duration) DURATION=$2; shift 2 ;;
		--transactions) TRANSACTIONS=$2; shift 2 ;;
		--scaling) SCALING=$2; shift 2 ;;
		--inserts) INSERTS=$2; shift 2 ;;
		--out) OUT=$2; shift 2 ;;
		--port) PORT=$2; shift 2 ;;
		--no-install) INSTALL=0; shift ;;
		--memkv-ref) MEMKV_REF=$2; shift 2 ;;
		--no-paired) PAIRED=0; shift ;;
		-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

if [ "$QUICK" = 1 ]; then
	KEYS=${KEYS:-20000}
	REPS=${REPS:-1}
	if [ -z "$DURATION" ] && [ -z "$TRANSACTIONS" ]; then
		TRANSACTIONS=300
	fi
	DURATION=${DURATION:-1}
	SCALING=${SCALING:-2000,5000,20000}
	INSERTS=${INSERTS:-10000}
	SHARED_BUFFERS=256MB
	MEMKV_SHMEM_MB=256
	NPROBE=2000
	PROBE_LOOPS=2
else
	KEYS=${KEYS:-1000000}
	REPS=${REPS:-3}
	DURATION=${DURATION:-10}
	SCALING=${SCALING:-100000,1000000,4000000}
	INSERTS=${INSERTS:-200000}
	SHARED_BUFFERS=2GB
	MEMKV_SHMEM_MB=2048
	NPROBE=10000
	PROBE_LOOPS=10
fi
if [ -n "$TRANSACTIONS" ]; then
	PGBENCH_LENGTH="-t $TRANSACTIONS"
else
	PGBENCH_LENGTH="-T $DURATION"
fi
NMISSING=$NPROBE		# held-out keys used as missing keys
NPOOL=$NPROBE			# held-out keys that pgbench inserts derive from
CLIENTS=2
KINDS="btree spgist memkv"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$BENCH_DIR/results/$STAMP}
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
RAW=$OUT/raw.tsv
PLANS=$OUT/plans.txt
META=$OUT/meta.tsv
NOTES=$OUT/notes.txt
: >"$RAW"; : >"$PLANS"; : >"$META"; : >"$NOTES"

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/logs/run.log" >&2; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
note() { log "NOTE: $*"; echo "$*" >>"$NOTES"; }

# raw SECTION DATASET NKEYS KIND METRIC REP VALUE
# An empty value means the measurement failed: fail, so that the guard notes it.
raw()
{
	[ -n "${7:-}" ] || { log "no value for $1 $2 $3 $4 $5"; return 1; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RAW"
}

# ---------------------------------------------------------------- setup

install_deps()
{
	local pkgs=()
	[ -x /usr/lib/postgresql/15/bin/postgres ] || pkgs+=(postgresql-15)
	[ -f /usr/include/postgresql/15/server/postgres.h ] ||
		pkgs+=(postgresql-server-dev-15)
	command -v make >/dev/null && command -v gcc >/dev/null ||
		pkgs+=(build-essential)
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	# Data set clients only for the data sets asked for (bench/data.sh).
	if [[ ",$DATASETS," == *,paths,* ]] && [ -z "${MEMKV_BENCH_PATHS_FILE:-}" ]; then
		command -v apt-file >/dev/null || pkgs+=(apt-file)
		command -v lz4cat >/dev/null || pkgs+=(lz4)
	fi
	if [[ ",$DATASETS," == *,npm,* ]] && [ -z "${MEMKV_BENCH_NPM_FILE:-}" ]; then
		command -v node >/dev/null || pkgs+=(nodejs)
		command -v npm >/dev/null || pkgs+=(npm)
	fi
	command -v openssl >/dev/null || pkgs+=(openssl)
	command -v python3 >/dev/null || pkgs+=(python3)
	command -v file >/dev/null || pkgs+=(file)
	command -v iconv >/dev/null || pkgs+=(libc-bin)
	[ ${#pkgs[@]} = 0 ] && return 0
	log "installing ${pkgs[*]}"
	apt-get update -q >>"$OUT/logs/apt.log" 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" \
		>>"$OUT/logs/apt.log" 2>&1
}

MEMKV_STATUS=ok
MEMKV_SRC=$REPO
# build_memkv: copy the PostgreSQL installation that PG_CONFIG names (the
# Debian package's by default) to $PGROOT -- bin, lib, share and the server
# headers, each under its own absolute path, so that the copy's pg_config
# and binaries find the rest relative to themselves -- and build and install
# memkv and the probe into the copy with the copy's pg_config.
build_memkv()
{
	local src_config=${PG_CONFIG:-pg_config} d
	PGROOT=$WORK/pginst
	mkdir -p "$PGROOT"
	for d in bindir pkglibdir sharedir includedir-server; do
		d=$("$src_config" --$d)
		mkdir -p "$PGROOT$(dirname "$d")"
		cp -a "$d" "$PGROOT$(dirname "$d")/"
	done
	PG_BINDIR=$PGROOT$("$src_config" --bindir)
	local pgc=$PG_BINDIR/pg_config
	if [ -n "$MEMKV_REF" ]; then
		MEMKV_SRC=$WORK/memkv-src
		mkdir "$MEMKV_SRC"
		git -C "$REPO" archive "$MEMKV_REF" | tar -x -C "$MEMKV_SRC"
	fi
	# clean first: the objects may be another PostgreSQL version's
	if ! { make -C "$MEMKV_SRC" clean PG_CONFIG="$pgc" &&
		make -C "$MEMKV_SRC" -j2 PG_CONFIG="$pgc" &&
		make -C "$MEMKV_SRC" install PG_CONFIG="$pgc"; } \
		>"$OUT/logs/memkv-build.log" 2>&1; then
		MEMKV_STATUS="not installable: make failed (logs/memkv-build.log)"
		note "memkv: $MEMKV_STATUS"
	fi
	make -C "$BENCH_DIR/probe" clean PG_CONFIG="$pgc" >"$OUT/logs/probe-build.log" 2>&1
	make -C "$BENCH_DIR/probe" PG_CONFIG="$pgc" >>"$OUT/logs/probe-build.log" 2>&1
	make -C "$BENCH_DIR/probe" install PG_CONFIG="$pgc" \
		>>"$OUT/logs/probe-build.log" 2>&1
	chmod -R a+rX "$PGROOT"
	export PG_BINDIR
	export PATH=$PG_BINDIR:$PATH
}

if [ "$INSTALL" = 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (or --no-install)" >&2; exit 1; }
	install_deps
fi
# shellcheck source=bench/data.sh
. "$BENCH_DIR/data.sh"

WORK=$(mktemp -d /var/tmp/memkv-bench-run.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
cleanup()
{
	pg_server_stop
	rm -rf "$WORK"
}
log "building memkv and the probe extension into a private PostgreSQL copy"
build_memkv
# shellcheck source=test/lib/pgserver.sh
. "$REPO/test/lib/pgserver.sh"

CONF=(
	"shared_buffers = $SHARED_BUFFERS"
	"maintenance_work_mem = 1GB"
	"work_mem = 64MB"
	"max_wal_size = 8GB"
	"checkpoint_timeout = 1h"
	"autovacuum = off"
	"jit = off"
	"statement_timeout = '10min'"
	"max_parallel_maintenance_workers = 0"
	"max_parallel_workers_per_gather = 0"
)
start_server()
{
	if [ "$MEMKV_STATUS" = ok ]; then
		if pg_server_start "$WORK/pg" "$PORT" "${CONF[@]}" \
			"memkv.shared_memory = $MEMKV_SHMEM_MB" >"$OUT/logs/server-start.log" 2>&1; then
			return 0
		fi
		MEMKV_STATUS="not installable: server does not start with it preloaded (logs/server-start.log)"
		note "memkv: $MEMKV_STATUS"
		pg_server_stop
		rm -rf "$WORK/pg"
	fi
	pg_server_start "$WORK/pg" "$PORT" "${CONF[@]}" \
		"shared_preload_libraries = ''" >>"$OUT/logs/server-start.log" 2>&1
}
log "starting a throwaway server in $WORK/pg on port $PORT"
start_server
trap cleanup EXIT
cp "$WORK/pg/server.log" "$OUT/logs/server.log" 2>/dev/null || true

export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

wait_server()
{
	local i
	for i in $(seq 120); do
		pg_isready -q && q -c 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 1
	done
	return 1
}

if [ "$MEMKV_STATUS" = ok ] && ! q -c 'CREATE EXTENSION memkv' >"$OUT/logs/memkv-ext.log" 2>&1; then
	MEMKV_STATUS="not installable: CREATE EXTENSION failed (logs/memkv-ext.log)"
	note "memkv: $MEMKV_STATUS"
fi
q -c 'CREATE EXTENSION memkv_bench_probe'
HAVE_FREEZE=0
if [ "$MEMKV_STATUS" = ok ]; then
	[ "$(q -c "SELECT to_regprocedure('memkv_freeze(regclass)') IS NOT NULL")" = t ] &&
		HAVE_FREEZE=1
else
	KINDS="btree spgist"
fi

meta command "$CMDLINE"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta machine "$(uname -m), $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(. /etc/os-release && echo "$PRETTY_NAME")"
meta postgres "$(q -c 'SELECT version()')"
meta settings "shared_buffers=$SHARED_BUFFERS, memkv.shared_memory=${MEMKV_SHMEM_MB}MB, fsync=off, autovacuum=off, jit=off, no parallel workers"
if [ -n "$MEMKV_REF" ]; then
	meta memkv_commit "$(git -C "$REPO" log -1 --format='%h %s' "$MEMKV_REF")"
else
	meta memkv_commit "$(git -C "$REPO" log -1 --format='%h %s' 2>/dev/null || echo unknown)$(git -C "$REPO" status --porcelain -- src Makefile '*.sql' 2>/dev/null | grep -q . && echo ' + uncommitted changes (working tree)')"
fi
meta memkv "$MEMKV_STATUS"
meta freeze "$([ "$HAVE_FREEZE" = 1 ] && echo memkv_freeze || echo 'no memkv_freeze(regclass) in this build')"
meta reps "$REPS"
if [ -n "$TRANSACTIONS" ]; then
	meta duration "$TRANSACTIONS transactions per client"
else
	meta duration "$DURATION s"
fi
meta clients "$CLIENTS"
meta keys "$KEYS"
meta inserts "$INSERTS"
meta probes "$NPROBE keys x $PROBE_LOOPS loops"
meta quick "$QUICK"
meta datasets "$DATASETS"
meta scaling "$SCALING"
meta kinds "$KINDS"

# ---------------------------------------------------------------- helpers

# sql_ms SQL: run SQL in one session and print its time in seconds
# (psql's \timing: server execution plus the round trip).
sql_s()
{
	local ms
	ms=$(psql -X -q -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
	[ -n "$ms" ] || return 1
	awk -v ms="$ms" 'BEGIN { printf "%.4f\n", ms / 1000 }'
}

# build SECTION SET NKEYS KIND REP DDL: time a CREATE INDEX (build_s, as
# sql_s); for memkv also record the phases its DEBUG1 message reports
# (build_scan_ms, build_sort_ms, build_write_ms; raw.tsv only).
build()
{
	local out ms phases
	out=$(PGOPTIONS="$PGOPTIONS -c client_min_messages=debug1" \
		psql -X -q -v ON_ERROR_STOP=1 -c '\timing on' -c "$6" 2>&1) ||
		{ echo "$out" | tail -3 >&2; return 1; }
	ms=$(echo "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
	[ -n "$ms" ] || return 1
	raw "$1" "$2" "$3" "$4" build_s "$5" "$(awk -v ms="$ms" 'BEGIN { printf "%.4f\n", ms / 1000 }')"
	phases=$(echo "$out" |
		sed -n 's/.*memkv build: .* scan \([0-9]*\) ms, sort \([0-9]*\) ms, write \([0-9]*\) ms.*/\1 \2 \3/p' |
		tail -1)
	if [ -n "$phases" ]; then
		set -- "$1" "$2" "$3" "$4" "$5" $phases
		raw "$1" "$2" "$3" "$4" build_scan_ms "$5" "$6"
		raw "$1" "$2" "$3" "$4" build_sort_ms "$5" "$7"
		raw "$1" "$2" "$3" "$4" build_write_ms "$5" "$8"
	fi
}

# pgbench_tps NAME SCRIPT [PGOPTIONS]: one fixed-duration pgbench run.
pgbench_tps()
{
	local name=$1 script=$2 opts=${3:-} logf tps
	logf=$OUT/logs/pgbench-$name.log
	echo "$script" >"$WORK/$name.pgb"
	if ! PGOPTIONS="$PGOPTIONS -c statement_timeout=60s $opts" pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" \
		$PGBENCH_LENGTH -f "$WORK/$name.pgb" >>"$logf" 2>&1; then
		echo "pgbench failed, see logs/pgbench-$name.log" >&2
		return 1
	fi
	# The 1-minute load average at the end of the run: other work on the
	# machine shows up here (2 pgbench clients alone make about 2).
	cut -d' ' -f1 /proc/loadavg >>"$OUT/load.txt"
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*without.*/\1/p' "$logf" | tail -1)
	[ -n "$tps" ] || return 1
	echo "$tps"
}

# pgbench_mixed NAME BTREE_SCRIPT MEMKV_SCRIPT [PGOPTIONS]: one pgbench run
# in which every client picks the btree or the memkv script at random for
# each transaction, so that both meet the same machine at the same moments;
# prints the mean latency of each (microseconds, from a 20% sample of the
# transactions logged by pgbench -l), btree's first.
pgbench_mixed()
{
	local name=$1 opts=${4:-} logf dir
	logf=$OUT/logs/pgbench-$name.log
	dir=$WORK/mixed-$name
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "$2" >"$dir/btree.pgb"
	echo "$3" >"$dir/memkv.pgb"
	if ! (cd "$dir" &&
		PGOPTIONS="$PGOPTIONS -c statement_timeout=60s $opts" pgbench -n -M prepared \
			-c "$CLIENTS" -j "$CLIENTS" $PGBENCH_LENGTH -l --sampling-rate=0.2 \
			-f btree.pgb -f memkv.pgb >>"$logf" 2>&1); then
		echo "pgbench failed, see logs/pgbench-$name.log" >&2
		return 1
	fi
	cut -d' ' -f1 /proc/loadavg >>"$OUT/load.txt"
	# log lines: client, transaction, latency (us), script number, ...
	cat "$dir"/pgbench_log.* | awk '
		$4 == 0 { b += $3; nb++ }
		$4 == 1 { m += $3; nm++ }
		END { if (nb == 0 || nm == 0) exit 1; printf "%.2f %.2f\n", b / nb, m / nm }'
	rm -rf "$dir"
}

# tps SECTION SET NKEYS KIND METRIC REP NAME SCRIPT [PGOPTIONS]: one
# pgbench run, recorded in raw.tsv; a failed run is noted, not fatal.
tps()
{
	local v
	if v=$(pgbench_tps "$7" "$8" "${9:-}"); then
		raw "$1" "$2" "$3" "$4" "$5" "$6" "$v"
	else
		note "$2/$4: pgbench $5 (rep $6) failed: $(grep -m1 -iE 'error|abort' "$OUT/logs/pgbench-$7.log" || echo '?')"
	fi
}

index_ddl()
{
	case $1 in
		btree) echo "CREATE INDEX t_k_btree ON t (k)" ;;
		spgist) echo "CREATE INDEX t_k_spgist ON t USING spgist (k)" ;;
		memkv) echo "CREATE INDEX t_k_memkv ON t USING memkv (k)" ;;
	esac
}

# prefix_expr SET: SQL for the LIKE prefix of a key k (before escaping).
prefix_expr()
{
	case $1 in
		synthetic) echo "left(k, length(k) - 2)" ;;
		*) echo "CASE WHEN strpos(k, '/') > 0 THEN substring(k from '^(.*/)') ELSE left(k, 4) END" ;;
	esac
}

# The measured queries; :id is a random key id, see README.
declare -A QUERY
QUERY[point]='SELECT id FROM t WHERE k = (SELECT k FROM keys WHERE id = :id);'
QUERY[missing]='SELECT id FROM t WHERE k = (SELECT k FROM missing WHERE id = :id);'
QUERY[prefix]='SELECT p AS pfx FROM prefixes WHERE id = :id \gset
SELECT count(*) FROM t WHERE k LIKE :pfx;'
QUERY[range]='SELECT id, k FROM t WHERE k >= (SELECT k FROM keys WHERE id = :id) ORDER BY k LIMIT 20;'
QUERY[ionly]='SELECT k FROM t WHERE k >= (SELECT k FROM keys WHERE id = :id) ORDER BY k LIMIT 20;'
QUERIES="point missing prefix range ionly"

# query_script NAME NIDS: the pgbench script of a query.
query_script()
{
	printf '\\set id random(1, %s)\n%s\n' "$2" "${QUERY[$1]}"
}

# query_ids NAME NLOAD: how many key ids query NAME's script draws from.
query_ids()
{
	case $1 in
		missing) echo "$NMISSING" ;;
		prefix) echo "$NPROBE" ;;
		*) echo "$2" ;;
	esac
}

# query_opts NAME: the PGOPTIONS of query NAME's pgbench runs (every
# prefix pattern is a new query: its plan must be a custom one).
query_opts()
{
	if [ "$1" = prefix ]; then echo "-c plan_cache_mode=force_custom_plan"; fi
}

# table_script NAME NLOAD TABLE: query NAME's pgbench script on TABLE.
table_script()
{
	query_script "$1" "$(query_ids "$1" "$2")" | sed "s/ FROM t WHERE / FROM $3 WHERE /"
}

# explain_sql NAME: the query as EXPLAIN sees it, for id 1.
explain_sql()
{
	local pfx
	if [ "$1" = prefix ]; then
		pfx=$(q -c "SELECT quote_literal(p) FROM prefixes WHERE id = 1")
		echo "SELECT count(*) FROM t WHERE k LIKE $pfx"
	else
		echo "${QUERY[$1]//:id/1}"
	fi
}

# load_table SET SAMPLEFILE NLOAD: (re)create t, keys, missing, pool,
# prefixes from the sample: lines 1..NLOAD are loaded (id = line number),
# the next INSERTS lines are the COPY set, then NMISSING missing keys, then
# NPOOL keys for pgbench inserts.
load_table()
{
	local set=$1 sample=$2 nload=$3 ninsert=$4
	awk -v n="$nload" 'NR <= n { print NR "\t" $0 }' "$sample" >"$WORK/load.tsv"
	awk -v a="$nload" -v b="$ninsert" 'NR > a && NR <= a + b { print NR "\t" $0 }' \
		"$sample" >"$WORK/copy.tsv"
	awk -v a=$((nload + ninsert)) -v b="$NMISSING" 'NR > a && NR <= a + b { print NR - a "\t" $0 }' \
		"$sample" >"$WORK/missing.tsv"
	awk -v a=$((nload + ninsert + NMISSING)) -v b="$NPOOL" 'NR > a && NR <= a + b { print NR - a "\t" $0 }' \
		"$sample" >"$WORK/pool.tsv"
	chmod 644 "$WORK"/*.tsv
	q >/dev/null <<-EOF
		DROP TABLE IF EXISTS t, keys, missing, pool, prefixes;
		CREATE TABLE t (id bigint NOT NULL, k text COLLATE "C");
		COPY t FROM '$WORK/load.tsv';
		CREATE TABLE keys (id int PRIMARY KEY, k text COLLATE "C");
		INSERT INTO keys SELECT id, k FROM t;
		CREATE TABLE missing (id int PRIMARY KEY, k text COLLATE "C");
		COPY missing FROM '$WORK/missing.tsv';
		CREATE TABLE pool (id int PRIMARY KEY, k text COLLATE "C");
		COPY pool FROM '$WORK/pool.tsv';
		CREATE TABLE prefixes (id int PRIMARY KEY, p text COLLATE "C");
		INSERT INTO prefixes
		  SELECT id, replace(replace(replace($(prefix_expr "$set"),
		           '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
		  FROM keys WHERE id <= $NPROBE;
		VACUUM ANALYZE t, keys, missing, pool, prefixes;
	EOF
}

# reset_table NLOAD: back to the loaded rows, with no index on k.
reset_table()
{
	q -c "DROP INDEX IF EXISTS t_k_btree, t_k_spgist, t_k_memkv" \
	  -c "DELETE FROM t WHERE id > $1 OR id < 1" -c "VACUUM t" >/dev/null
}

# answers_md5 NAME: a checksum of the answers of a fixed set of queries, so
# that every index kind can be compared with a sequential scan; the queries
# and answers are kept in logs/answers-NAME.txt for diffing.
answers_md5()
{
	local out
	q -c "SELECT format('SELECT count(*) FROM t WHERE k LIKE %L;', p) FROM prefixes WHERE id <= 30 ORDER BY id" \
	  -c "SELECT format('SELECT id FROM t WHERE k = %L ORDER BY id;', k) FROM keys WHERE id <= 30 ORDER BY id" \
	  -c "SELECT format('SELECT count(*) FROM t WHERE k = %L;', k) FROM missing WHERE id <= 30 ORDER BY id" \
	  -c "SELECT format('SELECT k FROM t WHERE k >= %L ORDER BY k LIMIT 20;', k) FROM keys WHERE id <= 30 ORDER BY id" \
	  -c "SELECT format('SELECT k FROM t WHERE k < %L ORDER BY k DESC LIMIT 5;', k) FROM keys WHERE id <= 30 ORDER BY id" \
	  -c "SELECT 'SELECT min(k), max(k), count(*) FROM t;'" \
		>"$WORK/answers.sql"
	if ! out=$(PGOPTIONS="$PGOPTIONS -c statement_timeout=120s" q -f "$WORK/answers.sql" 2>&1); then
		echo "$out" | tail -3 >>"$OUT/logs/answers-errors.log"
		echo "error/timeout"
		return 0
	fi
	paste -d'\n' "$WORK/answers.sql" <(echo "$out") >"$OUT/logs/answers-$1.txt" 2>/dev/null || true
	echo "$out" >"$OUT/logs/answers-$1.out"
	echo "$out" | md5sum | cut -c1-12
}

# nrows: rows of t, counted by a seq scan (not by the index measured).
nrows()
{
	q -c "SET enable_indexscan = off" -c "SET enable_indexonlyscan = off" \
	  -c "SET enable_bitmapscan = off" -c "SELECT count(*) FROM t"
}

memkv_shmem_per_key()
{
	q -c "SELECT round((SELECT shmem_bytes FROM memkv_state('t_k_memkv'))::numeric / $(nrows), 2)"
}

size_per_key()
{
	q -c "SELECT round(pg_relation_size('t_k_$1')::numeric / $(nrows), 2)"
}

probe_keys_sql()
{
	echo "(SELECT array_agg(k ORDER BY id) FROM $1 WHERE id <= $NPROBE)"
}

STEP_FILE=$WORK/step
step() { echo "$*" >"$STEP_FILE"; log "  $*"; }

# bench_kind SET NLOAD KIND: every main measurement of one index kind.
bench_kind()
{
	local set=$1 n=$2 kind=$3 r rr v name plan node used
	local idx=t_k_$kind
	for r in $(seq "$REPS"); do
		step "$set/$kind rep $r: CREATE INDEX"
		reset_table "$n"
		q -c CHECKPOINT >/dev/null
		build main "$set" "$n" "$kind" "$r" "$(index_ddl "$kind")"
		q -c 'VACUUM ANALYZE t' >/dev/null
		raw main "$set" "$n" "$kind" bytes_per_key "$r" "$(size_per_key "$kind")"
		[ "$kind" = memkv ] &&
			raw main "$set" "$n" "$kind" shmem_per_key "$r" "$(memkv_shmem_per_key)"

		if [ "$r" = 1 ]; then
			step "$set/$kind: EXPLAIN and answers"
			for name in $QUERIES; do
				plan=$(q -c "EXPLAIN (COSTS OFF) $(explain_sql "$name")")
				{
					echo "== $set / $kind / $name"
					echo "$plan"
					echo
				} >>"$PLANS"
				node=$(echo "$plan" | grep " $idx" | head -1 |
					grep -oE '(Index Only Scan Backward|Index Only Scan|Index Scan Backward|Index Scan|Bitmap Index Scan)' | head -1 || true)
				if [ -n "$node" ]; then used=yes; else
					used=no
					node=$(echo "$plan" | grep -E ' on t( |$)' | grep -oE '(Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)' | head -1 || true)
				fi
				printf '%s\t%s\t%s\t%s\t%s\n' "$set" "$kind" "$name" "$used" "$node" >>"$OUT/plans.tsv"
			done
			v=$(answers_md5 "$set-$kind")
			printf '%s\t%s\t%s\n' "$set" "$kind" "$v" >>"$OUT/answers.tsv"

			# Repetitions outside, queries inside: a burst of other load on
			# the machine then hits one repetition of several queries rather
			# than every repetition of one query.
			step "$set/$kind: pgbench queries"
			for rr in $(seq "$REPS"); do
				for name in $QUERIES; do
					if [ "$(awk -F'\t' -v s="$set" -v k="$kind" -v q="$name" \
						'$1 == s && $2 == k && $3 == q { print $4 }' "$OUT/plans.tsv")" != yes ]; then
						continue
					fi
					tps main "$set" "$n" "$kind" "tps_$name" "$rr" "$set-$kind-$name" \
						"$(table_script "$name" "$n" t)" "$(query_opts "$name")"
				done
			done

			step "$set/$kind: AM probes"
			v=$(q -c "SELECT index_probe_count('$idx', $(probe_keys_sql keys))")
			[ "$v" = "$(q -c "SELECT count(*) FROM t WHERE k IN (SELECT k FROM keys WHERE id <= $NPROBE)")" ] ||
				note "$set/$kind: the probe found $v TIDs for $NPROBE loaded keys (seq scan disagrees)"
			v=$(q -c "SELECT index_probe_count('$idx', $(probe_keys_sql missing))")
			[ "$v" = 0 ] || note "$set/$kind: the probe found $v TIDs for $NMISSING missing keys"
			for rr in $(seq "$REPS"); do
				raw main "$set" "$n" "$kind" probe_hit_ns "$rr" \
					"$(q -c "SELECT round(index_probe_bench('$idx', $(probe_keys_sql keys), $PROBE_LOOPS)::numeric, 1)")"
				raw main "$set" "$n" "$kind" probe_miss_ns "$rr" \
					"$(q -c "SELECT round(index_probe_bench('$idx', $(probe_keys_sql missing), $PROBE_LOOPS)::numeric, 1)")"
				raw main "$set" "$n" "$kind" probe_hit_cpu_ns "$rr" \
					"$(q -c "SELECT round(index_probe_bench_cpu('$idx', $(probe_keys_sql keys), $PROBE_LOOPS)::numeric, 1)")"
				raw main "$set" "$n" "$kind" probe_miss_cpu_ns "$rr" \
					"$(q -c "SELECT round(index_probe_bench_cpu('$idx', $(probe_keys_sql missing), $PROBE_LOOPS)::numeric, 1)")"
			done
		fi

		step "$set/$kind rep $r: COPY $INSERTS rows"
		q -c CHECKPOINT >/dev/null
		v=$(sql_s "COPY t FROM '$WORK/copy.tsv'")
		raw main "$set" "$n" "$kind" copy_s "$r" "$v"
		raw main "$set" "$n" "$kind" bytes_per_key_copy "$r" "$(size_per_key "$kind")"
		[ "$kind" = memkv ] &&
			raw main "$set" "$n" "$kind" shmem_per_key_copy "$r" "$(memkv_shmem_per_key)"

		if [ "$r" = "$REPS" ]; then
			q -c 'VACUUM ANALYZE t' >/dev/null
			step "$set/$kind: point lookups after the COPY"
			for rr in $(seq "$REPS"); do
				tps main "$set" "$n" "$kind" tps_point_copy "$rr" "$set-$kind-point_copy" \
					"$(query_script point "$n")"
			done
		fi

		if [ "$kind" = memkv ] && [ "$HAVE_FREEZE" = 1 ]; then
			step "$set/$kind rep $r: memkv_freeze"
			v=$(sql_s "SELECT memkv_freeze('$idx')")
			raw main "$set" "$n" "$kind" freeze_s "$r" "$v"
			raw main "$set" "$n" "$kind" bytes_per_key_freeze "$r" "$(size_per_key "$kind")"
			raw main "$set" "$n" "$kind" shmem_per_key_freeze "$r" "$(memkv_shmem_per_key)"
		fi

		if [ "$r" = "$REPS" ]; then
			step "$set/$kind: single-row INSERT"
			for rr in $(seq "$REPS"); do
				tps main "$set" "$n" "$kind" tps_insert "$rr" "$set-$kind-insert" \
					"$(printf '\\set id random(1, %s)\n\\set r random(1, 1000000000)\n%s\n' "$NPOOL" \
					"INSERT INTO t (id, k) SELECT -1, k || '/' || :r FROM pool WHERE id = :id;")"
			done
		fi
	done
	reset_table "$n"
}

# paired_table KIND: the copy of t that KIND is measured on in alternation.
paired_table()
{
	case $1 in
		btree) echo tb ;;
		memkv) echo tm ;;
	esac
}

# paired_ddl KIND: the index of the paired measurements.
paired_ddl()
{
	case $1 in
		btree) echo "CREATE INDEX tb_k ON tb (k)" ;;
		memkv) echo "CREATE INDEX tm_k ON tm USING memkv (k)" ;;
	esac
}

# paired_order REP: btree first in odd pairs, memkv first in even ones.
paired_order()
{
	if [ $(($1 % 2)) = 1 ]; then echo "btree memkv"; else echo "memkv btree"; fi
}

# bench_paired SET NLOAD: btree and memkv in alternation, each on its own
# copy of t (tb and tm, same rows in the same order): REPS pairs of CREATE
# INDEX, then REPS rounds of every query on both, recorded in the "paired"
# section.  A pair's ratio compares two runs minutes apart at most.
bench_paired()
{
	local set=$1 n=$2 r name kind tbl
	step "$set paired: copies of t"
	reset_table "$n"
	q -c "DROP TABLE IF EXISTS tb, tm" 	  -c "CREATE TABLE tb (LIKE t)" -c "INSERT INTO tb SELECT * FROM t" 	  -c "CREATE TABLE tm (LIKE t)" -c "INSERT INTO tm SELECT * FROM t" 	  -c "VACUUM ANALYZE tb, tm" >/dev/null
	# builds take a second: 2R + 1 pairs of them cost little
	for r in $(seq $((2 * REPS + 1))); do
		for kind in $(paired_order "$r"); do
			tbl=$(paired_table "$kind")
			step "$set paired rep $r: $kind CREATE INDEX"
			q -c "DROP INDEX IF EXISTS ${tbl}_k" -c CHECKPOINT >/dev/null
			build paired "$set" "$n" "$kind" "$r" "$(paired_ddl "$kind")"
		done
	done
	q -c "VACUUM ANALYZE tb, tm" >/dev/null
	for r in $(seq "$REPS"); do
		for name in $QUERIES; do
			for kind in $(paired_order "$r"); do
				tbl=$(paired_table "$kind")
				if [ "$r" = 1 ] &&
					! q -c "EXPLAIN (COSTS OFF) $(explain_sql "$name" | sed "s/ FROM t WHERE / FROM $tbl WHERE /")" |
					grep -q " ${tbl}_k"; then
					note "$set paired/$kind: $name does not use ${tbl}_k"
				fi
				step "$set paired rep $r: $kind $name"
				tps paired "$set" "$n" "$kind" "tps_$name" "$r" "$set-paired-$kind-$name" \
					"$(table_script "$name" "$n" "$tbl")" "$(query_opts "$name")"
			done
		done
	done
	bench_mixed "$set" "$n"
	q -c "DROP TABLE tb, tm" >/dev/null
}

# bench_mixed SET NLOAD: every query on tb (btree) and tm (memkv) mixed in
# one pgbench run, REPS runs, recorded in the "mixed" section as mean
# latencies (lat_QUERY, microseconds).  Called by bench_paired, whose
# tables it uses.
bench_mixed()
{
	local set=$1 n=$2 r name v
	for r in $(seq "$REPS"); do
		for name in $QUERIES; do
			step "$set mixed rep $r: $name"
			if v=$(pgbench_mixed "$set-mixed-$name" "$(table_script "$name" "$n" tb)" \
				"$(table_script "$name" "$n" tm)" "$(query_opts "$name")"); then
				raw mixed "$set" "$n" btree "lat_$name" "$r" "${v% *}"
				raw mixed "$set" "$n" memkv "lat_$name" "$r" "${v#* }"
			else
				note "$set/mixed: pgbench $name (rep $r) failed: $(grep -m1 -iE 'error|abort' "$OUT/logs/pgbench-$set-mixed-$name.log" || echo '?')"
			fi
		done
	done
}

# bench_scaling SET NKEYS KIND: size and point lookups at one size.
bench_scaling()
{
	local set=$1 n=$2 kind=$3 rr v
	local idx=t_k_$kind
	step "scaling $set $n/$kind: CREATE INDEX"
	reset_table "$n"
	q -c CHECKPOINT >/dev/null
	build scaling "$set" "$n" "$kind" 1 "$(index_ddl "$kind")"
	q -c 'VACUUM ANALYZE t' >/dev/null
	raw scaling "$set" "$n" "$kind" bytes_per_key 1 "$(size_per_key "$kind")"
	[ "$kind" = memkv ] &&
		raw scaling "$set" "$n" "$kind" shmem_per_key 1 "$(memkv_shmem_per_key)"
	v=$(q -c "EXPLAIN (COSTS OFF) $(explain_sql point)")
	if echo "$v" | grep -q " $idx"; then
		for rr in $(seq "$REPS"); do
			tps scaling "$set" "$n" "$kind" tps_point "$rr" "scaling-$set-$n-$kind" \
				"$(query_script point "$n")"
		done
	else
		note "scaling $set $n/$kind: the point lookup does not use $idx"
	fi
	for rr in $(seq "$REPS"); do
		raw scaling "$set" "$n" "$kind" probe_hit_ns "$rr" \
			"$(q -c "SELECT round(index_probe_bench('$idx', $(probe_keys_sql keys), $PROBE_LOOPS)::numeric, 1)")"
		raw scaling "$set" "$n" "$kind" probe_hit_cpu_ns "$rr" \
			"$(q -c "SELECT round(index_probe_bench_cpu('$idx', $(probe_keys_sql keys), $PROBE_LOOPS)::numeric, 1)")"
	done
	reset_table "$n"
}

# run_guarded DESC FUNC SET NKEYS KIND: run one index kind's measurements in a
# subshell; on failure (e.g. an AM error or a crashed backend) note it, wait
# for the server to be back, and go on.
run_guarded()
{
	local desc=$1 rc
	shift
	set +e
	(set -e; "$@")
	rc=$?
	set -e
	if [ "$rc" != 0 ]; then
		note "$desc: failed at '$(cat "$STEP_FILE" 2>/dev/null)' (exit $rc; see logs/run.log and logs/server.log)"
		wait_server || { log "server did not come back"; exit 1; }
		reset_table "${3:-0}" 2>/dev/null || true
	fi
}

# ---------------------------------------------------------------- main

IFS=, read -r -a SETS <<<"$DATASETS"
for set in "${SETS[@]}"; do
	log "data set $set: sampling $KEYS + $INSERTS + $NMISSING + $NPOOL keys"
	sample=$(bash "$BENCH_DIR/data.sh" "$set" $((KEYS + INSERTS + NMISSING + NPOOL)) \
		"$WORK/sample-$set.txt")
	load_table "$set" "$sample" "$KEYS" "$INSERTS"
	meta "avg_key_bytes_$set" "$(q -c 'SELECT round(avg(octet_length(k)), 1) FROM t')"
	meta "seqscan_answers_$set" "$(answers_md5 "$set-seqscan")"	# t has no index yet
	for kind in $KINDS; do
		log "data set $set: $kind"
		run_guarded "$set/$kind" bench_kind "$set" "$KEYS" "$kind"
	done
	if [ "$PAIRED" = 1 ] && [ "$MEMKV_STATUS" = ok ]; then
		log "data set $set: btree and memkv paired"
		run_guarded "$set/paired" bench_paired "$set" "$KEYS"
	fi
done

IFS=, read -r -a SIZES <<<"$SCALING"
if [ "$SCALING" != none ]; then
	for set in synthetic paths; do
		case ",$DATASETS," in *",$set,"*) ;; *) continue ;; esac
		for n in "${SIZES[@]}"; do
			log "scaling: $set at $n keys"
			sample=$(bash "$BENCH_DIR/data.sh" "$set" $((n + NMISSING)) "$WORK/sample-$set.txt")
			load_table "$set" "$sample" "$n" 0
			for kind in $KINDS; do
				run_guarded "scaling $set $n/$kind" bench_scaling "$set" "$n" "$kind"
			done
		done
	done
fi

cp "$WORK/pg/server.log" "$OUT/logs/server.log" 2>/dev/null || true
log "writing $OUT/results.md and plots"
python3 "$BENCH_DIR/report.py" "$OUT"
log "done: $OUT/results.md"
