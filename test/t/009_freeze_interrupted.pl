# test/t/009_freeze_interrupted.pl -- freezes that do not finish.
#
# 1. A freeze cancelled by statement_timeout at growing delays (1 ms, 2 ms,
#    4 ms, ...) until one completes: after every attempt the index answers
#    exactly like the table, memkv_verify() finds nothing, and inserts made
#    meanwhile are in the index.
# 2. The server killed (immediate stop) while a background freeze of a big
#    delta is running, at several delays: after restart the index equals the
#    table, memkv_verify() is clean, and the next VACUUM frees the pages the
#    interrupted freeze had written.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('freeze_interrupted');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
});
$node->start;

$node->safe_psql('postgres', qq{
CREATE EXTENSION memkv;
CREATE TABLE c (id serial, k text COLLATE "C");
INSERT INTO c (k) SELECT 'base/' || g FROM generate_series(1, 20000) g;
INSERT INTO c (k) VALUES (NULL), (''), ('base'), ('base/');
CREATE INDEX c_k ON c USING memkv (k) WITH (freeze_threshold = 0);
INSERT INTO c (k) SELECT 'delta/' || (g % 5000) || '/' || g
  FROM generate_series(1, 150000) g;
INSERT INTO c (k) VALUES (NULL), ('');
});

# The index (forced) must answer exactly like the heap.
sub check_index
{
	my ($what) = @_;
	my $heap = $node->safe_psql('postgres', 'SELECT count(*) FROM c');
	my $via_index = $node->safe_psql('postgres', q{
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) FROM c WHERE k >= '' OR k IS NULL;});
	is($via_index, $heap, "$what: index scan counts every row ($heap)");
	my $diff = $node->safe_psql('postgres', q{
SET enable_seqscan = off; SET enable_bitmapscan = off;
CREATE TEMP TABLE via_index AS SELECT id, k FROM c WHERE k >= 'delta/4' AND k < 'delta/5';
SET enable_seqscan = on; SET enable_indexscan = off; SET enable_indexonlyscan = off;
SELECT count(*) FROM (
  (SELECT id, k FROM c WHERE k >= 'delta/4' AND k < 'delta/5' EXCEPT ALL SELECT * FROM via_index)
  UNION ALL
  (SELECT * FROM via_index EXCEPT ALL SELECT id, k FROM c WHERE k >= 'delta/4' AND k < 'delta/5')) d;});
	is($diff, '0', "$what: a range through the index equals the seq scan");
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('c_k')"),
		'0', "$what: memkv_verify finds no problem");
}

# 1. cancelled freezes
my $delay = 1;
my $completed = 0;
my $cancelled = 0;
while (!$completed && $delay <= 65536)
{
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"SET statement_timeout = '${delay}ms'; SELECT memkv_freeze('c_k');");
	if ($ret == 0)
	{
		$completed = 1;
	}
	else
	{
		like($stderr, qr/canceling statement due to statement timeout/,
			"freeze at ${delay} ms: cancelled by the timeout");
		$cancelled++;
	}
	check_index("after a freeze with a ${delay} ms timeout");
	$node->safe_psql('postgres',
		"INSERT INTO c (k) VALUES ('between/$delay'), ('between/$delay')");
	$delay *= 2;
}
ok($completed, "a freeze eventually completed (after $cancelled cancellations)");
is($node->safe_psql('postgres',
		"SELECT freezes >= 1 FROM memkv_state('c_k')"), 't',
	'memkv_state counts the completed freeze');
is($node->safe_psql('postgres',
		"SET enable_seqscan = off; SELECT count(*) FROM c WHERE k ^@ 'between/'"),
	$node->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;"
		. " SELECT count(*) FROM c WHERE k ^@ 'between/'"),
	'rows inserted between the attempts are all found');

# 2. crash during a freeze
foreach my $ms (50, 200, 800)
{
	$node->safe_psql('postgres', qq{
INSERT INTO c (k) SELECT 'crash$ms/' || (g % 3000) || '/' || g
  FROM generate_series(1, 120000) g;});
	my $before = $node->safe_psql('postgres',
		"SELECT freezes FROM memkv_state('c_k')");
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'),
		  '-c', "SELECT memkv_freeze('c_k')" ],
		'>', \$out, '2>', \$err);
	select(undef, undef, undef, $ms / 1000.0);
	$node->stop('immediate');
	eval { $h->finish; };
	$node->start;
	note("crash at $ms ms: freezes before $before, after "
		  . $node->safe_psql('postgres', "SELECT freezes FROM memkv_state('c_k')")
		  . ' (equal: the crash interrupted the freeze)');
	check_index("after a crash $ms ms into a freeze");
	$node->safe_psql('postgres', 'VACUUM c');
	check_index("after the VACUUM following the crash at $ms ms");
}

$node->stop;
done_testing();
