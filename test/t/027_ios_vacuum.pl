# test/t/027_ios_vacuum.pl -- the index-only scan / VACUUM interlock
# (memkv 2 step 9; src/README, "Index-only scans and VACUUM").
#
# memkv's scan batches are copies of TIDs that hold no pin.  An index-only
# scan holding a batch that still has a deleted row's TID would, once
# VACUUM removed that TID and set the heap page all-visible, return the
# deleted row's key without visiting the heap.  With the interlock VACUUM
# waits (wait event Extension) until the scan is done with its batch.
# Checked:
#   (a) a cursor on an index-only scan holds a batch with a deleted row's
#       TID; a VACUUM waits on Extension while the cursor FETCHes inside
#       the batch, and ends once the cursor moves on; the deleted key is
#       never returned (without the interlock it is);
#   (b) plain MVCC index scans and bitmap scans holding a batch do not
#       make VACUUM wait;
#   (c) an error inside an index-only scan (at top level, and inside a
#       savepoint of a transaction that stays open) leaves no announcement
#       behind: a VACUUM right after does not wait;
#   (d) five index-only cursors in one backend (four announcements and the
#       wildcard): VACUUM waits until the last of them moves on;
#   (e) a scrollable cursor at the end of its range does not hold VACUUM
#       off, and a FETCH BACKWARD afterwards does not return a deleted
#       key whose TID was in the batch it had.

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

my $node = memkv_primary('ios_vacuum',
	conf => 'memkv.freeze_threshold = 0', sql => q{
CREATE TABLE t (id int, k text COLLATE "C", pad text);
INSERT INTO t SELECT g, 'key/' || lpad(g::text, 3, '0'), repeat('x', 20)
  FROM generate_series(1, 200) g;
CREATE INDEX t_k ON t USING memkv (k);
VACUUM t;
});

my $timeout = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my $ios_gucs = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';

like($node->safe_psql('postgres', "$ios_gucs EXPLAIN (COSTS OFF)
SELECT k FROM t WHERE k >= 'key/' ORDER BY k"),
	qr/Index Only Scan using t_k/, 'the query is an index-only scan');

# An interactive psql session; query() sends SQL and returns its output.
sub session
{
	my ($name) = @_;
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . " application_name=$name" ],
		'<', \$in, '>', \$out, '2>', \$err, $timeout);
	return { h => $h, in => \$in, out => \$out, err => \$err };
}

sub query
{
	my ($s, $sql) = @_;
	${ $s->{out} } = '';
	${ $s->{in} } .= "$sql;\n\\echo __done__\n";
	$s->{h}->pump until ${ $s->{out} } =~ /__done__/ || $timeout->is_expired;
	my $r = ${ $s->{out} };
	$r =~ s/__done__\n?//;
	chomp $r;
	note("$sql\n=> $r\nstderr: ${ $s->{err} }");
	return $r;
}

sub close_session
{
	my ($s) = @_;
	${ $s->{in} } .= "\\q\n";
	$s->{h}->finish;
}

# What application $name waits for, as type/event ('' if it is gone).
sub waiting
{
	my ($name) = @_;
	return $node->safe_psql('postgres', qq{
SELECT coalesce(wait_event_type, '') || '/' || coalesce(wait_event, '')
FROM pg_stat_activity WHERE application_name = '$name'});
}

# Wait until application $name, running background command $bg, waits on
# Extension/Extension; give up when it ends (the harness says so, or it is
# missing from pg_stat_activity for 5 s), or after a minute.
sub wait_for_extension_wait
{
	my ($name, $bg) = @_;
	my $seen = '';
	my $gone = 0;
	for (my $i = 0; $i < 600; $i++)
	{
		$seen = waiting($name);
		return $seen if $seen eq 'Extension/Extension';
		return "ended: $seen" unless $bg->{h}->pumpable;
		$gone = $seen eq '' ? $gone + 1 : 0;
		return 'ended' if $gone >= 50;
		$bg->{h}->pump_nb;
		usleep(100_000);
	}
	return $seen;
}

# Start VACUUM t in the background as application $name.
sub start_vacuum
{
	my ($name) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . " application_name=$name",
			'-c', 'VACUUM (INDEX_CLEANUP ON) t' ],
		'>', \$out, '2>', \$err, $timeout);
	return { h => $h, out => \$out, err => \$err };
}

# Is the background command done?  Polls for up to $secs seconds.
sub done_within
{
	my ($bg, $secs) = @_;
	for (my $i = 0; $i < 10 * $secs; $i++)
	{
		return 1 unless $bg->{h}->pumpable;
		$bg->{h}->pump_nb;
		usleep(100_000);
	}
	return !$bg->{h}->pumpable;
}

# A VACUUM that must not wait: run it with a statement timeout.
sub vacuum_now
{
	my ($what) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = '60s'; VACUUM (INDEX_CLEANUP ON) t");
	is($ret, 0, "VACUUM does not wait: $what");
	is($err, '', "VACUUM has no error: $what");
}

# ---- (a) a cursor on an index-only scan holds a batch ---------------------

# key/010 is deleted before the cursor starts: invisible to it, and dead to
# everybody, so VACUUM removes it.  The first batch (32 TIDs) holds it.
$node->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/010'");
my $cur = session('cursor');
query($cur, "$ios_gucs BEGIN;
DECLARE c CURSOR FOR SELECT k FROM t WHERE k >= 'key/' ORDER BY k;");
is(query($cur, 'FETCH 1 FROM c'), 'key/001', 'the cursor returns its first row');

my $vac = start_vacuum('vacuumer');
is(wait_for_extension_wait('vacuumer', $vac), 'Extension/Extension',
	'VACUUM waits for the cursor holding a batch (wait event Extension)');

my $rows = query($cur, 'FETCH 20 FROM c');
unlike($rows, qr{key/010}, 'the deleted key is not returned inside the batch');
is(scalar(split /\n/, $rows), 20, 'FETCH 20 returns 20 rows');
usleep(300_000);
is(waiting('vacuumer'), 'Extension/Extension',
	'VACUUM still waits while the cursor is inside its batch');

$rows = query($cur, 'FETCH ALL FROM c');
unlike($rows, qr{key/010}, 'the deleted key is not returned by FETCH ALL');
is(scalar(split /\n/, $rows), 200 - 1 - 21, 'FETCH ALL returns the rest');
ok(done_within($vac, $PostgreSQL::Test::Utils::timeout_default),
	'VACUUM ends once the cursor moved on');
$vac->{h}->finish;
is(${ $vac->{err} }, '', 'the waiting VACUUM had no error');
query($cur, 'COMMIT');
is($node->safe_psql('postgres', "$ios_gucs SELECT count(*) FROM t WHERE k >= 'key/'"),
	'199', 'the index-only scan counts every remaining row');

# ---- (b) plain MVCC and bitmap scans do not make VACUUM wait ---------------

$node->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/020'");
query($cur, "BEGIN; SET enable_indexonlyscan = off;
DECLARE p CURSOR FOR SELECT id, k, pad FROM t WHERE k >= 'key/' ORDER BY k;");
is(query($cur, 'FETCH 1 FROM p'), '1|key/001|' . ('x' x 20),
	'a plain index scan cursor holds a batch');
vacuum_now('plain MVCC index scan holding a batch');
unlike(query($cur, 'FETCH ALL FROM p'), qr{key/020},
	'the plain index scan skips the deleted row');
query($cur, 'COMMIT; RESET enable_indexonlyscan;');

$node->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/030'");
query($cur, "BEGIN; SET enable_indexscan = off; SET enable_bitmapscan = on;
DECLARE b CURSOR FOR SELECT k FROM t WHERE k >= 'key/';");
like(query($cur, 'FETCH 1 FROM b'), qr{^key/}, 'a bitmap scan cursor holds its bitmap');
vacuum_now('bitmap scan');
unlike(query($cur, 'FETCH ALL FROM b'), qr{key/030},
	'the bitmap scan skips the deleted row');
query($cur, 'COMMIT; RESET enable_indexscan; SET enable_bitmapscan = off;');

# ---- (c) an error inside an index-only scan leaves nothing behind ---------

$node->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/040'");
query($cur, "SELECT k, 1 / (CASE WHEN k = 'key/005' THEN 0 ELSE 1 END)
FROM t WHERE k >= 'key/' ORDER BY k;");
like(${ $cur->{err} }, qr/division by zero/, 'the index-only scan failed');
vacuum_now('after an index-only scan failed at top level');

$node->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/050'");
${ $cur->{err} } = '';
query($cur, "BEGIN; SAVEPOINT s;
SELECT k, 1 / (CASE WHEN k = 'key/005' THEN 0 ELSE 1 END)
FROM t WHERE k >= 'key/' ORDER BY k;
ROLLBACK TO s;");
like(${ $cur->{err} }, qr/division by zero/,
	'the index-only scan failed inside a savepoint');
is(query($cur, 'SELECT 1'), '1', 'its transaction is still open and usable');
vacuum_now('after an index-only scan failed in a savepoint, transaction open');
query($cur, 'COMMIT');

# ---- (d) five cursors in one backend: four pairs and the wildcard ---------

$node->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/060'");
query($cur, 'BEGIN');
for my $i (1 .. 5)
{
	query($cur, "DECLARE c$i CURSOR FOR SELECT k FROM t WHERE k >= 'key/' ORDER BY k;");
	query($cur, "FETCH 1 FROM c$i");
}
$vac = start_vacuum('vacuumer5');
is(wait_for_extension_wait('vacuumer5', $vac), 'Extension/Extension',
	'VACUUM waits for five index-only cursors');
for my $i (1 .. 4)
{
	query($cur, "CLOSE c$i");
}
usleep(300_000);
is(waiting('vacuumer5'), 'Extension/Extension',
	'VACUUM still waits for the fifth cursor (the wildcard)');
query($cur, 'CLOSE c5');
ok(done_within($vac, $PostgreSQL::Test::Utils::timeout_default),
	'VACUUM ends once the last cursor is closed');
$vac->{h}->finish;
query($cur, 'COMMIT');

# ---- (e) a scrollable cursor parked at the end of its range ----------------

$node->safe_psql('postgres', "DELETE FROM t WHERE k = 'key/199'");
query($cur, "BEGIN;
DECLARE s SCROLL CURSOR FOR SELECT k FROM t WHERE k >= 'key/190' ORDER BY k;");
is(query($cur, 'FETCH ALL FROM s'),
	join("\n", map { sprintf('key/%03d', $_) } 190 .. 198, 200),
	'the scrollable cursor reads its range to the end');
vacuum_now('a scrollable cursor at the end of its range');
is(query($cur, 'FETCH BACKWARD 3 FROM s'), "key/200\nkey/198\nkey/197",
	'FETCH BACKWARD does not return the key VACUUM removed meanwhile');
query($cur, 'COMMIT');

close_session($cur);
is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
	'0', 'memkv_verify finds no problem');
$node->stop;
unlike(slurp_file($node->logfile), qr/terminated by signal/,
	'no backend crashed');
done_testing();
