# test/t/039_lazy_slices.pl -- a run's slices are opened one at a time,
# when a reader first needs them (src/README "Run layout", the run memo).
#
# A run header of version 2 holds each slice's key count, so a backend's
# memo of the run knows every slice's first ordinal from the header alone
# and opens a slice (its FST and postings preambles and trailers, its keys
# against the fences around it) on its first use; version-1 headers, which
# memkv.debug_header_version = 1 still writes, are opened whole up front.
# The arena is 1 MB, too small for a shared copy of the run, so scans read
# the run's pages.  Checked:
#   * a new session's point lookup fetches far fewer index blocks than the
#     run has slices (pg_stat_get_xact_blocks_fetched), and more than that
#     for the same run with a version-1 header;
#   * every query kind equals a seq scan on both, and on an index holding
#     a version-1 run and a version-2 run, before and after memkv_merge;
#   * with the postings preamble of one slice damaged on disk, a lookup in
#     another slice still answers right; a query that reaches the damaged
#     slice gets the corruption ERROR with the REINDEX hint, again on a
#     second try in the same session (the failed open left nothing the
#     memo trusts), while the other slice keeps answering in between; and
#     memkv_verify reports the damage as rows (the checksum, the slice that
#     does not open), not as an ERROR;
#   * a byte of a version-2 run header changed on disk (its CRC not fixed
#     up) is the run header's corruption ERROR.

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvDisk;

my $keys = q{
  SELECT 'host' || (g % 23) || '.example/usr/share/doc/pkg' || (g % 911)
         || '/file' || g
  FROM generate_series(1, 60000) g};
my $node = memkv_primary('lazy_slices', checksums => 0,
	conf => "memkv.freeze_threshold = 0\nmemkv.shared_memory = 1\n",
	sql => qq{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k) $keys;
INSERT INTO t(k) SELECT k FROM t WHERE id % 50 = 7;
CREATE TABLE u (LIKE t INCLUDING DEFAULTS);
INSERT INTO u SELECT * FROM t;
CREATE TABLE w (LIKE t INCLUDING DEFAULTS);
INSERT INTO w SELECT * FROM t;
SET memkv.debug_slice_bytes = 4096;
CREATE INDEX t_k ON t USING memkv (k);
CREATE INDEX w_k ON w USING memkv (k);
SET memkv.debug_header_version = 1;
CREATE INDEX u_k ON u USING memkv (k);
});

# Index blocks a new session fetches for one point lookup (and its answer).
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
sub lookup_blocks
{
	my ($table, $key) = @_;
	my $out = $node->safe_psql('postgres', qq{
$idx
BEGIN;
SELECT count(*) FROM $table WHERE k = '$key';
SELECT pg_stat_get_xact_blocks_fetched('${table}_k'::regclass);
COMMIT;
});
	my ($count, $blocks) = split /\n/, $out;
	return ($count, $blocks);
}

my $mid = $node->safe_psql('postgres',
	q{SELECT k FROM t ORDER BY k OFFSET 31000 LIMIT 1});
my ($count2, $blocks2) = lookup_blocks('t', $mid);
my ($count1, $blocks1) = lookup_blocks('u', $mid);
is($count2, '1', "version 2: the lookup finds its row");
is($count1, '1', "version 1: the lookup finds its row");

# The slice tables, from the index files.
my %file = map {
	$_ => $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_')")
} qw(t_k u_k w_k);
$node->stop;
my $raw = slurp_file_bin($file{t_k});
my $h = run_header(\$raw, dir_get(\$raw)->{runs}[0]);
my $nslices = $h->{nslices};
is($h->{version}, 3, 'CREATE INDEX writes a version-3 run header');
is($h->{filter_blocks}, 0, 'CREATE INDEX writes no filter (the bottom run)');
{
	my $raw1 = slurp_file_bin($file{u_k});
	my $h1 = run_header(\$raw1, dir_get(\$raw1)->{runs}[0]);
	is($h1->{version}, 1, 'memkv.debug_header_version = 1 writes version 1');
	is($h1->{nslices}, $nslices, 'both runs have the same slices');
}
cmp_ok($nslices, '>=', 20, "the run has many slices ($nslices)");
cmp_ok($blocks2, '<', $nslices / 4,
	"version 2: a new session's lookup fetches $blocks2 index blocks for $nslices slices");
cmp_ok($blocks1, '>', $nslices,
	"version 1: it fetches $blocks1 (every slice opened up front)");

# Damage slice 1's postings preamble (its first page) in t_k; and a byte
# of w_k's run header, its CRC left as it is.
my $j = 1;
my $sl = $h->{slices}[$j];
my $fence_lo = $sl->{fence};
my $fence_hi = $h->{slices}[ $j + 1 ]{fence};
cmp_ok($mid, 'ge', $h->{slices}[ $j + 2 ]{fence}, 'the lookup key lies in a later slice');
{
	my $o = run_block($h, $sl->{first_page}) * $BLCKSZ + $CONTENTS;
	put32(\$raw, $o, u32(\$raw, $o) ^ 0x00ff00ff);
	spew_file_bin($file{t_k}, $raw);

	my $raww = slurp_file_bin($file{w_k});
	my $hw = run_header(\$raww, dir_get(\$raww)->{runs}[0]);
	my $s = $hw->{stream};
	substr($s, 50, 1) = chr(ord(substr($s, 50, 1)) ^ 1);
	hdr_put(\$raww, $hw, $s, 1);
	spew_file_bin($file{w_k}, $raww);
}
$node->start;

# Every query kind, on the healthy version-1 index.
my @queries = (
	"SELECT count(*) FROM %s WHERE k = '$mid'",
	"SELECT count(*) FROM %s WHERE k = ANY (ARRAY(SELECT k FROM %s WHERE id %% 97 = 1))",
	"SELECT count(*), min(k), max(k) FROM %s WHERE k >= 'host1.' AND k < 'host15'",
	"SELECT count(*) FROM %s WHERE k LIKE 'host7.example/usr/share/doc/pkg12%%'",
	"SELECT k FROM %s WHERE k > 'host20' ORDER BY k LIMIT 40",
	"SELECT k FROM %s WHERE k < 'host3' ORDER BY k DESC LIMIT 40",
	"SELECT count(*) FROM %s WHERE k IS NULL",
	"SELECT k FROM %s ORDER BY k LIMIT 5",
	"SELECT k FROM %s ORDER BY k DESC LIMIT 5",
);
sub queries_on { my ($t) = @_; return [ map { sprintf($_, $t, $t) } @queries ]; }
memkv_check_scans($node, 'version 1', 'u_k', queries_on('u'));

# A version-2 run next to the version-1 one, then both merged.
$node->safe_psql('postgres', q{
INSERT INTO u(k) SELECT k || '/new' FROM u WHERE id % 31 = 3;
INSERT INTO u(k) VALUES (NULL);
SET memkv.debug_slice_bytes = 4096;
SELECT memkv_freeze('u_k');
});
is($node->safe_psql('postgres', q{SELECT runs FROM memkv_state('u_k')}), '2',
	'u_k holds a version-1 and a version-2 run');
memkv_check_scans($node, 'versions 1 and 2', 'u_k', queries_on('u'));
$node->safe_psql('postgres', q{
SET memkv.debug_slice_bytes = 4096; SELECT memkv_merge('u_k');
});
memkv_check_scans($node, 'merged', 'u_k', queries_on('u'));

# The damaged slice: a lookup elsewhere answers, a query reaching it fails.
my $want = $node->safe_psql('postgres',
	"SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t WHERE k = '$mid'");
is($want, '1', 'the seq scan finds the lookup key');
my ($count, $blocks) = lookup_blocks('t', $mid);
is($count, $want, 'a lookup outside the damaged slice answers right');
my $reach = "SELECT count(*) FROM t WHERE k >= '$fence_lo' AND k < '$fence_hi'";
my ($rc, $out, $err) = $node->psql('postgres', qq{
\\set VERBOSITY verbose
$idx
$reach;
SELECT count(*) FROM t WHERE k = '$mid';
$reach;
SELECT count(*) FROM t WHERE k = '$mid';
}, on_error_stop => 0);
my @errors = $err =~ /ERROR:\s+XX002: frozen layer of index "t_k" is corrupted/g;
is(scalar(@errors), 2, 'a query reaching the slice fails, twice in one session')
  or diag($err);
my @hints = $err =~ /HINT:\s+Please REINDEX it\./g;
is(scalar(@hints), 2, 'with the REINDEX hint');
is($out, "1\n1", 'the other slice answers right in between');
($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM memkv_verify('t_k')");
is($rc, 0, 'memkv_verify reports the damage as rows, not an ERROR') or diag($err);
like($out, qr/its pages do not match their checksum/, 'memkv_verify: the checksum');
like($out, qr/frozen layer: slice $j: /, 'memkv_verify: the slice that does not open');
$node->safe_psql('postgres', 'REINDEX INDEX t_k');
memkv_check_scans($node, 'after REINDEX', 't_k', queries_on('t'));

# The header whose byte changed under its CRC.
($rc, $out, $err) = $node->psql('postgres',
	"$idx SELECT count(*) FROM w WHERE k = '$mid'");
isnt($rc, 0, 'a changed run header byte: the lookup fails');
like($err, qr/ERROR:  run header of index "w_k" is corrupted: run header does not match its checksum/,
	'with the run header checksum error');
like($err, qr/HINT:  Please REINDEX it\./, 'and the REINDEX hint');

$node->stop;
done_testing();
