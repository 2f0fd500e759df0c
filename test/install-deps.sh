#!/bin/bash
# test/install-deps.sh -- install everything memkv's build and tests need.
#
# Run as root on a fresh Debian 12 (bookworm) machine that has only the
# toolchain.  Idempotent: when every package is already installed it does
# nothing (and does not even run apt-get update).  Quiet unless it fails, in
# which case it prints apt's output.
#
# Installs:
#   postgresql-15, postgresql-server-dev-15   server, pg_config, PGXS,
#                                             pg_regress, isolationtester and
#                                             the PostgreSQL::Test perl modules
#   libipc-run-perl                           IPC::Run for the TAP tests
#   clang, libclang-rt-14-dev                 ASan/UBSan/libFuzzer for test/unit
#   make, gcc, perl, util-linux (runuser), lz4

set -euo pipefail

PACKAGES=(
	postgresql-15
	postgresql-server-dev-15
	libipc-run-perl
	clang
	libclang-rt-14-dev
	llvm
	make
	gcc
	perl
	util-linux
	ca-certificates
)

if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: must run as root" >&2
	exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$status" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

log=$(mktemp /tmp/memkv-install-deps.XXXXXX.log)
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q &&
	apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
	>"$log" 2>&1 </dev/null; then
	echo "install-deps.sh: installing ${missing[*]} failed:" >&2
	cat "$log" >&2
	exit 1
fi
rm -f "$log"
