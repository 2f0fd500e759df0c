# test/t/040_run_filters.pl -- runs' membership filters (src/README, "Per-run
# filter"): every run but the bottom (oldest) one carries a blocked Bloom
# filter, and an exact lookup skips a run whose filter says the key is not
# there.
#
# Checked:
#   * an index holding a bottom run (CREATE INDEX: no filter), a freeze's
#     run with a filter, runs of header versions 2 and 1
#     (memkv.debug_header_version: no filter), a run of a 2-bit filter
#     (many false positives) and a delta: point lookups of present keys,
#     of absent keys, of keys that are proper prefixes of present ones (and
#     present ones that prefix absent ones), = ANY, and bitmap scans, each
#     equal to a seq scan, on the primary and on a standby;
#   * which runs have filters (memkv_verify's DEBUG1 line per run): after
#     the above; after a merge the policy runs in the background over the
#     small runs (not the bottom: the result has one); after VACUUM
#     (its freeze of the delta has one, its rewrite of a middle run has
#     one, its rewrite of the bottom run has none); after memkv_merge of
#     all runs (none); memkv.debug_filter_bits = 0 writes none; lookups
#     whose key only a filtered run's bounds admit, the delta empty (the
#     batch reads that run alone);
#   * a filter page zeroed on disk: memkv_verify reports the checksum
#     and the keys missing from the filter as rows, and a lookup, which
#     copies the filter into its run memo, gets the corruption ERROR;
#   * the filter's stored parameters damaged (header CRC recomputed): a
#     lookup gets the run header's corruption ERROR, not a crash.

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvDisk;

# The batch unit of the merge policy is the index's freeze threshold:
# 3,000 makes the bottom run (20,000 keys) class 2 and each small run of
# fewer than 3,000 TIDs class 0, so six small runs are merged without the
# bottom one.  Each batch below stays under the threshold and is frozen by
# hand.
my $node = memkv_primary('run_filters', checksums => 0, streaming => 1,
	conf => "memkv.freeze_threshold = 0\n",
	sql => q{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'usr/share/doc/pkg' || (g % 500) || '/file' || g
  FROM generate_series(1, 20000) g;
INSERT INTO t(k) VALUES (NULL), (''), ('usr');
CREATE INDEX t_k ON t USING memkv (k) WITH (freeze_threshold = 3000);
});

# Freeze a batch of keys `k || suffix || id` for ids id % 10 = $m, with
# the settings given.
sub batch
{
	my ($m, $suffix, $set) = @_;
	$node->safe_psql('postgres', qq{
$set
INSERT INTO t(k) SELECT k || '$suffix' || id FROM t WHERE id <= 20000 AND id % 10 = $m;
SELECT memkv_freeze('t_k');
});
	return;
}

# The runs' (header version, filter blocks), newest first, from
# memkv_verify's DEBUG1 lines; and its problem rows.
sub filters
{
	my ($index) = @_;
	my ($rc, $out, $err) = $node->psql('postgres',
		"SET client_min_messages = debug1; SELECT * FROM memkv_verify('$index')");
	my @runs;
	while ($err =~ /memkv: run \d+: header version (\d+), filter of (\d+) blocks/g)
	{
		push @runs, "v$1:" . ($2 > 0 ? 'filter' : 'none');
	}
	return (join(' ', @runs), $out);
}

batch(1, '/~z', '');
batch(2, '/~y', 'SET memkv.debug_header_version = 2;');
batch(3, '/~x', 'SET memkv.debug_header_version = 1;');
batch(4, '/~w', 'SET memkv.debug_filter_bits = 2;');
# the delta
$node->safe_psql('postgres', q{
INSERT INTO t(k) SELECT k || '/~d' FROM t WHERE id <= 20000 AND id % 97 = 5;
INSERT INTO t(k) VALUES (NULL), ('zzz');
});
is($node->safe_psql('postgres', q{SELECT runs FROM memkv_state('t_k')}), '5',
	'five runs');
my ($f, $problems) = filters('t_k');
is($f, 'v3:filter v1:none v2:none v3:filter v3:none',
	'filters on the freezes of version 3, none on old headers or the bottom run');
is($problems, '', 'memkv_verify finds no problem');

# Present keys (of every run and the delta), absent ones, proper prefixes
# of present keys, present keys that prefix absent ones; one lookup per
# row through a lateral join, and = ANY.
my @queries = (
	q{SELECT count(*), sum(s.c) FROM t a, LATERAL (SELECT count(*) c FROM t b WHERE b.k = a.k) s WHERE a.id % 71 = 1},
	q{SELECT count(*), sum(s.c) FROM t a, LATERAL (SELECT count(*) c FROM t b WHERE b.k = a.k || '/~z' || a.id) s WHERE a.id % 61 = 1 AND a.id <= 20000},
	q{SELECT count(*), sum(s.c) FROM t a, LATERAL (SELECT count(*) c FROM t b WHERE b.k = left(a.k, length(a.k) - 1)) s WHERE a.id % 67 = 2},
	q{SELECT count(*), sum(s.c) FROM t a, LATERAL (SELECT count(*) c FROM t b WHERE b.k = a.k || '/~q') s WHERE a.id % 73 = 1},
	q{SELECT count(*) FROM t WHERE k = ANY (ARRAY(SELECT k FROM t WHERE id % 13 = 1))},
	q{SELECT count(*) FROM t WHERE k = ANY (ARRAY(SELECT k || '/~' FROM t WHERE id % 13 = 2))},
	q{SELECT count(*) FROM t WHERE k = ANY (ARRAY(SELECT left(k, 20 + id % 25) FROM t WHERE id % 17 = 3))},
	q{SELECT count(*) FROM t WHERE k = 'usr/share/doc/pkg11/file511/~z511'},
	q{SELECT count(*) FROM t WHERE k = 'usr/share/doc/pkg11/file511'},
	q{SELECT count(*) FROM t WHERE k = 'usr/share/doc/pkg11/file51'},
	q{SELECT count(*) FROM t WHERE k = 'zzz' OR k = 'usr' OR k = ''},
	q{SELECT count(*) FROM t WHERE k IS NULL},
);
memkv_check_scans($node, 'five runs and a delta', 't_k', \@queries);

# The same lookups on a standby (the filter pages came as full-page images).
my $standby = memkv_standby($node, 'run_filters_standby');
foreach my $q (@queries[ 0 .. 6 ])
{
	is($standby->safe_psql('postgres', "SET enable_seqscan = off; $q"),
		$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; $q"),
		"standby: $q");
}

# Two more small runs: class 0 holds six, which the merge worker merges
# into one run above the bottom one: it gets a filter.
batch(5, '/~v', '');
batch(6, '/~u', '');
my $runs;
foreach (1 .. 600)
{
	$runs = $node->safe_psql('postgres', q{SELECT runs FROM memkv_state('t_k')});
	last if $runs eq '2';
	usleep(100_000);
}
is($runs, '2', 'the policy merged the six small runs');
($f, $problems) = filters('t_k');
is($f, 'v3:filter v3:none', 'the merge above the bottom run has a filter');
is($problems, '', 'memkv_verify finds no problem after the merge');
memkv_check_scans($node, 'after the merge', 't_k', \@queries);

# VACUUM: its freeze of the delta, its rewrites of a middle run and of
# the bottom run (each more than a fifth dead).
$node->safe_psql('postgres', q{
DELETE FROM t WHERE id % 4 = 0;
INSERT INTO t(k) SELECT k || '/~t' FROM t WHERE id <= 20000 AND id % 50 = 7;
VACUUM t;
});
($f, $problems) = filters('t_k');
is($f, 'v3:filter v3:filter v3:none',
	'VACUUM: its freeze and the middle rewrite have filters, the bottom rewrite none');
is($problems, '', 'memkv_verify finds no problem after VACUUM');
memkv_check_scans($node, 'after VACUUM', 't_k', \@queries);

# A freeze with filters off, then everything merged into a bottom run.
batch(8, '/~s', 'SET memkv.debug_filter_bits = 0;');
($f) = filters('t_k');
like($f, qr/^v3:none /, 'memkv.debug_filter_bits = 0: no filter');
$node->safe_psql('postgres', q{SELECT memkv_merge('t_k')});
($f, $problems) = filters('t_k');
is($f, 'v3:none', 'memkv_merge of all runs: one run, no filter');
memkv_check_scans($node, 'after memkv_merge', 't_k', \@queries);

# A filtered run whose bounds alone admit the lookups, the delta empty: the
# batch reads that one run by itself (fill.c's frozen_only).
$node->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'zzz/' || g FROM generate_series(1, 300) g;
SELECT memkv_freeze('t_k');
});
($f) = filters('t_k');
is($f, 'v3:filter v3:none', 'a filtered run of zzz/ keys over the bottom run');
memkv_check_scans($node, 'one run meets', 't_k', [
	q{SELECT count(*) FROM t WHERE k = 'zzz/7'},
	q{SELECT count(*) FROM t WHERE k = 'zzz/77x'},
	q{SELECT count(*) FROM t WHERE k = ANY ('{zzz/1,zzz/10x,zzz/299,zzz/3000,zzz/}')},
	q{SELECT count(*), sum(s.c) FROM generate_series(1, 400) g, LATERAL (SELECT count(*) c FROM t WHERE k = 'zzz/' || g || CASE WHEN g % 2 = 0 THEN '' ELSE '~' END) s},
]);

# Damage: a second index, a bottom run and a freeze's run with a filter.
$node->safe_psql('postgres', q{
CREATE TABLE u (id serial, k text COLLATE "C");
INSERT INTO u(k) SELECT 'var/lib/pkg' || (g % 300) || '/f' || g FROM generate_series(1, 5000) g;
CREATE INDEX u_k ON u USING memkv (k) WITH (freeze_threshold = 0);
INSERT INTO u(k) SELECT k || '/~z' FROM u WHERE id % 3 = 0;
SELECT memkv_freeze('u_k');
});
($f) = filters('u_k');
is($f, 'v3:filter v3:none', 'u_k: a filtered run over the bottom run');
my $file = $node->data_dir . '/'
  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('u_k')");
$node->stop;
my $raw = slurp_file_bin($file);
my $h = run_header(\$raw, dir_get(\$raw)->{runs}[0]);
cmp_ok($h->{filter_blocks}, '>', 0, 'the newest run has filter blocks');
is($h->{filter_offset} + $CONTENTS, 64, 'its blocks start on a cache line');
{
	# zero the filter's first page
	my $blk = run_block($h, $h->{filter_page});
	substr($raw, $blk * $BLCKSZ + $CONTENTS, $CHUNK) = "\0" x $CHUNK;
	spew_file_bin($file, $raw);
}
$node->start;
my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM memkv_verify('u_k')");
is($rc, 0, 'a zeroed filter page: memkv_verify reports rows, no ERROR') or diag($err);
like($out, qr/the filter of run \d+ does not match its checksum/,
	'memkv_verify: the filter checksum');
like($out, qr/\d+ keys of run \d+ are missing from its filter/,
	'memkv_verify: keys missing from the filter');
($rc, $out, $err) = $node->psql('postgres',
	"SET enable_seqscan = off; SELECT count(*) FROM u WHERE k = 'var/lib/pkg1/f1'");
like($err, qr/ERROR:  frozen layer of index "u_k" is corrupted: the filter of run \d+ does not match its checksum/,
	'a lookup that copies the zeroed filter into its memo gets the corruption ERROR');

# blocks per page past what a page holds, the header's CRC made to match
$node->stop;
$raw = slurp_file_bin($file);
$h = run_header(\$raw, dir_get(\$raw)->{runs}[0]);
{
	my $s = $h->{stream};
	put16(\$s, $h->{filter_off} + 12, 200);
	hdr_put(\$raw, $h, $s);
	spew_file_bin($file, $raw);
}
$node->start;
($rc, $out, $err) = $node->psql('postgres',
	"SET enable_seqscan = off; SELECT count(*) FROM u WHERE k = 'var/lib/pkg1/f1'");
isnt($rc, 0, 'damaged filter parameters: the lookup fails');
like($err, qr/ERROR:  run header of index "u_k" is corrupted: run header filter parameters or pages are invalid/,
	'with the run header corruption error');
like($err, qr/HINT:  Please REINDEX it\./, 'and the REINDEX hint');
$node->safe_psql('postgres', 'REINDEX INDEX u_k');
is($node->safe_psql('postgres',
	"SET enable_seqscan = off; SELECT count(*) FROM u WHERE k = 'var/lib/pkg1/f1'"),
	'1', 'after REINDEX the lookup answers');

$standby->stop;
$node->stop;
done_testing();
