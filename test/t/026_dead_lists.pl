# test/t/026_dead_lists.pl -- VACUUM records dead TIDs in dead lists.
#
# Primary + streaming standby.  One big run (CREATE INDEX of 60,000 path
# keys) and a smaller one (a freeze of 3,000 more keys):
#   * DELETE of 1% of the rows, VACUUM: the run is not rewritten -- the
#     relation grows by far fewer pages than the big run has (a rewrite
#     would write the run again on new pages), memkv_state's
#     frozen_pages and merges do not change, and the directory names a
#     dead list for both runs with as many pairs as rows were deleted
#     from each;
#   * scans (equality, range, backward, bitmap, IS NULL) return exactly
#     what a sequential scan returns, on the primary and the standby,
#     and memkv_verify finds nothing wrong on either;
#   * a second 1% DELETE and VACUUM merge into the same lists;
#   * a DELETE of 30% of the big run's rows, VACUUM: the runs are now too
#     dead and are rewritten (merges grows), without dead lists after;
# Then, with the server stopped, one byte of a dead-list page changed:
# a scan and memkv_verify give the corruption ERROR with the REINDEX hint,
# never a wrong answer; REINDEX repairs it.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvDisk;

my $primary = memkv_primary('primary', streaming => 1, checksums => 0,
	conf => 'memkv.freeze_threshold = 0', sql => q{
CREATE TABLE d (id int, k text COLLATE "C");
INSERT INTO d SELECT i, CASE WHEN i % 500 = 0 THEN NULL
  ELSE 'host' || (i % 97) || '/path/' || md5(i::text) END
  FROM generate_series(1, 60000) i;
CREATE INDEX d_k ON d USING memkv (k);
INSERT INTO d SELECT i, 'host' || (i % 97) || '/path/' || md5(i::text)
  FROM generate_series(60001, 63000) i;
SELECT memkv_freeze('d_k');
});
my $standby = memkv_standby($primary, 'standby');

my @queries = (
	"SELECT count(*) FROM d WHERE k >= 'host1' AND k < 'host5'",
	"SELECT count(*), sum(id) FROM d WHERE k >= ''",
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM d WHERE k = 'host7/path/' || md5('7')",
	"SELECT string_agg(id::text, ',') FROM (SELECT id FROM d WHERE k > 'host3' ORDER BY k DESC LIMIT 500) s",
	"SELECT string_agg(id::text, ',') FROM (SELECT id FROM d WHERE k >= 'host2' ORDER BY k LIMIT 700) s",
	"SELECT count(*), sum(id) FROM d WHERE k IS NULL",
	"SELECT count(*) FROM d WHERE k = ANY(ARRAY(SELECT 'host' || (i % 97) || '/path/' || md5(i::text) FROM generate_series(1, 63000, 37) i))",
);

# Every query through the index (index scan, then bitmap scan) against
# a sequential scan, on `node`.
sub check_scans
{
	my ($node, $label) = @_;
	memkv_check_scans($node, $label, 'd_k', \@queries);
	return;
}

sub state
{
	my ($node) = @_;
	my ($pages, $fpages, $merges, $runs) = split /\|/,
	  $node->safe_psql('postgres',
		"SELECT pg_relation_size('d_k') / 8192, frozen_pages, merges, runs FROM memkv_state('d_k')");
	return { pages => $pages, frozen_pages => $fpages, merges => $merges,
		runs => $runs };
}

# The index's file (REINDEX gives it a new one).
sub index_file
{
	return $primary->data_dir . '/'
	  . $primary->safe_psql('postgres', "SELECT pg_relation_filepath('d_k')");
}

# The directory's runs, read from the file (after a checkpoint).
sub runs_on_disk
{
	$primary->safe_psql('postgres', 'CHECKPOINT');
	my $d = slurp_file_bin(index_file());
	return dir_get(\$d)->{runs};
}

my $s0 = state($primary);
is($s0->{runs}, 2, 'two runs to begin with');
my $runs0 = runs_on_disk();
my $bigpages = $runs0->[1]{npages};
cmp_ok($bigpages, '>', 100, "the big run has $bigpages pages");

# --- 1% dead: dead lists, no rewrite ---------------------------------
$primary->safe_psql('postgres', 'DELETE FROM d WHERE id % 100 = 3');
$primary->safe_psql('postgres', 'VACUUM d');
my $s1 = state($primary);
cmp_ok($s1->{pages} - $s0->{pages}, '<', $bigpages / 10,
	"VACUUM of 1% grew the index by " . ($s1->{pages} - $s0->{pages})
	  . " pages, far fewer than the big run's $bigpages");
is($s1->{frozen_pages}, $s0->{frozen_pages}, 'the runs were not rewritten');
is($s1->{merges}, $s0->{merges}, 'no merge ran');
my $runs1 = runs_on_disk();
is($runs1->[1]{header_block}, $runs0->[1]{header_block},
	'the big run is still where it was');
isnt($runs1->[$_]{dead_block}, $INVALID, "run $_ has a dead list") for (0, 1);
is($runs1->[1]{ndead}, 600, 'the big run lists its 600 dead TIDs');
is($runs1->[0]{ndead}, 30, 'the small run lists its 30 dead TIDs');
check_scans($primary, '1% dead');
$primary->wait_for_catchup($standby);
check_scans($standby, '1% dead, standby');

# --- another 1%: merged into the lists --------------------------------
$primary->safe_psql('postgres', 'DELETE FROM d WHERE id % 100 = 4 OR (id % 500 = 0 AND id % 1000 = 0)');
$primary->safe_psql('postgres', 'VACUUM d');
my $runs2 = runs_on_disk();
is($runs2->[1]{ndead}, 600 + 600 + 60, 'the big run lists both VACUUMs\' dead TIDs and the NULL keys\'');
isnt($runs2->[1]{dead_block}, $runs1->[1]{dead_block}, 'in a new list');
check_scans($primary, '2% dead');
$primary->wait_for_catchup($standby);
check_scans($standby, '2% dead, standby');

# --- damage a dead-list page ------------------------------------------
my $file = index_file();
$primary->stop;
{
	my $d = slurp_file_bin($file);
	my $blk = dir_get(\$d)->{runs}[1]{dead_block};
	# the list's magic, the first bytes of its first page
	substr($d, $blk * $BLCKSZ + $CONTENTS, 1) = 'X';
	spew_file_bin($file, $d);
}
$primary->start;
my ($rc, $out, $err) = $primary->psql('postgres',
	"SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM d WHERE k >= 'host1'");
isnt($rc, 0, 'a scan of the damaged dead list fails');
like($err, qr/dead list of index "d_k" is corrupted/, '... with the corruption ERROR');
like($err, qr/HINT:\s+Please REINDEX it/, '... and the REINDEX hint');
($rc, $out, $err) = $primary->psql('postgres', "SELECT * FROM memkv_verify('d_k')");
ok($rc != 0 || $out =~ /dead list/, 'memkv_verify reports the damage');
$primary->safe_psql('postgres', 'REINDEX INDEX d_k');
check_scans($primary, 'after REINDEX');

# --- too dead: rewritten ----------------------------------------------
$primary->safe_psql('postgres', 'DELETE FROM d WHERE id % 100 = 5');
$primary->safe_psql('postgres', 'VACUUM d');
my $runs3 = runs_on_disk();
isnt($runs3->[0]{dead_block}, $INVALID, 'after REINDEX, 1% dead: a dead list');
my $m0 = state($primary)->{merges};
$primary->safe_psql('postgres', 'DELETE FROM d WHERE id % 10 IN (1, 2, 6)');
$primary->safe_psql('postgres', 'VACUUM d');
my $s4 = state($primary);
cmp_ok($s4->{merges}, '>', $m0, 'a run past 20% dead was rewritten');
my $runs4 = runs_on_disk();
is(scalar(grep { $_->{dead_block} != $INVALID } @$runs4), 0,
	'no run has a dead list after the rewrite');
check_scans($primary, 'rewritten');
$primary->wait_for_catchup($standby);
check_scans($standby, 'rewritten, standby');

$standby->stop;
$primary->stop;
done_testing();
