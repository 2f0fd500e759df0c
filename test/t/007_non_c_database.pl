# test/t/007_non_c_database.pl -- memkv in a database whose default collation
# is not C.
#
# memkv orders keys by bytes, i.e. the C collation.  In a database with a
# libc collation such as C.UTF-8 (not "C" for PostgreSQL):
#   * an index on a column of the database's default collation is refused
#     with an ERROR and a HINT (COLLATE "C");
#   * an index on a COLLATE "C" column works: =, <, BETWEEN, LIKE 'x%', ^@,
#     ORDER BY [DESC] LIMIT, min/max use it and equal seq scans;
#   * an index on the expression (k COLLATE "C") works for queries written
#     with COLLATE "C".

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nonc');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$node->start;

# A non-C libc locale that exists on this machine.
my ($locale) = grep { /^C\.utf-?8$/i } split /\n/, `locale -a`;
plan skip_all => 'no C.UTF-8 locale on this machine' unless $locale;

$node->safe_psql('postgres',
	"CREATE DATABASE nonc TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE '$locale' LC_CTYPE '$locale'");
is($node->safe_psql('nonc', 'SELECT datcollate FROM pg_database WHERE datname = current_database()'),
	$locale, "database nonc has collation $locale");

$node->safe_psql('nonc', q{
CREATE EXTENSION memkv;
CREATE TABLE d (id serial, k text);                 -- default collation
CREATE TABLE c (id serial, k text COLLATE "C");
INSERT INTO d(k) SELECT 'Key/' || g FROM generate_series(1, 3000) g;
INSERT INTO c(k) SELECT k FROM d;
INSERT INTO c(k) VALUES ('a'), ('B'), ('b'), ('_x'), ('Zebra'), ('zebra'), ('é'), ('e'), (''), (NULL);
INSERT INTO d(k) SELECT k FROM c WHERE id > 3000;
});

my ($ret, $out, $err) = $node->psql('nonc', 'CREATE INDEX d_k ON d USING memkv (k)');
isnt($ret, 0, 'index on a column with a non-C default collation is refused');
like($err, qr/ERROR:/, 'refused with an ERROR');
like($err, qr/HINT:.*COLLATE "C"/, 'the HINT suggests COLLATE "C"');

$node->safe_psql('nonc', 'CREATE INDEX c_k ON c USING memkv (k)');
pass('index on a COLLATE "C" column is accepted');

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';

my @queries = (
	[ 'equality', q{SELECT id FROM c WHERE k = 'Key/42'} ],
	[ 'less than', q{SELECT k FROM c WHERE k < 'Key/1' ORDER BY k} ],
	[ 'BETWEEN', q{SELECT k FROM c WHERE k BETWEEN 'Key/10' AND 'Key/11' ORDER BY k} ],
	[ 'LIKE prefix', q{SELECT k FROM c WHERE k LIKE 'Key/29%' ORDER BY k} ],
	[ '^@', q{SELECT k FROM c WHERE k ^@ 'Key/30' ORDER BY k} ],
	[ 'ORDER BY LIMIT', q{SELECT k FROM c ORDER BY k LIMIT 12} ],
	[ 'ORDER BY DESC LIMIT', q{SELECT k FROM c ORDER BY k DESC LIMIT 12} ],
	[ 'min/max', q{SELECT min(k), max(k) FROM c} ],
);
for my $q (@queries)
{
	my ($name, $sql) = @$q;
	my $plan = $node->safe_psql('nonc', "$idx EXPLAIN (COSTS OFF) $sql");
	like($plan, qr/\bc_k\b/, "$name: uses the memkv index in a non-C database");
	is($node->safe_psql('nonc', "$idx $sql"), $node->safe_psql('nonc', "$seq $sql"),
		"$name: index answer equals the seq scan");
}
# Byte order, not the database's order.
is($node->safe_psql('nonc', "$idx SELECT string_agg(k, ' ') FROM (SELECT k FROM c WHERE k > '' AND k NOT LIKE 'Key/%' ORDER BY k) s"),
	"B Zebra _x a b e zebra \x{c3}\x{a9}", 'ORDER BY through the index is byte order');

# An index on the expression (k COLLATE "C") of a default-collation column.
$node->safe_psql('nonc', 'CREATE INDEX d_kc ON d USING memkv ((k COLLATE "C"))');
pass('index on (k COLLATE "C") of a default-collation column is accepted');
my $sql = q{SELECT k FROM d WHERE k COLLATE "C" >= 'Key/5' ORDER BY k COLLATE "C" LIMIT 20};
like($node->safe_psql('nonc', "$idx EXPLAIN (COSTS OFF) $sql"), qr/\bd_kc\b/,
	'queries written with COLLATE "C" use the expression index');
is($node->safe_psql('nonc', "$idx $sql"), $node->safe_psql('nonc', "$seq $sql"),
	'expression index answer equals the seq scan');

$node->stop;
done_testing();
