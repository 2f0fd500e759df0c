# test/t/001_not_preloaded.pl -- memkv without shared_preload_libraries.
#
# memkv keeps its ART in shared memory, so it must be preloaded.  Without it,
# every memkv operation must fail with a clear ERROR and a HINT, never crash:
#   * on a cluster that never had memkv preloaded: CREATE EXTENSION works,
#     CREATE INDEX ... USING memkv fails;
#   * on a cluster whose memkv index was built with memkv preloaded and that
#     was then restarted without it: index scans and inserts fail, the server
#     stays up; once preloaded again the index is intact.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $errmsg = qr/ERROR:\s+memkv must be loaded via shared_preload_libraries/;
my $hint = qr/HINT:\s+.*shared_preload_libraries/;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->start;

my ($ret, $out, $err);

($ret, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION memkv');
is($ret, 0, 'CREATE EXTENSION memkv works without preloading');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_am WHERE amname = 'memkv'"),
	'1', 'the memkv access method exists');

$node->safe_psql('postgres', q{
	CREATE TABLE t (id int, k text COLLATE "C");
	INSERT INTO t SELECT g, 'key/' || g FROM generate_series(1, 100) g;
});

($ret, $out, $err) = $node->psql('postgres', 'CREATE INDEX t_k ON t USING memkv (k)');
isnt($ret, 0, 'CREATE INDEX USING memkv fails without preloading');
like($err, $errmsg, 'CREATE INDEX: error says memkv must be preloaded');
like($err, $hint, 'CREATE INDEX: HINT says how to fix it');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname = 't_k'"),
	'0', 'no index was created');

# An empty table fails the same way (no rows to build from).
($ret, $out, $err) = $node->psql('postgres', q{
	CREATE TABLE e (k text COLLATE "C");
	CREATE INDEX e_k ON e USING memkv (k);});
isnt($ret, 0, 'CREATE INDEX on an empty table fails without preloading');
like($err, $errmsg, 'CREATE INDEX on an empty table: error says memkv must be preloaded');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still answers');

# Now build the index with memkv preloaded, then take the preload away.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$node->restart;
$node->safe_psql('postgres', 'CREATE INDEX t_k ON t USING memkv (k)');
is($node->safe_psql('postgres',
		'SET enable_seqscan = off; SELECT count(*) FROM t WHERE k = \'key/42\''),
	'1', 'with memkv preloaded the index works');

$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;

my $forced = 'SET enable_seqscan = off; SET enable_bitmapscan = off; ';
($ret, $out, $err) = $node->psql('postgres',
	$forced . "SELECT id FROM t WHERE k = 'key/42'");
isnt($ret, 0, 'index scan fails without preloading');
like($err, $errmsg, 'index scan: error says memkv must be preloaded');
like($err, $hint, 'index scan: HINT says how to fix it');

($ret, $out, $err) = $node->psql('postgres',
	"SET enable_seqscan = off; SET enable_indexscan = off; SELECT id FROM t WHERE k = 'key/42'");
isnt($ret, 0, 'bitmap scan fails without preloading');
like($err, $errmsg, 'bitmap scan: error says memkv must be preloaded');

($ret, $out, $err) = $node->psql('postgres', "INSERT INTO t VALUES (101, 'key/101')");
isnt($ret, 0, 'INSERT into a table with a memkv index fails without preloading');
like($err, $errmsg, 'INSERT: error says memkv must be preloaded');
like($err, $hint, 'INSERT: HINT says how to fix it');

# Plain seq scans of the table do not touch the index and still work.
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '100',
	'seq scan works and the failed INSERT left no row');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still answers');
ok(!$node->log_contains('terminated by signal'), 'no backend crashed');

# Preloaded again: the index is intact and consistent.
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "'memkv'");
$node->restart;
is($node->safe_psql('postgres',
		$forced . "SELECT count(*) FROM t WHERE k >= 'key/'"),
	'100', 'preloaded again: the index returns every row');
is($node->safe_psql('postgres', "SELECT * FROM memkv_verify('t_k')"),
	'', 'preloaded again: memkv_verify finds no problem');
$node->safe_psql('postgres', "INSERT INTO t VALUES (101, 'key/101')");
is($node->safe_psql('postgres', $forced . "SELECT id FROM t WHERE k = 'key/101'"),
	'101', 'preloaded again: inserts go into the index');

$node->stop;
done_testing();
