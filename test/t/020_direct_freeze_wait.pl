# test/t/020_direct_freeze_wait.pl -- who waits for a direct-mode freeze,
# and how.
#
# A delta that does not fit in shared memory is frozen in direct mode: the
# freezer reads the log into its own memory, so until its switch no one
# else may use the index's trees.  They must wait on the metapage lock the
# freeze holds (a heavyweight lock: pg_stat_activity shows Lock/page, a
# cancel reaches the waiter, the deadlock detector sees it), not on the
# entry's LWLock, which nothing interrupts.
#
# The freeze is held in its middle phase by memkv.debug_freeze_pause_lock
# (it waits for an advisory lock another session holds).  Meanwhile an
# INSERT and an index scan must wait on Lock/page; the INSERT is cancelled
# and must end with the cancel error at once.  Then the freeze goes on, the
# scan returns the right count, a new INSERT works, and the index equals
# the table.

use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('direct_freeze_wait');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
memkv.shared_memory = 64
memkv.freeze_threshold = 0
autovacuum = off
});
$node->start;

# A delta of 150,000 keys (some 5 MB of tree), then restart with 2 MB: it
# no longer fits, so the next freeze is a direct one.
$node->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE d (k text COLLATE "C");
CREATE INDEX d_k ON d USING memkv (k);
INSERT INTO d SELECT 'usr/share/doc/p' || (g % 997) || '/f' || g
  FROM generate_series(1, 150000) g;
});
$node->adjust_conf('postgresql.conf', 'memkv.shared_memory', '2');
$node->restart;

my $timeout = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);

# Start `psql -c $sql` in the background, as application $name.
sub start_psql
{
	my ($name, $sql) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') . " application_name=$name",
			'-c', $sql ],
		'>', \$out, '2>', \$err, $timeout);
	return { h => $h, out => \$out, err => \$err };
}

# Wait until application $name waits for `$type/$event`; returns what it
# waits for at the end (it gives up after the default timeout).
sub wait_for_wait
{
	my ($name, $type, $event) = @_;
	my $seen = '';
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		$seen = $node->safe_psql('postgres', qq{
SELECT coalesce(wait_event_type, '') || '/' || coalesce(wait_event, '')
FROM pg_stat_activity WHERE application_name = '$name'});
		return $seen if $seen eq "$type/$event";
		usleep(100_000);
	}
	return $seen;
}

# The holder keeps the advisory lock the freeze pauses on.
my ($hin, $hout, $herr) = ('', '', '');
my $holder = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
	'<', \$hin, '>', \$hout, '2>', \$herr, $timeout);
$hin .= "SELECT pg_advisory_lock(4242);\nSELECT 'locked';\n";
$holder->pump until $hout =~ /locked/ || $timeout->is_expired;
like($hout, qr/locked/, 'the holder has the advisory lock');

my $freezer = start_psql('freezer',
	"SET memkv.debug_freeze_pause_lock = 4242; SELECT memkv_freeze('d_k');");
is(wait_for_wait('freezer', 'Lock', 'advisory'), 'Lock/advisory',
	'the direct-mode freeze is paused in its middle phase');

my $inserter = start_psql('inserter', "INSERT INTO d VALUES ('cancelled/1')");
is(wait_for_wait('inserter', 'Lock', 'page'), 'Lock/page',
	'an INSERT waits for the freeze on the metapage lock, not an LWLock');
my $scanner = start_psql('scanner',
	"SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM d WHERE k ^@ 'usr/share/doc/p1/'");
is(wait_for_wait('scanner', 'Lock', 'page'), 'Lock/page',
	'an index scan waits for the freeze on the metapage lock');

# A cancel reaches the waiting INSERT while the freeze is still paused.
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'inserter'");
eval { $inserter->{h}->finish; };
like(${ $inserter->{err} }, qr/canceling statement due to user request/,
	'the waiting INSERT is cancelled during the freeze');
is(wait_for_wait('freezer', 'Lock', 'advisory'), 'Lock/advisory',
	'the freeze is still paused after the cancel');

# Let the freeze go on.
$hin .= "SELECT pg_advisory_unlock(4242);\n\\q\n";
$holder->finish;
$freezer->{h}->finish;
is(${ $freezer->{err} }, '', 'the direct-mode freeze completes');
$scanner->{h}->finish;
my $want = $node->safe_psql('postgres',
	"SELECT count(*) FROM d WHERE k ^@ 'usr/share/doc/p1/'");
is(${ $scanner->{out} }, "$want\n", "the waiting scan answers after the freeze ($want rows)");

$node->safe_psql('postgres', "INSERT INTO d VALUES ('after/1'), (NULL)");
is($node->safe_psql('postgres', q{
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) FROM d WHERE k >= '' OR k IS NULL}),
	$node->safe_psql('postgres', 'SELECT count(*) FROM d'),
	'after the freeze the index counts every row');
is($node->safe_psql('postgres', "SELECT count(*) FROM d WHERE k = 'cancelled/1'"),
	'0', 'the cancelled INSERT left no row');
is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('d_k')"),
	'0', 'memkv_verify finds no problem');
is($node->safe_psql('postgres', "SELECT freezes FROM memkv_state('d_k')"),
	'1', 'the index was frozen once');

$node->stop;
unlike(slurp_file($node->logfile), qr/terminated by signal/,
	'no backend crashed');
done_testing();
