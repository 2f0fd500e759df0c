# test/t/033_truncate.pl -- VACUUM truncates the index's free tail.
#
# Primary + streaming standby.  An index of 80,000 keys written as four
# runs (a freeze after each 20,000 rows), one stripe.  Then:
#   * a DELETE of the newest half; a cursor in another session holds the
#     index open; VACUUM: VACUUM returns within a few seconds, says
#     the index was in use and leaves its length as it was;
#   * the cursor closed, VACUUM again: the relation shrinks by at least
#     max(8, 1/16) of its pages, and VACUUM says to how many;
#   * scans (equality, range, prefix, ordered both ways, bitmap, NULL)
#     return what a sequential scan returns, memkv_verify finds nothing;
#   * an immediate stop right after that VACUUM: recovery keeps the new
#     length, and the scans and memkv_verify agree again;
#   * the standby replays the truncation (same length) and answers the
#     same;
#   * inserts and a freeze after it work (the relation grows again from
#     its new end), on the primary and the standby.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1,
	extra => [ '--locale=C', '--encoding=UTF8' ]);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
memkv.freeze_threshold = 0
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE t (id int, k text COLLATE "C");
CREATE INDEX t_k ON t USING memkv (k) WITH (stripes = 1);
});
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

# Four runs of 20,000 keys (below the merge policy's six): the DELETE of
# the newest half below leaves the two older runs whole and the two newer
# ones wholly dead, so VACUUM rewrites those to nothing and no run it
# writes lands at the end.  (With eight runs and the merges they start,
# a partly dead merged run is rewritten, and whether its new pages fit in
# free ones or extend the relation depends on the merges' timing.)
my $batch = 20000;
for my $b (0 .. 3)
{
	my ($lo, $hi) = ($b * $batch + 1, ($b + 1) * $batch);
	$primary->safe_psql('postgres', qq{
INSERT INTO t SELECT i, CASE WHEN i % 1000 = 0 THEN NULL
  ELSE 'key/' || md5(i::text) END FROM generate_series($lo, $hi) i;
SELECT memkv_freeze('t_k');
});
}

# Wait for the background merges to end (so the layout holds still).
sub wait_merges
{
	my ($node, $index) = @_;
	$index //= 't_k';
	$node->poll_query_until('postgres',
		"SELECT NOT merge_running FROM memkv_state('$index')")
	  or die 'a merge did not end';
}
wait_merges($primary);

sub pages
{
	my ($node, $index) = @_;
	$index //= 't_k';
	return $node->safe_psql('postgres', "SELECT pg_relation_size('$index') / 8192");
}

my @queries = (
	"SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE k = 'key/' || md5('77')",
	"SELECT count(*), sum(id) FROM t WHERE k >= 'key/3' AND k < 'key/9'",
	"SELECT count(*), sum(id) FROM t WHERE k >= 'key/ab' AND k < 'key/ac'",
	"SELECT count(*), sum(id) FROM t WHERE k >= ''",
	"SELECT string_agg(id::text, ',') FROM (SELECT id FROM t WHERE k > 'key/4' ORDER BY k LIMIT 500) s",
	"SELECT string_agg(id::text, ',') FROM (SELECT id FROM t WHERE k < 'key/c' ORDER BY k DESC LIMIT 500) s",
	"SELECT count(*), sum(id) FROM t WHERE k IS NULL",
	"SELECT count(*) FROM t WHERE k = ANY(ARRAY(SELECT 'key/' || md5(i::text) FROM generate_series(1, 90000, 31) i))",
);

# Every query through the index (index scan, then bitmap scan) against a
# sequential scan, and memkv_verify, on `node`.
sub check_scans
{
	my ($node, $label) = @_;
	memkv_check_scans($node, $label, 't_k', \@queries);
	return;
}

# VACUUM (of t, or `what`) with DEBUG1 messages; returns (seconds,
# messages about index `index`, default t_k).
sub vacuum
{
	my ($what, $index) = @_;
	$what //= 'VACUUM t';
	$index //= 't_k';
	my $t0 = time();
	my ($ret, $out, $err) = $primary->psql('postgres',
		"SET client_min_messages = debug1; $what");
	is($ret, 0, "$what succeeds") or diag($err);
	my @msgs = grep { /"$index"/ } split /\n/, $err;
	note("VACUUM: @msgs");
	return (time() - $t0, join("\n", @msgs));
}

my $p0 = pages($primary);
note("index: $p0 pages after 80,000 keys in four runs");
is($primary->safe_psql('postgres', "SELECT runs FROM memkv_state('t_k')"), '4',
	'four runs');

# --- a cursor holds the index open: truncation is skipped --------------
# (the DELETE first: a cursor whose snapshot is older would keep VACUUM
# from removing the rows)
$primary->safe_psql('postgres', "DELETE FROM t WHERE id > 40000");
my $timeout = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my ($cin, $cout, $cerr) = ('', '', '');
my $cursor = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $primary->connstr('postgres') ],
	'<', \$cin, '>', \$cout, '2>', \$cerr, $timeout);
$cin .= "SET enable_seqscan = off; SET enable_bitmapscan = off;
BEGIN; DECLARE c CURSOR FOR SELECT id FROM t WHERE k >= 'key/' ORDER BY k;
FETCH 1 FROM c; \\echo __done__\n";
$cursor->pump until $cout =~ /__done__/ || $timeout->is_expired;
like($cout, qr/^\d+\n__done__/, 'the cursor holds the index open');

my ($secs, $msgs) = vacuum();
wait_merges($primary);
cmp_ok($secs, '<', 10, sprintf('VACUUM did not wait for the cursor (%.1f s)', $secs));
like($msgs, qr/not truncated: the index is in use/,
	'VACUUM says the index was in use');
my $p1 = pages($primary);
cmp_ok($p1, '>=', $p0, "the index was not truncated ($p0 -> $p1 pages)");

$cin .= "COMMIT;\n\\q\n";
$cursor->finish;

# --- the cursor gone: VACUUM truncates ---------------------------------
($secs, $msgs) = vacuum();
my $p2 = pages($primary);
my $min = $p1 / 16 > 8 ? int($p1 / 16) : 8;
cmp_ok($p1 - $p2, '>=', $min,
	"VACUUM truncated the index from $p1 to $p2 pages (at least $min fewer)");
like($msgs, qr/truncated $p1 to $p2 pages/, 'VACUUM says so');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM t'), '40000',
	'the older half is left');
check_scans($primary, 'truncated');

# --- crash right after the truncating VACUUM ---------------------------
$primary->stop('immediate');
$primary->start;
is(pages($primary), $p2, "recovery keeps the truncated length ($p2 pages)");
check_scans($primary, 'after crash recovery');

# --- the standby replayed the truncation -------------------------------
$primary->wait_for_catchup($standby);
is(pages($standby), $p2, "the standby's index has $p2 pages too");
check_scans($standby, 'standby');

# --- writes after the truncation ---------------------------------------
$primary->safe_psql('postgres', q{
INSERT INTO t SELECT i, 'key/' || md5(i::text) FROM generate_series(80001, 90000) i;
SELECT memkv_freeze('t_k');
INSERT INTO t SELECT i, 'key/' || md5(i::text) FROM generate_series(90001, 91000) i;
});
wait_merges($primary);
is($primary->safe_psql('postgres', "SET enable_seqscan = off; SELECT count(*) FROM t WHERE k >= ''"),
	'50960', 'the new keys are found through the index');
check_scans($primary, 'inserts after truncation');
$primary->wait_for_catchup($standby);
check_scans($standby, 'inserts after truncation, standby');

# --- VACUUM in parallel mode -------------------------------------------
# With two btree indexes, VACUUM (PARALLEL 2) vacuums them with a worker;
# the leader, doing the memkv index's part meanwhile, is in parallel mode,
# where the lock cannot be taken (it would assign an xid): the truncation
# is skipped with a message, and VACUUM (PARALLEL 0) does it.
$primary->safe_psql('postgres', q{
CREATE TABLE p (id int, k text COLLATE "C");
CREATE INDEX p_k ON p USING memkv (k) WITH (stripes = 1);
CREATE INDEX p_id ON p (id);
CREATE INDEX p_id_k ON p (id, k);
INSERT INTO p SELECT i, 'key/' || md5(i::text) FROM generate_series(1, 20000) i;
SELECT memkv_freeze('p_k');
INSERT INTO p SELECT i, 'key/' || md5(i::text) FROM generate_series(20001, 40000) i;
SELECT memkv_freeze('p_k');
DELETE FROM p WHERE id > 20000;
});
wait_merges($primary, 'p_k');
my $pp0 = pages($primary, 'p_k');
($secs, $msgs) = vacuum('SET min_parallel_index_scan_size = 0; '
	  . 'SET max_parallel_maintenance_workers = 2; VACUUM (PARALLEL 2) p',
	'p_k');
like($msgs, qr/not truncated: VACUUM runs in parallel mode/,
	'a parallel VACUUM skips the truncation and says so');
my $pp1 = pages($primary, 'p_k');
cmp_ok($pp1, '>=', $pp0, "p_k not truncated ($pp0 -> $pp1 pages)");
($secs, $msgs) = vacuum('VACUUM (PARALLEL 0) p', 'p_k');
my $pp2 = pages($primary, 'p_k');
like($msgs, qr/truncated $pp1 to $pp2 pages/,
	"VACUUM (PARALLEL 0) truncates it ($pp1 -> $pp2 pages)");
is($primary->safe_psql('postgres', "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id) FROM p WHERE k >= ''"),
	'20000|200010000', 'p_k finds the rows left');
is($primary->safe_psql('postgres', "SELECT * FROM memkv_verify('p_k')"),
	'', 'memkv_verify finds no problem in p_k');

done_testing();
