# test/t/024_merge.pl -- merges in the "memkv merge" worker and
# memkv_merge() (memkv 2 step 6).
#
# A freeze writes only its run and, when the merge policy has a merge due
# (six runs of one size class here), starts a "memkv merge" worker, which
# merges under the merge lock.  Checked:
#   (a) freezes build up runs; the worker merges them by itself
#       (memkv_state's merges and runs, its log line); every query through
#       the index equals a seq scan; memkv_verify is clean;
#   (c) a streaming standby, following the worker's merges, answers the
#       same queries like the primary;
#   (b) a merge held after writing its run (memkv.debug_merge_pause_lock)
#       is killed with the server (immediate stop, i.e. no shutdown
#       checkpoint), three times: after each restart the index equals the
#       table and verifies clean, VACUUM frees the pages the merge had
#       written (VACUUM VERBOSE's "newly deleted"), and the relation stops
#       growing from cycle to cycle;
#   (d) memkv_merge() leaves one run and returns how many it merged; a
#       non-owner gets an ERROR.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('merge');
$node->init(allows_streaming => 1, extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
memkv.log_freeze_min_duration = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION memkv');
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('merge_standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;

# 60,000 keys built (one run of class 0: the batch unit is 100,000 with
# freeze_threshold = 0), then small freezes of their own keys.
$node->safe_psql('postgres', q{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'usr/share/doc/pkg' || (g % 700) || '/file' || g
  FROM generate_series(1, 60000) g;
INSERT INTO t(k) VALUES (NULL), (''), ('usr');
CREATE INDEX t_k ON t USING memkv (k) WITH (freeze_threshold = 0);
});

my $round = 0;

# One more small freeze: 300 new keys (and one old key again, one NULL).
sub freeze_round
{
	$round++;
	$node->safe_psql('postgres', qq{
INSERT INTO t(k) SELECT 'var/lib/r$round/' || g FROM generate_series(1, 300) g;
INSERT INTO t(k) VALUES ('usr/share/doc/pkg7/file7'), (NULL);
SELECT memkv_freeze('t_k');
});
}

sub state
{
	my ($node, $cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM memkv_state('t_k')");
}

# Poll until the worker has merged: no merge running and fewer than six
# runs; returns the last "runs|merges|merge_running".
sub wait_merged
{
	my $s = '';
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		$s = state($node, 'runs, merges, merge_running');
		my ($runs, $merges, $running) = split /\|/, $s;
		return $s if $runs < 6 && $running eq 'f' && $merges > 0;
		usleep(100_000);
	}
	return $s;
}

# Poll until no merge worker has been at work for a second (none
# running, none in pg_stat_activity, five looks 200 ms apart).
sub wait_no_merge
{
	my $quiet = 0;
	for (my $i = 0; $i < 5 * $PostgreSQL::Test::Utils::timeout_default && $quiet < 5; $i++)
	{
		my $busy = $node->safe_psql('postgres', q{
SELECT (SELECT merge_running FROM memkv_state('t_k'))
    OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'memkv merge')});
		$quiet = $busy eq 'f' ? $quiet + 1 : 0;
		usleep(200_000);
	}
	return $quiet >= 5;
}

my @queries = (
	"k = 'usr/share/doc/pkg7/file7'",
	"k = 'var/lib/r2/17'",
	"k ^@ 'var/lib/r3/1'",
	"k >= 'usr/share/doc/pkg69' AND k < 'usr/share/doc/pkg7/file2'",
	"k > 'var/lib/r1/99'",
	"k = ''",
	"k IS NULL",
	"k < 'usr/share/doc/pkg100/'",
);

# Every query through the index (index, index-only-like ordered, bitmap)
# and by seq scan: the ids must agree.
sub check_queries
{
	my ($on, $what) = @_;
	my $bad = 0;
	foreach my $q (@queries)
	{
		my $seq = $on->safe_psql('postgres', qq{
SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
SELECT count(*), coalesce(sum(id), 0), md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) FROM t WHERE $q});
		my $idx = $on->safe_psql('postgres', qq{
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*), coalesce(sum(id), 0), md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) FROM t WHERE $q});
		my $bmp = $on->safe_psql('postgres', qq{
SET enable_seqscan = off; SET enable_indexscan = off;
SELECT count(*), coalesce(sum(id), 0), md5(coalesce(string_agg(id::text, ',' ORDER BY id), '')) FROM t WHERE $q});
		my $ord = $on->safe_psql('postgres', qq{
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE $q AND k IS NOT NULL ORDER BY k) s});
		my $ords = $on->safe_psql('postgres', qq{
SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE $q AND k IS NOT NULL ORDER BY k) s});
		if ($seq ne $idx || $seq ne $bmp || $ord ne $ords)
		{
			diag("$what: $q: seq $seq, index $idx, bitmap $bmp");
			$bad++;
		}
	}
	is($bad, 0, "$what: every query through the index equals a seq scan");
}

# (a) runs build up; the worker merges them
freeze_round() for 1 .. 4;
is(state($node, 'runs, merges'), '5|0', 'four freezes: five runs, no merge yet');
freeze_round();
my $merged = wait_merged();
like($merged, qr/^[1-5]\|[1-9]\d*\|f$/,
	"the fifth freeze leaves six runs of one class; the worker merges them ($merged)");
is(state($node, 'stat_merges > 0 AND stat_merge_time > 0 AND last_merge IS NOT NULL'),
	't', 'memkv_state counts the merge and its time');
ok($node->log_contains(
		qr/memkv merge of index "postgres\.public\.t_k" \(triggered by background worker\): in: frozen \d+ keys/),
	'the worker logs its merge like a freeze');
check_queries($node, 'after the worker merged');
is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
	'0', 'memkv_verify is clean after the worker merged');

# (c) the standby follows
freeze_round() for 1 .. 5;
wait_merged();
is(state($node, 'merges >= 2'), 't', 'a second worker merge');
$node->wait_for_catchup($standby);
check_queries($standby, 'standby after two worker merges');
is(state($standby, 'runs || \'/\' || merges'), state($node, 'runs || \'/\' || merges'),
	'the standby lists the same runs and merges');

# (b) crash during a merge's write, three times
$node->safe_psql('postgres',
	'ALTER SYSTEM SET memkv.debug_merge_pause_lock = 4343; SELECT pg_reload_conf()');
my $timeout = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my @sizes;
for my $cycle (1 .. 3)
{
	my ($hin, $hout, $herr) = ('', '', '');
	my $holder = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
		'<', \$hin, '>', \$hout, '2>', \$herr, $timeout);
	$hin .= "SELECT pg_advisory_lock(4343);\nSELECT 'locked';\n";
	$holder->pump until $hout =~ /locked/ || $timeout->is_expired;

	# five freezes make a merge due: the worker writes it and pauses
	my $before = state($node, 'runs');
	freeze_round() for 1 .. 5;
	my $seen = '';
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		$seen = $node->safe_psql('postgres', q{
SELECT coalesce(wait_event_type, '') || '/' || coalesce(wait_event, '')
FROM pg_stat_activity WHERE backend_type = 'memkv merge'});
		last if $seen eq 'Lock/advisory';
		usleep(100_000);
	}
	is($seen, 'Lock/advisory', "cycle $cycle: the worker's merge is paused after its write");
	my $merges = state($node, 'merges');

	$node->stop('immediate');
	eval { $holder->kill_kill; };
	$node->start;
	# (a freeze's switch may be lost too: a memkv_freeze() without an xid
	# commits asynchronously, and its delta is then still in the logs)
	is(state($node, "merges || '/' || (runs >= 6)"), "$merges/true",
		"cycle $cycle: after the crash the merge's inputs are still listed");
	check_queries($node, "cycle $cycle, after the crash");
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
		'0', "cycle $cycle: memkv_verify is clean after the crash");
	my ($rc, $out, $err) = $node->psql('postgres', 'VACUUM (VERBOSE) t');
	# 15 and 18: index "t_k": pages: N in total, M newly deleted, ...
	my ($deleted) = $err =~ /index "t_k": pages: \d+ in total, (\d+) newly deleted/;
	$deleted //= -1;
	cmp_ok($deleted, '>', 0,
		"cycle $cycle: VACUUM frees the pages the crashed merge wrote ($deleted)");
	# A freeze the crash lost is redone by that VACUUM, and its run may make
	# a merge due: measure once no merge worker is at work and the pages
	# its merges freed are back (under load the merges ran while the size
	# was read, and a cycle once showed 30 pages more).
	wait_no_merge();
	$node->safe_psql('postgres', 'VACUUM t');
	push @sizes, $node->safe_psql('postgres', "SELECT pg_relation_size('t_k') / 8192");
}
# Each cycle adds five small runs and log pages, and a merge output of
# about the whole index that the crash orphans: reused, not added again.
my $run_pages = $node->safe_psql('postgres', 'SELECT frozen_pages FROM memkv_state(\'t_k\')');
cmp_ok($sizes[2] - $sizes[0], '<', $run_pages / 2,
	"the relation stops growing over crash cycles (@sizes pages; runs hold $run_pages)");
$node->safe_psql('postgres',
	'ALTER SYSTEM RESET memkv.debug_merge_pause_lock; SELECT pg_reload_conf()');

# (d) memkv_merge
# VACUUM froze the delta of freezes the crashes lost, so the worker may
# be merging: let it finish, then make sure there are two runs at least
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	last if state($node, 'merge_running') eq 'f';
	usleep(100_000);
}
freeze_round() if state($node, 'runs') < 2;
my $n = state($node, 'runs');
cmp_ok($n, '>', 1, "several runs before memkv_merge ($n)");
is($node->safe_psql('postgres', "SELECT memkv_merge('t_k')"), $n,
	'memkv_merge returns how many runs it merged');
is(state($node, 'runs'), '1', 'memkv_merge leaves one run');
is($node->safe_psql('postgres', "SELECT memkv_merge('t_k')"), '0',
	'memkv_merge of one run merges nothing');
check_queries($node, 'after memkv_merge');
is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
	'0', 'memkv_verify is clean after memkv_merge');
$node->safe_psql('postgres', q{
CREATE ROLE merge_nobody;
GRANT SELECT ON t TO merge_nobody;
});
my ($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE merge_nobody; SELECT memkv_merge('t_k')");
like($err, qr/must be owner of table t/, 'memkv_merge by a non-owner is an ERROR');
($rc, $out, $err) = $node->psql('postgres', "SELECT memkv_merge('t')");
like($err, qr/"t" is not a memkv index/, 'memkv_merge of a table is an ERROR');
$node->wait_for_catchup($standby);
check_queries($standby, 'standby after memkv_merge');

$standby->stop;
$node->stop;
done_testing();
