# shellcheck shell=bash disable=SC2034
# bench/lib.sh -- what the bench scripts have in common (review note D1):
# the options every script takes, the result directory and its log, meta
# and notes files, the packages to install, and memkv built into a private
# copy of a PostgreSQL installation.  Sourced, not run; bench/ingest.sh is
# its first user (run.sh and concurrency.sh still carry their own copies).
#
# The caller sets BENCH_NAME (its file name, for messages) and BENCH_DIR,
# REPO, then:
#
#   bench_defaults                    the common options' variables
#   bench_common_option "$@"          in the caller's option loop: if $1 is
#                                     a common option, take it and set
#                                     BENCH_SHIFT to the words used (else 0)
#   bench_out_init SUBDIR             OUT (--out, or bench/results/SUBDIR),
#                                     OUT/logs, META and NOTES files
#   log / meta KEY VALUE / note / die
#   bench_install_deps [PKG ...]      as root: what every script needs, plus
#                                     PKG (Debian package names)
#   bench_build_memkv                 PG_BINDIR: --bindir as it is, else a
#                                     private copy of PG_CONFIG's installation
#                                     with memkv built into it
#   bench_meta_common                 command, date, machine, load, commit
#
#   bench_paths_shuf                  PATHS: the Debian paths shuffled
#   bench_scratch_server BIN PORT [CONF_LINE ...]
#                                     W: a throwaway server's directory, the
#                                     server started (the one-file benches:
#                                     vacuum.sh, freeze_wal.sh)
#
# Common options: --quick, --keys N, --out DIR, --port P, --no-install,
# --memkv-ref REF (build that commit, not the working tree), --bindir DIR
# (use the PostgreSQL binaries in DIR, memkv already installed there: no
# build at all).

# bench_defaults: the common options' variables, before the option loop.
bench_defaults()
{
	QUICK=0
	KEYS=
	OUT=
	PORT=${MEMKV_BENCH_PORT:-$((58433 + $$ % 1000))}
	INSTALL=1
	MEMKV_REF=
	BINDIR=
	BENCH_SHIFT=0
}

# bench_common_option ARG [VALUE]: take one common option (see above).
bench_common_option()
{
	BENCH_SHIFT=0
	case $1 in
		--quick) QUICK=1; BENCH_SHIFT=1 ;;
		--no-install) INSTALL=0; BENCH_SHIFT=1 ;;
		--keys|--out|--port|--memkv-ref|--bindir)
			[ $# -ge 2 ] || { echo "$BENCH_NAME: $1 needs a value" >&2; exit 2; }
			case $1 in
				--keys) KEYS=$2 ;;
				--out) OUT=$2 ;;
				--port) PORT=$2 ;;
				--memkv-ref) MEMKV_REF=$2 ;;
				--bindir) BINDIR=$2 ;;
			esac
			BENCH_SHIFT=2 ;;
	esac
}

# bench_positive NAME VALUE: exit 2 unless VALUE is a positive integer.
bench_positive()
{
	[[ $2 =~ ^[1-9][0-9]*$ ]] ||
		{ echo "$BENCH_NAME: $1 must be a positive integer, not '$2'" >&2; exit 2; }
}

# bench_out_init SUBDIR: make the result directory and its files.
bench_out_init()
{
	OUT=${OUT:-$BENCH_DIR/results/$1}
	mkdir -p "$OUT/logs"
	OUT=$(cd "$OUT" && pwd)
	META=$OUT/meta.tsv
	NOTES=$OUT/notes.txt
	: >"$META"; : >"$NOTES"
}

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/logs/run.log" >&2; }
meta() { printf '%s\t%s\n' "$1" "$2" >>"$META"; }
note() { log "NOTE: $*"; echo "$*" >>"$NOTES"; }
die() { log "FAILED: $*"; exit 1; }

# bench_install_deps [PKG ...]: apt-get what is missing (root only): the
# PostgreSQL 15 server and headers (unless --bindir), a compiler, gnuplot,
# python3, the Debian paths' clients (unless MEMKV_BENCH_PATHS_FILE), and
# the extra packages named.
bench_install_deps()
{
	local pkgs=() p
	[ "$(id -u)" = 0 ] || { echo "$BENCH_NAME: run as root (or --no-install)" >&2; exit 1; }
	if [ -z "$BINDIR" ]; then
		[ -x /usr/lib/postgresql/15/bin/postgres ] || pkgs+=(postgresql-15)
		[ -f /usr/include/postgresql/15/server/postgres.h ] ||
			pkgs+=(postgresql-server-dev-15)
		command -v make >/dev/null && command -v gcc >/dev/null ||
			pkgs+=(build-essential)
	fi
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	command -v python3 >/dev/null || pkgs+=(python3)
	if [ -z "${MEMKV_BENCH_PATHS_FILE:-}" ]; then
		command -v apt-file >/dev/null || pkgs+=(apt-file)
		command -v lz4cat >/dev/null || pkgs+=(lz4)
	fi
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
	done
	[ ${#pkgs[@]} = 0 ] && return 0
	log "installing ${pkgs[*]}"
	apt-get update -q >>"$OUT/logs/apt.log" 2>&1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}" \
		>>"$OUT/logs/apt.log" 2>&1
}

# bench_build_memkv: set and export PG_BINDIR (and PATH).  With --bindir,
# DIR itself (memkv must be installed there).  Else copy the installation
# PG_CONFIG names (bin, lib, share, server headers, each under its own
# absolute path, so that the copy finds the rest relative to its binaries)
# into $WORK/pginst and build memkv -- the working tree's tracked and new
# files, or --memkv-ref's commit -- in a scratch copy, installed with the
# copy's pg_config: another make install on the machine during the run
# cannot change what is measured.  Needs WORK.
bench_build_memkv()
{
	local src_config=${PG_CONFIG:-pg_config} d src=$WORK/memkv-src
	if [ -n "$BINDIR" ]; then
		PG_BINDIR=$(cd "$BINDIR" && pwd)
		[ -f "$("$PG_BINDIR/pg_config" --pkglibdir)/memkv.so" ] ||
			die "--bindir $BINDIR: no memkv.so in its pkglibdir"
		export PG_BINDIR PATH=$PG_BINDIR:$PATH
		return 0
	fi
	PGROOT=$WORK/pginst
	mkdir -p "$PGROOT" "$src"
	for d in bindir pkglibdir sharedir includedir-server; do
		d=$("$src_config" --$d)
		mkdir -p "$PGROOT$(dirname "$d")"
		cp -a "$d" "$PGROOT$(dirname "$d")/"
	done
	PG_BINDIR=$PGROOT$("$src_config" --bindir)
	if [ -n "$MEMKV_REF" ]; then
		git -C "$REPO" archive "$MEMKV_REF" | tar -x -C "$src"
	else
		git -C "$REPO" ls-files -z --cached --others --exclude-standard |
			(cd "$REPO" && xargs -0 cp --parents -t "$src" 2>/dev/null) || true
	fi
	{ make -C "$src" -j2 PG_CONFIG="$PG_BINDIR/pg_config" &&
		make -C "$src" install PG_CONFIG="$PG_BINDIR/pg_config"; } \
		>"$OUT/logs/memkv-build.log" 2>&1 ||
		die "memkv does not build (logs/memkv-build.log)"
	chmod -R a+rX "$PGROOT"
	export PG_BINDIR PATH=$PG_BINDIR:$PATH
}

# bench_meta_common CMDLINE: the meta rows every result has.  Needs a
# running server (q).
bench_meta_common()
{
	meta command "$1"
	meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
	meta machine "$(uname -m), $(nproc) cores ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(. /etc/os-release && echo "$PRETTY_NAME")"
	meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
	meta postgres "$(q -c 'SELECT version()')"
	if [ -n "$BINDIR" ]; then
		meta memkv_commit "installed in $BINDIR (not built by this run); working tree at $(git -C "$REPO" log -1 --format='%h %s' 2>/dev/null || echo unknown)"
	elif [ -n "$MEMKV_REF" ]; then
		meta memkv_commit "$(git -C "$REPO" log -1 --format='%h %s' "$MEMKV_REF")"
	else
		meta memkv_commit "$(git -C "$REPO" log -1 --format='%h %s' 2>/dev/null || echo unknown)$(git -C "$REPO" status --porcelain -- src Makefile '*.sql' 2>/dev/null | grep -q . && echo ' + uncommitted changes (working tree)')"
	fi
}

# bench_paths_shuf: set PATHS to the Debian paths bench/data.sh fetched into
# /var/tmp/memkv-bench-data, shuffled with a fixed random source (the
# same order on every run; made once, next to them).
bench_paths_shuf()
{
	local data=/var/tmp/memkv-bench-data
	PATHS=$data/paths.all.shuf
	[ -f "$PATHS" ] ||
		shuf --random-source=<(yes) "$data/paths.all" >"$PATHS"
}

# bench_scratch_server BIN PORT [CONF_LINE ...]: as root, make W, a
# temporary directory owned by postgres, initdb W/data with BIN's
# binaries as the postgres OS user (C locale, UTF8), and start it with
# memkv preloaded, listening only on a socket in W at PORT, autovacuum
# off, no background freeze (memkv.freeze_threshold = 0), no checkpoint
# during a run (max_wal_size = 8GB, checkpoint_timeout = 1h), then the
# CONF_LINEs.  Its log is W/log.  On exit the server is stopped
# (immediate) and W removed.
bench_scratch_server()
{
	local bin=$1 port=$2 line
	shift 2
	W=$(mktemp -d /tmp/memkv-bench.XXXX)
	chmod 755 "$W"
	chown postgres: "$W"
	# shellcheck disable=SC2064  # expand now: W and bin are this run's
	trap "runuser -u postgres -- '$bin/pg_ctl' -D '$W/data' -m immediate stop >/dev/null 2>&1; rm -rf '$W'" EXIT
	runuser -u postgres -- "$bin/initdb" -D "$W/data" --locale=C -E UTF8 >/dev/null
	{
		echo "shared_preload_libraries = 'memkv'"
		echo "port = $port"
		echo "unix_socket_directories = '$W'"
		echo "listen_addresses = ''"
		echo "autovacuum = off"
		echo "max_wal_size = 8GB"
		echo "checkpoint_timeout = 1h"
		echo "memkv.freeze_threshold = 0"
		for line in "$@"; do
			echo "$line"
		done
	} >>"$W/data/postgresql.conf"
	runuser -u postgres -- "$bin/pg_ctl" -D "$W/data" -l "$W/log" -w start >/dev/null
}
