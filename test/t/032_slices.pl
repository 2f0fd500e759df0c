# test/t/032_slices.pl -- runs of several slices (memkv 2 step 7: src/README
# "Slices exist to bound the writer's memory", "CREATE INDEX and memory").
#
# A run writer closes its slice when the slice's plain FST image reaches
# its budget (maintenance_work_mem / 2, at least 2 MB) / 6, or its memory
# would pass the budget when packed, or memkv.debug_slice_bytes when that
# testing GUC is set, and writes it at once; readers find a key's slice by
# the fences and walk from slice to slice.  Checked:
#   * CREATE INDEX of 300,000 rows with maintenance_work_mem = 1MB writes
#     a run of several slices, and the writer's peak (its DEBUG1 line)
#     stays under 1 MB / 2 + 2 MB; so does a table of 60 keys of 20,000
#     TIDs each, whose postings fill several slices, and a freeze at 1MB
#     (whose writer also collects key blocks);
#   * that index, and one rebuilt with 4 kB slices (hundreds of them),
#     equal a seq scan: equality, = ANY, ranges, prefixes, the whole table
#     in both orders, IS NULL, and a scroll cursor moving forward and
#     backward across many slice boundaries; memkv_verify is clean;
#   * inserts, freezes, DELETE + VACUUM (dead lists name run-wide
#     ordinals) and memkv_merge with 4 kB slices keep it equal to the seq
#     scan, and memkv_verify clean;
#   * a fence key in the slice table changed (still in order, and the
#     header's CRC fixed up, so the header decodes): a lookup it routes to
#     its slice, which opens the slice, gives the corruption ERROR with the
#     REINDEX hint.  (Unfixed, the header's CRC catches it: 039.)

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvDisk;
use MemkvHostKeys;

# Without data checksums (initdb's default from 18 on), which would make
# PostgreSQL reject the damaged header page before memkv's checks see it.
# The table: MemkvHostKeys's, with 5,000 rows of its hot key.
my $node = memkv_primary('slices', checksums => 0,
	sql => memkv_host_table_sql(5000));

# Build (or rebuild) the index with the given settings; returns the
# writer's (keys, slices, peak) from its DEBUG1 line.
sub build
{
	my ($settings, $sql) = @_;
	return memkv_host_build($node, $settings, $sql);
}

# Every query by the index equals the same by a seq scan (and the plan
# does use the index).
sub same_as_seqscan
{
	my ($what) = @_;
	memkv_host_same_as_seqscan($node, $what);
	return;
}

# (a) maintenance_work_mem = 1MB: several slices, the writer within bounds
my ($keys, $slices, $peak) = build(q{SET maintenance_work_mem = '1MB';},
	'CREATE INDEX t_k ON t USING memkv (k)');
cmp_ok($slices, '>', 4, "1MB: the run has several slices ($slices, $keys keys)");
cmp_ok($peak, '<', (0.5 + 2) * 1024 * 1024,
	"1MB: the writer's peak stays under 1 MB / 2 + 2 MB ($peak bytes)");
same_as_seqscan('1MB');

# (a2) postings, not FST image, fill the slices: 60 keys of 20,000 TIDs
# each.  The writer closes a slice on its memory, not only on its image
# (one slice here would hold over 2 MB of postings).
{
	$node->safe_psql('postgres', q{
CREATE TABLE u (id serial, k text COLLATE "C");
INSERT INTO u(k) SELECT 'dup' || (g % 60) FROM generate_series(1, 1200000) g;
});
	my ($rc, $out, $err) = $node->psql('postgres', q{
SET maintenance_work_mem = '1MB';
SET client_min_messages = debug1;
CREATE INDEX u_k ON u USING memkv (k);
});
	is($rc, 0, 'build of 60 keys x 20,000 TIDs') or diag($err);
	my ($uslices, $upeak) = $err =~
	  /memkv run writer: run \d+ of "u_k": \d+ keys in (\d+) slices of about \d+ bytes of plain FST, \d+ pages; peak (\d+) bytes/;
	cmp_ok($uslices // 0, '>', 1,
		'many TIDs a key: the run has several slices (' . ($uslices // 0) . ')');
	cmp_ok($upeak // 'inf', '<', (0.5 + 2) * 1024 * 1024,
		"many TIDs a key: the writer's peak stays under 1 MB / 2 + 2 MB ("
		  . ($upeak // 'none') . ' bytes)');
	my $index_on_u = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
	is($node->safe_psql('postgres', "$index_on_u SELECT count(*), sum(id) FROM u WHERE k = 'dup17'"),
		$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off; SELECT count(*), sum(id) FROM u WHERE k = 'dup17'"),
		'many TIDs a key: a lookup equals the seq scan');
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('u_k')"),
		'0', 'many TIDs a key: memkv_verify is clean');
	$node->safe_psql('postgres', 'DROP TABLE u');
}

# (a3) a freeze at 1MB: the writer also collects key blocks for the run's
# shared copy, and gives them up rather than pass its budget.
{
	$node->safe_psql('postgres', q{
CREATE TABLE v (id serial, k text COLLATE "C");
CREATE INDEX v_k ON v USING memkv (k) WITH (stripes = 1);
INSERT INTO v(k) SELECT 'host' || (g % 37) || '.example/usr/share/doc/pkg'
  || (g % 997) || '/file' || g FROM generate_series(1, 200000) g;
});
	my ($rc, $out, $err) = $node->psql('postgres', q{
SET maintenance_work_mem = '1MB';
SET client_min_messages = debug1;
SELECT memkv_freeze('v_k');
});
	is($rc, 0, 'freeze at 1MB') or diag($err);
	my ($vslices, $vpeak) = $err =~
	  /memkv run writer: run \d+ of "v_k": \d+ keys in (\d+) slices of about \d+ bytes of plain FST, \d+ pages; peak (\d+) bytes/;
	cmp_ok($vslices // 0, '>', 1, 'freeze at 1MB: several slices (' . ($vslices // 0) . ')');
	cmp_ok($vpeak // 'inf', '<', (0.5 + 2) * 1024 * 1024,
		"freeze at 1MB: the writer's peak stays under 1 MB / 2 + 2 MB ("
		  . ($vpeak // 'none') . ' bytes)');
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('v_k')"),
		'0', 'freeze at 1MB: memkv_verify is clean');
	$node->safe_psql('postgres', 'DROP TABLE v');
}

# (b) 4 kB slices: hundreds of them
($keys, $slices, $peak) = build(q{SET memkv.debug_slice_bytes = 4096;},
	'REINDEX INDEX t_k');
cmp_ok($slices, '>', 60, "4 kB slices: the run has many ($slices)");
same_as_seqscan('4 kB slices');

# (c) inserts, freezes, deletes + VACUUM, merge, all with 4 kB slices
$node->safe_psql('postgres',
	'ALTER SYSTEM SET memkv.debug_slice_bytes = 4096; SELECT pg_reload_conf()');
$node->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'host' || (g % 41) || '.example/var/new' || g FROM generate_series(1, 20000) g;
SELECT memkv_freeze('t_k');
INSERT INTO t(k) SELECT 'host' || (g % 13) || '.example/usr/share/doc/pkg' || (g % 997) || '/file' || g FROM generate_series(1, 20000) g;
INSERT INTO t(k) VALUES (NULL), ('');
SELECT memkv_freeze('t_k');
});
cmp_ok($node->safe_psql('postgres', "SELECT runs FROM memkv_state('t_k')"),
	'>', 1, 'after two freezes the index has several runs');
same_as_seqscan('after freezes');
$node->safe_psql('postgres', q{
DELETE FROM t WHERE id % 7 = 0 OR k LIKE 'host3.%';
VACUUM t;
});
same_as_seqscan('after DELETE and VACUUM');
memkv_host_merge($node);
same_as_seqscan('after memkv_merge');
$node->safe_psql('postgres',
	'ALTER SYSTEM RESET memkv.debug_slice_bytes; SELECT pg_reload_conf()');

# (d) a fence moved within its neighbours' order: the header still
# decodes, but the fence no longer lies between the slices' keys
$node->safe_psql('postgres', 'SET memkv.debug_slice_bytes = 4096; REINDEX INDEX t_k');
my $file = $node->data_dir . '/'
  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('t_k')");
$node->stop;
my $d = slurp_file_bin($file);
my $dir = dir_get(\$d);
my $h = run_header(\$d, $dir->{runs}[0]);
cmp_ok($h->{nslices}, '>', 60, "the rebuilt run has $h->{nslices} slices");
my $i = int($h->{nslices} / 2);
my $sl = $h->{slices}[$i];
my $s = $h->{stream};
my $fence = $sl->{fence};
# the fence's last byte + 1: after the slice's first key (of which the
# fence is a prefix), before the next fence (thousands of keys apart)
my $moved = substr($fence, 0, -1) . chr(ord(substr($fence, -1)) + 1);
ok($moved lt $h->{slices}[$i + 1]{fence}, 'the moved fence stays before the next one');
substr($s, $sl->{fence_off}, length($fence)) = $moved;
# (the header's CRC fixed up, so that the damage reaches the fence check)
hdr_put(\$d, $h, $s);
spew_file_bin($file, $d);
$node->start;
# a lookup the moved fence routes to the slice, which is opened then: its
# first key now lies before its fence
my ($rc, $out, $err) = $node->psql('postgres',
	"SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t WHERE k = '$moved'");
isnt($rc, 0, 'a lookup in a run with a moved fence fails');
like($err, qr/ERROR:  frozen layer of index "t_k" is corrupted: a slice's fence key/,
	'with the corruption error');
like($err, qr/HINT:  Please REINDEX it\./, 'and the REINDEX hint');
$node->safe_psql('postgres', 'REINDEX INDEX t_k');
same_as_seqscan('after REINDEX');

$node->stop;
done_testing();
