# test/t/022_directory.pl -- what the server writes is format version 3.
#
# The readers' side of the format is tested by damaging it (013, 014);
# this test reads, with the server stopped, what CREATE INDEX, inserts,
# memkv_freeze and REINDEX write, and checks it against src/README
# "On-disk format (format version 3)" with the perl decoders of
# test/lib/MemkvDisk.pm, independently of the C readers:
#   * the metapage: flag META, the directory's magic, version 3, length
#     and CRC-32C, one stripe, at most one run, no merge, pending write
#     or limbo entry;
#   * the run: its id below the generation; its header pages (flag RUN,
#     tagged with the low 32 bits of the run id, chained through `next`)
#     hold a header whose run id and NULL count are the directory's, with
#     one slice (first page 0, empty fence, and an FST of version 3
#     whose top start is the slice's leaf bytes) whose bytes fit its
#     pages and match its CRC-32C; its data pages, through the
#     extents, are flagged RUN with the same tag; header and data pages
#     add up to the directory's npages and to memkv_state's frozen_pages;
#     the slice is a postings image then an FST image (their magics);
#   * the counts: ntids, nkeys, nnulls and the 24-byte bounds lo / hi are
#     those of the heap (count(*), count(DISTINCT k), the NULLs, min(k)
#     and max(k)), and the NULL TIDs in the header are strictly ascending;
#   * the log: from the stripe's head, pages flagged LOG, tagged with a
#     generation not after the directory's, ending at next = invalid;
#     no block is both a log page and a run page, none is 0 or past the
#     end;
#   * a freeze bumps the generation and the freeze count, sets
#     last_freeze, and writes a run with all the TIDs; an empty index
#     has no run; REINDEX draws a new instance id.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvDisk;

my $F_META = 1;
my $F_LOG = 2;
my $F_RUN = 8;

my $node = PostgreSQL::Test::Cluster->new('directory');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE d1 (id int, k text COLLATE "C");
INSERT INTO d1 SELECT i, 'host' || (i % 53) || '/path/' || md5((i % 15000)::text)
  FROM generate_series(1, 20000) i;
INSERT INTO d1 SELECT -i, NULL FROM generate_series(1, 50) i;
CREATE INDEX d1_k ON d1 USING memkv (k);
CREATE TABLE d0 (id int, k text COLLATE "C");
CREATE INDEX d0_k ON d0 USING memkv (k);
});
my %file = map {
	$_ => $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('${_}_k')")
} qw(d0 d1);


# Problems with the entries of log page $blk in stripe $s of $n: a key
# whose hash is another stripe's.  An entry is an IndexTupleData (TID,
# t_info: size in the low 13 bits, 0x8000 marks a NULL key), then the key.
sub log_page_stripes
{
	my ($d, $blk, $s, $n) = @_;
	my @bad;
	my $lower = unpack('v', substr($$d, $blk * $BLCKSZ + 12, 2));
	my $nitems = ($lower - 24) / 4;
	for my $off (1 .. $nitems)
	{
		my ($pos, $len) = item_pos($d, $blk, $off);
		my $info = unpack('v', substr($$d, $pos + 6, 2));
		next if $info & 0x8000;
		my $key = substr($$d, $pos + 8, ($info & 0x1FFF) - 8);
		my $want = fnv1a(2166136261, $key) % $n;
		push @bad, "log page $blk of stripe $s holds a key of stripe $want"
		  if $want != $s;
	}
	return @bad;
}

sub page_flags { my ($d, $blk) = @_; return u16($d, $blk * $BLCKSZ + $SPECIAL + 8); }
sub page_tag { my ($d, $blk) = @_; return u32($d, $blk * $BLCKSZ + $SPECIAL + 4); }
sub page_next { my ($d, $blk) = @_; return u32($d, $blk * $BLCKSZ + $SPECIAL); }

# What the heap says the run of table $t must hold (after a build or a
# freeze that took every row).
sub heap_counts
{
	my ($t) = @_;
	my ($ntids, $nkeys, $nnulls, $lo, $hi) = split /\|/,
	  $node->safe_psql('postgres', qq{
SELECT count(*), count(DISTINCT k), count(*) - count(k),
  coalesce(substr(min(k), 1, 24), ''), coalesce(substr(max(k), 1, 24), '')
FROM $t});
	return { ntids => $ntids, nkeys => $nkeys, nnulls => $nnulls, lo => $lo, hi => $hi };
}

sub state_of
{
	my ($t) = @_;
	my ($gen, $pages, $keys) = split /\|/, $node->safe_psql('postgres',
		"SELECT generation, frozen_pages, frozen_keys FROM memkv_state('${t}_k')");
	return { generation => $gen, frozen_pages => $pages, frozen_keys => $keys };
}

# Decode the NULL TIDs of a header: returns the problems found.
sub check_nulls
{
	my ($h) = @_;
	my @bad;
	my $s = $h->{stream};
	my $p = $h->{nulls_off};
	my ($blk, $off) = (0, 0);
	my $varint = sub {
		my ($v, $shift) = (0, 0);
		while (1)
		{
			return undef if $p >= length($s) || $shift > 63;
			my $b = ord(substr($s, $p++, 1));
			$v |= ($b & 0x7F) << $shift;
			return $v unless $b & 0x80;
			$shift += 7;
		}
	};
	for my $i (1 .. $h->{nnulls})
	{
		my $db = $varint->();
		my $o = $varint->();
		if (!defined $db || !defined $o) { push @bad, "NULL TID $i truncated"; last; }
		if ($db > 0) { $blk += $db; $off = $o; }
		else { $off += $o; push @bad, "NULL TID $i not ascending" if $o == 0; }
		push @bad, "NULL TID $i has offset 0" if $off == 0;
	}
	push @bad, "bytes after the NULL TIDs" if $p != length($s);
	return @bad;
}

# Check one index file against the format; $expect: the heap's counts
# (undef: not checked), nruns (undef: any), state (memkv_state's columns).
# Returns the decoded directory and the list of problems.
sub check_index
{
	my ($name, $expect, $nruns, $state) = @_;
	my $d = slurp_file_bin($file{$name});
	my $nblocks = length($d) / $BLCKSZ;
	my @bad;
	my %owner;    # block => what uses it
	my $claim = sub {
		my ($blk, $what) = @_;
		if ($blk == 0 || $blk >= $nblocks) { push @bad, "$what: block $blk out of range"; return 0; }
		push @bad, "$what: block $blk is also $owner{$blk}" if $owner{$blk};
		$owner{$blk} = $what;
		return 1;
	};

	push @bad, "metapage not flagged META" unless page_flags(\$d, 0) & $F_META;
	push @bad, "metapage page_id" if u16(\$d, $SPECIAL + 10) != 0xFF8D;
	my $dir = dir_get(\$d);
	push @bad, sprintf("directory magic %08x", $dir->{magic}) if $dir->{magic} != 0x4D4B5631;
	push @bad, "directory version $dir->{version}" if $dir->{version} != 3;
	my $len = 76 + 6 * $dir->{nstripes} + 116 * $dir->{nruns};
	push @bad, "directory length $dir->{length}, counts say $len" if $dir->{length} != $len;
	my $enc = substr($d, $CONTENTS, $dir->{length});
	substr($enc, 12, 4) = "\0" x 4;
	push @bad, "directory CRC does not match" if crc32c($enc) != $dir->{crc};
	push @bad, "nstripes $dir->{nstripes}"
	  if $dir->{nstripes} < 1 || $dir->{nstripes} > 32;
	push @bad, "nruns $dir->{nruns}, expected $nruns"
	  if defined($nruns) && $dir->{nruns} != $nruns;
	push @bad, "merges, pending or limbo in step 3"
	  if $dir->{nmerges} || $dir->{npending} || $dir->{nlimbo}
	  || $dir->{limbo_head} != $INVALID;
	push @bad, "instance_id 0" if $dir->{instance_id} == 0;
	push @bad, "memkv_state generation $state->{generation}, directory $dir->{generation}"
	  if $state && $state->{generation} != $dir->{generation};

	# the logs: every stripe has one (a build gives each a page), and each
	# entry's key hashes to the stripe whose log holds it (NULLs anywhere)
	for my $s (0 .. $dir->{nstripes} - 1)
	{
		my $st = $dir->{stripes}[$s];
		if ($st->{log_head} == $INVALID)
		{
			push @bad, "stripe $s has no log page";
			next;
		}
		push @bad, "log head offset $st->{log_head_offset} of stripe $s"
		  if $st->{log_head_offset} < 1 || $st->{log_head_offset} > 2048;
		my $blk = $st->{log_head};
		my $n = 0;
		while ($blk != $INVALID)
		{
			last unless $claim->($blk, "log page $n of stripe $s");
			push @bad, "log page $blk not flagged LOG" unless page_flags(\$d, $blk) & $F_LOG;
			push @bad, "log page $blk flagged RUN" if page_flags(\$d, $blk) & $F_RUN;
			# tags are compared modulo 2^32; the generations here are small
			push @bad, "log page $blk tagged " . page_tag(\$d, $blk) . " after the generation"
			  if page_tag(\$d, $blk) > $dir->{generation};
			push @bad, log_page_stripes(\$d, $blk, $s, $dir->{nstripes});
			$blk = page_next(\$d, $blk);
			$n++;
		}
	}

	return ($dir, @bad) if @bad;

	# the runs: each follows the format; together they hold the heap's rows
	my %sum = (ntids => 0, nkeys => 0, nnulls => 0, pages => 0);
	my ($lo, $hi);
	foreach my $run (@{ $dir->{runs} })
	{
		push @bad, check_run(\$d, $dir, $run, $claim, \%owner, \%sum);
		next unless $run->{nkeys};
		my $rlo = substr($run->{lo}, 0, $run->{lo_len});
		my $rhi = substr($run->{hi}, 0, $run->{hi_len});
		$lo = $rlo if !defined($lo) || $rlo lt $lo;
		$hi = $rhi if !defined($hi) || $rhi gt $hi;
	}
	if ($expect)
	{
		foreach my $f (qw(ntids nnulls))
		{
			push @bad, "runs' $f $sum{$f}, heap $expect->{$f}" if $sum{$f} != $expect->{$f};
		}
		push @bad, "runs' nkeys $sum{nkeys}, fewer than the heap's $expect->{nkeys}"
		  if $sum{nkeys} < $expect->{nkeys};
		push @bad, "runs' nkeys $sum{nkeys}, heap $expect->{nkeys}"
		  if $dir->{nruns} == 1 && $sum{nkeys} != $expect->{nkeys};
		push @bad, "runs' lo '" . ($lo // '') . "', heap '$expect->{lo}'"
		  if ($lo // '') ne $expect->{lo};
		push @bad, "runs' hi '" . ($hi // '') . "', heap '$expect->{hi}'"
		  if ($hi // '') ne $expect->{hi};
	}
	push @bad, "memkv_state frozen_pages $state->{frozen_pages}, runs $sum{pages}"
	  if $state && $state->{frozen_pages} != $sum{pages};
	push @bad, "memkv_state frozen_keys $state->{frozen_keys}, runs $sum{nkeys}"
	  if $state && $state->{frozen_keys} != $sum{nkeys};
	return ($dir, @bad);
}

# Check one run of a decoded file; adds its counts to %$sum and claims its
# blocks.  Returns the problems found.
sub check_run
{
	my ($dref, $dir, $run, $claim, $owner, $sum) = @_;
	my $d = $$dref;
	my @bad;
	my $tag = $run->{run_id} & 0xFFFFFFFF;
	push @bad, "run id $run->{run_id} not below the generation $dir->{generation}"
	  if $run->{run_id} >= $dir->{generation};
	push @bad, "run without its one slice: nslices $run->{nslices}" if $run->{nslices} != 1;
	push @bad, "run has a dead list" if $run->{dead_block} != $INVALID || $run->{ndead};
	$sum->{$_} += $run->{$_} foreach qw(ntids nkeys nnulls);
	return @bad unless $claim->($run->{header_block}, 'the first header page');
	delete $owner->{ $run->{header_block} };
	my $h = eval { run_header(\$d, $run) };
	return (@bad, "run header: $@") unless $h;
	foreach my $blk (@{ $h->{pages} })
	{
		$claim->($blk, "a header page");
		push @bad, "header page $blk not flagged RUN" unless page_flags(\$d, $blk) & $F_RUN;
		push @bad, "header page $blk tagged " . page_tag(\$d, $blk) . ", run id's low bits $tag"
		  if page_tag(\$d, $blk) != $tag;
	}
	push @bad, "header pages: " . scalar(@{ $h->{pages} }) . " for $h->{total} bytes"
	  if @{ $h->{pages} } != int(($h->{total} + $CHUNK - 1) / $CHUNK);
	push @bad, "header version $h->{version}.$h->{reserved}"
	  if ($h->{version} != 2 && $h->{version} != 3) || $h->{reserved};
	push @bad, "header CRC does not match"
	  if $h->{version} >= 2 && $h->{crc} != crc32c(substr($h->{stream}, 0, 40) . "\0\0\0\0" . substr($h->{stream}, 44));
	push @bad, "slice key count $h->{slices}[0]{nkeys}, directory $run->{nkeys}"
	  if $h->{version} >= 2 && $h->{nslices} == 1 && $h->{slices}[0]{nkeys} != $run->{nkeys};
	push @bad, "header run id $h->{run_id}" if $h->{run_id} != $run->{run_id};
	push @bad, "header nnulls $h->{nnulls}, directory $run->{nnulls}" if $h->{nnulls} != $run->{nnulls};
	push @bad, "header nslices $h->{nslices}" if $h->{nslices} != 1;
	my $data_pages = 0;
	foreach my $e (@{ $h->{extents} })
	{
		my ($start, $n) = @$e;
		push @bad, "empty extent at $start" if $n == 0;
		for my $blk ($start .. $start + $n - 1)
		{
			last unless $claim->($blk, "a data page");
			push @bad, "data page $blk not flagged RUN" unless page_flags(\$d, $blk) & $F_RUN;
			push @bad, "data page $blk tagged " . page_tag(\$d, $blk) . ", run id's low bits $tag"
			  if page_tag(\$d, $blk) != $tag;
		}
		$data_pages += $n;
	}
	my $pages = $data_pages + @{ $h->{pages} };
	push @bad, "directory npages $run->{npages}, header and extents $pages"
	  if $run->{npages} != $pages;
	$sum->{pages} += $pages;
	push @bad, check_nulls($h);
	return @bad if @bad;

	# the slice
	my $sl = $h->{slices}[0];
	push @bad, "slice first page $sl->{first_page}, fence length $sl->{fence_len}"
	  if $sl->{first_page} != 0 || $sl->{fence_len} != 0;
	# Runs are written in FST format version 3: the slice's top bytes are
	# the top region, the code table, the u64 top start and the trailer.
	push @bad, "slice top bytes $sl->{top}: no room for a top start and trailer"
	  if $sl->{top} < 48;
	my $bytes = $sl->{postings} + $sl->{leaf} + $sl->{top};
	push @bad, "slice of $bytes bytes on $data_pages pages"
	  if int(($bytes + $CHUNK - 1) / $CHUNK) > $data_pages;
	return @bad if @bad;
	my $s = slice_stream(\$d, $h, 0);
	push @bad, "slice CRC does not match its bytes" if crc32c($s) != $sl->{crc};
	push @bad, "slice does not start with a postings image"
	  if u32(\$s, 0) != 0x504b4d4d || u32(\$s, $sl->{postings} - 48) != 0x514b4d4d;
	my $fst_end = $sl->{postings} + $sl->{leaf} + $sl->{top};
	push @bad, "the postings are not followed by an FST image"
	  if u32(\$s, $sl->{postings}) != 0x464b4d4d
	  || u32(\$s, $fst_end - 40) != 0x544b4d4d;
	return @bad if @bad;
	push @bad, "FST version " . u16(\$s, $sl->{postings} + 4) . ", not 3"
	  if u16(\$s, $sl->{postings} + 4) != 3;
	push @bad, "FST top start " . u64(\$s, $fst_end - 48) . ", slice leaf bytes $sl->{leaf}"
	  if u64(\$s, $fst_end - 48) != $sl->{leaf};
	return @bad;
}

# --------------------------------------------------------- after CREATE INDEX

my %state = map { $_ => state_of($_) } qw(d0 d1);
my %heap = map { $_ => heap_counts($_) } qw(d0 d1);
$node->stop;
my ($dir1, @bad) = check_index('d1', $heap{d1}, 1, $state{d1});
is_deeply(\@bad, [], 'CREATE INDEX: the run and the directory follow the format');
my ($dir0, @bad0) = check_index('d0', undef, 0, $state{d0});
is_deeply(\@bad0, [], 'CREATE INDEX on an empty table: a directory without a run');

# --------------------------------------------------------- inserts, a log

$node->start;
$node->safe_psql('postgres', q{
INSERT INTO d0 SELECT i, 'k/' || md5(i::text) FROM generate_series(1, 3000) i;
INSERT INTO d0 VALUES (-1, NULL), (-2, NULL);
INSERT INTO d1 SELECT i, 'zz/' || md5(i::text) FROM generate_series(1, 1000) i;
});
%state = map { $_ => state_of($_) } qw(d0 d1);
$node->stop;
my ($ldir1, @lbad1) = check_index('d1', undef, 1, $state{d1});
is_deeply(\@lbad1, [], 'after inserts: the log and the run follow the format');
isnt($ldir1->{stripes}[0]{log_head}, $INVALID, 'the inserts are in a log');
is($ldir1->{runs}[0]{run_id}, $dir1->{runs}[0]{run_id}, 'inserts leave the run as it was');
my ($ldir0, @lbad0) = check_index('d0', undef, 0, $state{d0});
is_deeply(\@lbad0, [], 'after inserts into the empty index: a log, no run');
isnt($ldir0->{stripes}[0]{log_head}, $INVALID, 'the empty index has a log now');

# --------------------------------------------------------- freezes

$node->start;
$node->safe_psql('postgres', "SELECT memkv_freeze('d0_k'), memkv_freeze('d1_k')");
%state = map { $_ => state_of($_) } qw(d0 d1);
%heap = map { $_ => heap_counts($_) } qw(d0 d1);
$node->stop;
foreach my $t (qw(d0 d1))
{
	my $before = $t eq 'd0' ? $ldir0 : $ldir1;
	my ($dir, @fbad) = check_index($t, $heap{$t}, undef, $state{$t});
	is_deeply(\@fbad, [], "$t after memkv_freeze: runs of every row, as the format says");
	ok($dir->{generation} > $before->{generation},
		"$t: the freeze bumped the generation ($before->{generation} to $dir->{generation})");
	is($dir->{freeze_count}, $before->{freeze_count} + 1, "$t: the freeze is counted");
	isnt($dir->{last_freeze}, 0, "$t: last_freeze is set");
	is($dir->{instance_id}, $before->{instance_id}, "$t: same instance");
}

# --------------------------------------------------------- REINDEX

$node->start;
$node->safe_psql('postgres', 'REINDEX INDEX d1_k');
%state = (d1 => state_of('d1'));
# REINDEX writes a new relation file
$file{d1} = $node->data_dir . '/'
  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('d1_k')");
$node->stop;
my ($rdir, @rbad) = check_index('d1', $heap{d1}, 1, $state{d1});
is_deeply(\@rbad, [], 'after REINDEX: the format');
isnt($rdir->{instance_id}, $dir1->{instance_id}, 'REINDEX draws a new instance id');

done_testing();
