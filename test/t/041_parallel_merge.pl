# test/t/041_parallel_merge.pl -- parallel CREATE INDEX, phases 2 and 3
# (issue 15; src/README "Parallel CREATE INDEX"): every participant merges
# one key range of all the participants' spills into slices of its own,
# and the leader stores them as one run.
#
# max_parallel_maintenance_workers = 2 (maintenance_work_mem 96MB, which
# PostgreSQL's planner needs for two workers) with memkv.debug_build_part_kb
# = 256, so that each participant spills every 256 kB and merges with
# buffers for two spills at a time (range-limited merge passes), and
# memkv.debug_slice_bytes small, so that ranges have several slices.  The
# table: 20,000 distinct 10-byte keys, one key ('6-hot', about 40% into
# the key order) in 60,000 rows, so that it holds about a third of the
# spill bytes and the first split key, chosen at a third of them, falls
# in its blocks: its TIDs lie in the spills of every participant and must
# stay whole in one range; 390 keys of 2,000 to 2,600 bytes, the empty
# key, and 1,300 NULLs.  Checked:
#   * the build's DEBUG1 lines: 3 participants merged ranges, the workers
#     scanned into many spills and each merged a range of keys into slices;
#   * the run holds the serial build's number of keys, and the index
#     answers every query kind (equality, ranges, prefix, IS NULL, ORDER
#     BY both ways, the hot key's and a long key's TIDs) like a seq scan;
#   * memkv_verify is clean;
#   * a streaming standby replays the build and answers the same.
# (A worker's ERROR failing the build: TAP 036.)

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvHostKeys;

my $primary = memkv_primary('parallel_merge',
	streaming => 1,
	conf => "max_worker_processes = 8\nmax_parallel_workers = 8\n",
	sql => q{
CREATE TABLE t (k text COLLATE "C") WITH (parallel_workers = 2);
INSERT INTO t
SELECT CASE
	WHEN i % 2 = 0 AND i <= 120000 THEN '6-hot'
	WHEN i % 97 = 0 THEN NULL
	WHEN i % 331 = 0 THEN repeat(chr(97 + i % 26), 2000 + i % 600) || i
	WHEN i = 5 THEN ''
	ELSE substr(md5((i % 20000)::text), 1, 10)
END
FROM generate_series(1, 130000) i;
});
my $standby = memkv_standby($primary, 'parallel_merge_standby');

my $parallel = q{SET max_parallel_maintenance_workers = 2;
SET maintenance_work_mem = '96MB';
SET memkv.debug_build_part_kb = 256;
SET memkv.debug_slice_bytes = 20000;};
my $serial = q{SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '96MB';};

# Run SQL at DEBUG1 after SETTINGS on the primary; returns (rc, stderr).
sub run_debug
{
	my ($settings, $sql) = @_;
	my ($rc, $out, $err) = $primary->psql('postgres', qq{
$settings
SET client_min_messages = debug1;
$sql
});
	return ($rc, $err);
}

# The queries, each compared between the index and a seq scan.
my @queries = (
	"SELECT count(*) FROM t WHERE k >= ''",
	"SELECT count(*) FROM t WHERE k = '6-hot'",
	"SELECT md5(string_agg(ctid::text, ',' ORDER BY ctid)) FROM t WHERE k = '6-hot'",
	"SELECT count(*), md5(string_agg(k, ',' ORDER BY k)) FROM t WHERE k >= 'a' AND k < 'c'",
	"SELECT count(*) FROM t WHERE k > '6-hot' AND k <= 'x'",
	"SELECT count(*) FROM t WHERE k < '6-hot'",
	"SELECT count(*) FROM t WHERE k LIKE 'ab%'",
	"SELECT count(*) FROM t WHERE k LIKE 'kkkk%'",
	"SELECT count(*) FROM t WHERE k LIKE '6%'",
	"SELECT count(*) FROM t WHERE k IS NULL",
	"SELECT count(*) FROM t WHERE k = ''",
	"SELECT md5(string_agg(k || ctid::text, ',')) FROM (SELECT k, ctid FROM t WHERE k >= '' ORDER BY k, ctid) x",
	"SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k >= '' ORDER BY k DESC) x",
	"SELECT count(*) FROM t WHERE k = repeat(chr(97 + 26149 % 26), 2000 + 26149 % 600) || 26149",
	"SELECT count(*) FROM t WHERE k > '6' AND k < '7'",
	"SELECT length(k), ctid FROM t WHERE k = (SELECT max(k) FROM t WHERE length(k) > 2000)");

# Compare each query through the index and a seq scan on NODE.
sub same_as_seqscan
{
	my ($node, $label) = @_;
	for my $q (@queries)
	{
		my $want = $node->safe_psql('postgres', "$memkv_host_index_off $q");
		my $got = $node->safe_psql('postgres', "$memkv_host_index_on $q");
		is($got, $want, "$label: $q");
	}
	like($node->safe_psql('postgres',
			"$memkv_host_index_on EXPLAIN SELECT count(*) FROM t WHERE k >= 'a'"),
		qr/t_k/, "$label: the plan uses the index");
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
		'0', "$label: memkv_verify is clean");
}

my ($rc, $err) = run_debug($serial, 'CREATE INDEX t_k ON t USING memkv (k)');
is($rc, 0, 'the serial build succeeds') or diag($err);
my ($skeys) = $err =~ /memkv run writer: run \d+ of "t_k": (\d+) keys/;

($rc, $err) = run_debug($parallel, 'REINDEX INDEX t_k');
is($rc, 0, 'the parallel build succeeds') or diag($err);
like($err, qr/memkv build: parallel merge by 3 participants/,
	'the merge ran in 3 participants') or diag($err);
my @spills = $err =~ /memkv build: parallel worker \d+ scanned \d+ tuples into (\d+) spills/g;
is(scalar(@spills), 2, 'two workers scanned');
my $nspills = 0;
$nspills += $_ for @spills;
cmp_ok($nspills, '>=', 8,
	'the workers spilled many times (' . join(', ', @spills) . ')');
my @ranges = $err =~ /memkv build: parallel worker \d+ merged range \d: (\d+) keys in (\d+) slices/g;
is(scalar(@ranges), 4, 'both workers merged a range');
diag('the workers\' ranges (keys, slices): ' . join(', ', @ranges));
ok($ranges[0] > 0 && $ranges[2] > 0 && $ranges[1] + $ranges[3] > 2,
	'each worker\'s range has keys, in several slices in all');
my ($pkeys, $pslices) =
  $err =~ /memkv run writer: run \d+ of "t_k": (\d+) keys in (\d+) slices/;
ok(defined $skeys && defined $pkeys && $skeys == $pkeys && $pkeys > 15000,
	'serial and parallel runs hold the same keys ('
	  . ($skeys // '?') . ', ' . ($pkeys // '?') . ')');
cmp_ok($pslices // 0, '>', $ranges[1] + $ranges[3],
	'the run has the slices of all three ranges');
same_as_seqscan($primary, 'primary');

$primary->wait_for_catchup($standby);
same_as_seqscan($standby, 'standby');

done_testing();
