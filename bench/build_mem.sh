#!/bin/bash
# bench/build_mem.sh -- CREATE INDEX time, peak backend memory and index
# size of btree and memkv on one table, at several maintenance_work_mem
# settings, with one or more builds of memkv compared in the same run.
#
# Usage (as root, PG_CONFIG pointing at a private PostgreSQL 15 copy whose
# lib directory this script may write memkv.so into):
#
#   bash bench/build_mem.sh --keys FILE [--urls N] [--mwm "64MB 1GB"]
#        [--so LABEL=PATH ...] [--port P] [--dir DIR]
#
#   --keys FILE   the keys, one a line (e.g. the 7.3M Debian paths,
#                 /var/tmp/memkv-bench-data/paths.all.shuf); loaded as is,
#                 in the file's order, into t(k text COLLATE "C")
#   --urls N      instead: N URL-like keys made from FILE's lines, the i-th
#                 (i = 1..N) "https://h<i*7919 mod 20011>.example.com/"
#                 + line (i mod lines) + "?id=" + i: about 104 bytes on the
#                 paths (each path about 2.7 times, the host and id
#                 differing)
#   --mwm LIST    maintenance_work_mem values (default "64MB 1GB")
#   --so L=PATH   a memkv.so to measure, labelled L (repeatable; default:
#                 the one installed, labelled "installed").  Each is copied
#                 into PG_CONFIG's pkglibdir and the server restarted.
#
# Each build runs in a fresh connection after a CHECKPOINT; reported per
# build: wall time of CREATE INDEX (clock_timestamp around it), the
# backend's VmHWM from /proc/PID/status afterwards (its peak resident set,
# which includes the shared buffers it touched: shared_buffers is the
# default 128MB), the index size, and memkv's DEBUG1 line (spills,
# passes) and, with slices, the run writer's (slices, accounted peak).
# Output: a TSV on stdout, progress on stderr.  The server:
# test/lib/pgserver.sh (fsync off, otherwise defaults but
# max_wal_size = 16GB so no checkpoint starts in a build).

set -euo pipefail

KEYS_FILE=
URLS=0
MWM="64MB 1GB"
SOS=()
PORT=${PORT:-$((59000 + $$ % 500))}
DIR=/tmp/memkv-build-mem.$$

while [ $# -gt 0 ]; do
	case $1 in
		--keys) KEYS_FILE=$2; shift 2 ;;
		--urls) URLS=$2; shift 2 ;;
		--mwm) MWM=$2; shift 2 ;;
		--so) SOS+=("$2"); shift 2 ;;
		--port) PORT=$2; shift 2 ;;
		--dir) DIR=$2; shift 2 ;;
		*) echo "build_mem.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ -n "$KEYS_FILE" ] && [ -r "$KEYS_FILE" ] || { echo "build_mem.sh: --keys FILE needed" >&2; exit 2; }
: "${PG_CONFIG:?set PG_CONFIG}"
PKGLIB=$($PG_CONFIG --pkglibdir)
[ ${#SOS[@]} -gt 0 ] || SOS=("installed=")

REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../test/lib/pgserver.sh
. "$REPO/test/lib/pgserver.sh"

say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

pg_server_start "$DIR" "$PORT" "max_wal_size = 16GB" "log_temp_files = 0"
PSQL="$PG_BINDIR/psql -X -q -v ON_ERROR_STOP=1"

DATA=$KEYS_FILE
if [ "$URLS" -gt 0 ]; then
	DATA=$DIR/urls.txt
	say "making $URLS URL-like keys from $KEYS_FILE"
	awk -v n="$URLS" '
		{ p[NR] = $0 }
		END {
			for (i = 1; i <= n; i++)
				printf "https://h%d.example.com/%s?id=%d\n",
					(i * 7919) % 20011, p[(i % NR) + 1], i
		}' "$KEYS_FILE" >"$DATA"
	chmod 644 "$DATA"
fi
say "loading $DATA"
$PSQL -c 'CREATE EXTENSION memkv' \
	-c 'CREATE TABLE t (k text COLLATE "C")' \
	-c "COPY t(k) FROM '$DATA'" -c 'VACUUM ANALYZE t'
NROWS=$($PSQL -Atc 'SELECT count(*) FROM t')
AVG=$($PSQL -Atc 'SELECT round(avg(octet_length(k)), 1) FROM t')
say "$NROWS rows, $AVG key bytes on average; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# build AM LABEL MWM: one CREATE INDEX in a fresh connection, one TSV line
build()
{
	local am=$1 label=$2 mwm=$3 out
	$PSQL -c CHECKPOINT
	out=$($PSQL -At 2>&1 <<-SQL
		SET maintenance_work_mem = '$mwm';
		SET client_min_messages = debug1;
		SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
		CREATE INDEX bi ON t USING $am (k);
		SET client_min_messages = notice;
		SELECT 'RESULT', round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 2),
		       substring(pg_read_file('/proc/' || pg_backend_pid() || '/status') FROM 'VmHWM:\s*(\d+)'),
		       pg_relation_size('bi');
		DROP INDEX bi;
	SQL
	)
	local res debug writer
	res=$(echo "$out" | grep '^RESULT|' | tr '|' '\t' | cut -f2-)
	debug=$(echo "$out" | grep -o 'memkv build: [0-9]* tuples sorted.*' | head -1 || true)
	# the run writer's slices and accounted peak (memkv with slices)
	writer=$(echo "$out" | grep -o '[0-9]* keys in [0-9]* slices.*writer memory' | head -1 || true)
	[ -n "$res" ] || { echo "$out" >&2; return 1; }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$am" "$label" "$mwm" "$NROWS" \
		"$res" "$(cut -d' ' -f1 /proc/loadavg)" "$debug" "$writer"
	say "$am $label $mwm: $res ($debug) ($writer)"
}

printf 'am\tlabel\tmwm\trows\tseconds\tvmhwm_kb\tbytes\tload1\tdebug\twriter\n'
for mwm in $MWM; do
	build btree - "$mwm"
	for so in "${SOS[@]}"; do
		label=${so%%=*}
		path=${so#*=}
		if [ -n "$path" ]; then
			# a new file renamed over the old: the running server keeps
			# the one it mapped until the restart
			cp "$path" "$PKGLIB/memkv.so.new"
			mv "$PKGLIB/memkv.so.new" "$PKGLIB/memkv.so"
			pg_server_restart >/dev/null
		fi
		build memkv "$label" "$mwm"
	done
done
pg_server_stop
