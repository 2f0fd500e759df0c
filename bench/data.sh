#!/bin/bash
# bench/data.sh -- fetch and sample the benchmark's data sets.
#
# Usage:
#   bash bench/data.sh [--cache DIR] [--seed S] SET N [OUT]
#       Write N distinct keys of SET (paths, npm, synthetic) in a random
#       order fixed by the seed to OUT (default: DIR/SET-N-sS.txt) and
#       print OUT's path.  Keys are fetched once into the cache dir.
#   bash bench/data.sh [--cache DIR] fetch SET
#       Only fetch the whole set (DIR/SET.all, sorted, one key a line).
#
# Data sets, fetched at run time with their ordinary clients, never
# committed:
#   paths      Debian bookworm main file paths, from apt-file's Contents
#              (~7.3M keys, 63.5 bytes on average).
#   npm        npm package names, from `npm pack all-the-package-names`
#              (~4.5M keys, ~20 bytes on average).
#   synthetic  ids with a common prefix, user/00000001, user/00000002, ...
#              (made here; as many as asked for).
#
# Environment:
#   MEMKV_BENCH_DATA          cache dir (default /var/tmp/memkv-bench-data)
#   MEMKV_BENCH_PATHS_FILE    use this local file of paths instead of
#                             apt-file (e.g. a small sample for the
#                             selftest); likewise MEMKV_BENCH_NPM_FILE.
#
# Keys with a tab, a backslash or another control byte, and bytes that are
# not UTF-8, are dropped, so that every key loads with COPY unchanged.
#
# Can also be sourced: defines data_fetch SET and data_sample SET N OUT.

set -euo pipefail

DATA_CACHE=${MEMKV_BENCH_DATA:-/var/tmp/memkv-bench-data}
DATA_SEED=${MEMKV_BENCH_SEED:-42}

# data_clean: keep loadable keys only (see the header), sorted and distinct.
data_clean()
{
	iconv -f UTF-8 -t UTF-8 -c |
		LC_ALL=C grep -av $'[\\\\\t[:cntrl:]]' |
		LC_ALL=C grep -v '^$' |
		LC_ALL=C sort -u
}

# data_seed_stream: an endless, reproducible byte stream for shuf.
data_seed_stream()
{
	openssl enc -aes-256-ctr -pass "pass:memkv-bench-$1" -nosalt \
		</dev/zero 2>/dev/null
}

data_fetch_paths()
{
	local out=$DATA_CACHE/paths.all
	[ -s "$out" ] && return 0
	if [ -n "${MEMKV_BENCH_PATHS_FILE:-}" ]; then
		data_clean <"$MEMKV_BENCH_PATHS_FILE" >"$out.tmp"
	else
		if ! command -v apt-file >/dev/null || ! command -v lz4cat >/dev/null; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q apt-file lz4 >&2
		fi
		if ! ls /var/lib/apt/lists/*bookworm_main_Contents-*.lz4 >/dev/null 2>&1; then
			apt-file update >&2
		fi
		# Contents lines are "path<spaces>section/package[,...]".
		lz4cat /var/lib/apt/lists/*bookworm_main_Contents-*.lz4 |
			awk '{print $1}' | data_clean >"$out.tmp"
	fi
	mv "$out.tmp" "$out"
}

data_fetch_npm()
{
	local out=$DATA_CACHE/npm.all dir
	[ -s "$out" ] && return 0
	if [ -n "${MEMKV_BENCH_NPM_FILE:-}" ]; then
		data_clean <"$MEMKV_BENCH_NPM_FILE" >"$out.tmp"
	else
		command -v npm >/dev/null ||
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2
		dir=$(mktemp -d "$DATA_CACHE/npm.XXXXXX")
		(cd "$dir" && npm pack --silent all-the-package-names >/dev/null &&
			tar xzf all-the-package-names-*.tgz)
		node -e '
			const names = require(process.argv[1]);
			process.stdout.write(names.join("\n") + "\n");
		' "$dir/package/names.json" | data_clean >"$out.tmp"
		rm -rf "$dir"
	fi
	mv "$out.tmp" "$out"
}

# data_fetch SET: make DATA_CACHE/SET.all exist (synthetic needs nothing).
data_fetch()
{
	mkdir -p "$DATA_CACHE"
	case $1 in
		paths) data_fetch_paths ;;
		npm) data_fetch_npm ;;
		synthetic) ;;
		*) echo "data.sh: unknown data set '$1' (paths, npm, synthetic)" >&2
		   return 1 ;;
	esac
}

# data_sample SET N OUT: N distinct keys in a seeded random order.
data_sample()
{
	local set=$1 n=$2 out=$3 have
	data_fetch "$set"
	if [ "$set" = synthetic ]; then
		seq -f 'user/%08.0f' 1 "$n" |
			shuf --random-source=<(data_seed_stream "$DATA_SEED") >"$out.tmp"
	else
		have=$(wc -l <"$DATA_CACHE/$set.all")
		if [ "$have" -lt "$n" ]; then
			echo "data.sh: $set has $have keys, $n asked for" >&2
			return 1
		fi
		shuf -n "$n" --random-source=<(data_seed_stream "$DATA_SEED") \
			"$DATA_CACHE/$set.all" >"$out.tmp"
	fi
	mv "$out.tmp" "$out"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	while [ $# -gt 0 ]; do
		case $1 in
			--cache) DATA_CACHE=$2; shift 2 ;;
			--seed) DATA_SEED=$2; shift 2 ;;
			*) break ;;
		esac
	done
	if [ "${1:-}" = fetch ]; then
		data_fetch "$2"
		echo "$DATA_CACHE/$2.all"
	elif [ $# -ge 2 ]; then
		out=${3:-$DATA_CACHE/$1-$2-s$DATA_SEED.txt}
		mkdir -p "$DATA_CACHE"
		data_sample "$1" "$2" "$out"
		echo "$out"
	else
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
		exit 2
	fi
fi
