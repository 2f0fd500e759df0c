#!/bin/bash
# test/build-pg.sh -- build a PostgreSQL major version from Debian's source
# package, for memkv's tests: 18, which Debian 12 does not package, and an
# upstream 15 for the pg_upgrade test (see README.md, "PostgreSQL versions":
# Debian 12's own postgresql-15 cannot be upgraded to 18.6).
#
#   bash test/build-pg.sh [MAJOR]        MAJOR defaults to 18
#
# Run as root on Debian 12.  Installs into /opt/postgresql-MAJOR (override
# with MEMKV_PG_PREFIX) and prints that prefix's pg_config path on its last
# line.  When that installation is already there and complete (a stamp file
# written at the end of a successful build, and pg_config says the right
# major version) it does nothing else: CI reuses it.
#
# What it does otherwise:
#   1. apt-get installs the build dependencies from the machine's own
#      (bookworm) sources: gcc, make, bison, flex, perl with IPC::Run (TAP
#      tests), ICU (the regression tests use an ICU collation), readline,
#      zlib, pkg-config.
#   2. Fetches the upstream tarball of Debian's source package
#      postgresql-MAJOR -- from unstable (sid), or for 15 from the
#      machine's own Debian 12 archives, the newest version whose source
#      can be downloaded -- with a private sources list and private apt
#      state directories: the machine's sources and package lists are not
#      touched.  Debian's patches are not applied: this is upstream's code.
#   3. configure --enable-tap-tests --with-icu, make, make install: the
#      server, client programs (pg_upgrade among them), and PGXS with
#      pg_regress, the isolation tester and the PostgreSQL::Test perl
#      modules.  No contrib module and no documentation: the tests need none.
#
# The build takes about 10-15 minutes on 2 cores (MEMKV_BUILD_JOBS, default
# the number of CPUs).

set -euo pipefail

MAJOR=${1:-18}
PREFIX=${MEMKV_PG_PREFIX:-/opt/postgresql-$MAJOR}
JOBS=${MEMKV_BUILD_JOBS:-$(nproc)}
STAMP=$PREFIX/.memkv-build-complete

log()
{
	echo "build-pg.sh: $*" >&2
}

if [ -f "$STAMP" ] && [ -x "$PREFIX/bin/pg_config" ] &&
	"$PREFIX/bin/pg_config" --version | grep -q "^PostgreSQL $MAJOR\."; then
	log "reusing $("$PREFIX/bin/pg_config" --version) in $PREFIX"
	echo "$PREFIX/bin/pg_config"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	log "must run as root (apt-get, and writes $PREFIX)"
	exit 1
fi

T0=$(date +%s)
WORK=$(mktemp -d /tmp/memkv-build-pg$MAJOR.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export DEBIAN_FRONTEND=noninteractive

# --- 1. build dependencies --------------------------------------------------

DEPS=(gcc make bison flex perl libipc-run-perl libicu-dev pkg-config
	libreadline-dev zlib1g-dev ca-certificates xz-utils bzip2)
missing=()
for p in "${DEPS[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	if ! { apt-get update -q &&
		apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
		>"$WORK/apt.log" 2>&1 </dev/null; then
		cat "$WORK/apt.log" >&2
		log "installing the build dependencies failed"
		exit 1
	fi
fi

# --- 2. the source, from Debian unstable ------------------------------------

mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/src"
if [ "$MAJOR" = 15 ]; then
	where="Debian 12"
	sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
		>"$WORK/apt/src.sources"
	SOURCE_OPTS=(-o "Dir::Etc::SourceList=/dev/null"
		-o "Dir::Etc::SourceParts=$WORK/apt")
else
	where="Debian unstable"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
		"http://deb.debian.org/debian sid main" >"$WORK/apt/sid.list"
	SOURCE_OPTS=(-o "Dir::Etc::SourceList=$WORK/apt/sid.list"
		-o Dir::Etc::SourceParts=/dev/null)
fi
APT_OPTS=("${SOURCE_OPTS[@]}"
	-o "Dir::State::Lists=$WORK/apt/lists"
	-o "Dir::Cache=$WORK/apt/cache")
if ! apt-get "${APT_OPTS[@]}" update -q >"$WORK/apt-update.log" 2>&1; then
	cat "$WORK/apt-update.log" >&2
	log "cannot read $where's source index"
	exit 1
fi
# Newest first; an archive may list a version whose files are gone.
version=
for v in $(apt-cache "${APT_OPTS[@]}" showsrc "postgresql-$MAJOR" 2>/dev/null |
	sed -n 's/^Version: //p' | sort -Vr -u); do
	log "fetching postgresql-$MAJOR $v from $where"
	if (cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source --download-only \
		"postgresql-$MAJOR=$v") >"$WORK/apt-src.log" 2>&1; then
		version=$v
		break
	fi
	rm -f "$WORK"/src/*
	tail -n 3 "$WORK/apt-src.log" >&2
done
if [ -z "$version" ]; then
	log "no source of postgresql-$MAJOR could be downloaded from $where"
	exit 1
fi
tarball=$(ls "$WORK"/src/postgresql-"$MAJOR"_*.orig.tar.* | head -1)
mkdir "$WORK/build"
tar xf "$tarball" -C "$WORK/build" --strip-components=1

# --- 3. configure, build, install -------------------------------------------

cd "$WORK/build"
log "configure (log: $WORK/configure.log while it runs)"
if ! ./configure --prefix="$PREFIX" --enable-tap-tests --with-icu \
	--enable-debug >"$WORK/configure.log" 2>&1; then
	tail -n 40 "$WORK/configure.log" >&2
	log "configure failed"
	exit 1
fi
log "make -j$JOBS"
if ! make -j"$JOBS" >"$WORK/make.log" 2>&1; then
	grep -E 'error|Error' "$WORK/make.log" | head -n 40 >&2
	tail -n 20 "$WORK/make.log" >&2
	log "make failed"
	exit 1
fi
rm -rf "$PREFIX"
if ! make install >"$WORK/install.log" 2>&1; then
	tail -n 40 "$WORK/install.log" >&2
	log "make install failed"
	exit 1
fi
# The install tree must be readable by the postgres OS user (TAP tests).
chmod -R a+rX "$PREFIX"
echo "postgresql-$MAJOR $version from $where, built $(date -u +%FT%TZ)" >"$STAMP"
log "built $("$PREFIX/bin/pg_config" --version) into $PREFIX in $(($(date +%s) - T0))s"
echo "$PREFIX/bin/pg_config"
