# test/t/014_corruption.pl -- every kind of page damage gives an ERROR,
# never a crash, a loop or a wrong answer.
#
# Each damage case gets a table with a memkv index of its own.  Two shapes:
#   * "log" tables: a small frozen run and a large delta log (30,000 long
#     keys, more than 1 MB of tree), so that with memkv.shared_memory = 1
#     the delta does not fit and a freeze reads the log directly;
#   * "run" tables: a frozen run larger than 1 MB (every key with two
#     TIDs, so the postings hold lists, not singles) and a small delta, so
#     that with memkv.shared_memory = 1 scans read the run's pages instead
#     of a copy in shared memory.
# With the server stopped, each index is damaged on disk in one way: log
# entries (header size 0 and huge, lp_off past the page, key length past
# the item, a zero byte in a key), the log chain (a `next` cycle, a `next`
# past the end), metapage fields out of range, the frozen run (a huge
# posting count, an FST node whose target or transition count is out of
# bounds, a root address out of range, all with the run's CRC fixed up so
# that the damage reaches the readers, and a CRC mismatch), and random
# bytes (seeded).  Then every entry point runs against each index, first
# with the default shared memory (scans read the run's checked copy), then
# after a restart with memkv.shared_memory = 1 (page reading, direct-mode
# freezes): equality, range, prefix and backward index scans, a bitmap
# scan, memkv_state, memkv_verify, an insert (catch-up sync), memkv_freeze
# and VACUUM.  Each must give the right answer or an ERROR (for crafted
# damage: SQLSTATE XX002, index_corrupted, with the REINDEX hint), and the
# server must stay up: no "terminated by signal" in its log.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $BLCKSZ = 8192;
my $CONTENTS = 24;                  # MAXALIGN(SizeOfPageHeaderData)
my $SPECIAL = $BLCKSZ - 16;         # MAXALIGN(sizeof(MemkvPageOpaqueData))
my $CHUNK = $SPECIAL - $CONTENTS;   # MEMKV_FROZEN_CHUNK

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
my @run_cases = qw(m_head m_tail m_npages m_fstsize m_start m_headoff
  m_spare f_count f_target f_ntrans f_root f_crc r_run r_any ctl_run);

$node->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE run_base (id int, k text COLLATE "C");
INSERT INTO run_base
  SELECT i, 'host' || (i % 97) || '/path/' || md5(i::text) || md5((i * 7)::text)
  FROM generate_series(1, 30000) i;
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

sub slurp_file_bin
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "open $path: $!";
	binmode $fh;
	local $/;
	my $data = <$fh>;
	close $fh;
	return $data;
}

sub spew_file_bin
{
	my ($path, $data) = @_;
	open(my $fh, '>', $path) or die "open $path: $!";
	binmode $fh;
	print $fh $data or die "write $path: $!";
	close $fh or die "close $path: $!";
}

sub u16 { my ($d, $o) = @_; return unpack('v', substr($$d, $o, 2)); }
sub u32 { my ($d, $o) = @_; return unpack('V', substr($$d, $o, 4)); }
sub u64 { my ($d, $o) = @_; return unpack('Q<', substr($$d, $o, 8)); }
sub put16 { my ($d, $o, $v) = @_; substr($$d, $o, 2) = pack('v', $v); }
sub put32 { my ($d, $o, $v) = @_; substr($$d, $o, 4) = pack('V', $v); }
sub put64 { my ($d, $o, $v) = @_; substr($$d, $o, 8) = pack('Q<', $v); }

# metapage field offsets (block 0, MemkvMetaPageData at $CONTENTS)
my %M = (
	epoch => 16, log_head => 20, log_head_offset => 24, log_tail => 28,
	frozen_start => 32, frozen_npages => 36, frozen_epoch => 40,
	fst_size => 48, postings_size => 56, nullpost_size => 64,
	frozen_alloc => 104, spare_start => 108, spare_npages => 112,
	frozen_crc => 116);
sub meta { my ($d, $f) = @_; my $o = $CONTENTS + $M{$f};
	return $f =~ /_size$/ ? u64($d, $o) : $f eq 'log_head_offset' ? u16($d, $o) : u32($d, $o); }
sub set_meta { my ($d, $f, $v) = @_; my $o = $CONTENTS + $M{$f};
	if ($f =~ /_size$/) { put64($d, $o, $v) } elsif ($f eq 'log_head_offset') { put16($d, $o, $v) } else { put32($d, $o, $v) } }

# the log chain's blocks, from the metapage's head
sub log_chain
{
	my ($d) = @_;
	my @chain;
	my $blk = meta($d, 'log_head');
	while ($blk != 0xFFFFFFFF && @chain < 100000)
	{
		push @chain, $blk;
		$blk = u32($d, $blk * $BLCKSZ + $SPECIAL);
	}
	return @chain;
}

# byte position (in the file) of line pointer `off` of block `blk`, and
# of its item
sub lp_pos { my ($blk, $off) = @_; return $blk * $BLCKSZ + 24 + 4 * ($off - 1); }
sub item_pos
{
	my ($d, $blk, $off) = @_;
	my $lp = u32($d, lp_pos($blk, $off));
	return ($blk * $BLCKSZ + ($lp & 0x7FFF), $lp >> 17);
}

# the frozen run's byte stream, and writing it back
sub run_stream
{
	my ($d) = @_;
	my $start = meta($d, 'frozen_start');
	my $total = meta($d, 'fst_size') + meta($d, 'postings_size') + meta($d, 'nullpost_size');
	my $s = '';
	for (my $i = 0; $i * $CHUNK < $total; $i++)
	{
		$s .= substr($$d, ($start + $i) * $BLCKSZ + $CONTENTS, $CHUNK);
	}
	return substr($s, 0, $total);
}

my @crc_table;
for my $i (0 .. 255)
{
	my $c = $i;
	$c = ($c & 1) ? (($c >> 1) ^ 0x82F63B78) : ($c >> 1) for 1 .. 8;
	$crc_table[$i] = $c;
}
sub crc32c
{
	my ($s) = @_;
	my $c = 0xFFFFFFFF;
	$c = $crc_table[($c ^ $_) & 0xFF] ^ ($c >> 8) for unpack('C*', $s);
	return $c ^ 0xFFFFFFFF;
}
sub fnv1a
{
	my ($h, $s) = @_;
	for my $b (unpack('C*', $s)) { $h ^= $b; $h = ($h * 0x01000193) & 0xFFFFFFFF; }
	return $h;
}

# write a (damaged) stream back into the run's pages; with $fix_crc, the
# metapage's CRC is made to match it
sub put_run_stream
{
	my ($d, $s, $fix_crc) = @_;
	my $start = meta($d, 'frozen_start');
	for (my $i = 0; $i * $CHUNK < length($s); $i++)
	{
		my $piece = substr($s, $i * $CHUNK, $CHUNK);
		substr($$d, ($start + $i) * $BLCKSZ + $CONTENTS, length($piece)) = $piece;
	}
	set_meta($d, 'frozen_crc', crc32c($s)) if $fix_crc;
}

# LEB128 varint
sub varint
{
	my ($v) = @_;
	my $s = '';
	while ($v >= 0x80) { $s .= chr(($v & 0x7F) | 0x80); $v >>= 7; }
	return $s . chr($v);
}

# FST root address and node-area end of a stream
sub fst_root
{
	my ($s, $fst_size) = @_;
	return u64(\$s, $fst_size - 40 + 8);
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
	# metapage fields
	m_head => sub { set_meta($_[0], 'log_head', 99999); },
	m_tail => sub { set_meta($_[0], 'log_tail', length(${ $_[0] }) / $BLCKSZ + 5); },
	m_npages => sub { set_meta($_[0], 'frozen_npages', 0x7FFFFFFF); },
	m_fstsize => sub { set_meta($_[0], 'fst_size', 1 << 60); },
	m_start => sub { set_meta($_[0], 'frozen_start', length(${ $_[0] }) / $BLCKSZ + 10); },
	m_headoff => sub { set_meta($_[0], 'log_head_offset', 60000); },
	# the spare region covers the log and the run: a freeze writing its
	# run there would overwrite live pages
	m_spare => sub {
		my ($d) = @_;
		set_meta($d, 'spare_start', meta($d, 'log_head'));
		set_meta($d, 'spare_npages', length($$d) / $BLCKSZ - meta($d, 'log_head'));
	},
	# the frozen run, CRC fixed up: the count of the first posting list
	# becomes 2^64 / 6 + 1, which wrapped the TID buffer's size to 2 bytes
	f_count => sub {
		my ($d) = @_;
		my $s = run_stream($d);
		my $fst = meta($d, 'fst_size');
		my $pend = $fst + meta($d, 'postings_size');
		my $tw = ord(substr($s, $pend - 48 + 6, 1));
		my $table = u64(\$s, $pend - 48 + 24);
		my $g0 = unpack('Q<', substr($s, $fst + $table, $tw) . ("\0" x (8 - $tw)));
		die "group 0 has singles" if ord(substr($s, $fst + $g0, 1)) != 0;
		substr($s, $fst + $g0 + 1, 10) = varint((0x2AAAAAAA << 32) | 0xAAAAAAAB) . chr(0x40);
		put_run_stream($d, $s, 1);
	},
	# the root node becomes a single-transition node whose target lies
	# below the node area
	f_target => sub {
		my ($d) = @_;
		my $s = run_stream($d);
		my $root = fst_root($s, meta($d, 'fst_size'));
		my @bytes = (0x80, ord('h'), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1F);
		substr($s, $root - $_, 1) = chr($bytes[$_]) for 0 .. $#bytes;
		put_run_stream($d, $s, 1);
	},
	# the root node claims 31 + 255 transitions
	f_ntrans => sub {
		my ($d) = @_;
		my $s = run_stream($d);
		my $root = fst_root($s, meta($d, 'fst_size'));
		substr($s, $root, 1) = chr(0x1F);
		substr($s, $root - 1, 1) = chr(0xFF);
		put_run_stream($d, $s, 1);
	},
	# the trailer's root address points past the node area (trailer
	# checksum and CRC fixed up)
	f_root => sub {
		my ($d) = @_;
		my $s = run_stream($d);
		my $fst = meta($d, 'fst_size');
		my $t = $fst - 40;
		put64(\$s, $t + 8, $fst - 40 + 3);
		my $h = fnv1a(fnv1a(0x811c9dc5, substr($s, $t, 36)), substr($s, 0, 72));
		$h = fnv1a($h, substr($s, $t - 128, 128)) if u16(\$s, 4) == 2;
		put32(\$s, $t + 36, $h);
		put_run_stream($d, $s, 1);
	},
	# one byte of the postings flipped, CRC left as it was
	f_crc => sub {
		my ($d) = @_;
		my $s = run_stream($d);
		my $o = meta($d, 'fst_size') + 100;
		substr($s, $o, 1) = chr(ord(substr($s, $o, 1)) ^ 0x5A);
		put_run_stream($d, $s, 0);
	},
	# random bytes of the run, CRC fixed up
	r_run => sub {
		my ($d) = @_;
		my $s = run_stream($d);
		for (1 .. 6)
		{
			my $o = int(rand(length($s)));
			substr($s, $o, 1) = chr(int(rand(256)));
		}
		put_run_stream($d, $s, 1);
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
			[ 'null', $idx, "SELECT id FROM $t WHERE k IS NULL" ],
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
		if ($ok == 1 && $crafted{$t} && $out eq '' && $t ne 'm_spare')
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
		# A spare region over live pages is also what a promotion leaves
		# (the room reserved after a run is not WAL-logged): the freeze
		# must then write its run elsewhere and lose nothing.
		if ($t eq 'm_spare' && $ok == 1)
		{
			my $all = "SELECT count(*), md5(string_agg(coalesce(k, '-'), ',')) FROM (SELECT k FROM $t ORDER BY k) s";
			my $got = $node->safe_psql('postgres', "$idx SET enable_sort = off; $all");
			my $heap = $node->safe_psql('postgres', "$seq $all");
			if ($got ne $heap)
			{
				diag("$t: after the freeze the index lost entries in $mode mode: $got, heap $heap");
				$bad++;
			}
		}
		elsif ($crafted{$t} && $ok == 1)
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
foreach my $t (qw(l_size0 l_lpoff l_cycle m_head m_npages f_count f_target
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
