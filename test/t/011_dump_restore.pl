# test/t/011_dump_restore.pl -- memkv indexes survive pg_dump / pg_restore.
#
# A database with memkv indexes (a plain one, one with a storage parameter,
# one on an expression, a partial one, one on varchar, one on an unlogged
# table) is dumped with pg_dump (custom format) and restored into a new
# database with pg_restore; the indexes come back with the same definitions
# and answer queries through memkv exactly like seq scans.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$node->start;

my $has_reloption = 1;
$node->safe_psql('postgres', q{
CREATE DATABASE src;
});
$node->safe_psql('src', q{
CREATE EXTENSION memkv;
CREATE TABLE t (id serial, k text COLLATE "C", v varchar(100) COLLATE "C");
INSERT INTO t(k, v) SELECT 'usr/lib/p' || (g % 300) || '/f' || g, 'v' || g FROM generate_series(1, 5000) g;
INSERT INTO t(k, v) VALUES (NULL, NULL), ('', '');
CREATE INDEX t_k ON t USING memkv (k);
CREATE INDEX t_v ON t USING memkv (v);
CREATE INDEX t_lower ON t USING memkv ((lower(k) COLLATE "C"));
CREATE INDEX t_part ON t USING memkv (k) WHERE id % 2 = 0;
CREATE UNLOGGED TABLE u (k text COLLATE "C");
INSERT INTO u SELECT 'u' || g FROM generate_series(1, 100) g;
CREATE INDEX u_k ON u USING memkv (k);
});
my ($ret, $out, $err) = $node->psql('src',
	'CREATE INDEX t_opt ON t USING memkv (k) WITH (freeze_threshold = 5000)');
if ($ret != 0)
{
	$has_reloption = 0;
	note("no freeze_threshold storage parameter: $err");
}

my $defs_sql = q{SELECT string_agg(indexdef, E'\n' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'};
my $defs_src = $node->safe_psql('src', $defs_sql);

my $dump = $node->basedir . '/src.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ],
	'pg_dump of a database with memkv indexes');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ],
	'pg_restore into a new database');

is($node->safe_psql('dst', $defs_sql), $defs_src, 'the restored indexes have the same definitions');
like($defs_src, qr/USING memkv/, 'the definitions use memkv');
like($defs_src, qr/freeze_threshold/, 'the storage parameter is part of the definition') if $has_reloption;

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my @queries = (
	[ 't_k|t_opt', q{SELECT id FROM t WHERE k = 'usr/lib/p7/f7'} ],
	[ 't_k|t_opt|t_part', q{SELECT k FROM t WHERE k ^@ 'usr/lib/p12/' ORDER BY k} ],
	[ 't_v', q{SELECT id FROM t WHERE v >= 'v4990' ORDER BY v} ],
	[ 't_lower', q{SELECT id FROM t WHERE lower(k) COLLATE "C" = 'usr/lib/p7/f7'} ],
	[ 't_part|t_k|t_opt', q{SELECT k FROM t WHERE k >= 'usr/lib/p2' AND id % 2 = 0 ORDER BY k LIMIT 10} ],
	[ 'u_k', q{SELECT k FROM u WHERE k LIKE 'u1%' ORDER BY k} ],
);
for my $q (@queries)
{
	my ($index_re, $sql) = @$q;
	like($node->safe_psql('dst', "$idx EXPLAIN (COSTS OFF) $sql"), qr/\b($index_re)\b/,
		"restored: $sql uses a memkv index");
	is($node->safe_psql('dst', "$idx $sql"), $node->safe_psql('src', "$seq $sql"),
		"restored: $sql answers like the original's seq scan");
}
for my $i (qw(t_k t_v t_lower t_part u_k), ($has_reloption ? ('t_opt') : ()))
{
	is($node->safe_psql('dst', "SELECT * FROM memkv_verify('$i')"), '',
		"restored: memkv_verify('$i') finds no problem");
}

$node->stop;
done_testing();
