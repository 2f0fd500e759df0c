# test/lib/pgserver.sh -- start and stop a throwaway PostgreSQL 15 server.
#
# Source this file, then:
#   pg_server_start DIR PORT [CONF_LINE ...]
#       initdb a cluster in DIR/data as the postgres OS user (C locale,
#       UTF8), memkv in shared_preload_libraries, socket in DIR, listening
#       only on the socket; extra postgresql.conf lines may follow.
#       Exports PGHOST, PGPORT, PGUSER=postgres, PGDATABASE=postgres.
#       Registers an EXIT trap that stops the server, also on failure.
#   pg_server_stop            stop it (idempotent)
#   pg_server_restart         restart it (e.g. after a conf change)
#   pg_as_postgres CMD ...    run CMD as the postgres OS user
#
# PostgreSQL refuses to run as root, so everything server-side runs under
# runuser as "postgres"; DIR is made owned by postgres.

PG_BINDIR=${PG_BINDIR:-$(${PG_CONFIG:-pg_config} --bindir)}

pg_as_postgres()
{
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_server_start()
{
	local dir=$1 port=$2
	shift 2
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	PG_SERVER_DIR=$dir
	pg_as_postgres "$PG_BINDIR/initdb" -D "$dir/data" -U postgres \
		--locale=C -E UTF8 -A trust >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; return 1; }
	{
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "shared_preload_libraries = 'memkv'"
		echo "fsync = off"
		echo "max_prepared_transactions = 10"
		for line in "$@"; do echo "$line"; done
	} | pg_as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
	trap pg_server_stop EXIT
	pg_as_postgres "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		-w -t 120 start >/dev/null ||
		{ cat "$dir/server.log"; return 1; }
	export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

pg_server_stop()
{
	if [ -n "${PG_SERVER_DIR:-}" ] && [ -f "$PG_SERVER_DIR/data/postmaster.pid" ]; then
		pg_as_postgres "$PG_BINDIR/pg_ctl" -D "$PG_SERVER_DIR/data" -m fast \
			-w stop >/dev/null 2>&1 || true
	fi
}

pg_server_restart()
{
	pg_as_postgres "$PG_BINDIR/pg_ctl" -D "$PG_SERVER_DIR/data" \
		-l "$PG_SERVER_DIR/server.log" -w -t 120 restart >/dev/null
}
