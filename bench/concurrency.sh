#!/bin/bash
# bench/concurrency.sh -- memkv against btree from 1 to 256 clients (issue 14).
#
# Usage:
#   bash bench/concurrency.sh [--quick] [--keys N] [--clients "1 16 64 256"]
#                             [--mixes mixed,read,insert] [--duration S]
#                             [--reps R] [--threshold T] [--freeze-runs]
#                             [--prefill N]
#                             [--stripes "1 2 4 8 16"] [--out DIR] [--port P]
#                             [--no-install] [--memkv-ref REF]
#
# One command, run as root on a Debian 12 machine, with the conventions of
# bench/run.sh: installs what is missing, builds memkv (the working tree or
# --memkv-ref REF) into a private copy of the PostgreSQL installation that
# PG_CONFIG names (Debian's PostgreSQL 15 by default), samples N Debian
# paths (bench/data.sh, random order), starts a throwaway server as the
# postgres OS user on a private port and socket dir (test/lib/pgserver.sh;
# stopped on exit, also on failure) and sweeps clients x mixes:
#
#   mixed   60% point lookups, 25% single-row inserts,
#           15% k >= key ORDER BY k LIMIT 20   (the workload of issue 14)
#   read    the same lookups and ranges, no inserts (80% / 20%)
#   insert  single-row inserts only
#
# btree (COLLATE "C") and memkv each have their own copy of the same table
# (tb, tm: the same rows in the same heap order).  For every mix, client
# count and repetition, each memkv variant is measured in a pair with a
# btree run (btree first in odd pairs, memkv first in even ones), so that a
# change in the machine's load hits both; before every run the table loses
# the rows earlier runs inserted and its index is rebuilt, so every run
# starts from N keys.  Inserted keys are fresh: a loaded key plus
# '/~RUN.CLIENT.SEQ', never seen before in the table.
#
# memkv variants: "memkv" (server setting memkv.freeze_threshold = T,
# default 0: no background freeze); with --freeze-runs also "memkv-f100k",
# an index WITH (freeze_threshold = 100000), for the mixes that insert;
# with --stripes LIST also "memkv-sN", an index WITH (stripes = N), if the
# installed memkv knows that reloption (else the results say n/a).
#
# --prefill N (mixes with inserts only): after each rebuild, before the
# run, N fresh rows are inserted into the table (a loaded key plus
# '/~pID'), for btree and memkv alike, so that memkv's delta starts with N
# keys; with --freeze-runs and N a little under 100,000, memkv-f100k
# freezes early in every run, also at 64 and 256 clients, where a run of
# a few minutes would otherwise insert fewer than 100,000 rows.
#
# pgbench -n -M prepared -c C -j min(C, 2 x cores) -T S; TPS is pgbench's
# figure without the initial connection time; p50/p99 latency come from a
# 20% sample of the transactions (pgbench -l --sampling-rate=0.2).
#
# Results (--out, default bench/results/concurrency-<UTC time>/): results.md,
# raw.tsv (every run), concurrency_tps.png (TPS against clients, one panel
# per mix), plans.txt, logs/.  bench/README.md explains every number.
#
# --quick: 20,000 keys, 5 s runs, clients "1 4" (explicit options win).

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
CMDLINE="bash bench/concurrency.sh$(printf ' %q' "$@")"

QUICK=0
KEYS=
CLIENTS=
MIXES=mixed,read,insert
DURATION=
REPS=1
THRESHOLD=0
FREEZE_RUNS=0
FREEZE_T=100000
PREFILL=0
STRIPES=
OUT=
PORT=${MEMKV_BENCH_PORT:-$((57433 + $$ % 1000))}
INSTALL=1
MEMKV_REF=

while [ $# -gt 0 ]; do
	case $1 in
		--quick) QUICK=1; shift ;;
		--keys) KEYS=$2; shift 2 ;;
		--clients) CLIENTS=$2; shift 2 ;;
		--mixes) MIXES=$2; shift 2 ;;
		--duration) DURATION=$2; shift 2 ;;
		--reps) REPS=$2; shift 2 ;;
		--threshold) THRESHOLD=$2; shift 2 ;;
		--freeze-runs) FREEZE_RUNS=1; shift ;;
		--prefill) PREFILL=$2; shift 2 ;;
		--stripes) STRIPES=$2; shift 2 ;;
		--out) OUT=$2; shift 2 ;;
		--port) PORT=$2; shift 2 ;;
		--no-install) INSTALL=0; shift ;;
		--memkv-ref) MEMKV_REF=$2; shift 2 ;;
		-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) echo "concurrency.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

if [ "$QUICK" = 1 ]; then
	KEYS=${KEYS:-20000}
	DURATION=${DURATION:-5}
	CLIENTS=${CLIENTS:-1 4}
	SHARED_BUFFERS=256MB
	MEMKV_SHMEM_MB=256
else
	KEYS=${KEYS:-1000000}
	DURATION=${DURATION:-60}
	CLIENTS=${CLIENTS:-1 16 64 256}
	SHARED_BUFFERS=1GB
	MEMKV_SHMEM_MB=1024
fi
[[ $PREFILL =~ ^[0-9]+$ ]] && [ "$PREFILL" -le "$KEYS" ] ||
	{ echo "concurrency.sh: --prefill must be a row count from 0 to --keys ($KEYS)" >&2; exit 2; }
for c in $CLIENTS; do
	[[ $c =~ ^[1-9][0-9]*$ ]] || { echo "concurrency.sh: bad client count '$c'" >&2; exit 2; }
done
for m in ${MIXES//,/ }; do
	case $m in mixed|read|insert) ;; *)
		echo "concurrency.sh: unknown mix '$m' (mixed, read, insert)" >&2; exit 2 ;;
	esac
done
MAX_CLIENTS=$(printf '%s\n' $CLIENTS | sort -n | tail -1)
CORES=$(nproc)

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$BENCH_DIR/results/concurrency-$STAMP}
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
RAW=$OUT/raw.tsv
META=$OUT/meta.tsv
NOTES=$OUT/notes.txt
PLANS=$OUT/plans.txt
printf 'mix\tclients\tkind\trep\tpair\ttps\tp50_ms\tp99_ms\tload1\tfreezes\n' >"$RAW"
: >"$META"; : >"$NOTES"; : >"$PLANS"

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/logs/run.log" >&2; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
note() { log "NOTE: $*"; echo "$*" >>"$NOTES"; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- setup

if [ "$INSTALL" = 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "concurrency.sh: run as root (or --no-install)" >&2; exit 1; }
	pkgs=()
	[ -x /usr/lib/postgresql/15/bin/postgres ] || pkgs+=(postgresql-15)
	[ -f /usr/include/postgresql/15/server/postgres.h ] ||
		pkgs+=(postgresql-server-dev-15)
	command -v make >/dev/null && command -v gcc >/dev/null ||
		pkgs+=(build-essential)
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	command -v python3 >/dev/null || pkgs+=(python3)
	command -v openssl >/dev/null || pkgs+=(openssl)
	if [ -z "${MEMKV_BENCH_PATHS_FILE:-}" ]; then
		command -v apt-file >/dev/null || pkgs+=(apt-file)
		command -v lz4cat >/dev/null || pkgs+=(lz4)
	fi
	if [ ${#pkgs[@]} -gt 0 ]; then
		log "installing ${pkgs[*]}"
		apt-get update -q >>"$OUT/logs/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" \
			>>"$OUT/logs/apt.log" 2>&1
	fi
fi
# shellcheck source=bench/data.sh
. "$BENCH_DIR/data.sh"

WORK=$(mktemp -d /var/tmp/memkv-bench-conc.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
cleanup()
{
	pg_server_stop
	rm -rf "$WORK"
}

# build_memkv: as bench/run.sh -- copy the installation PG_CONFIG names
# (bin, lib, share, server headers, each under its own absolute path) to
# $WORK/pginst and install memkv there with the copy's pg_config, so that
# another make install on the machine cannot change what is measured.
build_memkv()
{
	local src_config=${PG_CONFIG:-pg_config} d src=$REPO
	PGROOT=$WORK/pginst
	mkdir -p "$PGROOT"
	for d in bindir pkglibdir sharedir includedir-server; do
		d=$("$src_config" --$d)
		mkdir -p "$PGROOT$(dirname "$d")"
		cp -a "$d" "$PGROOT$(dirname "$d")/"
	done
	PG_BINDIR=$PGROOT$("$src_config" --bindir)
	if [ -n "$MEMKV_REF" ]; then
		src=$WORK/memkv-src
		mkdir "$src"
		git -C "$REPO" archive "$MEMKV_REF" | tar -x -C "$src"
	fi
	# build in a copy: the working tree's objects may be another version's
	if [ -z "$MEMKV_REF" ]; then
		mkdir "$WORK/memkv-src"
		git -C "$REPO" ls-files -z --cached --others --exclude-standard |
			(cd "$REPO" && xargs -0 cp --parents -t "$WORK/memkv-src" 2>/dev/null) || true
		src=$WORK/memkv-src
	fi
	{ make -C "$src" -j2 PG_CONFIG="$PG_BINDIR/pg_config" &&
		make -C "$src" install PG_CONFIG="$PG_BINDIR/pg_config"; } \
		>"$OUT/logs/memkv-build.log" 2>&1 ||
		die "memkv does not build (logs/memkv-build.log)"
	chmod -R a+rX "$PGROOT"
	export PG_BINDIR
	export PATH=$PG_BINDIR:$PATH
}
log "building memkv into a private PostgreSQL copy"
build_memkv

log "sampling $KEYS paths"
SAMPLE=$WORK/sample.txt
data_sample paths "$KEYS" "$SAMPLE"
awk '{ print NR "\t" $0 }' "$SAMPLE" >"$WORK/keys.tsv"
chmod 644 "$WORK"/*.tsv

# shellcheck source=test/lib/pgserver.sh
. "$REPO/test/lib/pgserver.sh"
CONF=(
	"max_connections = $((MAX_CLIENTS + 20))"
	"shared_buffers = $SHARED_BUFFERS"
	"memkv.shared_memory = $MEMKV_SHMEM_MB"
	"memkv.freeze_threshold = $THRESHOLD"
	"maintenance_work_mem = 256MB"
	"max_wal_size = 8GB"
	"checkpoint_timeout = 1h"
	"autovacuum = off"
	"jit = off"
	"max_parallel_maintenance_workers = 0"
	"max_parallel_workers_per_gather = 0"
	"statement_timeout = '10min'"
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
	CREATE TABLE tb (id bigint NOT NULL, k text COLLATE "C");
	CREATE TABLE tm (id bigint NOT NULL, k text COLLATE "C");
	INSERT INTO tb SELECT id, k FROM keys ORDER BY id;
	INSERT INTO tm SELECT id, k FROM keys ORDER BY id;
	VACUUM ANALYZE keys, tb, tm;
EOF

# ---------------------------------------------------------------- variants

# The memkv variants and their CREATE INDEX options ("" = none).
declare -A WITH
VARIANTS="memkv"
WITH[memkv]=""
if [ "$FREEZE_RUNS" = 1 ]; then
	VARIANTS+=" memkv-f100k"
	WITH[memkv-f100k]="WITH (freeze_threshold = $FREEZE_T)"
fi
STRIPES_STATUS="not asked for"
if [ -n "$STRIPES" ]; then
	# Does the installed memkv know the reloption?  Try it on an empty table.
	if q -c "CREATE TEMP TABLE probe_stripes (k text COLLATE \"C\")" \
		-c "CREATE INDEX ON probe_stripes USING memkv (k) WITH (stripes = 1)" \
		>"$OUT/logs/stripes-probe.log" 2>&1; then
		STRIPES_STATUS="measured: $STRIPES"
		for s in $STRIPES; do
			VARIANTS+=" memkv-s$s"
			WITH[memkv-s$s]="WITH (stripes = $s)"
		done
	else
		STRIPES_STATUS="n/a: this memkv has no \"stripes\" reloption ($(grep -m1 ERROR "$OUT/logs/stripes-probe.log" || echo '?'))"
		note "--stripes $STRIPES skipped: $STRIPES_STATUS"
	fi
fi

# variants_for MIX: the memkv variants measured in MIX (a freeze threshold
# means nothing without inserts).
variants_for()
{
	local v
	for v in $VARIANTS; do
		[ "$1" = read ] && [ "$v" = memkv-f100k ] && continue
		echo "$v"
	done
}

# table_of KIND: tb for btree, tm for every memkv variant.
table_of() { if [ "$1" = btree ]; then echo tb; else echo tm; fi; }

# index_ddl KIND: the CREATE INDEX of KIND on its table.
index_ddl()
{
	if [ "$1" = btree ]; then
		echo "CREATE INDEX tb_k ON tb (k)"
	else
		echo "CREATE INDEX tm_k ON tm USING memkv (k)${WITH[$1]:+ ${WITH[$1]}}"
	fi
}

# prepare KIND MIX: KIND's table back to the N loaded rows, its index
# rebuilt, for a mix with inserts the --prefill rows inserted, then a
# checkpoint, so that every run starts alike.
prepare()
{
	local t fill=0
	t=$(table_of "$1")
	[ -n "${2:-}" ] && [ "$2" != read ] && fill=$PREFILL
	q -c "DROP INDEX IF EXISTS ${t}_k" -c "DELETE FROM $t WHERE id < 0" \
	  -c "VACUUM ANALYZE $t" -c "$(index_ddl "$1")" \
	  -c "INSERT INTO $t (id, k) SELECT -1, k || '/~p' || id FROM keys WHERE id <= $fill" \
	  -c CHECKPOINT >/dev/null
}

# ---------------------------------------------------------------- scripts

# write_scripts DIR TABLE: the three pgbench scripts on TABLE.  :tag (the
# run number) and :seq (a per-client counter, from -D seq=0) make every
# inserted key new: a loaded key plus '/~TAG.CLIENT.SEQ'.
write_scripts()
{
	local dir=$1 t=$2
	mkdir -p "$dir"
	printf '%s\n' "\\set id random(1, $KEYS)" \
		"SELECT id FROM $t WHERE k = (SELECT k FROM keys WHERE id = :id);" \
		>"$dir/point.pgb"
	printf '%s\n' "\\set id random(1, $KEYS)" \
		"SELECT id, k FROM $t WHERE k >= (SELECT k FROM keys WHERE id = :id) ORDER BY k LIMIT 20;" \
		>"$dir/range.pgb"
	printf '%s\n' "\\set id random(1, $KEYS)" "\\set seq :seq + 1" \
		"INSERT INTO $t (id, k) SELECT -1, k || '/~' || :tag || '.' || :client_id || '.' || :seq FROM keys WHERE id = :id;" \
		>"$dir/insert.pgb"
}

# mix_args MIX: pgbench's -f options of MIX (script@weight).
mix_args()
{
	case $1 in
		mixed) echo "-f point.pgb@60 -f insert.pgb@25 -f range.pgb@15" ;;
		read) echo "-f point.pgb@60 -f range.pgb@15" ;;
		insert) echo "-f insert.pgb" ;;
	esac
}

mix_title()
{
	case $1 in
		mixed) echo "60% point lookups, 25% single-row inserts, 15% k >= key ORDER BY k LIMIT 20" ;;
		read) echo "read-only: 80% point lookups, 20% k >= key ORDER BY k LIMIT 20" ;;
		insert) echo "insert-only: single-row inserts of new keys" ;;
	esac
}

# check_plans KIND: the point and range queries must use KIND's index.
check_plans()
{
	local t plan
	t=$(table_of "$1")
	for sql in "SELECT id FROM $t WHERE k = (SELECT k FROM keys WHERE id = 1)" \
		"SELECT id, k FROM $t WHERE k >= (SELECT k FROM keys WHERE id = 1) ORDER BY k LIMIT 20"; do
		plan=$(q -c "EXPLAIN (COSTS OFF) $sql")
		printf '== %s\n%s\n%s\n\n' "$1" "$sql" "$plan" >>"$PLANS"
		echo "$plan" | grep -q " ${t}_k" ||
			note "$1: the plan of '$sql' does not use ${t}_k (plans.txt)"
	done
}

RUN=0
# measure MIX CLIENTS KIND REP PAIR: one pgbench run, one line of raw.tsv
# (an empty TPS if pgbench failed; the failure is noted).
measure()
{
	local mix=$1 c=$2 kind=$3 rep=$4 pair=$5 dir name tps lat load jobs freezes
	RUN=$((RUN + 1))
	name=$mix-c$c-$kind-r$rep
	dir=$WORK/run-$RUN
	write_scripts "$dir" "$(table_of "$kind")"
	prepare "$kind" "$mix"
	jobs=$(( c < 2 * CORES ? c : 2 * CORES ))
	log "  $mix, $c clients, $kind (rep $rep): pgbench -c $c -j $jobs -T $DURATION"
	# shellcheck disable=SC2046
	if (cd "$dir" && PGOPTIONS="$PGOPTIONS -c statement_timeout=120s" \
		pgbench -n -M prepared -c "$c" -j "$jobs" -T "$DURATION" \
			-D tag="$RUN" -D seq=0 -l --sampling-rate=0.2 --log-prefix=pgb \
			$(mix_args "$mix")) >"$OUT/logs/pgbench-$name.log" 2>&1; then
		tps=$(sed -n 's/^tps = \([0-9.]*\) .*without.*/\1/p' "$OUT/logs/pgbench-$name.log" | tail -1)
	else
		tps=
	fi
	load=$(cut -d' ' -f1 /proc/loadavg)
	# every inserted key must be new (the point of :tag and :seq)
	if [ "$mix" != read ] &&
		[ "$(q -c "SELECT count(*) - count(DISTINCT k) FROM $(table_of "$kind") WHERE id < 0")" != 0 ]; then
		note "$mix/$c clients/$kind rep $rep: some inserted keys were not new"
	fi
	if [ -z "$tps" ]; then
		note "$mix/$c clients/$kind rep $rep: pgbench failed: $(grep -m1 -iE 'error|abort' "$OUT/logs/pgbench-$name.log" || echo '?') (logs/pgbench-$name.log)"
		lat="- -"
	else
		# log lines: client, transaction, latency (us), script, ...
		lat=$(cat "$dir"/pgb.* 2>/dev/null | awk '{ print $3 }' | sort -n | awk '
			{ v[NR] = $1 }
			END {
				if (NR == 0) { print "- -"; exit }
				i50 = int(NR * 0.50 + 0.5); if (i50 < 1) i50 = 1
				i99 = int(NR * 0.99 + 0.5); if (i99 < 1) i99 = 1
				printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000
			}')
	fi
	# memkv: the freezes of the index since its build (background ones
	# with a freeze threshold; none expected without)
	freezes=-
	if [ "$kind" != btree ]; then
		freezes=$(q -c "SELECT freezes FROM memkv_state('tm_k')" 2>/dev/null || echo '?')
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mix" "$c" "$kind" "$rep" "$pair" \
		"${tps:--}" "${lat% *}" "${lat#* }" "$load" "$freezes" >>"$RAW"
	rm -rf "$dir"
}

# ---------------------------------------------------------------- meta

meta command "$CMDLINE"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta machine "$(uname -m), $CORES cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(. /etc/os-release && echo "$PRETTY_NAME")"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta postgres "$(q -c 'SELECT version()')"
if [ -n "$MEMKV_REF" ]; then
	meta memkv_commit "$(git -C "$REPO" log -1 --format='%h %s' "$MEMKV_REF")"
else
	meta memkv_commit "$(git -C "$REPO" log -1 --format='%h %s' 2>/dev/null || echo unknown)$(git -C "$REPO" status --porcelain -- src Makefile '*.sql' 2>/dev/null | grep -q . && echo ' + uncommitted changes (working tree)')"
fi
meta keys "$KEYS"
meta avg_key_bytes "$(q -c 'SELECT round(avg(octet_length(k)), 1) FROM keys')"
meta duration "$DURATION"
meta reps "$REPS"
meta clients "$CLIENTS"
meta mixes "$MIXES"
meta variants "$VARIANTS"
meta stripes "$STRIPES_STATUS"
meta threshold "$THRESHOLD"
meta prefill "$PREFILL"
meta quick "$QUICK"
meta server_settings "$(q -F '=' -c "SELECT name, current_setting(name) FROM pg_settings
	WHERE name IN ('max_connections', 'shared_buffers', 'fsync', 'synchronous_commit',
	  'wal_level', 'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'jit',
	  'maintenance_work_mem', 'work_mem', 'max_parallel_workers_per_gather',
	  'max_worker_processes') ORDER BY name" | paste -sd' ')"
meta memkv_settings "$(q -F '=' -c "SELECT name, current_setting(name) FROM pg_settings
	WHERE name LIKE 'memkv.%' ORDER BY name" | paste -sd' ')"
meta memkv_variants "$(for v in $VARIANTS; do printf '%s: `%s`; ' "$v" "$(index_ddl "$v")"; done | sed 's/; $//')"
meta pgbench "pgbench -n -M prepared -c C -j min(C, $((2 * CORES))) -T $DURATION -l --sampling-rate=0.2"

# ---------------------------------------------------------------- sweep

prepare btree; check_plans btree
for v in $VARIANTS; do prepare "$v"; check_plans "$v"; done

PAIR=0
for mix in ${MIXES//,/ }; do
	log "mix $mix: $(mix_title "$mix")"
	for c in $CLIENTS; do
		for rep in $(seq "$REPS"); do
			for v in $(variants_for "$mix"); do
				PAIR=$((PAIR + 1))
				if [ $((PAIR % 2)) = 1 ]; then order="btree $v"; else order="$v btree"; fi
				for kind in $order; do
					measure "$mix" "$c" "$kind" "$rep" "$PAIR"
				done
			done
		done
	done
done
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"

cp "$WORK/pg/server.log" "$OUT/logs/server.log" 2>/dev/null || true
log "writing $OUT/results.md and the plot"
python3 "$BENCH_DIR/concurrency_report.py" "$OUT"
log "done: $OUT/results.md"
