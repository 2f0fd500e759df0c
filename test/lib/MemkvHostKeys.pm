# test/lib/MemkvHostKeys.pm -- the "host" data set and its seq-scan checks,
# shared by the TAP tests of spilled builds and multi-slice runs (029, 032,
# 034).
#
# memkv_host_table_sql(HOT) is the SQL that makes table t (id serial,
# k text COLLATE "C") of 300,000 rows: 150,000 distinct keys each twice
# (TIDs far apart), a NULL every 1,000 rows, the empty key twice, 'host1',
# one more NULL, keys sharing long prefixes ('hostN.example/usr/share/doc/
# pkgM/fileK'), and HOT more rows of the one key 'host5.hot'.
#
# memkv_host_same_as_seqscan(NODE, WHAT) asserts, for index t_k on that
# table, that the ordered and the descending query plans use the index,
# that every query kind (counts, whole table both ways, ordered and
# descending ranges with and without TIDs, equality, absent keys, the hot
# key, the empty key, = ANY, prefixes, ordered LIMIT both ways, IS NULL)
# and two scroll cursors moving forward and backward over many keys give
# the same answer through the index as by a seq scan, and that
# memkv_verify('t_k') is clean.  Test names start with WHAT.
#
# memkv_host_build(NODE, SETTINGS, SQL) runs SQL (CREATE INDEX t_k or a
# REINDEX) after the SETTINGS statements with client messages at DEBUG1,
# asserts it succeeds and that the run writer reported its run, and
# returns the (keys, slices, peak bytes) of the writer's DEBUG1 line.
#
# memkv_host_merge(NODE) runs memkv_merge('t_k') with client messages at
# DEBUG1 and asserts it succeeds, that the merged run has many slices
# (more than 60: for indexes written with 4 kB slices) and that one run
# is left.
#
# $memkv_host_index_on and $memkv_host_index_off are the settings that
# force an index scan (no sort) or a seq scan.

package MemkvHostKeys;

use strict;
use warnings;
use Exporter 'import';
use Test::More;

our @EXPORT = qw(memkv_host_table_sql memkv_host_build memkv_host_merge
  memkv_host_same_as_seqscan
  $memkv_host_index_on $memkv_host_index_off);

our $memkv_host_index_on =
  'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;';
our $memkv_host_index_off =
  'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;';

sub memkv_host_table_sql
{
	my ($hot) = @_;
	return qq{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k)
  SELECT CASE WHEN g % 1000 = 7 THEN NULL
    ELSE 'host' || (g % 37) || '.example/usr/share/doc/pkg' || (g % 997)
         || '/file' || (g % 150000) END
  FROM generate_series(1, 300000) g;
INSERT INTO t(k) VALUES (''), (''), ('host1'), (NULL);
INSERT INTO t(k) SELECT 'host5.hot' FROM generate_series(1, $hot);
};
}

sub memkv_host_build
{
	my ($node, $settings, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', qq{
$settings
SET client_min_messages = debug1;
$sql
});
	is($rc, 0, "build: $sql") or diag($err);
	my ($keys, $slices, $peak) = $err =~
	  /memkv run writer: run \d+ of "t_k": (\d+) keys in (\d+) slices of about \d+ bytes of plain FST, \d+ pages; peak (\d+) bytes/;
	ok(defined $slices, 'the writer reports its slices and peak')
	  or diag($err);
	return ($keys // 0, $slices // 0, $peak // 0);
}

sub memkv_host_merge
{
	my ($node) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; SELECT memkv_merge('t_k')");
	is($rc, 0, 'memkv_merge succeeds') or diag($err);
	my ($slices) = $err =~ /memkv run writer: run \d+ of "t_k": \d+ keys in (\d+) slices/;
	cmp_ok($slices // 0, '>', 60, "the merged run has many slices (" . ($slices // 0) . ')');
	is($node->safe_psql('postgres', "SELECT runs FROM memkv_state('t_k')"),
		'1', 'memkv_merge leaves one run');
	return;
}

my @queries = (
	[ 'count', q{SELECT count(*) FROM t WHERE k >= ''} ],
	[ 'whole table ascending',
		q{SELECT md5(string_agg(k || ':' || id, ',' ORDER BY k, id)) FROM (SELECT k, id FROM t WHERE k >= '' ORDER BY k) s} ],
	[ 'order ascending', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k > 'host1' ORDER BY k) s} ],
	[ 'order descending', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k < 'host8' ORDER BY k DESC) s} ],
	[ 'whole table descending', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k >= '' ORDER BY k DESC) s} ],
	[ 'equality', q{SELECT count(*), sum(id) FROM t WHERE k = 'host3.example/usr/share/doc/pkg3/file3'} ],
	[ 'equality, absent', q{SELECT count(*) FROM t WHERE k = 'host3.example/usr/share/doc/pkg3/file4'} ],
	[ 'hot key', q{SELECT count(*), sum(id) FROM t WHERE k = 'host5.hot'} ],
	[ 'empty key', q{SELECT count(*) FROM t WHERE k = ''} ],
	[ '= ANY', q{SELECT count(*), sum(id) FROM t WHERE k = ANY (ARRAY(SELECT 'host' || (g % 37) || '.example/usr/share/doc/pkg' || (g % 997) || '/file' || (g % 150000) FROM generate_series(1, 300000, 293) g) || ARRAY['host1', 'nothere', 'host9'])} ],
	[ 'range', q{SELECT count(*), sum(id) FROM t WHERE k >= 'host12' AND k < 'host2'} ],
	[ 'range, exclusive', q{SELECT count(*), sum(id) FROM t WHERE k > 'host20.example/usr/share/doc/pkg5' AND k <= 'host33'} ],
	[ 'range, descending', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k > 'host17' AND k <= 'host24.example/usr/share/doc/pkg6' ORDER BY k DESC) s} ],
	[ 'range, descending, TIDs', q{SELECT md5(string_agg(k || ':' || id, ',' ORDER BY k, id)) FROM (SELECT k, id FROM t WHERE k > 'host17' AND k <= 'host24.example/usr/share/doc/pkg6' ORDER BY k DESC) s} ],
	[ 'prefix', q{SELECT count(*), sum(id) FROM t WHERE k LIKE 'host7.example/usr/share/doc/pkg12%'} ],
	[ 'prefix, wide', q{SELECT count(*), sum(id) FROM t WHERE k LIKE 'host3%'} ],
	[ 'ordered LIMIT', q{SELECT string_agg(k, ',') FROM (SELECT k FROM t WHERE k >= 'host22.example/usr/share/doc/pkg50' ORDER BY k LIMIT 20) s} ],
	[ 'ordered LIMIT, descending', q{SELECT string_agg(k, ',') FROM (SELECT k FROM t WHERE k < 'host22.example/usr/share/doc/pkg50' ORDER BY k DESC LIMIT 20) s} ],
	[ 'IS NULL', q{SELECT count(*), sum(id) FROM t WHERE k IS NULL} ],
);

# Scroll cursors: forward, backward across many slices, forward again,
# jumps; one ascending, one descending.  Keys only: the order of a key's
# TIDs is not defined.
my @cursors = (
	q{
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k FROM t WHERE k >= 'host10' ORDER BY k;
FETCH FORWARD 60000 FROM c;
FETCH BACKWARD 45000 FROM c;
FETCH FORWARD 7 FROM c;
FETCH ABSOLUTE 20 FROM c;
FETCH BACKWARD 30 FROM c;
FETCH FORWARD 100000 FROM c;
COMMIT;
},
	q{
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k FROM t WHERE k < 'host30' ORDER BY k DESC;
FETCH FORWARD 70000 FROM c;
FETCH BACKWARD 50000 FROM c;
FETCH FORWARD 3 FROM c;
FETCH RELATIVE -2 FROM c;
FETCH FORWARD 20000 FROM c;
COMMIT;
});

sub memkv_host_same_as_seqscan
{
	my ($node, $what) = @_;
	my $on = $memkv_host_index_on;
	my $off = $memkv_host_index_off;

	my $plan = $node->safe_psql('postgres', "$on EXPLAIN (COSTS OFF) $queries[1][1]");
	like($plan, qr/Index (Only )?Scan using t_k/, "$what: the ordered query uses the index");
	$plan = $node->safe_psql('postgres', "$on EXPLAIN (COSTS OFF) $queries[3][1]");
	like($plan, qr/Index (Only )?Scan Backward using t_k/,
		"$what: the descending query scans the index backward");
	foreach my $q (@queries)
	{
		my $by_index = $node->safe_psql('postgres', "$on $q->[1]");
		my $by_seq = $node->safe_psql('postgres', "$off $q->[1]");
		is($by_index, $by_seq, "$what: $q->[0]");
	}
	my $n = 0;
	foreach my $c (@cursors)
	{
		my $by_index = $node->safe_psql('postgres', "$on $c");
		my $by_seq = $node->safe_psql('postgres', "$off $c");
		ok(length($by_index) > 100000 && $by_index eq $by_seq,
			"$what: scroll cursor $n forward and backward");
		$n++;
	}
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('t_k')"),
		'0', "$what: memkv_verify is clean");
	return;
}

1;
