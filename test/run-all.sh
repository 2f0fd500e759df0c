#!/bin/bash
# test/run-all.sh -- the whole memkv test suite (the README's test command).
#
# Run as root on a Debian 12 machine (CI runs it from .ci/run in a fresh
# clone, as root, with no stdin).  Steps, in order:
#
#   1. deps      test/install-deps.sh (apt-get; no-op when all is installed)
#   2. build     make clean && make && make install   (-Werror: see Makefile)
#   3. unit      make -C test/unit check   (plain-C ART/arena tests, no server;
#                skipped with a message while test/unit/Makefile is missing)
#   4. regress   a throwaway server with memkv preloaded (test/lib/pgserver.sh,
#                mktemp dir, private port), then `make installcheck` with
#                only pg_regress on (sql/, expected/); prints the diffs and
#                the server log on failure
#   5. isolation the same with only the isolation specs on (test/specs,
#                test/expected)
#   6. tap       the TAP tests test/t/*.pl (PostgreSQL::Test::Cluster).  initdb
#                refuses root, so they run as the postgres OS user in a copy of
#                the tree owned by postgres; prints the logs on failure
#   7. bench     bash bench/selftest.sh, if it exists
#
# A failing step does not stop the later ones (unless they need its result).
# Ends with a summary and a last line "N passed, M failed" (steps); exits
# non-zero if anything failed.
#
# Environment:
#   MEMKV_TAP_TESTS="test/t/004_differential.pl ..."  run only these TAP tests
#   MEMKV_SEED=N        seed for the randomized differential test
#   MEMKV_SKIP_DEPS=1   do not run install-deps.sh (e.g. no network)
#   PG_CONFIG=path      the PostgreSQL installation to build and test against
#   PG_TEST_PORT_DIR=d  TAP port lock directory shared by concurrent runs

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

STEP_TIMEOUT=${MEMKV_STEP_TIMEOUT:-1800}	# seconds, per step
export PG_CONFIG=${PG_CONFIG:-pg_config}

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
	summary+=("$(printf '%-10s %-5s %5ss  %s' "$name" "$status" "$secs" "$note")")
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

do_build()
{
	make clean >/dev/null
	make
	make install
}

do_unit()
{
	timeout -k 30 "$STEP_TIMEOUT" make -C test/unit check
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
	local dir=$WORK/server-$what port
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

step build do_build
if [ $STEP_RC = 0 ]; then
	build_ok=1
fi

if [ -f test/unit/Makefile ]; then
	step unit do_unit
else
	banner unit
	echo "test/unit/Makefile does not exist yet: unit tests skipped"
	summary+=("$(printf '%-10s %-5s %5s   %s' unit SKIP - "(no test/unit/Makefile)")")
fi

for s in regress isolation tap; do
	if [ $build_ok = 1 ]; then
		step "$s" "do_$s"
	else
		banner "$s"
		echo "not run: the build failed"
		record "$s" FAIL 0 "(not run: build failed)"
	fi
done

if [ -f bench/selftest.sh ]; then
	if [ $build_ok = 1 ]; then
		step bench do_bench
	else
		record bench FAIL 0 "(not run: build failed)"
	fi
else
	summary+=("$(printf '%-10s %-5s %5s   %s' bench SKIP - "(no bench/selftest.sh)")")
fi

banner "summary ($(($(date +%s) - START_ALL))s in all)"
for line in "${summary[@]}"; do
	echo "$line"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
