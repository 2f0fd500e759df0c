# test/t/021_scan_from_log.pl -- scans that read the delta from the log.
#
# When an index's delta does not fit in shared memory, scans read it from
# the delta log into backend memory (memkv_read_log_run) and take its keys
# by bounds and direction (memkv_source_collect_run), merged with the
# frozen run.  The index is filled with 16 MB of shared memory and a
# frozen run plus a large delta, then the server restarts with 1 MB, so
# the tree cannot be rebuilt (memkv_state shows art_loaded false).  Every
# kind of bound, in both directions, must return the heap's keys in the
# scan's order.  No background worker may freeze the index meanwhile
# (max_worker_processes = 0).

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('scan_from_log');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
memkv.shared_memory = 16
memkv.freeze_threshold = 0
max_worker_processes = 0
autovacuum = off
});
$node->start;

my $suffix = '/some/longer/path/to/fill/memory';
$node->safe_psql('postgres', qq{
CREATE EXTENSION memkv;
CREATE TABLE t (id serial, k text COLLATE "C");
CREATE INDEX t_k ON t USING memkv (k);
});
for my $batch (1 .. 30)
{
	# keys repeat (several TIDs a key); every 97th row is NULL
	$node->safe_psql('postgres', qq{
INSERT INTO t(k) SELECT CASE WHEN g % 97 = 0 THEN NULL
  ELSE 'key/' || lpad(((g * 7919 + $batch * 31) % 40000)::text, 6, '0') || '$suffix' END
FROM generate_series(1, 2000) g});
	$node->safe_psql('postgres', "SELECT memkv_freeze('t_k')") if $batch == 3;
}

$node->adjust_conf('postgresql.conf', 'memkv.shared_memory', '1');
$node->restart;

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;';

# the scans below must take the log path: touch the index, then look
$node->safe_psql('postgres', "$idx SELECT count(*) FROM t WHERE k >= 'key/0'");
is($node->safe_psql('postgres',
		"SELECT art_loaded, log_tuples > 0, frozen_keys > 0 FROM memkv_state('t_k')"),
	'f|t|t', 'the delta is not in shared memory: scans read it from the log');

my @where = (
	"true",
	"k >= 'key/010000'",
	"k > 'key/010000$suffix'",
	"k <= 'key/030000'",
	"k < 'key/030000$suffix'",
	"k > 'key/005' AND k < 'key/035'",
	"k >= 'key/012345$suffix' AND k <= 'key/012399$suffix'",
	"k ^@ 'key/0123'",
	"k = 'key/012346$suffix'",
	"k < 'a'",
	"k > 'z'",
	"k IS NULL");
for my $dir ('ASC', 'DESC')
{
	for my $w (@where)
	{
		my $q = "SELECT count(*) || ' ' || md5(coalesce(string_agg(coalesce(k, '-'), ','), '')) "
		  . "FROM (SELECT k FROM t WHERE $w ORDER BY k $dir) s";
		my $want = $node->safe_psql('postgres', "$seq $q");
		my $got = $node->safe_psql('postgres', "$idx $q");
		is($got, $want, "from the log, $dir, $w: the heap's keys in order");
	}
	# a LIMIT stops inside the delta's keys (batches end early)
	my $q = "SELECT string_agg(k, ',') FROM (SELECT k FROM t WHERE k > 'key/02' ORDER BY k $dir LIMIT 20) s";
	is($node->safe_psql('postgres', "$idx $q"), $node->safe_psql('postgres', "$seq $q"),
		"from the log, $dir, LIMIT 20: the heap's first keys");
}

$node->stop;
done_testing();
