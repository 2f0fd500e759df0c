#!/bin/bash
# test/run-all.sh -- the whole memkv test suite (the README's test command).
#
# Run as root on a Debian 12 machine (CI runs it from .ci/run in a fresh
# clone, as root, with no stdin).  It tests against each PostgreSQL major
# version in MEMKV_PG_VERSIONS (default "15 18"): 15 is Debian's package,
# other versions are built from source into /opt/postgresql-V by
# test/build-pg.sh (about 6 minutes the first time, reused afterwards).
# Steps, in order (V: each version; a step's name says its version):
#
#   1. deps      test/install-deps.sh (apt-get; no-op when all is installed)
#   2. layout    bash test/layout.sh: the layout rules of src/ (file length,
#                the plain-C wall, the glue layers; src/README, "Files in
#                memkv 2"); reads the sources only, so once, before any build
#   3. pg/V      bash test/build-pg.sh V, for each version but 15
#      pg/15-upstream  when 15 and a later version are tested: PostgreSQL 15
#                built from source into /opt/postgresql-15 (test/build-pg.sh
#                15), the old side of the pg_upgrade test -- Debian 12's own
#                15 cannot be upgraded to 18 (README.md, "PostgreSQL
#                versions") -- and memkv built and installed into it
#   4. unit      make -C test/unit check tsan replay   (plain-C unit tests
#                under ASan/UBSan, the EBR stress under TSan, every fuzz
#                target over its seed corpus; no server, no PostgreSQL
#                header: once, not per version)
#   then for each version V, with PG_CONFIG set to that installation:
#   5. build/V   make clean && make && make install   (-Werror: see Makefile)
#   6. regress/V a throwaway server with memkv preloaded (test/lib/pgserver.sh,
#                mktemp dir, private port), then `make installcheck` with
#                only pg_regress on (sql/, expected/); prints the diffs and
#                the server log on failure
#   7. isolation/V the same with only the isolation specs on (test/specs,
#                test/expected)
#   8. tap/V     the TAP tests test/t/*.pl (PostgreSQL::Test::Cluster).  initdb
#                refuses root, so they run as the postgres OS user in a copy of
#                the tree owned by postgres; prints the logs on failure.  The
#                pg_upgrade test (test/t/030_pg_upgrade.pl) upgrades from
#                /opt/postgresql-15 to V in each pass of a later version.
#   9. bench/V   bash bench/selftest.sh, if it exists
#
# A failing step does not stop the later ones (unless they need its result).
# Ends with a summary and a last line "N passed, M failed" (steps of all
# versions together); exits non-zero if anything failed.
#
# Environment:
#   MEMKV_PG_VERSIONS="15 18"  the major versions to test, in this order
#   MEMKV_PG_CONFIG_<V>=path   the installation to use for version V
#                       (default: Debian's /usr/lib/postgresql/15 for 15,
#                       /opt/postgresql-V, built by test/build-pg.sh, for
#                       the others)
#   PG_CONFIG=path      test against this one installation only (unless
#                       MEMKV_PG_VERSIONS is set too: then it serves its
#                       own major version); how an engineer runs the suite
#                       against a private install
#   MEMKV_UPGRADE_FROM_PG_CONFIG=path  the old side of the pg_upgrade test
#                       (default /opt/postgresql-15/bin/pg_config when 15 and
#                       a later version are tested; memkv is installed there)
#   MEMKV_TAP_TESTS="test/t/004_differential.pl ..."  run only these TAP tests
#   MEMKV_SEED=N        seed for the randomized differential test
#   MEMKV_SKIP_DEPS=1   do not run install-deps.sh nor build PostgreSQL
#                       (e.g. no network)
#   PG_TEST_PORT_DIR=d  TAP port lock directory shared by concurrent runs

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

STEP_TIMEOUT=${MEMKV_STEP_TIMEOUT:-1800}	# seconds, per step

# The versions to test and the pg_config of each (PG_CONFIGS[V]).
declare -A PG_CONFIGS=()
if [ -n "${PG_CONFIG:-}" ]; then
	given_version=$("$PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')
	if [ -z "$given_version" ]; then
		echo "run-all.sh: PG_CONFIG=$PG_CONFIG does not answer --version" >&2
		exit 1
	fi
	PG_CONFIGS[$given_version]=$PG_CONFIG
	PG_VERSIONS=${MEMKV_PG_VERSIONS:-$given_version}
else
	PG_VERSIONS=${MEMKV_PG_VERSIONS:-15 18}
fi
for v in $PG_VERSIONS; do
	var=MEMKV_PG_CONFIG_$v
	if [ -n "${!var:-}" ]; then
		PG_CONFIGS[$v]=${!var}
	elif [ -z "${PG_CONFIGS[$v]:-}" ]; then
		if [ "$v" = 15 ]; then
			PG_CONFIGS[$v]=/usr/lib/postgresql/15/bin/pg_config
		else
			PG_CONFIGS[$v]=/opt/postgresql-$v/bin/pg_config
		fi
	fi
done

summary=()
passed=0
failed=0
build_ok=0
START_ALL=$(date +%s)

WORK=$(mktemp -d /tmp/memkv-run-all.XXXXXX)
chmod 755 "$WORK"
cleanup()
{
	rm -rf "$WORK"
}
trap cleanup EXIT

banner()
{
	echo
	echo "======================================================================"
	echo "== $*"
	echo "======================================================================"
}

# record NAME STATUS SECONDS [NOTE]
record()
{
	local name=$1 status=$2 secs=$3 note=${4:-}
	case $status in
	PASS) passed=$((passed + 1)) ;;
	FAIL) failed=$((failed + 1)) ;;
	esac
	summary+=("$(printf '%-18s %-5s %5ss  %s' "$name" "$status" "$secs" "$note")")
	echo "-- $name: $status (${secs}s) $note"
}

# step NAME FUNCTION: run FUNCTION in a subshell (so its traps and exits stay
# local) with errexit on, time it, record PASS/FAIL; the exit status is left
# in STEP_RC.  step itself always returns 0 and must not be called from an
# if/||/&& context: bash would then silently disable errexit inside FUNCTION.
step()
{
	local name=$1 fn=$2 t0
	banner "$name"
	t0=$(date +%s)
	set +e
	(set -euo pipefail; "$fn")
	STEP_RC=$?
	set -e
	if [ $STEP_RC -eq 0 ]; then
		record "$name" PASS $(($(date +%s) - t0))
	else
		record "$name" FAIL $(($(date +%s) - t0)) "(exit $STEP_RC)"
	fi
}

# ---------------------------------------------------------------------------

do_deps()
{
	if [ "${MEMKV_SKIP_DEPS:-}" = 1 ]; then
		echo "MEMKV_SKIP_DEPS=1: not installing packages"
		return 0
	fi
	bash test/install-deps.sh
	echo "dependencies installed"
}

# test/build-pg.sh for PG_BUILD_VERSION (reuses an existing build)
do_build_pg()
{
	timeout -k 30 "$STEP_TIMEOUT" bash test/build-pg.sh "$PG_BUILD_VERSION" </dev/null
}

# memkv into the old side of the pg_upgrade test, built in a copy of the
# tree so that the tree's own objects stay those of the version under test
do_build_upgrade_from()
{
	local copy=$WORK/upgrade-from-src
	mkdir -p "$copy"
	tar -C "$ROOT" --exclude=./.git --exclude=./test --exclude=./bench --exclude='*.o' \
		--exclude='*.so' -cf - . | tar -C "$copy" -xf -
	echo "PostgreSQL: $("$UPGRADE_FROM_PG_CONFIG" --version) ($UPGRADE_FROM_PG_CONFIG)"
	make -C "$copy" -j2 PG_CONFIG="$UPGRADE_FROM_PG_CONFIG"
	make -C "$copy" install PG_CONFIG="$UPGRADE_FROM_PG_CONFIG"
}

do_build()
{
	echo "PostgreSQL: $("$PG_CONFIG" --version) ($PG_CONFIG)"
	make clean >/dev/null
	make
	make install
}

do_layout()
{
	bash test/layout.sh
}

do_unit()
{
	timeout -k 30 "$STEP_TIMEOUT" make -C test/unit check tsan replay
}

# installcheck_with_server WHAT MAKE_ARGS...: start a throwaway server with
# memkv preloaded, run `make installcheck MAKE_ARGS...`, print the diffs and
# the server log's tail on failure, stop the server (also on error: the
# EXIT trap of pgserver.sh, in this step's subshell).
installcheck_with_server()
{
	local what=$1
	shift
	# shellcheck source=lib/pgserver.sh
	source test/lib/pgserver.sh
	local dir=$WORK/server-$what-$PG_VERSION port
	port=$((20000 + RANDOM % 20000))
	pg_server_start "$dir" "$port"
	echo "server running: socket dir $dir, port $port"

	local rc=0
	timeout -k 30 "$STEP_TIMEOUT" make installcheck "$@" </dev/null || rc=$?
	if [ $rc -ne 0 ]; then
		local f
		for f in regression.diffs test/output_iso/regression.diffs; do
			if [ -s "$f" ]; then
				echo "---------------- $f ----------------"
				head -c 200000 "$f"
			fi
		done
		echo "---------------- server log (tail) ----------------"
		tail -n 100 "$dir/server.log" || true
	fi
	pg_server_stop
	return $rc
}

# pg_regress: sql/ + expected/
do_regress()
{
	rm -rf results regression.diffs regression.out
	if [ -z "$(ls sql/*.sql 2>/dev/null)" ]; then
		echo "no sql/*.sql: nothing to run"
		return 1
	fi
	installcheck_with_server regress TAP_TESTS= ISOLATION=
}

# isolation: test/specs + test/expected
do_isolation()
{
	rm -rf test/output_iso
	installcheck_with_server isolation TAP_TESTS= REGRESS=
}

do_tap()
{
	local copy=$WORK/tap/memkv rc=0
	mkdir -p "$copy"
	# Only the Makefile and test/ are needed (the extension is installed).
	tar -C "$ROOT" --exclude=test/unit/build --exclude=test/output_iso \
		-cf - Makefile test | tar -C "$copy" -xf -
	chown -R postgres: "$WORK/tap"

	local prove_tests=()
	if [ -n "${MEMKV_TAP_TESTS:-}" ]; then
		prove_tests=("PROVE_TESTS=$MEMKV_TAP_TESTS")
	fi
	# PG_TEST_PORT_DIR: Cluster.pm's port lock directory would otherwise be
	# created under PGXS's top_builddir, which postgres cannot write.
	# Clear the libpq variables so nothing points the tests at another server.
	timeout -k 30 "$STEP_TIMEOUT" \
		runuser -u postgres -- env -u PGHOST -u PGPORT -u PGUSER \
		-u PGDATABASE -u PGDATA HOME="$WORK/tap" \
		PG_TEST_PORT_DIR="${PG_TEST_PORT_DIR:-$WORK/tap}" \
		${UPGRADE_FROM_OK:+MEMKV_UPGRADE_FROM_PG_CONFIG=$UPGRADE_FROM_PG_CONFIG} \
		${MEMKV_SEED:+MEMKV_SEED=$MEMKV_SEED} \
		make -C "$copy" installcheck REGRESS= ISOLATION= \
		PROVE_FLAGS="--verbose --timer" "${prove_tests[@]}" </dev/null || rc=$?
	if [ $rc -ne 0 ]; then
		local f
		for f in "$copy"/tmp_check/log/*; do
			[ -f "$f" ] || continue
			echo "---------------- $(basename "$f") (tail) ----------------"
			tail -n 80 "$f"
		done
	fi
	return $rc
}

do_bench()
{
	timeout -k 30 "$STEP_TIMEOUT" bash bench/selftest.sh </dev/null
}

# ---------------------------------------------------------------------------

step deps do_deps
step layout do_layout

# PostgreSQL itself, for the versions Debian 12 does not package.  A version
# whose installation is missing afterwards has its steps recorded as failed.
for v in $PG_VERSIONS; do
	if [ "$v" != 15 ] && [ "${PG_CONFIGS[$v]}" = "/opt/postgresql-$v/bin/pg_config" ] &&
		[ "${MEMKV_SKIP_DEPS:-}" != 1 ]; then
		PG_BUILD_VERSION=$v
		step "pg/$v" do_build_pg
	fi
done

# The old side of the pg_upgrade test: upstream 15, when 15 and a later
# version are both tested (or what MEMKV_UPGRADE_FROM_PG_CONFIG names).
UPGRADE_FROM_PG_CONFIG=${MEMKV_UPGRADE_FROM_PG_CONFIG:-}
UPGRADE_FROM_OK=
if [ -z "$UPGRADE_FROM_PG_CONFIG" ] && [[ " $PG_VERSIONS " == *" 15 "* ]] &&
	[ "$(echo "$PG_VERSIONS" | wc -w)" -gt 1 ]; then
	UPGRADE_FROM_PG_CONFIG=/opt/postgresql-15/bin/pg_config
	if [ "${MEMKV_SKIP_DEPS:-}" != 1 ]; then
		PG_BUILD_VERSION=15
		step pg/15-upstream do_build_pg
	fi
fi
if [ -n "$UPGRADE_FROM_PG_CONFIG" ]; then
	if [ -x "$UPGRADE_FROM_PG_CONFIG" ]; then
		step build/upgrade-from do_build_upgrade_from
		[ $STEP_RC = 0 ] && UPGRADE_FROM_OK=1
	else
		echo "no $UPGRADE_FROM_PG_CONFIG: the pg_upgrade test will be skipped"
	fi
fi

if [ -f test/unit/Makefile ]; then
	step unit do_unit
else
	banner unit
	echo "test/unit/Makefile does not exist yet: unit tests skipped"
	summary+=("$(printf '%-18s %-5s %5s   %s' unit SKIP - "(no test/unit/Makefile)")")
fi

for v in $PG_VERSIONS; do
	export PG_CONFIG=${PG_CONFIGS[$v]}
	PG_VERSION=$v
	build_ok=0
	if [ -x "$PG_CONFIG" ]; then
		step "build/$v" do_build
		[ $STEP_RC = 0 ] && build_ok=1
	else
		banner "build/$v"
		echo "no PostgreSQL $v: $PG_CONFIG is missing"
		record "build/$v" FAIL 0 "(no $PG_CONFIG)"
	fi

	steps=(regress isolation tap)
	if [ -f bench/selftest.sh ]; then
		steps+=(bench)
	else
		summary+=("$(printf '%-18s %-5s %5s   %s' "bench/$v" SKIP - "(no bench/selftest.sh)")")
	fi
	for s in "${steps[@]}"; do
		if [ $build_ok = 1 ]; then
			step "$s/$v" "do_$s"
		else
			banner "$s/$v"
			echo "not run: the build failed"
			record "$s/$v" FAIL 0 "(not run: build failed)"
		fi
	done
done

banner "summary ($(($(date +%s) - START_ALL))s in all)"
for line in "${summary[@]}"; do
	echo "$line"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
