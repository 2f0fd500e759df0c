# test/lib/MemkvDisk.pm -- read and damage a memkv index file (format
# version 3) from a TAP test, with the server stopped.
#
# The layout is src/README's "On-disk format (format version 3)":
#   * block 0's contents are the run directory (src/rundir.c's encoding,
#     little-endian, CRC-32C with the crc field zeroed);
#   * every page ends with 16 bytes of special space: u32 next, u32 tag,
#     u16 flags, u16 page_id;
#   * a run is its header pages (a runhdr.h stream cut into CHUNK-byte
#     pieces, chained through `next` from the directory's header_block)
#     and its data pages, found through the header's extents; a slice's
#     byte stream (postings image, then FST) starts on logical page
#     first_page, CHUNK bytes a page.
#
# dir_get decodes the directory, dir_put writes one back with its length
# and CRC recomputed (so that a damaged field reaches the check it aims
# at), run_header decodes a run's header, hdr_put writes a header stream
# back, slice_stream / put_slice_stream read and write a slice's bytes
# (optionally fixing the slice's CRC in the header).  Everything works on
# a reference to the whole file's contents (slurp_file_bin).

package MemkvDisk;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT = qw(
  $BLCKSZ $CONTENTS $SPECIAL $CHUNK $INVALID
  slurp_file_bin spew_file_bin
  u16 u32 u64 put16 put32 put64
  crc32c fnv1a varint
  dir_get dir_put dir_offset
  log_chain lp_pos item_pos
  run_header hdr_put run_block slice_stream put_slice_stream
  slice_fst_root);

our $BLCKSZ = 8192;
our $CONTENTS = 24;                  # MAXALIGN(SizeOfPageHeaderData)
our $SPECIAL = $BLCKSZ - 16;         # MAXALIGN(sizeof(MemkvPageOpaqueData))
our $CHUNK = $SPECIAL - $CONTENTS;   # MEMKV_RUN_CHUNK, 8152
our $INVALID = 0xFFFFFFFF;           # InvalidBlockNumber

# directory encoding (src/rundir.c)
my $DIR_FIXED = 76;
my $DIR_STRIPE = 6;
my $DIR_RUN = 116;
my @RUN_FIELDS = qw(run_id ntids nkeys nnulls ndead dead_generation
  header_block npages nslices dead_block flags lo_len hi_len lo hi);
my $RUN_PACK = 'Q<6 V4 v C2 a24 a24';

# run header stream (src/runhdr.h): version 2 adds a CRC to the fixed
# part and a key count (after the top bytes) to each slice entry
my $HDR_MAGIC = 0x48524b4d;          # "MKRH"
my %HDR_FIXED = (1 => 40, 2 => 44, 3 => 64);
my %HDR_SLICE = (1 => 34, 2 => 42, 3 => 42);  # without the fence bytes
my %SLICE_CRC = (1 => 28, 2 => 36);  # the crc's place in a slice entry
my $HDR_CRC = 40;                    # versions 2, 3: the header's CRC
my $HDR_FILTER = 44;                 # version 3: the filter's fields

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

# CRC-32C (Castagnoli, reflected 0x82F63B78), as src/crc32c.c
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

# FNV-1a 32, the FST trailer's checksum (src/fst.h)
sub fnv1a
{
	my ($h, $s) = @_;
	for my $b (unpack('C*', $s)) { $h ^= $b; $h = ($h * 0x01000193) & 0xFFFFFFFF; }
	return $h;
}

# LEB128 varint
sub varint
{
	my ($v) = @_;
	my $s = '';
	while ($v >= 0x80) { $s .= chr(($v & 0x7F) | 0x80); $v >>= 7; }
	return $s . chr($v);
}

# ---------------------------------------------------------- the directory

# Byte position in the file of the directory's byte `off`.
sub dir_offset { return $CONTENTS + $_[0]; }

# The directory of block 0 as a hash: the fixed fields by their rundir.h
# names (magic, version, length and crc included), and arrays stripes
# (log_head, log_head_offset), runs (MemkvRunEntry's fields; lo and hi as
# 24-byte strings), merges (output_id, state_block, inputs) and pending
# (block, kind).  Counts past the format's limits are not trusted for
# the arrays (which then hold at most what fits).
sub dir_get
{
	my ($d) = @_;
	my %dir;
	my $b = $CONTENTS;
	@dir{qw(magic version length crc)} = unpack('V4', substr($$d, $b, 16));
	@dir{qw(instance_id generation freeze_count merge_count last_freeze last_merge)} =
	  unpack('Q<4 q<2', substr($$d, $b + 16, 48));
	@dir{qw(limbo_head nlimbo)} = unpack('V2', substr($$d, $b + 64, 8));
	@dir{qw(nstripes nruns nmerges npending)} = unpack('C4', substr($$d, $b + 72, 4));
	my $p = $b + $DIR_FIXED;
	$dir{stripes} = [];
	for (1 .. ($dir{nstripes} > 32 ? 32 : $dir{nstripes}))
	{
		my ($head, $off) = unpack('V v', substr($$d, $p, $DIR_STRIPE));
		push @{ $dir{stripes} }, { log_head => $head, log_head_offset => $off };
		$p += $DIR_STRIPE;
	}
	$dir{runs} = [];
	for (1 .. ($dir{nruns} > 24 ? 24 : $dir{nruns}))
	{
		my %r;
		@r{@RUN_FIELDS} = unpack($RUN_PACK, substr($$d, $p, $DIR_RUN));
		push @{ $dir{runs} }, \%r;
		$p += $DIR_RUN;
	}
	$dir{merges} = [];
	for (1 .. ($dir{nmerges} > 2 ? 2 : $dir{nmerges}))
	{
		my ($out, $state, $n) = unpack('Q< V C', substr($$d, $p, 13));
		$p += 13;
		my @in = unpack("Q<$n", substr($$d, $p, 8 * $n));
		$p += 8 * $n;
		push @{ $dir{merges} }, { output_id => $out, state_block => $state, inputs => \@in };
	}
	$dir{pending} = [];
	for (1 .. ($dir{npending} > 4 ? 4 : $dir{npending}))
	{
		my ($blk, $kind) = unpack('V C', substr($$d, $p, 5));
		push @{ $dir{pending} }, { block => $blk, kind => $kind };
		$p += 5;
	}
	return \%dir;
}

# Encode %$dir into block 0, as rundir_encode would: the count bytes come
# from the hash's count fields and the entries from its arrays (so a test
# can set a count past its limit and still write a well-formed rest), the
# length is the bytes written, the CRC is recomputed.  Options: keep_crc
# (write $dir->{crc} as it is), length (write this length instead).
# Returns the encoding's length.
sub dir_put
{
	my ($d, $dir, %opt) = @_;
	my $e = pack('V4', $dir->{magic}, $dir->{version}, 0, 0);
	$e .= pack('Q<4 q<2', @$dir{qw(instance_id generation freeze_count merge_count last_freeze last_merge)});
	$e .= pack('V2', @$dir{qw(limbo_head nlimbo)});
	$e .= pack('C4', @$dir{qw(nstripes nruns nmerges npending)});
	$e .= pack('V v', $_->{log_head}, $_->{log_head_offset}) for @{ $dir->{stripes} };
	$e .= pack($RUN_PACK, @$_{@RUN_FIELDS}) for @{ $dir->{runs} };
	foreach my $m (@{ $dir->{merges} })
	{
		my @in = @{ $m->{inputs} };
		$e .= pack('Q< V C', $m->{output_id}, $m->{state_block}, scalar(@in));
		$e .= pack("Q<" . scalar(@in), @in);
	}
	$e .= pack('V C', $_->{block}, $_->{kind}) for @{ $dir->{pending} };
	my $len = length($e);
	substr($e, 8, 4) = pack('V', $opt{length} // $len);
	my $crc = $opt{keep_crc} ? $dir->{crc} : crc32c($e);
	substr($e, 12, 4) = pack('V', $crc);
	substr($$d, $CONTENTS, $len) = $e;
	return $len;
}

# ----------------------------------------------------------------- the log

# Blocks of stripe $stripe's log chain (default 0), from the directory's
# head to the page whose next is invalid (at most 100,000 pages).
sub log_chain
{
	my ($d, $stripe) = @_;
	my $dir = dir_get($d);
	my @chain;
	my $blk = $dir->{stripes}[ $stripe // 0 ]{log_head};
	while ($blk != $INVALID && @chain < 100000)
	{
		push @chain, $blk;
		$blk = u32($d, $blk * $BLCKSZ + $SPECIAL);
	}
	return @chain;
}

# Byte position (in the file) of line pointer `off` of block `blk`, and
# of its item with the item's length.
sub lp_pos { my ($blk, $off) = @_; return $blk * $BLCKSZ + 24 + 4 * ($off - 1); }
sub item_pos
{
	my ($d, $blk, $off) = @_;
	my $lp = u32($d, lp_pos($blk, $off));
	return ($blk * $BLCKSZ + ($lp & 0x7FFF), $lp >> 17);
}

# ----------------------------------------------------------------- the runs

# The header of a run (a directory run entry) as a hash: stream (the
# whole byte stream), pages (the header pages' blocks), the fixed fields
# (magic version reserved total nextents nslices run_id nnulls
# fence_bytes, and crc for versions 2 and 3; version 3's filter_page
# filter_blocks -- 0 for no filter, and in older versions -- filter_probes
# filter_offset filter_per_page filter_reserved filter_crc, at stream offset
# filter_off), extents ([start, length] pairs),
# slices (first_page postings leaf top nkeys crc fence_len fence -- nkeys
# undef in version 1 -- and off: the entry's offset in the stream,
# fence_off: its fence's), nulls_off (where the NULL TIDs start).  Dies if
# the header pages cannot be read (the test damages a healthy index).
sub run_header
{
	my ($d, $run) = @_;
	my %h;
	my $blk = $run->{header_block};
	my $first = substr($$d, $blk * $BLCKSZ + $CONTENTS, $CHUNK);
	my $total = u32(\$first, 8);
	die "run header at block $blk: bad magic" if u32(\$first, 0) != $HDR_MAGIC;
	my $s = '';
	my @pages;
	while (length($s) < $total)
	{
		die "run header chain ends early at " . scalar(@pages) . " pages"
		  if $blk == $INVALID || $blk * $BLCKSZ >= length($$d);
		push @pages, $blk;
		$s .= substr($$d, $blk * $BLCKSZ + $CONTENTS, $CHUNK);
		$blk = u32($d, $blk * $BLCKSZ + $SPECIAL);
	}
	$h{stream} = substr($s, 0, $total);
	$h{pages} = \@pages;
	@h{qw(magic version reserved total nextents nslices run_id nnulls fence_bytes)} =
	  unpack('V v v V V V Q< Q< V', substr($h{stream}, 0, 40));
	my $v = $h{version} == 1 ? 1 : $h{version} == 2 ? 2 : 3;
	$h{crc} = u32(\$h{stream}, $HDR_CRC) if $v >= 2;
	$h{filter_blocks} = 0;
	$h{filter_off} = $HDR_FILTER;
	@h{qw(filter_page filter_blocks filter_probes filter_offset filter_per_page filter_reserved filter_crc)} =
	  unpack('V V v v v v V', substr($h{stream}, $HDR_FILTER, 20)) if $v == 3;
	my $p = $HDR_FIXED{$v};
	$h{extents_off} = $p;
	for (1 .. $h{nextents})
	{
		push @{ $h{extents} }, [ unpack('V V', substr($h{stream}, $p, 8)) ];
		$p += 8;
	}
	for (1 .. $h{nslices})
	{
		my %sl = (off => $p, fence_off => $p + $HDR_SLICE{$v});
		if ($v >= 2)
		{
			@sl{qw(first_page postings leaf top nkeys crc fence_len)} =
			  unpack('V Q< Q< Q< Q< V v', substr($h{stream}, $p, $HDR_SLICE{$v}));
		}
		else
		{
			@sl{qw(first_page postings leaf top crc fence_len)} =
			  unpack('V Q< Q< Q< V v', substr($h{stream}, $p, $HDR_SLICE{$v}));
		}
		$sl{fence} = substr($h{stream}, $sl{fence_off}, $sl{fence_len});
		$p += $HDR_SLICE{$v} + $sl{fence_len};
		push @{ $h{slices} }, \%sl;
	}
	$h{nulls_off} = $p;
	return \%h;
}

# Write a header stream back into the run's header pages (no longer than
# they hold).  A version-2 stream first gets the CRC of its bytes, so that
# the damage a test made reaches the rule it aims at; with $keep_crc it
# keeps the CRC it has (then decoding fails on the CRC).
sub hdr_put
{
	my ($d, $h, $stream, $keep_crc) = @_;
	die "header stream longer than its pages"
	  if length($stream) > @{ $h->{pages} } * $CHUNK;
	if (!$keep_crc && $h->{version} >= 2 && length($stream) >= $HDR_FIXED{2})
	{
		substr($stream, $HDR_CRC, 4) = pack('V', 0);
		substr($stream, $HDR_CRC, 4) = pack('V', crc32c($stream));
	}
	for (my $i = 0; $i * $CHUNK < length($stream); $i++)
	{
		my $piece = substr($stream, $i * $CHUNK, $CHUNK);
		substr($$d, $h->{pages}[$i] * $BLCKSZ + $CONTENTS, length($piece)) = $piece;
	}
	$h->{stream} = $stream;
}

# The block holding logical page $lpage of a run, through its extents.
sub run_block
{
	my ($h, $lpage) = @_;
	foreach my $e (@{ $h->{extents} })
	{
		return $e->[0] + $lpage if $lpage < $e->[1];
		$lpage -= $e->[1];
	}
	die "logical page past the run's extents";
}

# Slice $i's byte stream (postings image, then FST leaf and top regions).
sub slice_stream
{
	my ($d, $h, $i) = @_;
	my $sl = $h->{slices}[$i];
	my $total = $sl->{postings} + $sl->{leaf} + $sl->{top};
	my $s = '';
	for (my $k = 0; $k * $CHUNK < $total; $k++)
	{
		$s .= substr($$d, run_block($h, $sl->{first_page} + $k) * $BLCKSZ + $CONTENTS, $CHUNK);
	}
	return substr($s, 0, $total);
}

# Write a (damaged) slice stream back into the run's pages; with
# $fix_crc, the slice's CRC in the header is made to match it and the
# header is written back.
sub put_slice_stream
{
	my ($d, $h, $i, $s, $fix_crc) = @_;
	my $sl = $h->{slices}[$i];
	for (my $k = 0; $k * $CHUNK < length($s); $k++)
	{
		my $piece = substr($s, $k * $CHUNK, $CHUNK);
		substr($$d, run_block($h, $sl->{first_page} + $k) * $BLCKSZ + $CONTENTS,
			length($piece)) = $piece;
	}
	if ($fix_crc)
	{
		my $hs = $h->{stream};
		$sl->{crc} = crc32c($s);
		substr($hs, $sl->{off} + $SLICE_CRC{ $h->{version} == 1 ? 1 : 2 }, 4) =
		  pack('V', $sl->{crc});
		hdr_put($d, $h, $hs);
	}
}

# Where slice $i's FST image starts in its stream, its size, and the root
# address (relative to the FST image) from its trailer.
sub slice_fst_root
{
	my ($h, $i, $s) = @_;
	my $sl = $h->{slices}[$i];
	my $fst = $sl->{postings};
	my $size = $sl->{leaf} + $sl->{top};
	return ($fst, $size, u64(\$s, $fst + $size - 40 + 8));
}

1;
