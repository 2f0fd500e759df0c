# test/t/030_pg_upgrade.pl -- memkv indexes across pg_upgrade to a newer major.
#
# A cluster of the older PostgreSQL (MEMKV_UPGRADE_FROM_PG_CONFIG names it;
# test/run-all.sh sets it, in the pass of each later version, to the first
# version of the run, 15 by default; memkv from this tree is installed there)
# holds memkv indexes in every state an index can be in: a frozen layer plus
# a non-empty delta, NULLs and the empty string among the keys, a delta
# only (never frozen), an index with a storage parameter, one on an
# expression, a partial one and an empty one.  pg_upgrade (the newer
# version's, in its default copy mode) moves it to a cluster of the
# PostgreSQL this test runs with.  Then, with no REINDEX:
#   * every index answers each query through memkv exactly like a seq scan
#     of the old cluster, and like one of the new cluster;
#   * memkv_state reports the same frozen and delta contents as before;
#   * memkv_verify finds no problem;
#   * the upgraded indexes take inserts, freeze, and still agree with the
#     heap.
# Skipped, with a message, when there is no older installation to upgrade
# from (e.g. a run with only one version).

use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old_pg_config = $ENV{MEMKV_UPGRADE_FROM_PG_CONFIG} // '';
if ($old_pg_config eq '' || !-x $old_pg_config)
{
	plan skip_all => 'no older PostgreSQL to upgrade from '
	  . '(MEMKV_UPGRADE_FROM_PG_CONFIG, set by test/run-all.sh in the pass '
	  . 'of a later version, is '
	  . ($old_pg_config eq '' ? 'unset' : "$old_pg_config, missing") . ')';
}
my $old_bindir = `$old_pg_config --bindir`;
chomp $old_bindir;
my $old_pkglibdir = `$old_pg_config --pkglibdir`;
chomp $old_pkglibdir;
if (!-x "$old_bindir/postgres" || !-f "$old_pkglibdir/memkv.so")
{
	plan skip_all => "the older PostgreSQL ($old_bindir) has no server "
	  . "or no memkv ($old_pkglibdir/memkv.so)";
}

# install_path: the directory above bin/, so that Cluster.pm runs the old
# binaries (and finds their libraries) for the old node.
my $old = PostgreSQL::Test::Cluster->new('old',
	install_path => dirname($old_bindir));
my $new = PostgreSQL::Test::Cluster->new('new');
if ($old->pg_version->major >= $new->pg_version->major)
{
	plan skip_all => 'the PostgreSQL under test (' . $new->pg_version
	  . ') is not a later major version than ' . $old_bindir . ' ('
	  . $old->pg_version . ')';
}
note('upgrading from PostgreSQL ' . $old->pg_version . " ($old_bindir) to "
	  . $new->pg_version);

# pg_upgrade wants both clusters alike: same locale and encoding, and data
# checksums off in both (15's initdb default; 18 turns them on by default).
my @initdb = ('--locale=C', '--encoding=UTF8');
$old->init(extra => [@initdb]);
$new->init(extra =>
	  [ @initdb, $new->pg_version >= 18 ? ('--no-data-checksums') : () ]);
for my $node ($old, $new)
{
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
});
}

$old->start;
$old->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE t (id int, k text COLLATE "C");
INSERT INTO t SELECT g, 'usr/share/doc/p' || (g % 400) || '/f' || g
  FROM generate_series(1, 20000) g;
INSERT INTO t VALUES (20001, NULL), (20002, ''), (20003, 'usr'), (20004, NULL);
CREATE INDEX t_k ON t USING memkv (k);
CREATE INDEX t_lower ON t USING memkv ((upper(k) COLLATE "C"));
CREATE INDEX t_part ON t USING memkv (k) WHERE id % 3 = 0;
CREATE INDEX t_opt ON t USING memkv (k) WITH (freeze_threshold = 0);
-- the delta on top of the frozen layer: new keys, duplicates, NULLs
INSERT INTO t SELECT g, 'usr/lib/x' || (g % 97) || '/' || g
  FROM generate_series(20005, 23000) g;
INSERT INTO t VALUES (23001, NULL), (23002, ''), (23003, 'usr/share/doc/p7/f7');
DELETE FROM t WHERE id % 50 = 0;
CREATE TABLE d (k text COLLATE "C");
CREATE INDEX d_k ON d USING memkv (k);
INSERT INTO d SELECT 'delta-only/' || g FROM generate_series(1, 3000) g;
INSERT INTO d VALUES (NULL);
CREATE TABLE e (k text COLLATE "C");
CREATE INDEX e_k ON e USING memkv (k);
});

my @indexes = qw(t_k t_lower t_part t_opt d_k e_k);
my $state_sql = 'SELECT frozen_keys, frozen_tids, delta_keys, delta_tids FROM memkv_state(%s)';
my %state_before;
for my $i (@indexes)
{
	$state_before{$i} = $old->safe_psql('postgres', sprintf($state_sql, "'$i'"));
}
my ($fk, $ft, $dk, $dt) = split /\|/, $state_before{t_k};
cmp_ok($fk, '>', 0, 'before: t_k has a frozen layer');
cmp_ok($dt, '>', 0, 'before: t_k has a non-empty delta');
($fk, $ft, $dk, $dt) = split /\|/, $state_before{d_k};
ok($fk == 0 && $dt > 0, 'before: d_k has a delta only');

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off;';
my @queries = (
	[ 't_k|t_opt', q{SELECT id FROM t WHERE k = 'usr/share/doc/p7/f7' ORDER BY id} ],
	[ 't_k|t_opt', q{SELECT id FROM t WHERE k IS NULL ORDER BY id} ],
	[ 't_k|t_opt', q{SELECT id FROM t WHERE k = '' ORDER BY id} ],
	[ 't_k|t_opt', q{SELECT k FROM t WHERE k ^@ 'usr/share/doc/p12/' ORDER BY k} ],
	[ 't_k|t_opt', q{SELECT k FROM t WHERE k LIKE 'usr/lib/x5/%' ORDER BY k} ],
	[ 't_k|t_opt', q{SELECT k FROM t WHERE k > 'usr/lib/x9' AND k < 'usr/share/doc/p1' ORDER BY k} ],
	[ 't_k|t_opt', q{SELECT k FROM t WHERE k >= 'usr/share/doc/p39' ORDER BY k DESC LIMIT 500} ],
	[ 't_k|t_opt', q{SELECT count(*) FROM t WHERE k >= ''} ],
	[ 't_lower', q{SELECT id FROM t WHERE upper(k) COLLATE "C" = 'USR/LIB/X5/20084'} ],
	[ 't_part|t_k|t_opt', q{SELECT k FROM t WHERE k >= 'usr/share' AND id % 3 = 0 ORDER BY k LIMIT 300} ],
	[ 'd_k', q{SELECT k FROM d WHERE k ^@ 'delta-only/29' ORDER BY k} ],
	[ 'd_k', q{SELECT count(*) FROM d WHERE k IS NULL} ],
	[ 'e_k', q{SELECT k FROM e WHERE k >= ''} ],
);
my %seq_before;
for my $q (@queries)
{
	$seq_before{ $q->[1] } = $old->safe_psql('postgres', "$seq $q->[1]");
}
$old->stop;

# pg_upgrade writes its logs under the new data directory; run it from a
# directory the test owns.
chdir $new->basedir;
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $old_bindir, '-B', $new->config_data('--bindir'),
		'-s', $new->host, '-p', $old->port, '-P', $new->port,
	],
	'pg_upgrade of a cluster with memkv indexes');
$new->start;

for my $q (@queries)
{
	my ($index_re, $sql) = @$q;
	like($new->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) $sql"),
		qr/\b($index_re)\b/, "after: $sql uses a memkv index");
	is($new->safe_psql('postgres', "$idx $sql"), $seq_before{$sql},
		"after: $sql through memkv answers like the old cluster's seq scan");
	is($new->safe_psql('postgres', "$seq $sql"), $seq_before{$sql},
		"after: the new cluster's seq scan agrees");
}
for my $i (@indexes)
{
	is($new->safe_psql('postgres', sprintf($state_sql, "'$i'")),
		$state_before{$i}, "after: memkv_state('$i') shows the same layers");
	is($new->safe_psql('postgres', "SELECT * FROM memkv_verify('$i')"), '',
		"after: memkv_verify('$i') finds no problem");
}

# The upgraded indexes keep working: more inserts, a freeze, a VACUUM.
$new->safe_psql('postgres', q{
INSERT INTO t SELECT g, 'after/' || g FROM generate_series(30000, 31000) g;
INSERT INTO t VALUES (31001, NULL);
SELECT memkv_freeze('t_k');
INSERT INTO e VALUES ('after'), (NULL);
DELETE FROM t WHERE id % 7 = 0;
VACUUM t;
});
for my $sql (
	q{SELECT id FROM t WHERE k ^@ 'after/10' ORDER BY id},
	q{SELECT id FROM t WHERE k IS NULL ORDER BY id},
	q{SELECT k FROM t WHERE k >= 'usr/share/doc/p39' ORDER BY k DESC LIMIT 500},
	q{SELECT k FROM e WHERE k >= '' OR k IS NULL ORDER BY k})
{
	is($new->safe_psql('postgres', "$idx $sql"),
		$new->safe_psql('postgres', "$seq $sql"),
		"written to after the upgrade: $sql agrees with a seq scan");
}
for my $i (@indexes)
{
	is($new->safe_psql('postgres', "SELECT * FROM memkv_verify('$i')"), '',
		"written to after the upgrade: memkv_verify('$i') finds no problem");
}

$new->stop;
done_testing();
