# test/t/038_reindex_copy.pl -- an index's new relfilenode does not keep
# its old one's shared memory (src/README Q8).
#
# memkv's registry keys its entries by relfilenode.  A REINDEX, VACUUM
# FULL, CLUSTER or TRUNCATE gives the index a new one; the old one's entry,
# with its trees and the shared copy of its run, used to stay in the arena
# until evicted, so that the new run's copy found no room (the copies may
# fill only half of the arena) and every scan read pages.  The arena here
# (memkv.shared_memory = 16MB) has room in its half for one copy of the
# run but not for two.  Checked:
#   * a scan after CREATE INDEX gets the run's copy (cache_bytes);
#   * after REINDEX INDEX, VACUUM FULL and REINDEX TABLE a scan gets the
#     new run's copy again, and answers like a seq scan;
#   * after a REINDEX that rolls back, the old relfilenode (live again)
#     gets its copy back, and answers like a seq scan;
#   * memkv_verify is clean throughout.

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;

my $node = memkv_primary('reindex_copy',
	conf => "memkv.shared_memory = '16MB'\nmemkv.freeze_threshold = 0\n",
	sql => q{
CREATE TABLE t (k text);
INSERT INTO t SELECT 'host' || (i % 977) || '.example/' || md5(i::text)
  FROM generate_series(1, 200000) i;
CREATE INDEX t_k ON t USING memkv (k);
});

my $index_on = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';

# Run a few index scans, then return the index's run bytes and the shared
# memory its copy holds.
sub scan_and_state
{
	my ($what) = @_;
	my $n = $node->safe_psql('postgres',
		"$index_on SELECT count(*) FROM t WHERE k >= 'host5' AND k < 'host6'");
	my $seq = $node->safe_psql('postgres',
		"SELECT count(*) FROM t WHERE k >= 'host5' AND k < 'host6'");
	is($n, $seq, "$what: a range scan by the index equals the seq scan");
	my $one = $node->safe_psql('postgres',
		"$index_on SELECT count(*) FROM t WHERE k = (SELECT min(k) FROM t)");
	is($one, '1', "$what: an equality scan finds its key");
	return split /\|/, $node->safe_psql('postgres',
		"SELECT fst_bytes + posting_bytes, cache_bytes FROM memkv_state('t_k')");
}

sub has_copy
{
	my ($what) = @_;
	my ($run, $cache) = scan_and_state($what);
	cmp_ok($cache, '>=', $run,
		"$what: the scans got the run's copy (run $run bytes, cache_bytes $cache)");
	# half of the arena must have no room for two copies of the run, or
	# the old entry's would not be in the way
	cmp_ok(2 * $run, '>', 8 * 1024 * 1024,
		"$what: the arena's half has no room for two copies of the run");
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
		'0', "$what: memkv_verify is clean");
	return;
}

has_copy('after CREATE INDEX');

$node->safe_psql('postgres', 'REINDEX INDEX t_k');
has_copy('after REINDEX');

$node->safe_psql('postgres', 'VACUUM FULL t');
has_copy('after VACUUM FULL');

$node->safe_psql('postgres', 'REINDEX TABLE t');
has_copy('after REINDEX TABLE');

# A REINDEX whose transaction rolls back: its new relfilenode got an
# entry (and the old one's was given back); the old relfilenode is the
# index again, and its next user rebuilds its entry.
$node->safe_psql('postgres', qq{
BEGIN;
REINDEX INDEX t_k;
$index_on
SELECT count(*) FROM t WHERE k >= 'host5' AND k < 'host6';
ROLLBACK;
});
has_copy('after a REINDEX rolled back');

$node->stop;
done_testing();
