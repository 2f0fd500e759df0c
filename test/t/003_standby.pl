# test/t/003_standby.pl -- a streaming hot standby answers memkv queries.
#
# Primary + streaming standby, memkv preloaded on both.  The index is built on
# the primary, more rows are inserted, some deleted and VACUUMed; after
# catch-up the standby must run the same queries (equality, ranges, LIKE
# prefix, ^@, ORDER BY LIMIT both ways, IS NULL, = ANY, min/max, count)
# through the memkv index (checked with EXPLAIN) and return exactly what the
# primary returns.  Then more writes on the primary, catch-up, compare again;
# restart the standby (its shared memory is gone: it must rebuild from the
# replicated relation), compare again.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $index = 't_k_mkv';

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1, extra => [ '--locale=C', '--encoding=UTF8' ]);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION memkv');
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', qq{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'usr/share/doc/pkg' || (g % 700) || '/file' || g FROM generate_series(1, 5000) g;
INSERT INTO t(k) VALUES (NULL), (NULL), (''), ('usr'), ('usr/'), ('usr/share'), ('zz\xe2\x98\xba');
CREATE INDEX $index ON t USING memkv (k);
INSERT INTO t(k) SELECT 'usr/lib/x' || g FROM generate_series(1, 2000) g;
INSERT INTO t(k) SELECT 'usr/share/doc/pkg7/dup' FROM generate_series(1, 300);
INSERT INTO t(k) VALUES (NULL), (''), ('usr/lib/x1/'), ('usr/lib/x1/a');
DELETE FROM t WHERE id % 13 = 0;
VACUUM t;
});

my %mode_sql = (
	is  => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;',
	ios => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = on; SET enable_bitmapscan = off;',
	bm  => 'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = on;',
);

# [ name, query, ordered?, modes whose plan must use the index ]
my @queries = (
	[ 'equality', q{SELECT id, k FROM t WHERE k = 'usr/share/doc/pkg7/file7'}, 0, [qw(is bm)] ],
	[ 'equality, duplicates', q{SELECT id FROM t WHERE k = 'usr/share/doc/pkg7/dup'}, 0, [qw(is bm)] ],
	[ 'equality, empty string', q{SELECT id FROM t WHERE k = ''}, 0, [qw(is bm)] ],
	[ 'range', q{SELECT id, k FROM t WHERE k BETWEEN 'usr/lib/x10' AND 'usr/lib/x12'}, 0, [qw(is ios bm)] ],
	[ 'open range', q{SELECT count(*) FROM t WHERE k > 'usr/share/doc/pkg5'}, 0, [qw(is ios bm)] ],
	[ 'LIKE prefix', q{SELECT id, k FROM t WHERE k LIKE 'usr/share/doc/pkg12/%'}, 0, [qw(is bm)] ],
	[ '^@ prefix', q{SELECT id, k FROM t WHERE k ^@ 'usr/lib/x19'}, 0, [qw(is bm)] ],
	[ 'ORDER BY LIMIT', q{SELECT k FROM t WHERE k >= 'usr/lib' ORDER BY k LIMIT 25}, 1, [qw(is ios)] ],
	[ 'ORDER BY DESC LIMIT', q{SELECT k FROM t ORDER BY k DESC LIMIT 25}, 1, [qw(is ios)] ],
	[ 'ORDER BY DESC LIMIT with WHERE', q{SELECT k FROM t WHERE k < 'usr/share' ORDER BY k DESC LIMIT 25}, 1, [qw(is ios)] ],
	[ 'full ordered scan', q{SELECT k FROM t ORDER BY k}, 1, [qw(is ios)] ],
	[ 'IS NULL', q{SELECT id FROM t WHERE k IS NULL}, 0, [qw(is bm)] ],
	[ 'IS NOT NULL', q{SELECT count(*) FROM t WHERE k IS NOT NULL}, 0, [qw(ios bm)] ],
	[ '= ANY', q{SELECT id, k FROM t WHERE k = ANY ('{usr,usr/,usr/lib/x5,nothere,usr/share/doc/pkg7/dup}')}, 0, [qw(bm)] ],
	[ 'min/max', q{SELECT min(k), max(k) FROM t}, 0, [qw(is ios)] ],
);

sub run_all
{
	my ($node, $explain) = @_;
	my $script = "\\pset null '<NULL>'\n";
	for my $i (0 .. $#queries)
	{
		my ($name, $sql, $ordered, $modes) = @{ $queries[$i] };
		for my $m (@$modes)
		{
			$script .= "\\echo \@\@$i $m R\n$mode_sql{$m}\n$sql;\n";
			$script .= "\\echo \@\@$i $m E\nEXPLAIN (COSTS OFF) $sql;\n" if $explain;
		}
	}
	# The end marker keeps trailing empty lines ('' keys) of the last result.
	$script .= "\\echo \@\@END\n";
	my $out = $node->safe_psql('postgres', $script);
	my (%res, $cur);
	for my $line (split /\n/, $out, -1)
	{
		if ($line eq '@@END') { $cur = undef; next; }
		if ($line =~ /^\@\@(\d+ \w+ [RE])$/) { $cur = $1; $res{$cur} = []; next; }
		next unless defined $cur;
		push @{ $res{$cur} }, $line;
	}
	return \%res;
}

sub compare
{
	my ($label) = @_;
	my $p = run_all($primary, 0);
	my $s = run_all($standby, 1);
	for my $i (0 .. $#queries)
	{
		my ($name, $sql, $ordered, $modes) = @{ $queries[$i] };
		for my $m (@$modes)
		{
			my @a = @{ $p->{"$i $m R"} };
			my @b = @{ $s->{"$i $m R"} };
			if (!$ordered) { @a = sort @a; @b = sort @b; }
			is(join("\n", @b), join("\n", @a), "$label: $name ($m): standby returns what the primary returns");
			my $plan = join("\n", @{ $s->{"$i $m E"} });
			like($plan, qr/\b\Q$index\E\b/, "$label: $name ($m): standby's plan uses $index")
			  or diag($plan);
		}
	}
	is($standby->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"),
		'', "$label: memkv_verify on the standby finds no problem");
}

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
my $pcount = $primary->safe_psql('postgres', 'SELECT count(*) FROM t');
cmp_ok($pcount, '>', 6000, 'primary has the rows');
compare('after build');

$primary->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'usr/lib/x' || g || '/more' FROM generate_series(1, 1500) g;
INSERT INTO t(k) SELECT 'usr/share/doc/pkg12/new' || g FROM generate_series(1, 50) g;
UPDATE t SET k = k || '.gz' WHERE id % 17 = 0;
INSERT INTO t(k) VALUES (NULL), ('usr/share/doc/pkg7/dup');
DELETE FROM t WHERE id % 19 = 0;
VACUUM t;
INSERT INTO t(k) VALUES ('aaa'), ('zzzz');
});
$primary->wait_for_catchup($standby);
compare('after more writes');

# With the frozen layer (memkv_freeze(), when it exists): the standby reads
# the replicated FST pages plus the delta written after the freeze.
my $have_freeze = $primary->safe_psql('postgres',
	"SELECT count(*) FROM pg_proc WHERE proname = 'memkv_freeze'") > 0;
if ($have_freeze)
{
	$primary->safe_psql('postgres', qq{
SELECT memkv_freeze('$index');
INSERT INTO t(k) SELECT 'usr/lib/x' || g || '/postfreeze' FROM generate_series(1, 300) g;
DELETE FROM t WHERE id % 23 = 0;
});
	$primary->wait_for_catchup($standby);
	compare('after a freeze');
}
else
{
	note('no memkv_freeze(): freeze step skipped');
}

$standby->restart;
compare('after standby restart');

# Writes after the standby restart are replayed into its rebuilt state.
$primary->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'usr/share/doc/pkg12/after-restart' || g FROM generate_series(1, 100) g;
});
$primary->wait_for_catchup($standby);
compare('after writes following the standby restart');

# Small steps: each batch of inserts is caught up by the standby's scans.
for my $i (1 .. 10)
{
	$primary->safe_psql('postgres', "INSERT INTO t(k) SELECT 'usr/lib/x' || g || '/step$i' FROM generate_series(1, 20) g; INSERT INTO t(k) VALUES ('usr/lib/x1/'), (NULL)");
	$primary->wait_for_catchup($standby);
	my $q = q{SELECT count(*), md5(string_agg(k, ',' ORDER BY k)) FROM t WHERE k ^@ 'usr/lib/x1'};
	my $want = $primary->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; $q");
	is($standby->safe_psql('postgres', "$mode_sql{is} $q"), $want, "step $i: standby index scan sees the new rows");
	is($standby->safe_psql('postgres', "$mode_sql{bm} $q"), $want, "step $i: standby bitmap scan sees the new rows");
}

# Promote the standby: it becomes writable and its index takes new inserts.
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
  or die 'standby was not promoted';
$standby->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'usr/share/doc/pkg12/promoted' || g FROM generate_series(1, 100) g;
INSERT INTO t(k) VALUES (NULL), (''), ('usr/lib/x1/');
DELETE FROM t WHERE k ^@ 'usr/lib/x2';
VACUUM t;
});
my $q = q{SELECT count(*), md5(string_agg(coalesce(k, '-'), ',' ORDER BY k, id)) FROM t};
my $want = $standby->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; $q");
is($standby->safe_psql('postgres', "$mode_sql{is} SELECT count(*), md5(string_agg(coalesce(k, '-'), ',' ORDER BY k, id)) FROM (SELECT id, k FROM t ORDER BY k) s"),
	$want, 'promoted: a full index scan equals the heap');
is($standby->safe_psql('postgres', "$mode_sql{bm} SELECT count(*) FROM t WHERE k ^@ 'usr/share/doc/pkg12/promoted'"),
	'100', 'promoted: rows inserted after promotion are found through the index');
is($standby->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"),
	'', 'promoted: memkv_verify finds no problem');

# Freezes on the promoted node write each new run on the pages the old
# run and log leave free (the free space map survives promotion, and
# VACUUM above filled it), so four freezes do not add four runs' worth
# of blocks to the relation.
my ($size1, $run1);
for my $round (1 .. 4)
{
	$standby->safe_psql('postgres', qq{
INSERT INTO t(k) SELECT 'usr/share/promoted/round$round/' || repeat('p', 60) || g FROM generate_series(1, 2500) g;
});
	my ($rc, $out, $err) = $standby->psql('postgres',
		"SELECT memkv_freeze('$index')");
	is($rc, 0, "promoted: freeze $round succeeds") or diag($err);
	if ($round == 1)
	{
		$size1 = $standby->safe_psql('postgres',
			"SELECT pg_relation_size('$index') / current_setting('block_size')::int");
		$run1 = $standby->safe_psql('postgres',
			"SELECT frozen_pages FROM memkv_state('$index')");
	}
}
my $size4 = $standby->safe_psql('postgres',
	"SELECT pg_relation_size('$index') / current_setting('block_size')::int");
cmp_ok($size4, '<', $size1 + 2 * $run1,
	"promoted: three more freezes reuse freed pages ($size1 -> $size4 blocks, run of $run1 pages)");
$want = $standby->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; $q");
is($standby->safe_psql('postgres', "$mode_sql{is} SELECT count(*), md5(string_agg(coalesce(k, '-'), ',' ORDER BY k, id)) FROM (SELECT id, k FROM t ORDER BY k) s"),
	$want, 'promoted, after freezes: a full index scan equals the heap');
is($standby->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"),
	'', 'promoted, after freezes: memkv_verify finds no problem');

$standby->stop;
done_testing();
