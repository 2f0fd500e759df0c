# test/t/014_corruption.pl -- every kind of page damage gives an ERROR,
# never a crash, a loop or a wrong answer.
#
# Each damage case gets a table with a memkv index of its own.  Two shapes:
#   * "log" tables: a small run and a large delta log (30,000 long keys,
#     more than 1 MB of tree), so that with memkv.shared_memory = 1 the
#     delta does not fit and a freeze reads the log directly;
#   * "run" tables: a run larger than 1 MB (every key with two TIDs, so
#     the postings hold lists, not singles; six NULL TIDs, which a run
#     keeps in its header) and a small delta, so that with
#     memkv.shared_memory = 1 scans read the run's pages instead of a copy
#     in shared memory.
# With the server stopped, each index is damaged on disk in one way (the
# format version 3 layout, read and written by test/lib/MemkvDisk.pm): log
# entries (header size 0 and huge, lp_off past the page, key length past
# the item, a zero byte in a key), the log chain (a `next` cycle, a `next`
# past the end), the metapage's directory (a CRC mismatch; with the CRC
# fixed up so that the damage reaches the rule it aims at: the log head
# past the end, its offset out of range, the run's header block past the
# end, its page count huge, fewer TIDs than keys), the run's header (a bad
# magic, an extent past the end, a slice's bytes past the run's pages, a
# NULL TID with offset 0),
# the run's slice (a huge posting count, an FST node whose target or
# transition count is out of bounds, a root address out of range, all
# with the slice's CRC in the header fixed up, and a CRC mismatch), and
# random bytes (seeded).  Then every entry point runs against each index,
# first with the default shared memory (scans read the run's checked
# copy), then after a restart with memkv.shared_memory = 1 (page reading,
# direct-mode freezes): equality, range, prefix and backward index scans,
# a bitmap scan, memkv_state, memkv_verify, an insert (catch-up sync),
# memkv_freeze and VACUUM.  Each must give the right answer or an ERROR
# (for crafted damage: SQLSTATE XX002, index_corrupted, with the REINDEX
# hint), and the server must stay up: no "terminated by signal" in its
# log.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvDisk;

my $node = PostgreSQL::Test::Cluster->new('corruption');
# Without data checksums (initdb's default from 18 on), which would make
# PostgreSQL reject the damaged pages before memkv's checks see them.
$node->init(allows_streaming => 1, extra => [ '--locale=C', '--encoding=UTF8',
	$node->pg_version >= 18 ? ('--no-data-checksums') : () ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
max_worker_processes = 16
});
$node->start;

# ------------------------------------------------------------ the data

my @log_cases = qw(l_size0 l_sizehuge l_lpoff l_keypast l_zero l_cycle
  l_nextpast r_log ctl_log);
my @run_cases = qw(d_crc d_head d_headoff d_hblock d_npages d_ntids
  h_magic h_extent h_slice h_nulls f_count f_target f_ntrans f_root f_crc r_run r_any
  ctl_run);

$node->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE run_base (id int, k text COLLATE "C");
INSERT INTO run_base
  SELECT i, 'host' || (i % 97) || '/path/' || md5(i::text) || md5((i * 7)::text)
  FROM generate_series(1, 30000) i;
INSERT INTO run_base SELECT -i, NULL FROM generate_series(1, 3) i;
INSERT INTO run_base SELECT id + 30000, k FROM run_base;
CREATE TABLE log_base (id int, k text COLLATE "C");
INSERT INTO log_base
  SELECT i, 'host' || (i % 97) || '/path/' || md5(i::text)
  FROM generate_series(1, 2000) i;
});
foreach my $t (@run_cases)
{
	$node->safe_psql('postgres', qq{
CREATE TABLE $t AS SELECT * FROM run_base;
CREATE INDEX ${t}_k ON $t USING memkv (k);
INSERT INTO $t SELECT -i, 'host' || (i % 97) || '/delta/' || md5(i::text)
  FROM generate_series(1, 200) i;
INSERT INTO $t VALUES (-1000, NULL);
});
}
foreach my $t (@log_cases)
{
	$node->safe_psql('postgres', qq{
CREATE TABLE $t AS SELECT * FROM log_base;
CREATE INDEX ${t}_k ON $t USING memkv (k);
INSERT INTO $t SELECT -i, 'host' || (i % 97) || '/delta/' || md5(i::text) || md5((-i)::text)
  FROM generate_series(1, 30000) i;
INSERT INTO $t VALUES (-100000, NULL);
});
}

my $key0 = $node->safe_psql('postgres', 'SELECT min(k) FROM run_base');
my $lkey = $node->safe_psql('postgres', "SELECT k FROM log_base WHERE id = 1234");
my %file;
foreach my $t (@log_cases, @run_cases)
{
	$file{$t} = $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('${t}_k')");
}
$node->stop;

# ------------------------------------------------- reading and damaging

# The format's readers and writers are in test/lib/MemkvDisk.pm.

# Edit the directory of block 0 through $edit (a sub given the decoded
# directory) and write it back with a matching CRC.
sub edit_dir
{
	my ($d, $edit) = @_;
	my $dir = dir_get($d);
	$edit->($dir);
	dir_put($d, $dir);
}

# The directory's only run and its header (step 3: one run, one slice).
sub the_run
{
	my ($d) = @_;
	my $dir = dir_get($d);
	die "expected one run, found $dir->{nruns}" if $dir->{nruns} != 1;
	my $h = run_header($d, $dir->{runs}[0]);
	die "expected one slice, found $h->{nslices}" if $h->{nslices} != 1;
	return ($dir->{runs}[0], $h);
}

# MEMKV_SEED (run-all.sh passes it on) varies the random damage
my $seed = $ENV{MEMKV_SEED} // 20261204;
note("random damage seed: $seed");
srand($seed);

my %damage = (
	# log entries: the middle entry of a middle page of the chain
	l_size0 => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		my ($ip) = item_pos($d, $c[@c / 2], 5);
		put16($d, $ip + 6, u16($d, $ip + 6) & ~0x1FFF);
	},
	l_sizehuge => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		my ($ip) = item_pos($d, $c[@c / 2], 5);
		put16($d, $ip + 6, u16($d, $ip + 6) | 0x1FFF);
	},
	l_lpoff => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		my $lpp = lp_pos($c[@c / 2], 7);
		my $lp = u32($d, $lpp);
		put32($d, $lpp, ($lp & ~0x7FFF) | 8160);
	},
	l_keypast => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		my ($ip, $len) = item_pos($d, $c[@c / 2], 9);
		put16($d, $ip + 6, (u16($d, $ip + 6) & ~0x1FFF) | ($len + 40));
	},
	l_zero => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		my ($ip) = item_pos($d, $c[@c / 2], 3);
		substr($$d, $ip + 8 + 4, 1) = "\0";
	},
	l_cycle => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		put32($d, $c[@c / 2] * $BLCKSZ + $SPECIAL, $c[1]);
	},
	l_nextpast => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		put32($d, $c[@c / 2] * $BLCKSZ + $SPECIAL, 777777);
	},
	r_log => sub {
		my ($d) = @_;
		my @c = log_chain($d);
		for (1 .. 12)
		{
			my $blk = $c[ 1 + int(rand(@c - 1)) ];
			substr($$d, $blk * $BLCKSZ + 24 + int(rand($SPECIAL + 16 - 24)), 1) = chr(int(rand(256)));
		}
	},
	# the directory, CRC fixed up by dir_put
	d_head => sub { edit_dir($_[0], sub { $_[0]{stripes}[0]{log_head} = 99999; }); },
	d_headoff => sub { edit_dir($_[0], sub { $_[0]{stripes}[0]{log_head_offset} = 60000; }); },
	d_hblock => sub {
		my $end = length(${ $_[0] }) / $BLCKSZ;
		edit_dir($_[0], sub { $_[0]{runs}[0]{header_block} = $end + 10; });
	},
	d_npages => sub { edit_dir($_[0], sub { $_[0]{runs}[0]{npages} = 0x7FFFFFFF; }); },
	d_ntids => sub {
		edit_dir($_[0], sub { $_[0]{runs}[0]{ntids} = $_[0]{runs}[0]{nkeys} - 1; });
	},
	# one byte of the directory changed, CRC left: the freeze count, which
	# no other check compares with anything
	d_crc => sub {
		my ($d) = @_;
		my $o = dir_offset(32);
		substr($$d, $o, 1) = chr(ord(substr($$d, $o, 1)) ^ 0x01);
	},
	# the run's header stream
	h_magic => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = $h->{stream};
		substr($s, 0, 1) = 'X';
		hdr_put($d, $h, $s);
	},
	h_extent => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = $h->{stream};
		put32(\$s, $h->{extents_off}, length($$d) / $BLCKSZ + 5);
		hdr_put($d, $h, $s);
	},
	# slice 0's leaf bytes need far more pages than the run has
	h_slice => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = $h->{stream};
		put64(\$s, $h->{slices}[0]{off} + 12, $h->{slices}[0]{leaf} + 1000 * $CHUNK);
		hdr_put($d, $h, $s);
	},
	# the run's first NULL TID gets offset 0 (its offset is the varint
	# after its block's)
	h_nulls => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		die "expected NULL TIDs in the run" if $h->{nnulls} == 0;
		my $s = $h->{stream};
		my $p = $h->{nulls_off};
		$p++ while ord(substr($s, $p, 1)) & 0x80;
		$p++;
		die "offset of the first NULL TID takes more than a byte"
		  if ord(substr($s, $p, 1)) & 0x80;
		substr($s, $p, 1) = "\0";
		hdr_put($d, $h, $s);
	},
	# the run's slice, CRC fixed up: the count of the first posting list
	# becomes 2^64 / 6 + 1, which wrapped the TID buffer's size to 2 bytes
	# (the postings image comes first in the slice)
	f_count => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = slice_stream($d, $h, 0);
		my $pend = $h->{slices}[0]{postings};
		my $tw = ord(substr($s, $pend - 48 + 6, 1));
		my $table = u64(\$s, $pend - 48 + 24);
		my $g0 = unpack('Q<', substr($s, $table, $tw) . ("\0" x (8 - $tw)));
		die "group 0 has singles" if ord(substr($s, $g0, 1)) != 0;
		substr($s, $g0 + 1, 10) = varint((0x2AAAAAAA << 32) | 0xAAAAAAAB) . chr(0x40);
		put_slice_stream($d, $h, 0, $s, 1);
	},
	# the root node becomes a single-transition node whose target lies
	# below the node area
	f_target => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = slice_stream($d, $h, 0);
		my ($fst, $size, $root) = slice_fst_root($h, 0, $s);
		my @bytes = (0x80, ord('h'), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F);
		substr($s, $fst + $root - $_, 1) = chr($bytes[$_]) for 0 .. $#bytes;
		put_slice_stream($d, $h, 0, $s, 1);
	},
	# the root node claims 31 + 255 transitions
	f_ntrans => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = slice_stream($d, $h, 0);
		my ($fst, $size, $root) = slice_fst_root($h, 0, $s);
		substr($s, $fst + $root, 1) = chr(0x1F);
		substr($s, $fst + $root - 1, 1) = chr(0xFF);
		put_slice_stream($d, $h, 0, $s, 1);
	},
	# the trailer's root address points past the node area (trailer
	# checksum and slice CRC fixed up)
	f_root => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = slice_stream($d, $h, 0);
		my ($fst, $size) = slice_fst_root($h, 0, $s);
		my $t = $fst + $size - 40;
		put64(\$s, $t + 8, $size - 40 + 3);
		my $sum = fnv1a(fnv1a(0x811c9dc5, substr($s, $t, 36)), substr($s, $fst, 72));
		$sum = fnv1a($sum, substr($s, $t - 128, 128)) if u16(\$s, $fst + 4) == 2;
		put32(\$s, $t + 36, $sum);
		put_slice_stream($d, $h, 0, $s, 1);
	},
	# one byte of the postings (the slice's first image) flipped, slice
	# CRC left as it was
	f_crc => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = slice_stream($d, $h, 0);
		my $o = 100;
		substr($s, $o, 1) = chr(ord(substr($s, $o, 1)) ^ 0x5A);
		put_slice_stream($d, $h, 0, $s, 0);
	},
	# random bytes of the slice, CRC fixed up
	r_run => sub {
		my ($d) = @_;
		my ($run, $h) = the_run($d);
		my $s = slice_stream($d, $h, 0);
		for (1 .. 6)
		{
			my $o = int(rand(length($s)));
			substr($s, $o, 1) = chr(int(rand(256)));
		}
		put_slice_stream($d, $h, 0, $s, 1);
	},
	# random bytes anywhere past the page headers, the metapage included
	r_any => sub {
		my ($d) = @_;
		my $nblocks = length($$d) / $BLCKSZ;
		for (1 .. 10)
		{
			my $blk = int(rand($nblocks));
			substr($$d, $blk * $BLCKSZ + 24 + int(rand($BLCKSZ - 24)), 1) = chr(int(rand(256)));
		}
	},
	ctl_log => sub { },
	ctl_run => sub { },
);

foreach my $t (@log_cases, @run_cases)
{
	my $d = slurp_file_bin($file{$t});
	$damage{$t}->(\$d);
	spew_file_bin($file{$t}, $d);
}

# ------------------------------------------------------- the entry points

my %crafted = map { $_ => 1 } grep { !/^(r_|ctl_)/ } (@log_cases, @run_cases);

# Run one statement; returns (ok, output, stderr).  ok: it succeeded, or
# failed with an ERROR (of index_corrupted, with the REINDEX hint, when
# $want_corrupt is set).
sub run_sql
{
	my ($t, $what, $sql, $want_corrupt) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	if ($ret == 0)
	{
		return (1, $out, $err);
	}
	my $ok = $ret == 3 && $err =~ /ERROR:/;
	if ($ok && $want_corrupt)
	{
		$ok = $err =~ /ERROR:\s+XX002/ && $err =~ /HINT:.*REINDEX/;
	}
	diag("$t: $what: ret $ret: $err") unless $ok;
	return ($ok ? 0 : -1, $out, $err);
}

my $idx = "SET enable_seqscan = off; SET enable_bitmapscan = off;";
my $bmp = "SET enable_seqscan = off; SET enable_indexscan = off; SET enable_bitmapscan = on;";
my $seq = "SET enable_indexscan = off; SET enable_bitmapscan = off;";

sub exercise
{
	my ($mode) = @_;
	foreach my $t (@log_cases, @run_cases)
	{
		my $is_log = grep { $_ eq $t } @log_cases;
		my $eqkey = $is_log ? $lkey : $key0;
		my @reads = (
			[ 'equality', $idx, "SELECT id FROM $t WHERE k = '$eqkey' ORDER BY id" ],
			[ 'range', $idx, "SELECT k FROM $t WHERE k > 'host5' ORDER BY k LIMIT 500" ],
			[ 'prefix', $idx, "SELECT count(*) FROM $t WHERE k LIKE 'host1%'" ],
			[ 'backward', $idx, "SELECT k FROM $t WHERE k < 'host5' ORDER BY k DESC LIMIT 500" ],
			[ 'null', $idx, "SELECT id FROM $t WHERE k IS NULL ORDER BY id" ],
			[ 'bitmap', $bmp, "SELECT count(*) FROM $t WHERE k >= 'host2' AND k < 'host3'" ],
		);
		my $bad = 0;
		my $errors = 0;
		# in page-reading mode a log table's delta does not fit: reads may
		# fail with "exhausted" rather than the corruption error
		my $want = $crafted{$t} && !($mode eq 'pages' && $is_log);
		foreach my $r (@reads)
		{
			my ($what, $set, $q) = @$r;
			my $expect = $node->safe_psql('postgres', "$seq $q");
			my ($ok, $out, $err) = run_sql($t, $what, "$set $q", $want);
			if ($ok < 0) { $bad++; next; }
			if ($ok == 0) { $errors++; next; }
			# a wrong answer is allowed only where undetectable damage
			# (random bytes, a CRC mismatch in page-reading mode) lies
			if ($out ne $expect && ($crafted{$t} || $t =~ /^ctl_/)
				&& !($t eq 'f_crc' && $mode eq 'pages'))
			{
				diag("$t: $what: wrong answer in $mode mode");
				$bad++;
			}
		}
		my ($ok, $out, $err) = run_sql($t, 'memkv_state', "SELECT * FROM memkv_state('${t}_k')", $want);
		$bad++ if $ok < 0;
		($ok, $out, $err) = run_sql($t, 'memkv_verify', "SELECT * FROM memkv_verify('${t}_k')", $want);
		$bad++ if $ok < 0;
		# damage verify can see must be reported by it, as rows or an ERROR
		if ($ok == 1 && $crafted{$t} && $out eq '')
		{
			diag("$t: memkv_verify found nothing in $mode mode");
			$bad++;
		}
		if ($ok == 1 && $t =~ /^ctl_/ && $out ne '')
		{
			diag("$t: memkv_verify reports a healthy index: $out");
			$bad++;
		}
		($ok) = run_sql($t, 'insert', "INSERT INTO $t VALUES (-999999, 'zzz-inserted-$mode')", $want);
		$bad++ if $ok < 0;
		($ok, $out, $err) = run_sql($t, 'memkv_freeze', "SELECT memkv_freeze('${t}_k')", $crafted{$t});
		$bad++ if $ok < 0;
		# A freeze writes the delta alone and reads no run (memkv 2 step 5):
		# it may succeed when only a run is damaged.  A merge that reads
		# the damaged run, and VACUUM's rewrite of every run, must fail.
		if ($crafted{$t} && $ok == 1 && $t !~ /^(d_npages|h_|f_|r_)/)
		{
			diag("$t: memkv_freeze succeeded on a damaged index in $mode mode");
			$bad++;
		}
		($ok) = run_sql($t, 'VACUUM', "VACUUM $t", 0);
		$bad++ if $ok < 0;
		is($bad, 0, "$t ($mode mode): every entry point gives an ERROR or the right answer");
		is($node->safe_psql('postgres', 'SELECT 1'), '1', "$t ($mode mode): the server is up");
	}
}

# the run's copy in shared memory
$node->start;
exercise('copy');
$node->stop;

# page reading: a tiny arena, no room for copies or these deltas
$node->append_conf('postgresql.conf', "memkv.shared_memory = 1\n");
$node->start;
is($node->safe_psql('postgres',
	"$idx SELECT count(*) FROM ctl_run WHERE k LIKE 'host1%'; SELECT cache_bytes FROM memkv_state('ctl_run_k')"),
	$node->safe_psql('postgres', "$seq SELECT count(*) FROM ctl_run WHERE k LIKE 'host1%'") . "\n0",
	'with 1 MB of shared memory scans of the run read its pages');
exercise('pages');
# give the background freezes the scans asked for a moment to run
sleep(2);
$node->stop;

# A hot standby made from the damaged cluster reads the same pages:
# its readers (catch-up sync while replay appends, frozen pages read with
# locks against replay) must fail cleanly too.
$node->start;
$node->backup('damaged');
my $standby = PostgreSQL::Test::Cluster->new('corruption_standby');
$standby->init_from_backup($node, 'damaged', has_streaming => 1);
$standby->append_conf('postgresql.conf', "memkv.shared_memory = 128\n");
$standby->start;
$node->wait_for_catchup($standby, 'replay');
foreach my $t (qw(l_size0 l_lpoff l_cycle d_crc d_head d_hblock h_extent f_count f_target
	f_ntrans f_root r_run ctl_run))
{
	my $is_log = $t =~ /^l_/;
	my $eqkey = $is_log ? $lkey : $key0;
	my $bad = 0;
	foreach my $q (
		"SELECT id FROM $t WHERE k = '$eqkey' ORDER BY id",
		"SELECT k FROM $t WHERE k < 'host5' ORDER BY k DESC LIMIT 500",
		"SELECT count(*) FROM $t WHERE k LIKE 'host1%'",
		"SELECT count(*) FROM memkv_state('${t}_k')",
		"SELECT count(*) FROM memkv_verify('${t}_k')")
	{
		my $expect = $q =~ /memkv_/ ? undef
		  : $standby->safe_psql('postgres', "$seq $q");
		my ($ret, $out, $err) = $standby->psql('postgres', "$idx $q");
		if ($ret == 0)
		{
			if (defined $expect && $out ne $expect && $t !~ /^r_/)
			{
				diag("$t: standby: wrong answer: $q");
				$bad++;
			}
		}
		elsif (!($ret == 3 && $err =~ /ERROR:/))
		{
			diag("$t: standby: ret $ret: $err");
			$bad++;
		}
	}
	is($bad, 0, "$t (standby): every read gives an ERROR or the right answer");
}
is($standby->safe_psql('postgres', 'SELECT 1'), '1', 'the standby is up');
$standby->stop;
unlike(slurp_file($standby->logfile),
	qr/terminated by signal|was terminated|PANIC|TRAP:/,
	'no standby process crashed');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|was terminated|server process .* exited with exit code [^01]/,
	'no server process crashed');
unlike($log, qr/PANIC|TRAP:/, 'no PANIC, no failed assertion');
like($log, qr/delta log of index "l_size0_k" has a bad entry/, 'the direct-mode freeze of a damaged log ERRORs');

done_testing();
