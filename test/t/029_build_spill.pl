# test/t/029_build_spill.pl -- CREATE INDEX beyond maintenance_work_mem
# (memkv 2 step 7, build spills: src/README "CREATE INDEX and memory").
#
# With maintenance_work_mem = 1MB, 320,000 keys do not fit in its half, so
# the build sorts each half's worth by keysort, spills it to a temporary
# file (spill.c's front-coded format) and merges the spills into the run
# writer, in several passes since only a few 64 kB read buffers fit.
# Checked:
#   * the build's DEBUG1 line reports more than one spill and more than
#     one merge pass (so the test fails if the spill path is not taken);
#   * the index equals a seq scan: row count, the whole table in key
#     order, point lookups (keys present twice, once, in 26,000 rows,
#     absent), prefix counts, NULLs and the empty key; memkv_verify is
#     clean; an index built in memory (maintenance_work_mem = 1GB)
#     answers the same;
#   * a build canceled in its merge phase (seen in
#     pg_stat_progress_create_index, with temporary files present at that
#     moment) leaves no temporary file and no "memkv build" memory context
#     behind in the canceled backend, which goes on working.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvHostKeys;

# 320,000 rows (MemkvHostKeys's table): 150,000 distinct keys each twice
# (TIDs far apart, so in different spills), 300 NULLs, the empty key, keys
# sharing long prefixes, and one key in 20,000 rows (more TIDs than a
# spill entry and a merge piece hold, in many spills), and more of it
my $node = memkv_primary('build_spill',
	sql => memkv_host_table_sql(20000)
	  . "UPDATE t SET k = 'host5.hot' WHERE id % 50 = 3;\n");

my ($rc, $out, $err) = $node->psql('postgres', q{
SET maintenance_work_mem = '1MB';
SET client_min_messages = debug1;
CREATE INDEX t_k ON t USING memkv (k);
});
is($rc, 0, 'the build with maintenance_work_mem = 1MB succeeds') or diag($err);
my ($nspills, $npasses) =
  $err =~ /memkv build: \d+ tuples sorted in (\d+) spills of \d+ bytes in all, merged in (\d+) passes/;
$nspills //= 0;
$npasses //= 0;
cmp_ok($nspills, '>', 10, "the keys were spilled ($nspills spills)")
  or diag($err);
cmp_ok($npasses, '>', 1, "the spills were merged in several passes ($npasses)");

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $bm = 'SET enable_seqscan = off; SET enable_indexscan = off;';

sub check_index
{
	my ($name) = @_;
	my $all = q{SELECT count(*), md5(string_agg(coalesce(k, '-') || ':' || id, ',' ORDER BY k, id)) FROM t};
	like($node->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) $all WHERE k >= ''"),
		qr/Index (Only )?Scan using t_k/, "$name: the check goes through the index");
	is($node->safe_psql('postgres', "$idx $all WHERE k >= ''"),
		$node->safe_psql('postgres', "$seq $all WHERE k >= ''"),
		"$name: every key with its rows, in order, equals the seq scan");
	is($node->safe_psql('postgres', "$idx SELECT string_agg(k, ',' ORDER BY k DESC) FROM (SELECT k FROM t WHERE k >= 'host9' ORDER BY k DESC LIMIT 50) s"),
		$node->safe_psql('postgres', "$seq SELECT string_agg(k, ',' ORDER BY k DESC) FROM (SELECT k FROM t WHERE k >= 'host9' ORDER BY k DESC LIMIT 50) s"),
		"$name: a backward ordered scan equals the seq scan");
	my @points = ('host8.example/usr/share/doc/pkg8/file8',
		'host17.example/usr/share/doc/pkg17/file149999', 'host1', '',
		'host1.example/usr/share/doc/pkg1/file1', 'host1.example', 'zzz',
		'host5.hot');
	for my $p (@points)
	{
		my $q = "SELECT count(*), coalesce(sum(id), 0) FROM t WHERE k = '$p'";
		is($node->safe_psql('postgres', "$bm $q"),
			$node->safe_psql('postgres', "$seq $q"),
			"$name: point lookup '$p'");
	}
	for my $p ('host3', 'host36.example/usr/share/doc/pkg99', 'host2.example/usr/share/doc/pkg123/file', 'nothing')
	{
		my $q = "SELECT count(*), coalesce(sum(id), 0) FROM t WHERE k ^@ '$p'";
		is($node->safe_psql('postgres', "$bm $q"),
			$node->safe_psql('postgres', "$seq $q"),
			"$name: prefix count '$p'");
	}
	is($node->safe_psql('postgres', "$bm SELECT count(*), sum(id) FROM t WHERE k IS NULL"),
		$node->safe_psql('postgres', "$seq SELECT count(*), sum(id) FROM t WHERE k IS NULL"),
		"$name: the NULL keys' rows");
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
		'0', "$name: memkv_verify is clean");
}

check_index('spilled build');

# the same table built in memory gives the same answers
($rc, $out, $err) = $node->psql('postgres', q{
SET maintenance_work_mem = '1GB';
SET client_min_messages = debug1;
REINDEX INDEX t_k;
});
like($err, qr/tuples sorted in memory/, 'with 1GB the build stays in memory');
check_index('in-memory build');

# (c) cancel in the merge phase
$node->safe_psql('postgres', q{
CREATE FUNCTION wait_merge_then_cancel(p int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  i int := 0;
  tmpfiles bigint;
BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_progress_create_index
                      WHERE pid = p AND phase LIKE '%merging sorted spills');
    i := i + 1;
    IF i > 30000 THEN
      RAISE EXCEPTION 'the build never reached its merge phase';
    END IF;
    PERFORM pg_sleep(0.001);
  END LOOP;
  SELECT count(*) INTO tmpfiles FROM pg_ls_tmpdir();
  PERFORM pg_cancel_backend(p);
  RETURN tmpfiles;
END $$;
});

my $timeout = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my ($hin, $hout, $herr) = ('', '', '');
my $builder = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
	'<', \$hin, '>', \$hout, '2>', \$herr, $timeout);
$hin .= "SET maintenance_work_mem = '1MB';\nSELECT 'pid:' || pg_backend_pid();\n";
$builder->pump until $hout =~ /pid:(\d+)/ || $timeout->is_expired;
my ($pid) = $hout =~ /pid:(\d+)/;
$hin .= "CREATE INDEX t_cancel ON t USING memkv (k);\n"
  . "SELECT 'ctx:' || count(*) FROM pg_backend_memory_contexts WHERE name LIKE 'memkv build%';\n"
  . "SELECT 'rows:' || count(*) FROM t WHERE k = '';\n";
# hand the statements to psql before blocking in the canceling session
$builder->pump_nb while length($hin) > 0 && !$timeout->is_expired;
my $seen_tmp = $node->safe_psql('postgres', "SELECT wait_merge_then_cancel($pid)");
cmp_ok($seen_tmp, '>', 0, "temporary files existed in the merge phase ($seen_tmp)");
$builder->pump until $hout =~ /rows:\d+/ || $timeout->is_expired;
like($herr, qr/canceling statement due to user request/, 'the build was canceled');
like($hout, qr/ctx:0\b/, 'the canceled backend keeps no memkv build memory context');
like($hout, qr/rows:2\b/, 'the canceled backend goes on working');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_ls_tmpdir()'), '0',
	'no temporary file is left behind');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 't_cancel'"),
	'0', 'the canceled index does not exist');
$hin .= "\\q\n";
$builder->finish;

$node->stop;
done_testing();
