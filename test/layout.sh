#!/bin/bash
# test/layout.sh -- check the layout rules of src/ (src/README, "Files in
# memkv 2").  Run from the repository root:
#
#   bash test/layout.sh
#
# Prints every violation, one a line, and exits 1 if there is any (0 if
# none, 2 if it cannot run).  The rules:
#
#   (a) no src/*.c has more than 800 lines;
#   (b) no plain-C file -- test/unit/Makefile's PLAIN_NAMES, read from
#       there, and the headers of the same names -- includes postgres.h or
#       any other PostgreSQL header, directly or through a src/ header it
#       includes, nor any src/ header but theirs;
#   (c) the AM glue is layered: LAYERS below lists the glue files in layer
#       order, and a glue file (.c or .h) includes only headers of files in
#       its own layer or before it.  memkv.h, memkv_guc.h, pg_compat.h and
#       the plain-C headers may be included anywhere; they may include only
#       each other (and PostgreSQL's headers).  A glue file in no layer is a
#       violation too: add it to LAYERS where it belongs.
#
# Each violation is reported once, where it is made: a header that
# includes a later one is reported, not every file that includes it.
#
#   bash test/layout.sh --calls
#
# also checks (c) on the built objects (run make first): a glue file calls
# only functions of files in its layer or before it, whichever header
# declared them -- what the include rule cannot see while memkv.h still
# declares another layer's functions.  Reading a variable (a GUC of
# memkv_guc.h, memkv_shared) is not a call.
#
# test/layout-allow.txt, if it exists, lists violations (lines exactly as
# printed here; blank lines and lines starting with # ignored) that are
# known and accepted for now: they are printed as "allowed: ..." and do
# not fail the check.  An entry that matches no violation any more fails
# it, so that the list only shrinks.

set -u

CALLS=0
case "${1:-}" in
	--calls) CALLS=1 ;;
	'') ;;
	*)
		echo "usage: bash test/layout.sh [--calls]" >&2
		exit 2 ;;
esac

LIMIT=800
SRC=src
ALLOW=test/layout-allow.txt

# The glue layers, in order (src/README, "Files in memkv 2"); each file
# may include headers of its own layer and the ones before it.  memutil,
# caller, runpages and runcopy are files step 1 made that the README's list
# does not name yet; they stand where what they call and who calls them put
# them (memutil, the memory helpers, calls nothing of memkv's).
LAYERS="memutil registry guard limbo page validate caller stats request wal directory delta
	deadpages runpages runbloom runmemo runread runcopy runwrite runimage view batch source freeze merge
	worker truncate vacuum buildspill buildscan buildpar build insert scan cost verify sqlfuncs
	memkv"

# Today's names of layers (file name -> layer name), until the files are
# renamed: 1.x shmem.c is the registry, delta.c the stripe log.
declare -A ALIAS=([shmem]=registry [stripe]=delta [fill]=scan [runwrite_int]=runwrite)

# References nm reports as undefined symbols that are no calls, as
# "file:function": caller.c and worker.c compare an index's ambuild with
# memkv_build's address to tell a memkv index from another AM's; they never
# call it.
declare -A NOT_CALLS=([caller.c:memkv_build]=1 [worker.c:memkv_build]=1)

# Glue headers any file may include.
EVERYWHERE="memkv.h memkv_guc.h pg_compat.h"

if [ ! -d "$SRC" ] || [ ! -f test/unit/Makefile ]; then
	echo "test/layout.sh: run it from the repository root" >&2
	exit 2
fi

violations=()

# ---- (a) file length ----------------------------------------------------

for f in "$SRC"/*.c; do
	n=$(wc -l < "$f")
	if [ "$n" -gt "$LIMIT" ]; then
		violations+=("$(basename "$f") has $n lines (more than $LIMIT)")
	fi
done

# ---- the plain-C files ---------------------------------------------------

# PLAIN_NAMES = arena.c art*.c ... \ (continued over several lines)
plain_patterns=$(sed -n '/^PLAIN_NAMES[[:space:]]*=/,/[^\\]$/p' test/unit/Makefile |
	sed -e 's/^PLAIN_NAMES[[:space:]]*=//' -e 's/\\$//' | tr -s ' \t\n' ' ')
if [ -z "${plain_patterns// /}" ]; then
	echo "test/layout.sh: no PLAIN_NAMES in test/unit/Makefile" >&2
	exit 2
fi

declare -A PLAIN=()			# file name -> 1, .c and .h
for pat in $plain_patterns; do
	for f in "$SRC"/$pat "$SRC"/${pat%.c}.h; do
		[ -f "$f" ] && PLAIN[$(basename "$f")]=1
	done
done

# The quoted and angle includes of a file, one a line: "q name" / "a name".
includes_of() {
	sed -n -e 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/q \1/p' \
		-e 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<\([^>]*\)>.*/a \1/p' "$1"
}

# Is an include (kind, name) PostgreSQL's?  A quoted include that is no
# file of src/ is (memkv includes PostgreSQL's headers with quotes); an
# angle include is if it names a PostgreSQL header or directory.
is_pg_include() {
	local kind=$1 name=$2
	if [ "$kind" = q ]; then
		[ ! -f "$SRC/$name" ]
		return
	fi
	case "$name" in
		postgres.h | postgres_fe.h | c.h | pg_config*.h | fmgr.h | funcapi.h | \
		miscadmin.h | pgstat.h | access/* | catalog/* | commands/* | \
		executor/* | lib/* | nodes/* | optimizer/* | port/* | \
		portability/* | postmaster/* | replication/* | storage/* | \
		tcop/* | utils/* | common/* | mb/* | parser/* | rewrite/*)
			return 0 ;;
	esac
	return 1
}

# ---- (b) the plain-C wall ---------------------------------------------------

# First PostgreSQL include reachable from a plain-C file, as
# "header (through a.h -> b.h)"; empty if none.  Depth-first over src/
# headers, each visited once.
declare -A SEEN
pg_reach() {
	local file=$1 path=$2 kind name hit
	while read -r kind name; do
		if is_pg_include "$kind" "$name"; then
			if [ -n "$path" ]; then
				echo "$name (through $path)"
			else
				echo "$name"
			fi
			return 0
		fi
		if [ "$kind" = q ] && [ -z "${SEEN[$name]:-}" ]; then
			SEEN[$name]=1
			hit=$(pg_reach "$SRC/$name" "${path:+$path -> }$name")
			if [ -n "$hit" ]; then
				echo "$hit"
				return 0
			fi
		fi
	done < <(includes_of "$file")
	return 1
}

for name in $(printf '%s\n' "${!PLAIN[@]}" | sort); do
	SEEN=()
	hit=$(pg_reach "$SRC/$name" "")
	if [ -n "$hit" ]; then
		violations+=("$name includes $hit: a plain-C file includes no PostgreSQL header")
	fi
	while read -r kind inc; do
		if [ "$kind" = q ] && [ -f "$SRC/$inc" ] && [ -z "${PLAIN[$inc]:-}" ]; then
			violations+=("$name includes $inc: a plain-C file includes only plain-C headers")
		fi
	done < <(includes_of "$SRC/$name")
done

# ---- (c) the glue layers -------------------------------------------------------

declare -A LAYER=()			# layer name -> 1-based position
i=0
for l in $LAYERS; do
	i=$((i + 1))
	LAYER[$l]=$i
done

declare -A ANYWHERE=()
for h in $EVERYWHERE; do
	ANYWHERE[$h]=1
done

# Layer position of a glue file (.c or .h), or empty if it has none.
layer_of() {
	local base=${1%.*}
	base=${ALIAS[$base]:-$base}
	echo "${LAYER[$base]:-}"
}

for f in "$SRC"/*.c "$SRC"/*.h; do
	name=$(basename "$f")
	[ -n "${PLAIN[$name]:-}" ] && continue

	if [ -n "${ANYWHERE[$name]:-}" ]; then
		# may include only other everywhere headers and plain-C ones
		while read -r kind inc; do
			[ "$kind" = q ] || continue
			is_pg_include "$kind" "$inc" && continue
			if [ -z "${ANYWHERE[$inc]:-}" ] && [ -z "${PLAIN[$inc]:-}" ]; then
				violations+=("$name includes $inc (an everywhere header includes only everywhere and plain-C headers)")
			fi
		done < <(includes_of "$f")
		continue
	fi

	mine=$(layer_of "$name")
	if [ -z "$mine" ]; then
		# a header with no .c of its own is judged where it is included
		if [ "${name##*.}" = c ]; then
			violations+=("$name is in no layer (add it to LAYERS in test/layout.sh)")
		fi
		continue
	fi

	while read -r kind inc; do
		[ "$kind" = q ] || continue
		is_pg_include "$kind" "$inc" && continue
		[ -n "${ANYWHERE[$inc]:-}" ] && continue
		[ -n "${PLAIN[$inc]:-}" ] && continue
		theirs=$(layer_of "$inc")
		if [ -z "$theirs" ]; then
			violations+=("$name includes $inc, which is in no layer")
		elif [ "$theirs" -gt "$mine" ]; then
			violations+=("$name includes $inc (layer $theirs > $mine)")
		fi
	done < <(includes_of "$f")
done

# ---- (c) on the objects: calls ------------------------------------------

if [ "$CALLS" -eq 1 ]; then
	declare -A DEFINER=()	# function -> the .c file defining it
	for o in "$SRC"/*.o; do
		[ -f "$o" ] || { echo "test/layout.sh --calls: no $SRC/*.o; run make first" >&2; exit 2; }
		[ -f "${o%.o}.c" ] || continue
		while read -r _ type sym; do
			[ "$type" = T ] && DEFINER[$sym]=$(basename "${o%.o}.c")
		done < <(nm --defined-only "$o")
	done
	for o in "$SRC"/*.o; do
		name=$(basename "${o%.o}.c")
		[ -f "$SRC/$name" ] || continue
		[ -n "${PLAIN[$name]:-}" ] && continue
		mine=$(layer_of "$name")
		[ -n "$mine" ] || continue
		# one line per callee file, naming the functions called
		declare -A CALLED=()
		while read -r _ sym; do
			callee=${DEFINER[$sym]:-}
			[ -n "$callee" ] || continue
			[ -n "${PLAIN[$callee]:-}" ] && continue
			[ -n "${NOT_CALLS[$name:$sym]:-}" ] && continue
			CALLED[$callee]="${CALLED[$callee]:-} $sym"
		done < <(nm -u "$o" | sort -k2)
		for callee in $(printf '%s\n' "${!CALLED[@]}" | sort); do
			theirs=$(layer_of "$callee")
			if [ -z "$theirs" ]; then
				violations+=("$name calls $callee, which is in no layer:${CALLED[$callee]}")
			elif [ "$theirs" -gt "$mine" ]; then
				violations+=("$name calls $callee (layer $theirs > $mine):${CALLED[$callee]}")
			fi
		done
		unset CALLED
	done
fi

# ---- report ---------------------------------------------------------------------

declare -A ALLOWED=()
if [ -f "$ALLOW" ]; then
	while IFS= read -r line; do
		case "$line" in '' | '#'*) continue ;; esac
		ALLOWED[$line]=1
	done < "$ALLOW"
fi

failed=0
declare -A FOUND=()
for v in "${violations[@]+"${violations[@]}"}"; do
	FOUND[$v]=1
	if [ -n "${ALLOWED[$v]:-}" ]; then
		echo "allowed: $v"
	else
		echo "$v"
		failed=1
	fi
done
for a in "${!ALLOWED[@]}"; do
	if [ -z "${FOUND[$a]:-}" ]; then
		echo "stale entry in $ALLOW (no such violation now): $a"
		failed=1
	fi
done

if [ "$failed" -ne 0 ]; then
	echo "layers:" $(i=0; for l in $LAYERS; do i=$((i + 1)); printf '%d=%s ' $i $l; done)
	echo "test/layout.sh: FAILED"
	exit 1
fi
echo "test/layout.sh: ok"
exit 0
