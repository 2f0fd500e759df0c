# test/t/023_runs.pl -- several runs (memkv 2 step 5).
#
# A freeze writes the delta alone as a new run, first in the directory;
# adjacent runs are merged (by the "memkv merge" worker, step 6) only when
# the policy says so (src/README, "Merge policy"); VACUUM gives runs dead
# lists instead of rewriting them.  Checked:
#   * after CREATE INDEX and four small freezes the directory lists more
#     than one run (test/lib/MemkvDisk.pm reads it from the file), and a
#     freeze of 500 keys writes far less WAL than the 60,000-key build: it
#     does not rewrite the index;
#   * with several runs and a delta, every kind of query through the index
#     (equality in each run, prefixes and ranges across runs, ordered
#     scans both ways, the empty key, NULLs) equals a seq scan, in index,
#     index-only and bitmap scans;
#   * twenty more freezes keep the run count within the policy's budget
#     (10) once the worker has caught up, and memkv_verify clean;
#   * DELETE of 10% of the rows of every run, then VACUUM: the runs stay
#     (none is rewritten), every run has a dead list, and the index holds
#     exactly the heap's rows;
#   * a streaming standby answers every query like the primary throughout.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use MemkvDisk;

my $primary = PostgreSQL::Test::Cluster->new('runs');
$primary->init(allows_streaming => 1, extra => [ '--locale=C', '--encoding=UTF8' ]);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION memkv');
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('runs_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', q{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'usr/share/doc/pkg' || (g % 700) || '/file' || g
  FROM generate_series(1, 60000) g;
INSERT INTO t(k) VALUES (NULL), (''), ('usr'), ('usr/');
});
my $l0 = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
$primary->safe_psql('postgres',
	'CREATE INDEX t_k ON t USING memkv (k) WITH (freeze_threshold = 0)');
my $l1 = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $build_wal = $primary->safe_psql('postgres', "SELECT pg_wal_lsn_diff('$l1', '$l0')");

# the directory as the file holds it (after a checkpoint)
sub nruns
{
	return scalar(@{ runs() });
}

# The directory's runs, from the file.
sub runs
{
	$primary->safe_psql('postgres', 'CHECKPOINT');
	my $path = $primary->data_dir . '/'
	  . $primary->safe_psql('postgres', "SELECT pg_relation_filepath('t_k')");
	my $d = slurp_file_bin($path);
	return dir_get(\$d)->{runs};
}

my $freeze_wal = 0;
for my $b (1 .. 4)
{
	$primary->safe_psql('postgres', qq{
INSERT INTO t(k) SELECT 'batch$b/' || g FROM generate_series(1, 490) g;
INSERT INTO t(k) SELECT 'usr/share/doc/pkg$b/file' || g FROM generate_series(1, 10) g;
INSERT INTO t(k) VALUES (NULL), ('');});
	my $a = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	$primary->safe_psql('postgres', "SELECT memkv_freeze('t_k')");
	my $z = $primary->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	my $w = $primary->safe_psql('postgres', "SELECT pg_wal_lsn_diff('$z', '$a')");
	$freeze_wal = $w if $w > $freeze_wal;
}
my $n = nruns();
cmp_ok($n, '>', 1, "four small freezes leave several runs ($n)");
cmp_ok($freeze_wal * 4, '<', $build_wal,
	"a freeze of 500 keys writes under a quarter of the build's WAL ($freeze_wal vs $build_wal bytes)");
# a delta on top of the runs
$primary->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'delta/' || g FROM generate_series(1, 300) g;
INSERT INTO t(k) VALUES (NULL), (''), ('usr/share/doc/pkg3/file3');});

my %mode_sql = (
	is  => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;',
	ios => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = on; SET enable_bitmapscan = off;',
	bm  => 'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = on;',
);
my $seq = 'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; SET enable_seqscan = on;';
my @queries = (
	[ q{SELECT id FROM t WHERE k = 'usr/share/doc/pkg7/file7' ORDER BY id}, [qw(is bm)] ],
	[ q{SELECT id FROM t WHERE k = 'batch3/77' ORDER BY id}, [qw(is bm)] ],
	[ q{SELECT id FROM t WHERE k = 'usr/share/doc/pkg3/file3' ORDER BY id}, [qw(is bm)] ],
	[ q{SELECT id FROM t WHERE k = '' ORDER BY id}, [qw(is bm)] ],
	[ q{SELECT count(*) FROM t WHERE k IS NULL}, [qw(is bm)] ],
	[ q{SELECT count(*), sum(id) FROM t WHERE k IS NOT NULL}, [qw(is ios bm)] ],
	[ q{SELECT count(*), sum(id) FROM t WHERE k ^@ 'usr/share/doc/pkg1'}, [qw(is ios bm)] ],
	[ q{SELECT count(*), sum(id) FROM t WHERE k >= 'batch2' AND k < 'delta/5'}, [qw(is ios bm)] ],
	[ q{SELECT k FROM t WHERE k >= 'batch4/8' ORDER BY k LIMIT 40}, [qw(is ios)] ],
	[ q{SELECT k FROM t ORDER BY k LIMIT 40}, [qw(is ios)] ],
	[ q{SELECT k FROM t ORDER BY k DESC LIMIT 40}, [qw(is ios)] ],
	[ q{SELECT k FROM t WHERE k < 'batch3' ORDER BY k DESC LIMIT 40}, [qw(is ios)] ],
	[ q{SELECT k, count(*) FROM t WHERE k ^@ 'usr/share/doc/pkg2/' GROUP BY k ORDER BY k}, [qw(is ios)] ],
);

sub check_queries
{
	my ($what) = @_;
	my $bad = 0;
	foreach my $node ($primary, $standby)
	{
		foreach my $q (@queries)
		{
			my ($sql, $modes) = @$q;
			my $want = $node->safe_psql('postgres', "$seq $sql");
			foreach my $m (@$modes)
			{
				my $got = $node->safe_psql('postgres', "$mode_sql{$m} $sql");
				next if $got eq $want;
				$bad++;
				diag("$what, $m on " . $node->name . ": $sql\n got: "
					  . substr($got, 0, 200) . "\n want: " . substr($want, 0, 200));
			}
		}
	}
	is($bad, 0, "$what: every query through the index equals a seq scan, on primary and standby");
	is($primary->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"), '0',
		"$what: memkv_verify is clean on the primary");
}

$primary->wait_for_catchup($standby);
check_queries('several runs and a delta');

# many more freezes: the budget holds
for my $b (5 .. 24)
{
	$primary->safe_psql('postgres', qq{
INSERT INTO t(k) SELECT 'more$b/' || g FROM generate_series(1, 200) g;
INSERT INTO t(k) VALUES (NULL), ('');
SELECT memkv_freeze('t_k');});
}
# merges run in the "memkv merge" worker: give it time to catch up
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	last if $primary->safe_psql('postgres',
		"SELECT runs <= 10 AND NOT merge_running FROM memkv_state('t_k')") eq 't';
	usleep(100_000);
}
$n = nruns();
cmp_ok($n, '<=', 10, "after 20 more freezes the runs stay within the budget ($n)");
$primary->wait_for_catchup($standby);
check_queries('after twenty more freezes and their merges');

# deletes from every run, then VACUUM: dead lists, no rewrite
$primary->safe_psql('postgres', q{
DELETE FROM t WHERE id % 10 = 0;
VACUUM t;});
my $runs = runs();
cmp_ok(scalar(@$runs), '>=', 2, 'VACUUM of 10% dead rewrites no run into one');
is(scalar(grep { $_->{dead_block} == $INVALID } @$runs), 0,
	'every run has a dead list');
is($primary->safe_psql('postgres',
		"SELECT frozen_tids + delta_tids = (SELECT count(*) FROM t) FROM memkv_state('t_k')"),
	't', 'after VACUUM the index holds exactly the rows of the heap');
$primary->wait_for_catchup($standby);
check_queries('after DELETE and VACUUM');

$standby->stop;
$primary->stop;
done_testing();
