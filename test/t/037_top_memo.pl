# test/t/037_top_memo.pl -- lookups read each slice's FST top region and
# postings group table from the run memo's copies in backend memory
# (src/README "Run layout", memkv.top_memo_kb), which never go stale.
#
# The arena is 1 MB, too small for a shared copy of the run, so scans read
# the run's pages.  The run has many slices (memkv.debug_slice_bytes) with
# large top regions (memkv.debug_unit_bytes).  Checked:
#   * a lookup copies top regions and tables into the memo (its DEBUG2
#     line), and none with memkv.top_memo_kb = 0; with room for a few
#     slices only, the rest read pages; the answers of a join by the index
#     equal a hash join's in every case;
#   * one long-lived session on the primary and one on a standby, whose
#     memos hold copies of the first run, keep giving the hash join's
#     answers after inserts + memkv_freeze (a new run), memkv_merge (runs
#     replaced), DELETE + VACUUM (a dead list), and REINDEX (another index
#     instance);
#   * range scans, prefixes and ordered walks both ways across slices
#     equal a seq scan, with all slices copied and with only some;
#   * memkv_verify reads the pages, not the copies: clean here;
#   * a top-region page that is not the run's (its tag changed on disk)
#     gives the corruption ERROR with the REINDEX hint, with and without
#     the memo.

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvDisk;

# Without data checksums (initdb's default from 18 on), so that memkv's
# own page checks answer for the damaged tag below.
my $node = memkv_primary('top_memo', streaming => 1, checksums => 0,
	conf => "memkv.freeze_threshold = 0\nmemkv.shared_memory = 1\n",
	sql => q{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k)
  SELECT 'host' || (g % 23) || '.example/usr/share/doc/pkg' || (g % 911)
         || '/file' || g
  FROM generate_series(1, 60000) g;
INSERT INTO t(k) SELECT k FROM t WHERE id % 50 = 7;
CREATE TABLE probe (k text COLLATE "C");
INSERT INTO probe
  SELECT k FROM t WHERE id % 97 = 1
  UNION ALL SELECT k || 'x' FROM t WHERE id % 389 = 2
  UNION ALL SELECT 'host9' UNION ALL SELECT '' UNION ALL SELECT 'zzz';
});
$node->safe_psql('postgres', q{
SET memkv.debug_slice_bytes = 16384;
SET memkv.debug_unit_bytes = 256;
CREATE INDEX t_k ON t USING memkv (k);
});
my $standby = memkv_standby($node, 'top_memo_standby');

# The join by the index (a nested loop, an index scan per probe), and the
# same by a hash join.
my $join = q{
SELECT count(*), coalesce(sum(hashtext(t.k || t.ctid::text)::bigint), 0)
  FROM probe p JOIN t ON t.k = p.k;
};
my $idx_set = q{
SET enable_seqscan = off; SET enable_bitmapscan = off;
SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off;
};
my $by_index = $idx_set . $join;
my $by_hash = q{
SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;
} . $join;

like($node->safe_psql('postgres', "$idx_set EXPLAIN (COSTS OFF) $join"),
	qr/Index (Only )?Scan using t_k/, 'the join probes t_k');

# A lookup session's copies, from its DEBUG2 lines.
sub copies
{
	my ($n, $settings) = @_;
	my ($rc, $out, $err) = $n->psql('postgres',
		"$settings SET client_min_messages = debug2; $by_index");
	is($rc, 0, "join with '$settings' runs") or diag($err);
	my @copies = $err =~ /holds the top region of run \d+ slice \d+ \((\d+) bytes\)/g;
	return ($out, scalar(@copies));
}

my $want = $node->safe_psql('postgres', $by_hash);
like($want, qr/^[1-9]\d*\|/, "the probes find rows ($want)");
my ($got, $n) = copies($node, '');
is($got, $want, 'memo copies: the join equals the hash join');
cmp_ok($n, '>', 4, "a lookup session copies several top regions ($n)");
($got, $n) = copies($node, 'SET memkv.top_memo_kb = 0;');
is($got, $want, 'no copies: the join equals the hash join');
is($n, 0, 'memkv.top_memo_kb = 0 copies nothing');
($got, $n) = copies($node, 'SET memkv.top_memo_kb = 8;');
is($got, $want, 'room for a few: the join equals the hash join');
my (undef, $nall) = copies($node, '');
cmp_ok($n, '<', $nall, "8 kB holds fewer slices' copies ($n of $nall)");
cmp_ok($n, '>', 0, 'but some');

# Range scans, prefixes and ordered walks cross slices through the copies
# too, all copied and only some.
foreach my $set ('', 'SET memkv.top_memo_kb = 8;')
{
	memkv_check_scans($node, "scans with '$set'", 't_k', [
		"$set SELECT count(*), min(k), max(k) FROM t WHERE k >= 'host1.' AND k < 'host15'",
		"$set SELECT count(*) FROM t WHERE k LIKE 'host7.example/usr/share/doc/pkg12%'",
		"$set SELECT k FROM t WHERE k > 'host20' ORDER BY k LIMIT 40",
		"$set SELECT k FROM t WHERE k < 'host3' ORDER BY k DESC LIMIT 40",
		"$set SELECT count(*) FROM t WHERE k = ANY (ARRAY(SELECT k FROM probe))",
	]);
}

# Long-lived sessions whose memos hold the first run's copies.
my $ps = $node->background_psql('postgres');
my $ss = $standby->background_psql('postgres');
sub same
{
	my ($label) = @_;
	$node->wait_for_catchup($standby);
	my $pw = $node->safe_psql('postgres', $by_hash);
	my $sw = $standby->safe_psql('postgres', $by_hash);
	is($ps->query_safe($by_index), $pw, "primary, long session: $label");
	is($ss->query_safe($by_index), $sw, "standby, long session: $label");
	return;
}
same('first run');

$node->safe_psql('postgres', q{
INSERT INTO t(k) SELECT k || '/new' FROM t WHERE id % 31 = 3;
INSERT INTO t(k) SELECT k FROM t WHERE id % 43 = 5;
INSERT INTO probe SELECT k || '/new' FROM t WHERE id % 31 = 3 AND id % 2 = 0;
SET memkv.debug_slice_bytes = 16384; SET memkv.debug_unit_bytes = 256;
SELECT memkv_freeze('t_k');
});
cmp_ok($node->safe_psql('postgres', q{SELECT runs FROM memkv_state('t_k')}),
	'>', 1, 'the freeze added a run');
same('after a freeze');

$node->safe_psql('postgres', q{
SET memkv.debug_slice_bytes = 16384; SET memkv.debug_unit_bytes = 256;
SELECT memkv_merge('t_k');
});
same('after a merge');

$node->safe_psql('postgres', q{DELETE FROM t WHERE id % 7 = 2; VACUUM t;});
same('after DELETE and VACUUM');

$node->safe_psql('postgres', q{
SET memkv.debug_slice_bytes = 16384; SET memkv.debug_unit_bytes = 256;
REINDEX INDEX t_k;
});
same('after REINDEX');

$ps->quit;
$ss->quit;
is($node->safe_psql('postgres', q{SELECT * FROM memkv_verify('t_k')}), '',
	'memkv_verify finds no problem');

# The pages of slice 1's top region get another run's tag.
$standby->stop;
my $path = $node->data_dir . '/' . $node->safe_psql('postgres',
	q{SELECT pg_relation_filepath('t_k')});
$node->stop;
my $key;
{
	my $raw = slurp_file_bin($path);
	my $d = \$raw;
	my $dir = dir_get($d);
	my $run = $dir->{runs}[0];
	my $h = run_header($d, $run);
	die "expected several slices" if $h->{nslices} < 3;
	my $sl = $h->{slices}[1];
	my $lo = int(($sl->{postings} + $sl->{leaf}) / $CHUNK);
	my $hi = int(($sl->{postings} + $sl->{leaf} + $sl->{top} - 1) / $CHUNK);
	foreach my $lp ($lo .. $hi)
	{
		my $o = run_block($h, $sl->{first_page} + $lp) * $BLCKSZ + $SPECIAL + 4;
		put32($d, $o, u32($d, $o) ^ 0x5a5a);
	}
	spew_file_bin($path, $raw);
	# a key of slice 1: its fence (a prefix of its first key)
	$key = $sl->{fence};
}
$node->start;
$key =~ s/'/''/g;
foreach my $set ('', 'SET memkv.top_memo_kb = 0;')
{
	my ($rc, $out, $err) = $node->psql('postgres', qq{
SET enable_seqscan = off; SET enable_bitmapscan = off; $set
SELECT count(*) FROM t WHERE k = '$key';
});
	isnt($rc, 0, "damaged top page ('$set'): the lookup fails");
	like($err, qr/ERROR:.*corrupted/, "damaged top page ('$set'): the corruption ERROR");
	like($err, qr/HINT:.*REINDEX/, "damaged top page ('$set'): the REINDEX hint");
}

done_testing();
