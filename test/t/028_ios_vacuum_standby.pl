# test/t/028_ios_vacuum_standby.pl -- the index-only scan / VACUUM
# interlock on a hot standby (src/README, "Index-only scans and VACUUM").
#
# On a standby no VACUUM runs, but its switch is replayed, then the heap's
# removal of the dead TIDs and the visibility map bit.  An index-only scan
# on the standby holding a batch with a deleted row's TID keeps the
# metapage pinned; the redo of VACUUM's switch (marked "removes TIDs")
# takes a cleanup lock on the metapage, so replay waits for the batch and,
# after max_standby_streaming_delay, cancels the query (a buffer-pin
# recovery conflict), as for a pinned btree leaf.  Checked: the standby
# cursor never returns the deleted key; a buffer-pin conflict was counted;
# replay catches up afterwards and the standby then answers right; a
# standby index-only scan that is not holding a batch does not delay
# replay.

use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;

my $primary = memkv_primary('ios_primary', streaming => 1,
	conf => 'memkv.freeze_threshold = 0', sql => q{
CREATE TABLE t (id int, k text COLLATE "C", pad text);
ALTER TABLE t ALTER pad SET STORAGE PLAIN;
INSERT INTO t SELECT g, 'key/' || lpad(g::text, 3, '0'), repeat('x', 1500)
  FROM generate_series(1, 200) g;
CREATE INDEX t_k ON t USING memkv (k);
VACUUM t;
});
my $standby = memkv_standby($primary, 'ios_standby', conf => q{
max_standby_streaming_delay = 2s
hot_standby_feedback = off
log_recovery_conflict_waits = on
});

my $timeout = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my $ios_gucs = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';

like($standby->safe_psql('postgres', "$ios_gucs EXPLAIN (COSTS OFF)
SELECT k FROM t WHERE k >= 'key/' ORDER BY k"),
	qr/Index Only Scan using t_k/, 'the standby query is an index-only scan');

# An interactive psql session on the standby; query() sends SQL and
# returns its output ('' once the session is gone).
sub session
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $standby->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err, $timeout);
	return { h => $h, in => \$in, out => \$out, err => \$err };
}

sub query
{
	my ($s, $sql) = @_;
	${ $s->{out} } = '';
	${ $s->{in} } .= "$sql;\n\\echo __done__\n";
	eval {
		while (${ $s->{out} } !~ /__done__/ && !$timeout->is_expired)
		{
			last unless $s->{h}->pumpable;
			$s->{h}->pump;
		}
	};
	my $r = ${ $s->{out} };
	$r =~ s/__done__\n?//;
	chomp $r;
	note("$sql\n=> $r\nstderr: ${ $s->{err} }");
	return $r;
}

sub bufferpin_conflicts
{
	return $standby->safe_psql('postgres',
		"SELECT confl_bufferpin FROM pg_stat_database_conflicts WHERE datname = 'postgres'");
}

# key/010 is deleted before the standby cursor starts, so VACUUM on the
# primary removes it; the cursor's first batch (32 TIDs) holds its TID.
# Five rows fill a heap page: the cursor's first row (key/001, on an
# all-visible page it does not visit) leaves it no pin on key/010's page,
# whose heap replay would otherwise conflict with the cursor by itself.
$primary->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/010'");
$primary->wait_for_catchup($standby);

my $cur = session();
query($cur, "$ios_gucs BEGIN ISOLATION LEVEL REPEATABLE READ;
DECLARE c CURSOR FOR SELECT k FROM t WHERE k >= 'key/' ORDER BY k");
is(query($cur, 'FETCH 1 FROM c'), 'key/001', 'the standby cursor returns its first row');

is(bufferpin_conflicts(), '0', 'no buffer-pin conflict yet');
$primary->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) t');

# Replay waits for the cursor's metapage pin, then (after 2 s) cancels
# it.  30 s at most: the session's own IPC::Run timeout must not expire.
my $n = 0;
for (my $i = 0; $i < 300; $i++)
{
	$n = bufferpin_conflicts();
	last if $n > 0;
	usleep(100_000);
}
cmp_ok($n, '>', 0, 'replay of the VACUUM switch had a buffer-pin conflict with the cursor');
$primary->wait_for_catchup($standby);

my $rows = query($cur, 'FETCH 20 FROM c');
unlike($rows, qr{key/010}, 'the standby cursor never returns the deleted key');
like(${ $cur->{err} }, qr/conflict with recovery/,
	'the cursor was cancelled by the recovery conflict');
eval { ${ $cur->{in} } .= "\\q\n"; $cur->{h}->finish; };

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "$ios_gucs SELECT count(*) FROM t WHERE k >= 'key/'"),
	'199', 'after replay the standby counts every remaining row');

# A standby index-only scan that ended holds no pin: replay goes on.
$primary->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/020'");
$primary->wait_for_catchup($standby);
$cur = session();
query($cur, "$ios_gucs BEGIN ISOLATION LEVEL REPEATABLE READ;
DECLARE d CURSOR FOR SELECT k FROM t WHERE k >= 'key/190' ORDER BY k");
is(scalar(split /\n/, query($cur, 'FETCH ALL FROM d')), 11,
	'a standby cursor reads its range to the end');
my $before = bufferpin_conflicts();
$primary->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) t');
$primary->wait_for_catchup($standby);
is(bufferpin_conflicts(), $before, 'a cursor at the end of its range delays no replay');
is(query($cur, 'SELECT 1'), '1', 'its session is still there');
eval { ${ $cur->{in} } .= "COMMIT;\n\\q\n"; $cur->{h}->finish; };

$standby->stop;
$primary->stop;
unlike(slurp_file($standby->logfile), qr/terminated by signal/,
	'no standby backend crashed');
done_testing();
