#!/bin/bash
# bench/demo.sh -- memkv on real data, from a fresh Debian machine.
#
# Usage: bash bench/demo.sh [--keys N] [--port P] [--memkv-ref REF]  (as root)
#
# Installs what it needs (PostgreSQL 15 and its server headers, a compiler,
# apt-file, lz4), builds and installs memkv from this repository, starts a
# throwaway server with memkv preloaded (test/lib/pgserver.sh), loads N
# Debian file paths (default 1,000,000, fetched with apt-file by
# bench/data.sh), builds a memkv index on the table and a btree index on a
# copy of it, and shows, for both, the plan (EXPLAIN, costs off) and the
# answer of every kind of query memkv serves, whether the two answers agree,
# the index sizes side by side and memkv_state.  The server is stopped at
# the end, also on failure.  --memkv-ref builds memkv from that commit
# (git archive) instead of the working tree.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
KEYS=1000000
PORT=55434
MEMKV_REF=

while [ $# -gt 0 ]; do
	case $1 in
		--keys) KEYS=$2; shift 2 ;;
		--port) PORT=$2; shift 2 ;;
		--memkv-ref) MEMKV_REF=$2; shift 2 ;;
		-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
		*) echo "demo.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "installing what is missing"
pkgs=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || pkgs+=(postgresql-15)
[ -f /usr/include/postgresql/15/server/postgres.h ] || pkgs+=(postgresql-server-dev-15)
command -v gcc >/dev/null && command -v make >/dev/null || pkgs+=(build-essential)
command -v apt-file >/dev/null || pkgs+=(apt-file)
command -v lz4cat >/dev/null || pkgs+=(lz4)
command -v openssl >/dev/null || pkgs+=(openssl)
if [ ${#pkgs[@]} -gt 0 ]; then
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}"
else
	echo "nothing: postgresql-15, its headers, gcc, apt-file and lz4 are there"
fi

WORK=$(mktemp -d /var/tmp/memkv-demo.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

say "building and installing memkv"
SRC=$REPO
if [ -n "$MEMKV_REF" ]; then
	SRC=$WORK/src
	mkdir "$SRC"
	git -C "$REPO" archive "$MEMKV_REF" | tar -x -C "$SRC"
fi
make -C "$SRC" -s -j2
make -C "$SRC" -s install

say "fetching $KEYS Debian file paths (apt-file, bench/data.sh)"
sample=$(bash "$BENCH_DIR/data.sh" paths "$KEYS" "$WORK/paths.txt")
chmod 644 "$sample"

say "starting a throwaway server with memkv preloaded (port $PORT)"
# shellcheck source=test/lib/pgserver.sh
. "$REPO/test/lib/pgserver.sh"
pg_server_start "$WORK/pg" "$PORT" "shared_buffers = 1GB" \
	"memkv.shared_memory = 1024" "maintenance_work_mem = 512MB" "jit = off"
trap 'pg_server_stop; rm -rf "$WORK"' EXIT

psql -X -q -v ON_ERROR_STOP=1 -v sample="$sample" <<'EOF'
\pset footer off
\echo
\echo '== loading: table paths (memkv) and a copy, paths_btree (btree)'
CREATE EXTENSION memkv;
CREATE TABLE paths (id bigserial, k text COLLATE "C");
COPY paths (k) FROM :'sample';
INSERT INTO paths (k) VALUES (NULL), ('');
CREATE TABLE paths_btree AS SELECT * FROM paths;
\timing on
CREATE INDEX paths_k_memkv ON paths USING memkv (k);
CREATE INDEX paths_k_btree ON paths_btree (k);
\timing off
VACUUM ANALYZE paths, paths_btree;

\echo
\echo '== sizes, side by side'
SELECT i.indexrelid::regclass AS index, am.amname AS am,
       pg_size_pretty(pg_relation_size(i.indexrelid)) AS size,
       round(pg_relation_size(i.indexrelid)::numeric /
             (SELECT count(*) FROM paths), 1) AS bytes_per_key
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am am ON am.oid = c.relam
 WHERE i.indexrelid IN ('paths_k_memkv'::regclass, 'paths_k_btree'::regclass)
 ORDER BY 1;
SELECT count(*) AS rows, round(avg(octet_length(k)), 1) AS avg_key_bytes,
       pg_size_pretty(sum(octet_length(k))) AS raw_key_bytes
  FROM paths;

\echo
\echo '== memkv_state'
\x on
SELECT * FROM memkv_state('paths_k_memkv');
\x off

EOF

# One query: EXPLAIN it on paths, run it on both tables, compare.
run_query()
{
	local sql=$1 memkv btree
	echo
	printf '\033[1m-- %s\033[0m\n' "$sql"
	psql -X -q -v ON_ERROR_STOP=1 -c "EXPLAIN (COSTS OFF) $sql" | sed 's/^/   /'
	memkv=$(psql -X -q -v ON_ERROR_STOP=1 -c "$sql")
	btree=$(psql -X -q -v ON_ERROR_STOP=1 -c "${sql//FROM paths/FROM paths_btree}")
	echo "$memkv" | sed 's/^/   /'
	if [ "$memkv" = "$btree" ]; then
		echo "   same answer as btree: yes"
	else
		echo "   same answer as btree: NO -- btree says:"
		echo "$btree" | sed 's/^/   /'
	fi
}

key=$(psql -X -qAt -c "SELECT k FROM paths WHERE k LIKE 'usr/share/doc/%/copyright' ORDER BY k LIMIT 1")
missing="${key}.missing"
run_query "SELECT id, k FROM paths WHERE k = '$key'"
run_query "SELECT id, k FROM paths WHERE k = '$missing'"
run_query "SELECT count(*) FROM paths WHERE k LIKE 'usr/share/doc/%'"
run_query "SELECT count(*) FROM paths WHERE k ^@ 'usr/share/man/man1/'"
run_query "SELECT count(*) FROM paths WHERE k BETWEEN 'usr/bin/a' AND 'usr/bin/b'"
run_query "SELECT k FROM paths WHERE k >= 'usr/share/man/' ORDER BY k LIMIT 10"
run_query "SELECT k FROM paths WHERE k < 'usr/share/man/' ORDER BY k DESC LIMIT 10"
run_query "SELECT min(k), max(k) FROM paths"
run_query "SELECT id, k FROM paths WHERE k IS NULL"
run_query "SELECT count(*) FROM paths WHERE k IS NOT NULL"
run_query "SELECT id, quote_literal(k) FROM paths WHERE k = ''"

say "memkv_state after the queries"
psql -X -q -x -c "SELECT * FROM memkv_state('paths_k_memkv')"

say "done; stopping the server"
