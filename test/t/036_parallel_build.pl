# test/t/036_parallel_build.pl -- parallel CREATE INDEX (issue 15;
# src/README "Parallel CREATE INDEX").
#
# A build with workers (the table's parallel_workers and
# max_parallel_maintenance_workers, maintenance_work_mem large enough for
# PostgreSQL's planner to give them: 32MB a participant) scans the table in
# every participant, each sorts and spills its keys to the build's
# SharedFileSet, then each merges one key range of all the spills into
# slices, and the leader stores the slices as one run.
# Checked:
#   * MemkvHostKeys's table (every key twice with its TIDs far apart, so
#     in different participants' shares; NULLs; the empty key; one key in
#     400,000 of the 700,000 rows) built serially and in parallel: the
#     parallel build's DEBUG1 line names more than one participant, the
#     serial one none; both indexes answer every query kind like a seq
#     scan, memkv_verify is clean, and the two runs hold the same number
#     of keys;
#   * an empty table and a table of one block (fewer blocks than
#     participants) build in parallel and answer like a seq scan;
#   * an ERROR raised in a worker (an expression that fails in any
#     process but the leader) fails the build with the worker's message,
#     leaves no index and no temporary file; the table builds afterwards;
#   * max_parallel_maintenance_workers = 0 and the table's
#     parallel_workers = 0 each give the serial build.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvHostKeys;

my $node = memkv_primary('parallel_build',
	conf => "max_worker_processes = 8\nmax_parallel_workers = 8\n",
	sql => memkv_host_table_sql(400000)
	  . "ALTER TABLE t SET (parallel_workers = 2);\n");

my $parallel = q{SET max_parallel_maintenance_workers = 2;
SET maintenance_work_mem = '96MB';};
my $serial = q{SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '96MB';};

# Run SQL at DEBUG1 after SETTINGS; returns (rc, stderr).
sub run_debug
{
	my ($settings, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', qq{
$settings
SET client_min_messages = debug1;
$sql
});
	return ($rc, $err);
}

# The participants of a parallel build from its DEBUG1 line, 0 if serial.
sub participants
{
	my ($err) = @_;
	my ($n) = $err =~ /memkv build: parallel scan by (\d+) participants/;
	return $n // 0;
}

# (a) serial, then parallel, on the same data
my ($rc, $err) = run_debug($serial, 'CREATE INDEX t_k ON t USING memkv (k)');
is($rc, 0, 'the serial build succeeds') or diag($err);
is(participants($err), 0, 'max_parallel_maintenance_workers = 0: serial');
my ($skeys) = $err =~ /memkv run writer: run \d+ of "t_k": (\d+) keys/;
memkv_host_same_as_seqscan($node, 'serial build');

($rc, $err) = run_debug($parallel, 'REINDEX INDEX t_k');
is($rc, 0, 'the parallel build succeeds') or diag($err);
cmp_ok(participants($err), '>', 1,
	'the build ran in parallel (' . participants($err) . ' participants)')
  or diag($err);
like($err, qr/memkv build: parallel merge by (\d+) participants/,
	'the participants merged key ranges of the spills');
my @wt = $err =~ /memkv build: parallel worker \d+ scanned (\d+) tuples/g;
diag('tuples scanned by the workers: ' . join(', ', @wt));
my ($pkeys) = $err =~ /memkv run writer: run \d+ of "t_k": (\d+) keys/;
ok(defined $skeys && defined $pkeys && $skeys == $pkeys && $pkeys > 150000,
	'serial and parallel runs hold the same keys ('
	  . ($skeys // '?') . ', ' . ($pkeys // '?') . ')');
memkv_host_same_as_seqscan($node, 'parallel build');

# the table's parallel_workers = 0 gives the serial build too
$node->safe_psql('postgres', 'ALTER TABLE t SET (parallel_workers = 0)');
($rc, $err) = run_debug($parallel, 'REINDEX INDEX t_k');
is($rc, 0, 'the build with parallel_workers = 0 succeeds') or diag($err);
is(participants($err), 0, 'parallel_workers = 0: serial');
$node->safe_psql('postgres', 'ALTER TABLE t SET (parallel_workers = 2)');

# (b) an empty table and a table of one block
$node->safe_psql('postgres', q{
CREATE TABLE e (k text COLLATE "C") WITH (parallel_workers = 2);
CREATE TABLE s (k text COLLATE "C") WITH (parallel_workers = 2);
INSERT INTO s VALUES ('b'), ('a'), (NULL), ('b'), ('');
});
for my $tab ('e', 's')
{
	($rc, $err) = run_debug($parallel,
		"CREATE INDEX ${tab}_k ON $tab USING memkv (k)");
	is($rc, 0, "table $tab: the build succeeds") or diag($err);
	cmp_ok(participants($err), '>', 1, "table $tab: built in parallel")
	  or diag($err);
	for my $q ("SELECT count(*) FROM $tab WHERE k >= ''",
		"SELECT string_agg(k, ',' ORDER BY k) FROM $tab WHERE k = 'b' OR k = ''",
		"SELECT count(*) FROM $tab WHERE k IS NULL",
		"SELECT string_agg(k, ',') FROM (SELECT k FROM $tab WHERE k >= '' ORDER BY k DESC) x")
	{
		is($node->safe_psql('postgres', "$memkv_host_index_on $q"),
			$node->safe_psql('postgres', "$memkv_host_index_off $q"),
			"table $tab: $q");
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('${tab}_k')"),
		'0', "table $tab: memkv_verify is clean");
}

# (c) an ERROR in a worker: the expression fails in any process but the
# one whose pid the leader set (a custom setting, copied to the workers)
$node->safe_psql('postgres', q{
CREATE FUNCTION leader_only(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
  IF pg_backend_pid() <> current_setting('memkv_test.leader')::int THEN
    RAISE EXCEPTION 'leader_only called in a parallel worker';
  END IF;
  RETURN t;
END $$;
});
($rc, $err) = run_debug("$parallel SELECT set_config('memkv_test.leader', pg_backend_pid()::text, false);",
	'CREATE INDEX t_bad ON t USING memkv ((leader_only(k)) COLLATE "C")');
isnt($rc, 0, 'a worker\'s ERROR fails the build');
like($err, qr/ERROR:\s+leader_only called in a parallel worker/,
	'with the worker\'s message') or diag($err);
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_class WHERE relname = 't_bad'"),
	'0', 'no index is left');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM pg_ls_tmpdir()'),
	'0', 'no temporary file is left');
($rc, $err) = run_debug("$serial SELECT set_config('memkv_test.leader', pg_backend_pid()::text, false);",
	'CREATE INDEX t_bad ON t USING memkv ((leader_only(k)) COLLATE "C")');
is($rc, 0, 'the same index builds serially') or diag($err);

done_testing();
