# test/t/012_concurrent_build.pl -- CREATE INDEX CONCURRENTLY and REINDEX
# CONCURRENTLY of a memkv index while other sessions write.
#
# CONCURRENTLY builds the index from a snapshot, then validates it: the AM's
# bulk-delete callback enumerates every TID in the index (both layers) and
# the rows inserted meanwhile are added.  A TID missed or duplicated there
# shows up as a row the index does not return, or returns twice.
# A pgbench writer (fixed number of transactions) inserts, updates and
# deletes in the background while the index is built and rebuilt several
# times; afterwards every index scan must equal the heap and memkv_verify()
# must be clean.  No timing: the builds simply run while the writer runs.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cic');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE t (id bigserial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'usr/share/doc/p' || (g % 997) || '/f' || g FROM generate_series(1, 20000) g;
INSERT INTO t(k) VALUES (NULL), (''), ('usr'), ('usr/');
});

my $script = $node->basedir . '/writer.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set n random(1, 1000000)
INSERT INTO t(k) VALUES ('usr/share/doc/p' || (:n % 997) || '/new' || :n), ('usr/share/doc/p' || (:n % 997)), (NULL);
UPDATE t SET k = k || '.gz' WHERE id = :n % 20000 + 1;
DELETE FROM t WHERE id = (:n * 7) % 20000 + 1;
});

sub start_writer
{
	my ($transactions) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '--no-vacuum', '--client=2', '--jobs=2',
			"--transactions=$transactions", '-f', $script,
			'-d', $node->connstr('postgres') ],
		'>', \$out, '2>', \$err);
	return { h => $h, out => \$out, err => \$err };
}

sub finish_writer
{
	my ($w, $name) = @_;
	$w->{h}->finish;
	ok(${ $w->{out} } =~ /number of transactions actually processed: (\d+)/ && $1 > 0,
		"$name: the background writer ran") or diag(${ $w->{err} });
}

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $bm = 'SET enable_seqscan = off; SET enable_indexscan = off;';

sub index_equals_heap
{
	my ($index, $name) = @_;
	my $q = q{SELECT count(*), count(DISTINCT id), md5(string_agg(coalesce(k, '-') || ':' || id, ',' ORDER BY k, id)) FROM t};
	my $want = $node->safe_psql('postgres', "$seq $q");
	my $plan = $node->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) $q WHERE k IS NULL OR k >= ''");
	like($plan, qr/\b\Q$index\E\b/, "$name: the check goes through $index");
	is($node->safe_psql('postgres', "$idx $q WHERE k IS NULL OR k >= ''"), $want,
		"$name: index scan returns exactly the heap's rows");
	is($node->safe_psql('postgres', "$bm $q WHERE k ^@ 'usr' OR k IS NULL OR k = ''"),
		$node->safe_psql('postgres', "$seq $q WHERE k ^@ 'usr' OR k IS NULL OR k = ''"),
		"$name: bitmap scan returns exactly the heap's rows");
	is($node->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"), '',
		"$name: memkv_verify finds no problem");
}

# CREATE INDEX CONCURRENTLY while the writer runs.
my $w = start_writer(800);
$node->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY t_k ON t USING memkv (k)');
is($node->safe_psql('postgres', "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_k'::regclass"),
	't', 'CREATE INDEX CONCURRENTLY produced a valid index');
finish_writer($w, 'CREATE INDEX CONCURRENTLY');
index_equals_heap('t_k', 'after CREATE INDEX CONCURRENTLY');

# REINDEX CONCURRENTLY twice while the writer runs.
$w = start_writer(800);
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY t_k');
$node->safe_psql('postgres', 'REINDEX INDEX CONCURRENTLY t_k');
finish_writer($w, 'REINDEX CONCURRENTLY');
index_equals_heap('t_k', 'after REINDEX CONCURRENTLY');

# A second index built concurrently while the first one takes inserts too.
$w = start_writer(600);
$node->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY t_k2 ON t USING memkv (k)');
finish_writer($w, 'second CREATE INDEX CONCURRENTLY');
$node->safe_psql('postgres', 'DROP INDEX t_k');
index_equals_heap('t_k2', 'second concurrently built index');

# Plain REINDEX and VACUUM afterwards.
$node->safe_psql('postgres', 'VACUUM t; REINDEX INDEX t_k2; INSERT INTO t(k) VALUES (\'usr/after\')');
index_equals_heap('t_k2', 'after VACUUM and REINDEX');

$node->stop;
done_testing();
