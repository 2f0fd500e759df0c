#!/bin/bash
# bench/scale.sh -- issue 15's scale targets: memkv against btree on the
# same rows at several sizes, with PostgreSQL's and memkv's DEFAULT
# settings (or --tuned ones): CREATE INDEX time, size, and point, prefix
# count and ordered LIMIT 20 latency measured by the mixed method.
#
# Usage (as root; the Debian paths fetched by bench/data.sh into
# /var/tmp/memkv-bench-data):
#
#   bash bench/scale.sh [--sizes "paths:1000000 paths:all urls:20000000"]
#        [--clients "1 8"] [--duration S] [--pairs P] [--queries LIST]
#        [--tuned] [--quick] [--out DIR] [--port P] [--no-install]
#        [--memkv-ref REF] [--bindir DIR]
#
#   --sizes     data set:keys pairs.  paths:N -- the first N of the
#               shuffled Debian paths (bench_paths_shuf; "all" = every
#               path, about 7.3M); urls:N -- N URL-like keys, the i-th
#               (i = 1..N) "https://h<i*7919 mod 20011>.example.com/" +
#               shuffled path (i mod lines) + "?id=" + i (bench/build_mem.sh's
#               generator: distinct because of the id, about 104 bytes,
#               each path about N/7.3M times with different hosts; the
#               host, a pseudo-random function of i, leads the key, so
#               heap order is random with respect to key order).
#   --clients   pgbench client counts (default "1 8")
#   --duration  seconds per pgbench run (default 15; --quick 1)
#   --pairs     CREATE INDEX pairs per size (default 2 up to 7.3M keys,
#               1 above; the order alternates, memkv first in odd pairs)
#   --queries   measured queries (default "point prefix range")
#   --tuned     shared_buffers 4GB, memkv.shared_memory 1GB,
#               maintenance_work_mem 1GB (else all three at their defaults:
#               128MB, 128MB, 64MB)
#   --probes    probe keys sampled per size (default 100,000; --quick 2000)
#   --checks    probe keys whose answers are compared with a seq scan's
#               (default 5; --quick 3)
#   --perf-at N at the size of N keys, after the mixed runs: per query one
#               memkv-only pgbench run (1 client) while `perf record -g`
#               samples its backend for --perf-seconds (default 20);
#               logs/perf-SET-N-QUERY.txt holds the top of `perf report`
#   --prewarm   before the measurements, pg_prewarm both tables and both
#               indexes (on by default with --tuned, whose 4GB of shared
#               buffers are otherwise filled, page fault by page fault,
#               during the runs; --no-prewarm turns it off)
#   --pages N   after the mixed runs, per query the index pages each
#               statement reads, for probes 1..N (default 2000; --quick
#               200; 0: none): one DO block runs the statement on m and
#               on b per probe, in turn, and the indexes' idx_blks_hit
#               and idx_blks_read deltas (pg_statio_user_indexes, read
#               after the block's session ended, which flushes them) are
#               divided by N: pages_QUERY (buffer reads: memkv re-reads
#               no page it holds pinned, so about the distinct pages)
#               and reads_QUERY (those not in shared buffers)
#   --variants "LABEL:SETTING=V,SETTING=V LABEL: ..."
#               after the builds, per variant: build the memkv index
#               again (DROP, CREATE) with those settings (e.g.
#               memkv.debug_unit_bytes=0; the first variant, if it has
#               none, is the index as built; the settings also hold in
#               every session that measures it, e.g.
#               memkv.top_memo_kb=0), check
#               its plans and answers again, and measure everything (the
#               mixed runs, --pages) with it, recorded under the set name
#               SET/LABEL (bytes_per_key and build_s too), so that
#               layouts are compared on the same tables and server
#   --quick     paths:20000 urls:20000, 1 s runs, clients "1 2", one pair
#
# One throwaway server (bench/lib.sh bench_scratch_server: postgres OS
# user, temp directory, private port and socket, stopped on exit, also on
# failure).  Settings a benchmark must fix, nothing else: autovacuum off,
# jit off, max_parallel_workers_per_gather 0 (the query plans), and the
# checkpoint spacing (max_wal_size 8GB, checkpoint_timeout 1h);
# memkv.freeze_threshold 0 (nothing is inserted, so no freeze would run
# anyway).  fsync, synchronous_commit, max_parallel_maintenance_workers
# (btree may build in parallel) and the rest stay at their defaults.
#
# Per size: two tables m (memkv index m_k) and b (btree index b_k),
# k text COLLATE "C", loaded by COPY from the same file (same rows, same
# heap order); CREATE INDEX timed on each (psql \timing, after a
# CHECKPOINT); size in bytes per key; VACUUM ANALYZE; CHECKPOINT.  A probe
# table holds a Bernoulli sample of the keys (--probes, default 100,000)
# and each one's prefix (its directory: everything up to the last '/',
# LIKE-escaped, as bench/run.sh makes them).  The plans are EXPLAINed and
# must use the intended index and node (point and range: Index Scan,
# prefix: Index Only Scan); the answers for --checks probe keys must
# equal a seq scan's.  Then, per query and client count, one pgbench run
# (-M prepared) with two scripts, btree's and memkv's, chosen at random
# per transaction (the "mixed" method of bench/run.sh): each fetches a
# random probe row (\gset) and runs the measured statement on its table;
# pgbench -r's latency of that statement alone is compared, so the probe
# fetch, common to both, does not dilute the ratio.  ratio = btree
# latency / memkv latency, i.e. memkv's speed relative to btree's (> 1:
# memkv faster).
#
# The measured statements:
#   point   SELECT ctid, k FROM T WHERE k = $1           (an existing key)
#   prefix  SELECT count(*) FROM T WHERE k LIKE $1       (custom plans)
#   range   SELECT ctid, k FROM T WHERE k >= $1 ORDER BY k LIMIT 20
# (ctid makes point and range fetch the heap: an Index Scan.)
#
# Results in bench/results/scale-<UTC time>/ (or --out): scale.tsv (every
# figure: set, keys, kind, metric, rep, value), meta.tsv, results.md (one
# table per size, ratios, plans, answer checks, load), plans.txt,
# scale.png (bench/scale_report.py), logs/ (pgbench output, load samples,
# memkv's build messages).  Temporary data under /var/tmp, removed at
# the end.  MEMKV_BENCH_PATHS_FILE: take the paths from that file, in its
# order, instead (bench/selftest.sh).

set -euo pipefail

BENCH_NAME=scale.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
CMDLINE="bash bench/scale.sh$(printf ' %q' "$@")"
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"

bench_defaults
SIZES=
CLIENTS=
DURATION=
PAIRS=
QUERIES="point prefix range"
TUNED=0
PROBES=
CHECKS=
PERF_AT=
PERF_S=20
PREWARM=
PAGES=
VARIANTS=

while [ $# -gt 0 ]; do
	bench_common_option "$@"
	if [ "$BENCH_SHIFT" -gt 0 ]; then shift "$BENCH_SHIFT"; continue; fi
	case $1 in
		--tuned) TUNED=1; shift; continue ;;
		--prewarm) PREWARM=1; shift; continue ;;
		--no-prewarm) PREWARM=0; shift; continue ;;
		-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
	esac
	[ $# -ge 2 ] || { echo "scale.sh: unknown argument or missing value: $1" >&2; exit 2; }
	case $1 in
		--sizes) SIZES=$2 ;;
		--clients) CLIENTS=$2 ;;
		--duration) DURATION=$2 ;;
		--pairs) PAIRS=$2 ;;
		--queries) QUERIES=$2 ;;
		--probes) PROBES=$2 ;;
		--checks) CHECKS=$2 ;;
		--perf-at) PERF_AT=$2 ;;
		--perf-seconds) PERF_S=$2 ;;
		--pages) PAGES=$2 ;;
		--variants) VARIANTS=$2 ;;
		*) echo "scale.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift 2
done

if [ "$QUICK" = 1 ]; then
	SIZES=${SIZES:-paths:20000 urls:20000}
	CLIENTS=${CLIENTS:-1 2}
	DURATION=${DURATION:-1}
	PAIRS=${PAIRS:-1}
	PROBES=${PROBES:-2000}
	CHECKS=${CHECKS:-3}
	PAGES=${PAGES:-200}
else
	SIZES=${SIZES:-paths:1000000 paths:all urls:20000000}
	CLIENTS=${CLIENTS:-1 8}
	DURATION=${DURATION:-15}
	PROBES=${PROBES:-100000}
	CHECKS=${CHECKS:-5}
	PAGES=${PAGES:-2000}
fi
[[ $PAGES =~ ^[0-9]+$ ]] || { echo "scale.sh: --pages: '$PAGES' is not a number" >&2; exit 2; }
PREWARM=${PREWARM:-$TUNED}
for v in DURATION PROBES CHECKS; do bench_positive "--${v,,}" "${!v}"; done
[ -z "$PAIRS" ] || bench_positive --pairs "$PAIRS"
for c in $CLIENTS; do bench_positive --clients "$c"; done
for s in $SIZES; do
	[[ $s =~ ^(paths|urls):([1-9][0-9]*|all)$ ]] ||
		{ echo "scale.sh: --sizes: '$s' is not paths:N, paths:all or urls:N" >&2; exit 2; }
done
for qn in $QUERIES; do
	case $qn in point|prefix|range) ;; *)
		echo "scale.sh: --queries: unknown query '$qn'" >&2; exit 2 ;; esac
done

bench_out_init "scale-$(date -u +%Y%m%dT%H%M%SZ)"
TSV=$OUT/scale.tsv
printf 'set\tkeys\tkind\tmetric\trep\tvalue\n' >"$TSV"
: >"$OUT/plans.txt"
: >"$OUT/checks.txt"

[ "$INSTALL" = 1 ] && bench_install_deps
if [ -n "${MEMKV_BENCH_PATHS_FILE:-}" ]; then
	PATHS=$MEMKV_BENCH_PATHS_FILE	# bench/selftest.sh: a small sample, as is
else
	bench_paths_shuf
fi
NPATHS=$(wc -l <"$PATHS")

WORK=$(mktemp -d /var/tmp/memkv-scale.XXXXXX)
chmod 755 "$WORK"
log "building memkv into a private PostgreSQL copy in $WORK"
bench_build_memkv

CONF=("jit = off" "max_parallel_workers_per_gather = 0")
if [ "$TUNED" = 1 ]; then
	CONF+=("shared_buffers = 4GB" "memkv.shared_memory = 1GB"
		"maintenance_work_mem = 1GB")
fi
log "starting a throwaway server on port $PORT: ${CONF[*]}"
bench_scratch_server "$PG_BINDIR" "$PORT" "${CONF[@]}"
# bench_scratch_server's EXIT trap stops the server and removes W; ours
# also removes WORK (the data files)
eval "set -- $(trap -p EXIT)"
# shellcheck disable=SC2064  # expand now: the library's command and WORK
trap "$3; rm -rf '$WORK'" EXIT
set --

export PGHOST=$W PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
q -c 'CREATE EXTENSION memkv' >/dev/null

# the settings as the server has them (not as asked)
for g in shared_buffers memkv.shared_memory maintenance_work_mem work_mem \
	fsync synchronous_commit max_parallel_maintenance_workers \
	max_parallel_workers_per_gather jit autovacuum max_wal_size \
	checkpoint_timeout effective_cache_size random_page_cost; do
	meta "setting $g" "$(q -c "SHOW $g")"
done
bench_meta_common "$CMDLINE"
meta tuned "$TUNED"
meta sizes "$SIZES"
meta clients "$CLIENTS"
meta duration "$DURATION s per pgbench run"
meta probes "$PROBES"
meta checks "$CHECKS"
meta perf_at "${PERF_AT:-none}"
meta prewarm "$PREWARM"
meta pages "$PAGES probes per query"
meta variants "${VARIANTS:-none}"

# rec SET N KIND METRIC REP VALUE: one figure
rec() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ---------------------------------------------------------------- data

# make_data SET N FILE: the keys, one a line
make_data()
{
	case $1 in
		paths) head -n "$2" "$PATHS" >"$3" ;;
		urls)
			awk -v n="$2" '
				{ p[NR] = $0 }
				END {
					for (i = 1; i <= n; i++)
						printf "https://h%d.example.com/%s?id=%d\n",
							(i * 7919) % 20011, p[(i % NR) + 1], i
				}' "$PATHS" >"$3" ;;
	esac
	chmod 644 "$3"
}

# load SET N FILE: tables m and b with FILE's rows, and the probe table
load()
{
	local pct
	pct=$(awk -v p="$PROBES" -v n="$2" 'BEGIN { x = 100 * p / n; if (x > 100) x = 100; printf "%.6f", x }')
	q >/dev/null <<-EOF
		DROP TABLE IF EXISTS m, b, probe;
		CREATE TABLE m (k text COLLATE "C");
		CREATE TABLE b (k text COLLATE "C");
		COPY m FROM '$3';
		COPY b FROM '$3';
		CREATE TABLE probe (id int PRIMARY KEY, k text COLLATE "C", p text COLLATE "C");
		INSERT INTO probe
		  SELECT row_number() OVER (), k,
		         replace(replace(replace(
		           CASE WHEN strpos(k, '/') > 0 THEN substring(k from '^(.*/)')
		                ELSE left(k, 4) END,
		           '\\', '\\\\'), '%', '\\%'), '_', '\\_') || '%'
		  FROM m TABLESAMPLE BERNOULLI ($pct) REPEATABLE (42);
		VACUUM ANALYZE probe;
	EOF
}

# ---------------------------------------------------------------- builds

# build SET N KIND REP: one timed CREATE INDEX (the other table's index
# stays), recorded as build_s
build()
{
	local tbl idx using out ms
	case $3 in
		memkv) tbl=m; idx=m_k; using="USING memkv" ;;
		btree) tbl=b; idx=b_k; using="" ;;
	esac
	q -c "DROP INDEX IF EXISTS $idx" -c CHECKPOINT >/dev/null
	out=$(PGOPTIONS="-c client_min_messages=debug1" psql -X -q -v ON_ERROR_STOP=1 \
		-c '\timing on' -c "CREATE INDEX $idx ON $tbl $using (k)" 2>&1) ||
		{ echo "$out" >>"$OUT/logs/builds.log"; die "CREATE INDEX $idx ($1 $2) failed: $(echo "$out" | grep -m1 ERROR)"; }
	echo "== $1 $2 $3 rep $4, load $(load1)" >>"$OUT/logs/builds.log"
	echo "$out" | grep -v '^DEBUG:  \(building index\|CommitTransaction\|StartTransaction\|name: \|blockState\)' \
		>>"$OUT/logs/builds.log" || true
	ms=$(echo "$out" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
	[ -n "$ms" ] || die "no time for CREATE INDEX $idx"
	rec "$1" "$2" "$3" build_s "$4" "$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
	rec "$1" "$2" "$3" build_load1 "$4" "$(load1)"
	log "$1 $2: $3 CREATE INDEX $((${ms%.*} / 1000)) s"
}

# ---------------------------------------------------------------- queries

# stmt NAME TABLE: the measured statement, with $1 as :key (pgbench)
stmt()
{
	case $1 in
		point) echo "SELECT ctid, k FROM $2 WHERE k = :key;" ;;
		prefix) echo "SELECT count(*) FROM $2 WHERE k LIKE :pfx;" ;;
		range) echo "SELECT ctid, k FROM $2 WHERE k >= :key ORDER BY k LIMIT 20;" ;;
	esac
}

# script NAME TABLE NPROBE: its pgbench script; the last line is measured
script()
{
	printf '\\set id random(1, %s)\n' "$3"
	if [ "$1" = prefix ]; then
		echo 'SELECT p AS pfx FROM probe WHERE id = :id \gset'
	else
		echo 'SELECT k AS key FROM probe WHERE id = :id \gset'
	fi
	stmt "$1" "$2"
}

# literal NAME TABLE ID: the statement with probe ID's value written in
# (the value may hold '&', '/' or a backslash: ENVIRON, not sed or awk -v)
literal()
{
	local col=k var=:key
	[ "$1" = prefix ] && { col=p; var=:pfx; }
	V=$(q -c "SELECT quote_literal($col) FROM probe WHERE id = $3") VAR=$var \
		awk '{ i = index($0, ENVIRON["VAR"]); print substr($0, 1, i - 1) ENVIRON["V"] substr($0, i + length(ENVIRON["VAR"])) }' \
		<<<"$(stmt "$1" "$2")"
}

# check_plans SET N: every query's plan on m and b uses its index, with
# the intended node; recorded as plan_ok (1/0) and in plans.txt
check_plans()
{
	local name tbl idx node plan ok
	for name in $QUERIES; do
		node="Index Scan using"
		[ "$name" = prefix ] && node="Index Only Scan using"
		for tbl in m b; do
			idx=${tbl}_k
			plan=$(PGOPTIONS="$PGOPTIONS -c plan_cache_mode=force_custom_plan" \
				q -c "EXPLAIN (COSTS OFF) $(literal "$name" "$tbl" 1)")
			{ echo "== $1 $2 $name on $tbl"; echo "$plan"; } >>"$OUT/plans.txt"
			ok=0
			echo "$plan" | grep -q "$node $idx" && ok=1
			rec "$1" "$2" "$([ $tbl = m ] && echo memkv || echo btree)" "plan_ok_$name" 1 "$ok"
			[ "$ok" = 1 ] || note "$1 $2: $name on $tbl does not use '$node $idx' (plans.txt)"
		done
	done
}

# answers TABLE MODE: every query's answers for probes 1..CHECKS, with the
# indexes (MODE idx) or seq scans only (MODE seq)
answers()
{
	local opts="" id name
	[ "$2" = seq ] && opts="-c enable_indexscan=off -c enable_indexonlyscan=off -c enable_bitmapscan=off"
	for id in $(seq "$CHECKS"); do
		for name in $QUERIES; do
			echo "-- $name $id"
			PGOPTIONS="$PGOPTIONS $opts" q -c "$(literal "$name" "$1" "$id")"
		done
	done
}

# check_answers SET N: memkv's and btree's answers equal a seq scan's
# (ctid included for m; b's heap was loaded from the same file in the same
# order, but its ctids are not compared)
check_answers()
{
	local d=$WORK/answers ok
	mkdir -p "$d"
	answers m idx >"$d/m.out"
	answers m seq >"$d/seq.out"
	answers b idx >"$d/b.out"
	ok=0
	cmp -s "$d/m.out" "$d/seq.out" && ok=1
	rec "$1" "$2" memkv answers_ok 1 "$ok"
	[ "$ok" = 1 ] || { cp "$d/m.out" "$d/seq.out" "$OUT/logs/"; note "$1 $2: memkv's answers differ from a seq scan's (logs/m.out, logs/seq.out)"; }
	ok=0
	cmp -s <(sed 's/^([0-9]*,[0-9]*)|//' "$d/b.out") <(sed 's/^([0-9]*,[0-9]*)|//' "$d/seq.out") && ok=1
	rec "$1" "$2" btree answers_ok 1 "$ok"
	[ "$ok" = 1 ] || { cp "$d/b.out" "$d/seq.out" "$OUT/logs/"; note "$1 $2: btree's answers differ from a seq scan's (logs/b.out)"; }
	echo "$1 $2: $(grep -c . "$d/seq.out") answer lines for $CHECKS probes x ($QUERIES)" >>"$OUT/checks.txt"
	rm -rf "$d"
}

# warm_up: each query once on both tables for a few probes, then wait
# (at most 120 s) until memkv's shared memory use stops changing: the
# first range scan of a one-slice run asks a background worker for its
# key blocks (src/README), which must not be built during a measurement
warm_up()
{
	local name tbl id a b
	for id in 1 2 3; do
		for name in $QUERIES; do
			for tbl in m b; do q -c "$(literal "$name" "$tbl" "$id")" >/dev/null; done
		done
	done
	a=$(q -c "SELECT cache_bytes FROM memkv_state('m_k')")
	for _ in $(seq 60); do
		sleep 2
		b=$(q -c "SELECT cache_bytes FROM memkv_state('m_k')")
		[ "$a" = "$b" ] && break
		a=$b
	done
}

# mixed SET N NAME CLIENTS: one pgbench run with btree's and memkv's
# scripts; records lat_us (the measured statement, pgbench -r), txn_us,
# the run's TPS and the load around it
mixed()
{
	local name=$3 c=$4 dir=$WORK/mixed logf opts="" l0 res
	logf=$OUT/logs/pgbench-${1//\//-}-$2-$name-c$c.log
	rm -rf "$dir"; mkdir -p "$dir"
	script "$name" b "$NPROBE" >"$dir/btree.pgb"
	script "$name" m "$NPROBE" >"$dir/memkv.pgb"
	[ "$name" = prefix ] && opts="-c plan_cache_mode=force_custom_plan"
	l0=$(load1)
	uptime >>"$OUT/logs/load.txt"
	if ! (cd "$dir" && PGOPTIONS="$PGOPTIONS -c statement_timeout=60s $opts" \
		pgbench -n -M prepared -r -c "$c" -j "$c" -T "$DURATION" \
			-f btree.pgb -f memkv.pgb >"$logf" 2>&1); then
		note "$1 $2: pgbench $name c$c failed: $(grep -m1 -iE 'error|abort' "$logf" || echo '?')"
		return 0
	fi
	uptime >>"$OUT/logs/load.txt"
	# per script: "SQL script N: X.pgb", "- latency average = L ms" and
	# the statement latencies, the measured statement last
	res=$(awk '
		/^SQL script [0-9]+: / { s = ($4 ~ /memkv/) ? "memkv" : "btree" }
		/^ - latency average = / { txn[s] = $5 }
		/^ +[0-9.]+ +([0-9]+ +)?SELECT/ { last[s] = $1 }
		END { printf "%s %s %s %s\n", last["btree"], last["memkv"], txn["btree"], txn["memkv"] }' "$logf")
	# shellcheck disable=SC2086  # four words
	set -- "$1" "$2" "$name" "$c" $res
	[ $# = 8 ] || { note "$1 $2: pgbench $name c$c: no latencies in $logf"; return 0; }
	rec "$1" "$2" btree "lat_us_${name}_c$c" 1 "$(awk -v x="$5" 'BEGIN { printf "%.1f", x * 1000 }')"
	rec "$1" "$2" memkv "lat_us_${name}_c$c" 1 "$(awk -v x="$6" 'BEGIN { printf "%.1f", x * 1000 }')"
	rec "$1" "$2" btree "txn_us_${name}_c$c" 1 "$(awk -v x="$7" 'BEGIN { printf "%.1f", x * 1000 }')"
	rec "$1" "$2" memkv "txn_us_${name}_c$c" 1 "$(awk -v x="$8" 'BEGIN { printf "%.1f", x * 1000 }')"
	rec "$1" "$2" both "tps_${name}_c$c" 1 "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$logf" | tail -1)"
	rec "$1" "$2" both "load1_before_${name}_c$c" 1 "$l0"
	rec "$1" "$2" both "load1_after_${name}_c$c" 1 "$(load1)"
	log "$1 $2: $name c$c: statement latency btree $5 ms, memkv $6 ms; load $l0 -> $(load1)"
	rm -rf "$dir"
}

# idx_blks: "hit read" of index IDX, as the statistics have it now
idx_blks()
{
	q -c "SELECT idx_blks_hit, idx_blks_read FROM pg_statio_user_indexes WHERE indexrelname = '$1'" | tr '|' ' '
}

# pages SET N NAME: index pages a statement reads, over probes 1..PAGES
# (at most NPROBE), on m and b in turn per probe; recorded per index as
# pages_NAME (hit + read per statement) and reads_NAME (read per statement)
pages()
{
	local name=$3 np sql before_m before_b after_m after_b
	np=$((PAGES < NPROBE ? PAGES : NPROBE))
	[ "$np" -gt 0 ] || return 0
	case $name in
		point) sql="format('SELECT ctid, k FROM %I WHERE k = %L', t, r.k)" ;;
		prefix) sql="format('SELECT count(*) FROM %I WHERE k LIKE %L', t, r.p)" ;;
		range) sql="format('SELECT ctid, k FROM %I WHERE k >= %L ORDER BY k LIMIT 20', t, r.k)" ;;
	esac
	read -r before_m <<<"$(idx_blks m_k)"
	read -r before_b <<<"$(idx_blks b_k)"
	# the session's end flushes its statistics (PostgreSQL 15)
	q >/dev/null <<-EOF
		DO \$\$
		DECLARE r record; t text; x record;
		BEGIN
		  FOR r IN SELECT k, p FROM probe WHERE id <= $np ORDER BY id LOOP
		    FOREACH t IN ARRAY ARRAY['m', 'b'] LOOP
		      FOR x IN EXECUTE $sql LOOP END LOOP;
		    END LOOP;
		  END LOOP;
		END
		\$\$;
	EOF
	sleep 1
	read -r after_m <<<"$(idx_blks m_k)"
	read -r after_b <<<"$(idx_blks b_k)"
	# shellcheck disable=SC2086  # "hit read" pairs
	set -- "$1" "$2" "$name" "$np" $before_m $after_m $before_b $after_b
	[ $# = 12 ] || { note "$1 $2: no index statistics for pages of $name"; return 0; }
	rec "$1" "$2" memkv "pages_$name" 1 "$(awk -v a="$5" -v b="$6" -v c="$7" -v d="$8" -v n="$4" 'BEGIN { printf "%.2f", (c + d - a - b) / n }')"
	rec "$1" "$2" memkv "reads_$name" 1 "$(awk -v b="$6" -v d="$8" -v n="$4" 'BEGIN { printf "%.3f", (d - b) / n }')"
	rec "$1" "$2" btree "pages_$name" 1 "$(awk -v a="$9" -v b="${10}" -v c="${11}" -v d="${12}" -v n="$4" 'BEGIN { printf "%.2f", (c + d - a - b) / n }')"
	rec "$1" "$2" btree "reads_$name" 1 "$(awk -v b="${10}" -v d="${12}" -v n="$4" 'BEGIN { printf "%.3f", (d - b) / n }')"
	log "$1 $2: $name index pages per statement over $4 probes: memkv $(tail -4 "$TSV" | head -1 | cut -f6), btree $(tail -2 "$TSV" | head -1 | cut -f6)"
}

# profile SET N NAME: perf record -g of one backend running memkv's
# script alone (1 client) for PERF_S seconds; the top self-time symbols
# and the top call chains into logs/perf-SET-N-NAME.txt
profile()
{
	local dir=$WORK/perf pid f=$OUT/logs/perf-$1-$2-$3.txt opts=""
	rm -rf "$dir"; mkdir -p "$dir"
	script "$3" m "$NPROBE" >"$dir/memkv.pgb"
	[ "$3" = prefix ] && opts="-c plan_cache_mode=force_custom_plan"
	(cd "$dir" && PGAPPNAME=scaleperf PGOPTIONS="$PGOPTIONS $opts" \
		pgbench -n -M prepared -c 1 -j 1 -T $((PERF_S + 5)) -f memkv.pgb \
		>"$dir/pgbench.log" 2>&1) &
	pid=
	for _ in $(seq 20); do
		sleep 0.5
		pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'scaleperf'" | head -1)
		[ -n "$pid" ] && break
	done
	if [ -z "$pid" ]; then
		note "$1 $2: no backend to profile for $3"
		wait
		return 0
	fi
	perf record -q -g -p "$pid" -o "$dir/perf.data" -- sleep "$PERF_S" >/dev/null 2>&1 ||
		note "$1 $2: perf record failed for $3"
	wait
	{
		echo "# $1 $2 $3: perf record -g -p <backend> -- sleep $PERF_S, memkv's script alone, 1 client"
		grep '^tps' "$dir/pgbench.log" || true
		echo "# self time by shared object"
		perf report -i "$dir/perf.data" --no-children --stdio --sort dso \
			-g none 2>/dev/null | grep -v '^#' | grep -v '^$'
		echo "# self time (perf report --no-children), symbols >= 1%"
		perf report -i "$dir/perf.data" --no-children --stdio --percent-limit 1 \
			-g none 2>/dev/null | grep -v '^$'
		echo "# with children (inclusive), >= 5%"
		perf report -i "$dir/perf.data" --children --stdio --percent-limit 5 \
			-g none 2>/dev/null | grep -v '^$'
	} >"$f"
	log "$1 $2: profile of $3 in $f"
	rm -rf "$dir"
}

# measure SET N: warm up, the memkv index's state, the mixed runs and
# the pages, recorded under SET
measure()
{
	local name c
	warm_up
	q -c "SELECT runs, frozen_keys, frozen_pages, shmem_bytes, cache_bytes FROM memkv_state('m_k')" |
		tr '|' '\t' | {
		IFS=$'\t' read -r runs fk fp shm cache
		rec "$1" "$2" memkv runs 1 "$runs"
		rec "$1" "$2" memkv frozen_pages 1 "$fp"
		rec "$1" "$2" memkv shmem_bytes 1 "$shm"
		rec "$1" "$2" memkv cache_bytes 1 "$cache"
		log "$1 $2: memkv: $runs runs, $fk keys, $fp pages, cache $cache B"
	}
	for name in $QUERIES; do
		for c in $CLIENTS; do mixed "$1" "$2" "$name" "$c"; done
	done
	for name in $QUERIES; do pages "$1" "$2" "$name"; done
}

# variant SET N LABEL:SETTINGS [first]: build m_k again with the
# comma-separated settings (not if none and `first`: the index as built),
# check it, measure it as SET/LABEL
variant()
{
	local label=${3%%:*} settings=${3#*:} opts="" kv t0 vs s_
	vs="$1/$label"
	IFS=, read -ra kv <<<"$settings"
	for s_ in "${kv[@]}"; do [ -n "$s_" ] && opts="$opts -c $s_"; done
	# the first variant without settings is the index as just built;
	# else DROP and CREATE (a REINDEX would leave the old index's shared
	# copy in the arena until evicted, and the new one without room)
	if [ -n "$opts" ] || [ "$4" != first ]; then
		log "$1 $2: variant $label: CREATE INDEX m_k again with '${opts# }'"
		q -c "DROP INDEX m_k" -c CHECKPOINT >/dev/null
		t0=$(date +%s.%N)
		PGOPTIONS="$PGOPTIONS$opts" q -c "CREATE INDEX m_k ON m USING memkv (k)" >/dev/null ||
			die "$1 $2: CREATE INDEX for variant $label failed"
		rec "$vs" "$2" memkv build_s 1 "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
		q -c CHECKPOINT >/dev/null
	fi
	rec "$vs" "$2" memkv bytes_per_key 1 "$(q -c "SELECT round(pg_relation_size('m_k')::numeric / $2, 2)")"
	rec "$vs" "$2" btree bytes_per_key 1 "$(q -c "SELECT round(pg_relation_size('b_k')::numeric / $2, 2)")"
	# the settings hold in the measuring sessions too (read-side ones,
	# such as memkv.top_memo_kb, matter only there)
	local saved=$PGOPTIONS
	export PGOPTIONS="$PGOPTIONS$opts"
	check_plans "$vs" "$2"
	check_answers "$vs" "$2"
	measure "$vs" "$2"
	export PGOPTIONS="$saved"
}

# ---------------------------------------------------------------- sizes

for s in $SIZES; do
	set_=${s%%:*}
	n=${s#*:}
	if [ "$set_" = paths ] && { [ "$n" = all ] || [ "$n" -gt "$NPATHS" ]; }; then
		n=$NPATHS
	fi
	[ "$n" != all ] || die "urls:all makes no sense"
	pairs=${PAIRS:-$([ "$n" -le 7400000 ] && echo 2 || echo 1)}
	log "== $set_ $n: making the data"
	make_data "$set_" "$n" "$WORK/data.txt"
	log "$set_ $n: loading m and b ($(du -h "$WORK/data.txt" | cut -f1) of keys)"
	t0=$(date +%s)
	load "$set_" "$n" "$WORK/data.txt"
	rm -f "$WORK/data.txt"
	rec "$set_" "$n" both load_s 1 "$(($(date +%s) - t0))"
	rec "$set_" "$n" both key_bytes 1 "$(q -c "SELECT round(avg(octet_length(k)), 1) FROM probe")"
	rec "$set_" "$n" both heap_bytes 1 "$(q -c "SELECT pg_relation_size('m')")"
	NPROBE=$(q -c "SELECT count(*) FROM probe")
	rec "$set_" "$n" both probes 1 "$NPROBE"
	for r in $(seq "$pairs"); do
		if [ $((r % 2)) = 1 ]; then order="memkv btree"; else order="btree memkv"; fi
		for kind in $order; do build "$set_" "$n" "$kind" "$r"; done
	done
	rec "$set_" "$n" memkv bytes_per_key 1 "$(q -c "SELECT round(pg_relation_size('m_k')::numeric / $n, 2)")"
	rec "$set_" "$n" btree bytes_per_key 1 "$(q -c "SELECT round(pg_relation_size('b_k')::numeric / $n, 2)")"
	log "$set_ $n: VACUUM ANALYZE, CHECKPOINT"
	q -c "VACUUM ANALYZE m" -c "VACUUM ANALYZE b" -c CHECKPOINT >/dev/null
	check_plans "$set_" "$n"
	log "$set_ $n: answers against a seq scan ($CHECKS probes)"
	check_answers "$set_" "$n"
	if [ "$PREWARM" = 1 ]; then
		log "$set_ $n: pg_prewarm of m, b, m_k, b_k"
		q -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
			-c "SELECT pg_prewarm('m_k'), pg_prewarm('b_k'), pg_prewarm('m'), pg_prewarm('b')" >/dev/null ||
			note "$set_ $n: pg_prewarm failed"
	fi
	if [ -z "$VARIANTS" ]; then
		measure "$set_" "$n"
	else
		first=first
		for v in $VARIANTS; do
			variant "$set_" "$n" "$v" "$first"
			first=
		done
	fi
	if [ "$n" = "${PERF_AT:-0}" ]; then
		for name in $QUERIES; do profile "$set_" "$n" "$name"; done
	fi
	q -c "DROP TABLE m, b, probe" -c CHECKPOINT >/dev/null
done

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$BENCH_DIR/scale_report.py" "$OUT" || note "scale_report.py failed"
log "done: $OUT/results.md"
