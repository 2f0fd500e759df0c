# test/t/035_top_region.pl -- runs are written in the top-region layout
# (FST format version 3: src/README "Run layout"), and runs of the older
# layout stay readable beside them.
#
# memkv_verify reports each slice's FST version and top region at DEBUG1,
# read from the slice's own pages.  Checked:
#   * CREATE INDEX writes version-3 slices whose top regions are not
#     empty, and memkv_verify is clean;
#   * with memkv.debug_unit_bytes = 0 a REINDEX writes the older layout
#     (version 2); a freeze then adds a version-3 run beside it, and the
#     index equals a seq scan (equality, prefixes, ranges both ways,
#     IS NULL) with both layouts in it; memkv_merge turns both into one
#     version-3 run; VACUUM's rewrite of a run too dead writes version 3;
#   * leaf units of 64 bytes (many units, a large top region) give the
#     same answers;
#   * a run header whose split of a slice's FST into leaf and top bytes
#     disagrees with the FST's own top start (same total, so scans still
#     read it) is reported by memkv_verify.

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvDisk;

# Without data checksums (initdb's default from 18 on), so that memkv's
# own checks answer for the changed header bytes below.
# 100,000 path-like rows, some NULLs and repeated keys
my $node = memkv_primary('top_region', checksums => 0,
	conf => "memkv.freeze_threshold = 0\n",
	sql => q{
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k)
  SELECT CASE WHEN g % 1000 = 3 THEN NULL
    ELSE 'host' || (g % 23) || '.example/usr/share/doc/pkg' || (g % 911)
         || '/file' || (g % 60000) END
  FROM generate_series(1, 100000) g;
});

# memkv_verify of t_k at DEBUG1: its problems, and per slice (run id,
# slice, FST version, top region bytes, FST bytes)
sub verify
{
	my ($settings) = @_;
	$settings //= '';
	my ($rc, $out, $err) = $node->psql('postgres', qq{
$settings
SET client_min_messages = debug1;
SELECT count(*) FROM memkv_verify('t_k');
});
	is($rc, 0, 'memkv_verify runs') or diag($err);
	my @slices;
	while ($err =~ /memkv: run (\d+) slice (\d+): FST version (\d+), top region (\d+) of (\d+) bytes/g)
	{
		push @slices, [ $1, $2, $3, $4, $5 ];
	}
	return ($out, \@slices);
}

# Versions of the slices by run: { run id => { version => count } }
sub versions
{
	my ($slices) = @_;
	my %v;
	$v{ $_->[0] }{ $_->[2] }++ foreach @$slices;
	return \%v;
}

sub describe
{
	my ($v) = @_;
	return join('; ', map {
		my $r = $_;
		"run $r: " . join(', ', map { "v$_ x $v->{$r}{$_}" } sort keys %{ $v->{$r} })
	} sort keys %$v);
}

my $index_on = 'SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off;';
my $index_off = 'SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;';
my @queries = (
	[ 'equality', q{SELECT count(*), sum(id) FROM t WHERE k = 'host4.example/usr/share/doc/pkg4/file4'} ],
	[ 'equality, absent', q{SELECT count(*) FROM t WHERE k = 'host4.example/usr/share/doc/pkg4/file5'} ],
	[ '= ANY', q{SELECT count(*), sum(id) FROM t WHERE k = ANY (ARRAY(SELECT 'host' || (g % 23) || '.example/usr/share/doc/pkg' || (g % 911) || '/file' || (g % 60000) FROM generate_series(1, 100000, 97) g) || ARRAY['nothere', 'host1'])} ],
	[ 'prefix', q{SELECT count(*), sum(id) FROM t WHERE k LIKE 'host7.example/usr/share/doc/pkg12%'} ],
	[ 'range', q{SELECT count(*), sum(id) FROM t WHERE k >= 'host12' AND k < 'host2'} ],
	[ 'ascending', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k > 'host1' ORDER BY k) s} ],
	[ 'descending', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k < 'host8' ORDER BY k DESC) s} ],
	[ 'LIMIT 20', q{SELECT string_agg(k, ',') FROM (SELECT k FROM t WHERE k >= 'host15.example/usr/share/doc/pkg3' ORDER BY k LIMIT 20) s} ],
	[ 'IS NULL', q{SELECT count(*), sum(id) FROM t WHERE k IS NULL} ],
);

sub same_as_seqscan
{
	my ($what) = @_;
	like($node->safe_psql('postgres', "$index_on EXPLAIN (COSTS OFF) $queries[5][1]"),
		qr/Index (Only )?Scan using t_k/, "$what: the ordered query uses the index");
	foreach my $q (@queries)
	{
		is($node->safe_psql('postgres', "$index_on $q->[1]"),
			$node->safe_psql('postgres', "$index_off $q->[1]"), "$what: $q->[0]");
	}
}

# (a) a fresh index: version 3, top regions in use
$node->safe_psql('postgres', 'CREATE INDEX t_k ON t USING memkv (k)');
my ($problems, $slices) = verify();
is($problems, '0', 'CREATE INDEX: memkv_verify is clean');
my $v = versions($slices);
ok(@$slices > 0 && !grep({ $_->[2] != 3 } @$slices),
	'CREATE INDEX: every slice is FST version 3 (' . describe($v) . ')');
ok((grep { $_->[3] > 0 } @$slices) > 0,
	'CREATE INDEX: a slice has a top region ('
	  . join(', ', map { "$_->[3] of $_->[4]" } @$slices) . ' bytes)');
same_as_seqscan('version 3');

# (b) the older layout, then a version-3 run beside it
$node->safe_psql('postgres', 'SET memkv.debug_unit_bytes = 0; REINDEX INDEX t_k');
($problems, $slices) = verify();
is($problems, '0', 'older layout: memkv_verify is clean');
ok(@$slices > 0 && !grep({ $_->[2] != 2 || $_->[3] != 0 } @$slices),
	'debug_unit_bytes = 0: every slice is version 2 without a top region ('
	  . describe(versions($slices)) . ')');
$node->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'host' || (g % 19) || '.example/var/new/' || g FROM generate_series(1, 30000) g;
INSERT INTO t(k) VALUES (NULL), ('host4.example/usr/share/doc/pkg4/file4');
SELECT memkv_freeze('t_k');
});
($problems, $slices) = verify();
is($problems, '0', 'both layouts: memkv_verify is clean');
$v = versions($slices);
is(scalar(keys %$v), 2, 'a freeze adds a second run (' . describe($v) . ')');
my @kinds = sort map { join(',', sort keys %{ $v->{$_} }) } keys %$v;
is("@kinds", '2 3', 'one run of each layout: the old one, and the new run of version 3');
same_as_seqscan('both layouts');

# (c) a merge writes version 3
$node->safe_psql('postgres', "SELECT memkv_merge('t_k')");
($problems, $slices) = verify();
is($problems, '0', 'after memkv_merge: memkv_verify is clean');
$v = versions($slices);
ok(keys(%$v) == 1 && !grep({ $_->[2] != 3 } @$slices),
	'memkv_merge leaves one version-3 run (' . describe($v) . ')');
same_as_seqscan('after memkv_merge');

# (d) VACUUM's rewrite of a run too dead (> 20% of its TIDs) writes version 3
$node->safe_psql('postgres', 'SET memkv.debug_unit_bytes = 0; REINDEX INDEX t_k');
$node->safe_psql('postgres', q{
DELETE FROM t WHERE id % 3 = 0;
VACUUM t;
});
($problems, $slices) = verify();
is($problems, '0', 'after VACUUM: memkv_verify is clean');
ok(@$slices > 0 && !grep({ $_->[2] != 3 } @$slices),
	"VACUUM's rewrite writes version 3 (" . describe(versions($slices)) . ')');
same_as_seqscan('after VACUUM');

# (e) leaf units of 64 bytes: many units under a large top region
$node->safe_psql('postgres', 'SET memkv.debug_unit_bytes = 64; REINDEX INDEX t_k');
($problems, $slices) = verify();
is($problems, '0', '64-byte units: memkv_verify is clean');
my ($top, $all) = (0, 0);
foreach (@$slices) { $top += $_->[3]; $all += $_->[4]; }
ok(@$slices > 0 && !grep({ $_->[2] != 3 } @$slices) && $top * 10 > $all,
	"64-byte units: version 3, the top region over a tenth of the FST ($top of $all bytes)");
same_as_seqscan('64-byte units');

# (f) the header's leaf/top split moved by 8 bytes, the total unchanged
$node->safe_psql('postgres', 'REINDEX INDEX t_k');
my $file = $node->data_dir . '/'
  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('t_k')");
$node->stop;
my $d = slurp_file_bin($file);
my $h = run_header(\$d, dir_get(\$d)->{runs}[0]);
my $sl = $h->{slices}[0];
ok($sl->{top} > 8, "slice 0 has $sl->{top} top bytes in its header");
my $s = $h->{stream};
substr($s, $sl->{off} + 12, 16) = pack('Q< Q<', $sl->{leaf} + 8, $sl->{top} - 8);
hdr_put(\$d, $h, $s);
spew_file_bin($file, $d);
$node->start;
my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM memkv_verify('t_k')");
like($out, qr/leaf bytes \(\d+\) do not end where the FST's top region starts/,
	'memkv_verify reports the moved split') or diag("$out\n$err");
$node->safe_psql('postgres', 'REINDEX INDEX t_k');
($problems) = verify();
is($problems, '0', 'after REINDEX: memkv_verify is clean');

$node->stop;
done_testing();
