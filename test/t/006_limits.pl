# test/t/006_limits.pl -- memkv at its shared-memory limits.
#
# A server with the smallest shared memory cap (memkv.shared_memory = 1 MB)
# and room for only two delta trees (memkv.max_indexes = 2):
#   * three indexes used in turn: trees are evicted and rebuilt from the index
#     relation, answers stay equal to seq scans;
#   * one index fed far more keys than 1 MB holds: every statement either
#     succeeds or fails with a clean ERROR (no crash); afterwards the index
#     returns exactly the heap's rows and memkv_verify() is clean;
#   * when memkv.freeze_threshold exists: a small threshold makes the
#     background worker freeze the index by itself (generation goes up), and
#     answers stay right.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
memkv.shared_memory = 1
memkv.max_indexes = 2
});
$node->start;

my $have_threshold = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_settings WHERE name = 'memkv.freeze_threshold'") > 0;
if ($have_threshold)
{
	# no automatic freezing until the last part
	$node->append_conf('postgresql.conf', "memkv.freeze_threshold = 0\n");
	$node->reload;
}

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $bm = 'SET enable_seqscan = off; SET enable_indexscan = off;';

# Run a query without dying on an ERROR: (output, error text or '').
sub try_sql
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return ($out, $ret == 0 ? '' : $err);
}

sub same_through_index
{
	my ($table, $where, $name) = @_;
	my $q = "SELECT count(*), md5(coalesce(string_agg(coalesce(k, '-') || ':' || id, ',' ORDER BY k, id), '')) FROM $table WHERE $where";
	my ($want, $e0) = try_sql("$seq $q");
	my ($got_idx, $e1) = try_sql("$idx $q");
	my ($got_bm, $e2) = try_sql("$bm $q");
	ok($e0 eq '' && $e1 eq '' && $e2 eq '' && $got_idx eq $want && $got_bm eq $want, $name)
	  or diag("seq: $want $e0\nindex: $got_idx $e1\nbitmap: $got_bm $e2");
}

sub verify_clean
{
	my ($index, $name) = @_;
	my ($out, $err) = try_sql("SELECT * FROM memkv_verify('$index')");
	ok($err eq '' && $out eq '', $name) or diag("$out $err");
}

$node->safe_psql('postgres', 'CREATE EXTENSION memkv');
for my $t (qw(a b c))
{
	$node->safe_psql('postgres', qq{
CREATE TABLE $t (id serial, k text COLLATE "C");
INSERT INTO $t(k) SELECT '$t/' || g FROM generate_series(1, 2000) g;
CREATE INDEX ${t}_k ON $t USING memkv (k);
});
}

# Round robin over three indexes with room for two trees.
my $bad = 0;
for my $round (1 .. 6)
{
	for my $t (qw(a b c))
	{
		$node->safe_psql('postgres',
			"INSERT INTO $t(k) SELECT '$t/r$round/' || g FROM generate_series(1, 200) g");
		my $want = $node->safe_psql('postgres', "$seq SELECT count(*) FROM $t WHERE k ^@ '$t/r'");
		my $got = $node->safe_psql('postgres', "$idx SELECT count(*) FROM $t WHERE k ^@ '$t/r'");
		$bad++ if $got ne $want;
	}
}
is($bad, 0, 'three indexes in turn with max_indexes = 2: answers equal seq scans');
for my $t (qw(a b c))
{
	same_through_index($t, 'true', "index $t after evictions: full scan equals the heap");
	verify_clean("${t}_k", "index $t after evictions: memkv_verify finds no problem");
}

# Create, fill, TRUNCATE, REINDEX and drop many indexes: the registry (keyed
# by relfilenode, room for two trees) and the 1 MB must not leak.
my $cycle_bad = 0;
for my $i (1 .. 12)
{
	my ($out, $err) = try_sql(qq{
CREATE TABLE cyc$i (k text COLLATE "C");
CREATE INDEX cyc${i}_k ON cyc$i USING memkv (k);
INSERT INTO cyc$i SELECT 'cycle/$i/' || g FROM generate_series(1, 3000) g;
TRUNCATE cyc$i;
INSERT INTO cyc$i SELECT 'cycle/$i/again/' || g FROM generate_series(1, 3000) g;
REINDEX INDEX cyc${i}_k;
INSERT INTO cyc$i SELECT 'cycle/$i/more/' || g FROM generate_series(1, 3000) g;
$idx
SELECT count(*) FROM cyc$i WHERE k ^@ 'cycle/$i/';
});
	if ($err ne '' || $out ne '6000')
	{
		$cycle_bad++;
		diag("cycle $i: $out $err");
	}
	$node->safe_psql('postgres', "DROP TABLE cyc$i");
}
is($cycle_bad, 0, '12 create/fill/TRUNCATE/REINDEX/drop cycles: no leak, right answers');

# Far more keys than 1 MB of shared memory holds.
$node->safe_psql('postgres', q{
CREATE TABLE big (id serial, k text COLLATE "C");
CREATE INDEX big_k ON big USING memkv (k);
});
my ($ok, $failed, @errors) = (0, 0);
for my $batch (1 .. 40)
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"INSERT INTO big(k) SELECT 'usr/share/doc/package-$batch-' || g || '/changelog.Debian.gz' FROM generate_series(1, 2500) g");
	if ($ret == 0) { $ok++; }
	else { $failed++; push @errors, $err; }
}
note("100,000 keys in 40 batches into 1 MB: $ok batches succeeded, $failed failed");
is(scalar(grep { !/ERROR:.*(memkv|memory)/i } @errors), 0,
	'inserts beyond the cap either succeed or fail with a clean memkv ERROR')
  or diag(join("\n", @errors[ 0 .. ($#errors < 4 ? $#errors : 4) ]));
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server is up after filling shared memory');
ok(!$node->log_contains('terminated by signal'), 'no backend crashed');
# Reads must go on working after inserts failed at the cap: the failed
# statements' rows are dead, the committed ones must all be found.
same_through_index('big', "k >= 'usr/share/doc/package-1'", 'after inserts failed at the cap: range scan equals the heap');
same_through_index('big', "k ^@ 'usr/share/doc/package-7-1'", 'after inserts failed at the cap: prefix scan equals the heap');
verify_clean('big_k', 'after inserts failed at the cap: memkv_verify finds no problem');
for my $t (qw(a b c))
{
	same_through_index($t, "k ^@ '$t/r3'", "index $t still right while big fills memory");
}

# memkv_freeze() moves the delta into the index's pages: room again.
SKIP:
{
	skip 'no memkv_freeze()', 3
	  unless $node->safe_psql('postgres', "SELECT count(*) FROM pg_proc WHERE proname = 'memkv_freeze'") > 0;
	{
		# memkv_freeze must work on an index whose delta no longer fits in
		# shared memory: it then reads the delta from the log.
		my ($out, $err) = try_sql("SELECT memkv_freeze('big_k')");
		is($err, '', 'memkv_freeze works on an index whose inserts hit the cap');
		($out, $err) = try_sql("INSERT INTO big(k) SELECT 'usr/share/doc/after-freeze-' || g FROM generate_series(1, 2500) g");
		is($err, '', 'after the freeze, inserts fit again');
	}
	same_through_index('big', 'true', 'after the freeze (or its failure): full scan equals the heap');
}

# After a restart the delta is rebuilt from the index relation.
$node->restart;
same_through_index('big', "k >= 'usr/share/doc/package-1'", 'after a restart: range scan equals the heap');
verify_clean('big_k', 'after a restart: memkv_verify finds no problem');

# Automatic freezing by the background worker.
SKIP:
{
	skip 'no memkv.freeze_threshold', 3 unless $have_threshold;
	my $gen0 = $node->safe_psql('postgres', "SELECT generation FROM memkv_state('a_k')");
	$node->adjust_conf('postgresql.conf', 'memkv.freeze_threshold', '1000');
	$node->reload;
	$node->safe_psql('postgres', "INSERT INTO a(k) SELECT 'a/auto/' || g FROM generate_series(1, 3000) g");
	ok($node->poll_query_until('postgres',
			"SELECT generation > $gen0 FROM memkv_state('a_k')"),
		'the background worker froze the index past freeze_threshold');
	same_through_index('a', 'true', 'after the automatic freeze: full scan equals the heap');
	verify_clean('a_k', 'after the automatic freeze: memkv_verify finds no problem');
}

$node->stop;
done_testing();
