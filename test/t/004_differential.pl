# test/t/004_differential.pl -- randomized differential test of memkv.
#
# Loads real keys (test/data/debian-paths.txt, a sample of Debian file paths)
# plus NULLs, empty strings, keys that are prefixes of each other and
# duplicates into a table with a memkv index, then runs thousands of random
# operations with a fixed seed (printed; override with MEMKV_SEED=N):
#
#   * queries of every kind memkv serves (=, <, <=, >, >=, BETWEEN,
#     LIKE 'prefix%', ^@, ORDER BY k [DESC] LIMIT n with and without WHERE,
#     min/max, IS [NOT] NULL, = ANY(array), count(*), ANDed/ORed quals,
#     nested-loop joins that rescan the index).  Each query runs once forcing
#     the memkv index (enable_seqscan=off, and one of index scan / index-only
#     scan / bitmap scan) and once forcing a seq scan; the results must be
#     equal (as sorted text, or in order for ORDER BY).  A sample of the
#     forced-index queries is EXPLAINed and must use the memkv index, so the
#     test cannot silently pass by comparing seq scans with seq scans;
#   * interleaved with random INSERTs, DELETEs, UPDATEs and VACUUMs (and
#     memkv_freeze() when that function exists), a clean restart and a crash
#     (immediate stop) of the server.  VACUUM leaves dead lists in the runs
#     (read from the metapage every few batches): the test asserts that
#     some run had one while the index had several runs.
#
# Everything runs in batches of many statements per psql call.  The test
# fails on any mismatch (printing the query), on any query error and when
# memkv_verify() reports a problem.

use strict;
use warnings;
use Encode qw(encode);
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$FindBin::RealBin/../lib";
use MemkvDisk;

my $seed = $ENV{MEMKV_SEED} // 20261123;
my $n_ops = $ENV{MEMKV_DIFF_OPS} // 6000;    # random operations in all
my $batch_size = 250;                         # operations per psql call
diag("memkv differential test: seed $seed (set MEMKV_SEED to override), $n_ops operations");
srand($seed);

my $index = 't_k_mkv';

# MEMKV_DIFF_AM=btree runs the very same test against a btree index (no memkv
# at all): a check of the harness itself, which must pass on btree.
my $am = $ENV{MEMKV_DIFF_AM} // 'memkv';
my $is_memkv = $am eq 'memkv';

# ---------------------------------------------------------------------------
# Keys

# MEMKV_DIFF_KEYSET=synthetic (see 008_differential_synthetic.pl) replaces
# the Debian paths by generated keys: a tiny alphabet (everything is a prefix
# of something), every ASCII byte at the same position (wide tree nodes),
# long keys sharing long prefixes, numbers.
my $keyset = $ENV{MEMKV_DIFF_KEYSET} // 'debian';
my @paths;
if ($keyset eq 'synthetic')
{
	my @small = ('a', 'b', 'c', '/');
	for (1 .. 8000)
	{
		push @paths, join('', map { $small[ int(rand(@small)) ] } 1 .. int(rand(9)));
	}
	for (1 .. 4000)
	{
		# no newline: results are compared line by line
		push @paths, join('', map { my $c = 1 + int(rand(126)); chr($c == 10 ? 11 : $c) } 1 .. 1 + int(rand(4)))
		  . (rand() < 0.2 ? "\x{e9}\x{4e2d}" : '');
	}
	my @stems = map { join('', map { chr(0x61 + int(rand(26))) } 1 .. 150 + int(rand(100))) } 1 .. 5;
	for (1 .. 3000)
	{
		push @paths, $stems[ int(rand(@stems)) ]
		  . join('', map { chr(0x30 + int(rand(40))) } 1 .. int(rand(300)));
	}
	push @paths, map { int(rand(100000)) } 1 .. 5000;
	diag("synthetic key set: " . scalar(@paths) . " keys");
}
else
{
	my $datafile = "$FindBin::RealBin/../data/debian-paths.txt";
	open(my $fh, '<:encoding(UTF-8)', $datafile) or die "cannot open $datafile: $!";
	@paths = map { chomp; $_ } <$fh>;
	close($fh);
}
cmp_ok(scalar(@paths), '>=', 10000, "key set $keyset has enough keys");

# Keys that stress the tree: prefixes of each other, empty, duplicates.
my @extra;
for my $i (0 .. 299)
{
	my $p = $paths[ int(rand(@paths)) ];
	# Every "/"-prefix (usr, usr/share, usr/share/doc, ...) and a few
	# character prefixes.
	my @parts = split m{/}, $p;
	push @extra, join('/', @parts[ 0 .. $_ ]) for 0 .. $#parts - 1;
	push @extra, substr($p, 0, $_) for 1 .. 3;
	push @extra, "$p/", "$p\x{e9}", "${p}0";
}
push @extra, ('') x 20;
for my $i (0 .. 499)
{
	my $p = $paths[ int(rand(@paths)) ];
	push @extra, ($p) x (1 + int(rand(5)));
}
push @extra, ('usr/share/doc/memkv/duplicated-key') x 1000;
push @extra, "\x{263a}\x{263b} smile", "z" x 300, "\x{10348}";

my @all_keys = (@paths, @extra);
my @sorted_keys = sort { encode('UTF-8', $a) cmp encode('UTF-8', $b) } @all_keys;

sub lit
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

sub like_escape
{
	my ($s) = @_;
	$s =~ s/([\\%_])/\\$1/g;
	return $s;
}

# A key that may or may not be in the table.
sub random_key
{
	my $r = rand();
	my $k = $all_keys[ int(rand(@all_keys)) ];
	return $k if $r < 0.55;
	return substr($k, 0, int(rand(length($k) + 1))) if $r < 0.70;
	return $k . ('/', 'a', "\x{e9}", '0', '~', '/x/y')[ int(rand(6)) ] if $r < 0.80;
	if ($r < 0.90 && length($k) > 0)
	{
		my $c = ord(substr($k, -1));
		$c = $c + (rand() < 0.5 ? 1 : -1);
		$c = 0x41 if $c < 1 || ($c >= 0xD800 && $c <= 0xDFFF);
		return substr($k, 0, -1) . chr($c);
	}
	return '' if $r < 0.93;
	return join('', map { chr(0x61 + int(rand(26))) } 1 .. 1 + int(rand(12)));
}

# Two keys close to each other in sort order (a narrow range).
sub near_pair
{
	my $i = int(rand(@sorted_keys));
	my $j = $i + int(rand(rand() < 0.9 ? 50 : 2000));
	$j = $#sorted_keys if $j > $#sorted_keys;
	return ($sorted_keys[$i], $sorted_keys[$j]);
}

sub random_prefix
{
	my ($min) = @_;
	my $k = $all_keys[ int(rand(@all_keys)) ];
	my $len = $min + int(rand(length($k) - $min + 2));
	$len = length($k) if $len > length($k);
	return substr($k, 0, $len);
}

# ---------------------------------------------------------------------------
# Server

my $node = PostgreSQL::Test::Cluster->new('diff');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n")
  if $is_memkv;
# Runs of many slices: the writer closes a slice at this many bytes of FST
# (memkv.debug_slice_bytes), picked by the seed without drawing from rand
# (so a seed's operations stay the same); MEMKV_DIFF_SLICE_BYTES overrides,
# 0 is the normal maintenance_work_mem / 4.
my $slice_bytes = $ENV{MEMKV_DIFF_SLICE_BYTES} // (0, 16384, 4096, 2048)[$seed % 4];
if ($is_memkv)
{
	diag("runs are written in slices of $slice_bytes bytes of FST")
	  if $slice_bytes;
	$node->append_conf('postgresql.conf', "memkv.debug_slice_bytes = $slice_bytes\n");
}
# The FST's leaf units (memkv.debug_unit_bytes, src/README "Run layout"):
# small ones make top regions even in small slices; -1 is the default
# (a page's worth), 0 the older layout without a top region.  Picked by
# the seed too; MEMKV_DIFF_UNIT_BYTES overrides.
my $unit_bytes = $ENV{MEMKV_DIFF_UNIT_BYTES} // (128, -1, 0, 1024)[int($seed / 4) % 4];
if ($is_memkv)
{
	diag("runs are written with leaf units of $unit_bytes bytes");
	$node->append_conf('postgresql.conf', "memkv.debug_unit_bytes = $unit_bytes\n");
}
$node->start;

# Run a script; dies with psql's error output if a statement fails.
sub run_sql
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', encode('UTF-8', $sql),
		on_error_stop => 1);
	die "SQL failed (exit $ret): $err" if $ret != 0;
	return $out;
}

sub insert_values
{
	my ($keys) = @_;
	my $sql = '';
	for (my $i = 0; $i < @$keys; $i += 1000)
	{
		my $end = $i + 999 < $#$keys ? $i + 999 : $#$keys;
		$sql .= "INSERT INTO t(k) VALUES "
		  . join(',', map { '(' . lit($_) . ')' } @$keys[ $i .. $end ]) . ";\n";
	}
	return $sql;
}

run_sql('CREATE EXTENSION memkv;') if $is_memkv;
run_sql('CREATE TABLE t (id serial, k text COLLATE "C");');

# Half the keys before CREATE INDEX (build path), the rest after (insert path).
my @shuffled = map { $_->[1] } sort { $a->[0] <=> $b->[0] } map { [ rand(), $_ ] } @all_keys;
my $half = int(@shuffled / 2);
run_sql(insert_values([ @shuffled[ 0 .. $half - 1 ] ])
	  . "INSERT INTO t(k) SELECT NULL FROM generate_series(1, 30);\n");
# The delta's stripes (memkv): 3 here, 32 in 008 (MEMKV_DIFF_STRIPES), the
# default elsewhere; keys then hash to different logs, trees and locks.
my $stripes = $ENV{MEMKV_DIFF_STRIPES} // 3;
run_sql($is_memkv
	? "CREATE INDEX $index ON t USING memkv (k) WITH (stripes = $stripes);"
	: "CREATE INDEX $index ON t USING $am (k);");
diag("index built with $stripes stripes") if $is_memkv;
run_sql(insert_values([ @shuffled[ $half .. $#shuffled ] ])
	  . "INSERT INTO t(k) SELECT NULL FROM generate_series(1, 30);\nANALYZE t;\n");

is(run_sql("SELECT count(*) FROM t"), scalar(@all_keys) + 60, 'all keys loaded');
# memkv_verify() returns one row per problem; stand-in for other AMs.
my $verify_sql = $is_memkv ? "SELECT * FROM memkv_verify('$index')" : "SELECT WHERE false";
is(run_sql($verify_sql), '', 'memkv_verify is clean after the load');

my $have_freeze = run_sql(
	"SELECT count(*) FROM pg_proc WHERE proname = 'memkv_freeze'") > 0;
diag($have_freeze ? 'memkv_freeze() exists: freezes are part of the mix'
	: 'memkv_freeze() does not exist (yet): no freezes');

# ---------------------------------------------------------------------------
# Query generation

my %mode_sql = (
	is  => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;',
	ios => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = on; SET enable_bitmapscan = off;',
	bm  => 'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = on;',
	seq => 'SET enable_seqscan = on; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;',
);

my $AGG = q{SELECT count(*), md5(coalesce(string_agg(id || ':' || coalesce(k, '<NULL>'), ',' ORDER BY id), '')) FROM t};

# Returns { kind, sql, ordered, must => [modes in which the plan must use the index] }
sub gen_query
{
	my $r = int(rand(100));
	my $sel = rand() < 0.4 ? 'SELECT k FROM t' : 'SELECT id, k FROM t';

	if ($r < 14)
	{
		return { kind => 'eq', sql => "$sel WHERE k = " . lit(random_key()),
			must => [qw(is ios bm)] };
	}
	if ($r < 24)
	{
		my ($a, $b) = near_pair();
		($a, $b) = ($b, $a) if rand() < 0.05;    # sometimes empty
		my $lo = rand() < 0.5 ? '>=' : '>';
		my $hi = rand() < 0.5 ? '<=' : '<';
		my $w = rand() < 0.5 ? "k BETWEEN " . lit($a) . " AND " . lit($b)
		  : "k $lo " . lit($a) . " AND k $hi " . lit($b);
		return { kind => 'range', sql => "$sel WHERE $w", must => [qw(is ios bm)] };
	}
	if ($r < 32)
	{
		my $op = (qw(< <= > >=))[ int(rand(4)) ];
		return { kind => "one-sided $op",
			sql => "$AGG WHERE k $op " . lit(random_key()),
			must => [qw(is ios bm)] };
	}
	if ($r < 42)
	{
		my $p = random_prefix(1);
		my $raw = rand() < 0.1;
		my $pat = ($raw ? $p : like_escape($p)) . '%';
		my $q = length($p) < 12 ? $AGG : $sel;
		# A raw pattern may have its first wildcard early: no index qual then.
		my $usable = length($p) > 0 && (!$raw || $p !~ /^[%_\\]/);
		return { kind => 'like', sql => "$q WHERE k LIKE " . lit($pat),
			must => $usable ? [qw(is ios bm)] : [] };
	}
	if ($r < 50)
	{
		my $p = random_prefix(0);
		my $q = length($p) < 12 ? $AGG : $sel;
		return { kind => 'starts_with', sql => "$q WHERE k ^@ " . lit($p),
			must => [qw(is ios bm)] };
	}
	if ($r < 53)
	{
		return { kind => 'is null', sql => "$sel WHERE k IS NULL",
			must => [qw(is ios bm)] };
	}
	if ($r < 55)
	{
		return { kind => 'is not null', sql => "$AGG WHERE k IS NOT NULL",
			must => [qw(is ios bm)] };
	}
	if ($r < 62)
	{
		my @e = map { rand() < 0.05 ? undef : random_key() } 1 .. 1 + int(rand(12));
		push @e, $e[0] if rand() < 0.2;    # a duplicate element
		return { kind => 'any', sql => "$sel WHERE k = ANY (ARRAY["
			  . join(', ', map { lit($_) } @e) . "]::text[])",
			must => [qw(bm)] };
	}
	if ($r < 80)
	{
		my $dir = rand() < 0.5 ? '' : ' DESC';
		my $n = 1 + int(rand(rand() < 0.8 ? 20 : 300));
		my $w = '';
		my $x = rand();
		if ($x < 0.25) { $w = ' WHERE k >= ' . lit(random_key()) }
		elsif ($x < 0.45) { $w = ' WHERE k < ' . lit(random_key()) }
		elsif ($x < 0.55) { $w = ' WHERE k > ' . lit(random_key()) }
		elsif ($x < 0.65) { $w = ' WHERE k <= ' . lit(random_key()) }
		elsif ($x < 0.75)
		{
			my ($a, $b) = near_pair();
			$w = ' WHERE k BETWEEN ' . lit($a) . ' AND ' . lit($b);
		}
		elsif ($x < 0.85) { $w = ' WHERE k ^@ ' . lit(random_prefix(1)) }
		elsif ($x < 0.90) { $w = ' WHERE k LIKE ' . lit(like_escape(random_prefix(3)) . '%') }
		# else no WHERE: a full ordered scan, NULLs first when DESC
		return { kind => "order by$dir" . ($w ? ' where' : ''),
			sql => "SELECT k FROM t$w ORDER BY k$dir LIMIT $n",
			ordered => 1, must => [qw(is ios)] };
	}
	if ($r < 85)
	{
		my $w = rand() < 0.5 ? '' : ' WHERE k > ' . lit(random_key());
		return { kind => 'min/max', sql => "SELECT min(k), max(k) FROM t$w",
			must => [qw(is ios)] };
	}
	if ($r < 88)
	{
		return { kind => 'count(*)', sql => "SELECT count(*), count(k) FROM t",
			must => [qw(ios)] };
	}
	if ($r < 94)
	{
		my $x = rand();
		my ($a, $b) = near_pair();
		my ($la, $lb) = (lit($a), lit($b));
		if ($x < 0.25)
		{
			return { kind => 'and', must => [qw(is ios bm)],
				sql => "$sel WHERE k >= $la AND k >= " . lit(random_key()) . " AND k <= $lb" };
		}
		if ($x < 0.45)
		{
			return { kind => 'and', must => [qw(is ios bm)],
				sql => "$sel WHERE k = $la AND k <= $lb" };
		}
		if ($x < 0.65)
		{
			my $p = substr($a, 0, int(length($a) / 2));
			return { kind => 'and', must => [qw(is ios bm)],
				sql => "$sel WHERE k ^@ " . lit($p) . " AND k > $la AND k < $lb" };
		}
		if ($x < 0.80)
		{
			return { kind => 'or', must => [qw(bm)],
				sql => "$sel WHERE k = $la OR k = $lb OR k IS NULL" };
		}
		return { kind => 'or', must => [qw(bm)],
			sql => "$AGG WHERE k < $la OR k > $lb" };
	}
	# Nested loop: the index is rescanned once per outer row.
	my @v = map { random_key() } 1 .. 2 + int(rand(8));
	return { kind => 'join', must => [qw(is ios)],
		sql => "SELECT v.x, t.id FROM (VALUES "
		  . join(', ', map { '(' . lit($_) . ')' } @v)
		  . ") v(x) JOIN t ON t.k = v.x COLLATE \"C\"" };
}

sub gen_write
{
	my $r = rand();
	if ($r < 0.40)
	{
		my @k = map { rand() < 0.05 ? undef : random_key() } 1 .. 1 + int(rand(20));
		return "INSERT INTO t(k) VALUES " . join(', ', map { '(' . lit($_) . ')' } @k);
	}
	if ($r < 0.47)
	{
		# many duplicates of one key in one statement
		return "INSERT INTO t(k) SELECT " . lit(random_key())
		  . " FROM generate_series(1, " . (1 + int(rand(200))) . ")";
	}
	if ($r < 0.62)
	{
		my @ids = map { 1 + int(rand(25000)) } 1 .. 1 + int(rand(30));
		return "DELETE FROM t WHERE id IN (" . join(', ', @ids) . ")";
	}
	if ($r < 0.67)
	{
		return "DELETE FROM t WHERE k = " . lit(random_key());
	}
	if ($r < 0.70)
	{
		my ($a, $b) = near_pair();
		return "DELETE FROM t WHERE k >= " . lit($a) . " AND k <= " . lit($b)
		  . " AND id % 3 = 0";
	}
	if ($r < 0.82)
	{
		my @ids = map { 1 + int(rand(25000)) } 1 .. 1 + int(rand(20));
		my $new = rand() < 0.1 ? 'NULL' : rand() < 0.5 ? "k || '/upd'" : lit(random_key());
		return "UPDATE t SET k = $new WHERE id IN (" . join(', ', @ids) . ")";
	}
	if ($r < 0.87)
	{
		# HOT updates: the indexed column does not change
		my @ids = map { 1 + int(rand(25000)) } 1 .. 1 + int(rand(20));
		return "UPDATE t SET id = id WHERE id IN (" . join(', ', @ids) . ")";
	}
	if ($r < 0.90)
	{
		return "UPDATE t SET k = " . lit(random_key()) . " WHERE k = " . lit(random_key());
	}
	if ($r < 0.95 && $have_freeze)
	{
		return "SELECT memkv_freeze('$index')";
	}
	return rand() < 0.8 ? 'VACUUM t' : 'VACUUM ANALYZE t';
}

# ---------------------------------------------------------------------------
# Run

my (%n_by_kind, %bad_by_kind);
my ($n_queries, $n_mismatch, $n_explain, $n_explain_bad, $n_writes, $n_errors) = (0) x 6;
my ($most_runs_with_dead, $dead_lists_seen) = (0, 0);    # dead lists met

sub compare_results
{
	my ($q, $mode, $idx_out, $seq_out) = @_;
	my @i = split /\n/, $idx_out, -1;
	my @s = split /\n/, $seq_out, -1;
	if (!$q->{ordered})
	{
		@i = sort @i;
		@s = sort @s;
	}
	my $same = @i == @s;
	if ($same)
	{
		for my $j (0 .. $#i)
		{
			if ($i[$j] ne $s[$j]) { $same = 0; last; }
		}
	}
	$n_queries++;
	$n_by_kind{ $q->{kind} }++;
	return 1 if $same;
	$n_mismatch++;
	$bad_by_kind{ $q->{kind} }++;
	if ($n_mismatch <= 20)
	{
		my $show = sub { my @l = @_; my $t = join("\n", @l[ 0 .. ($#l < 9 ? $#l : 9) ]); $t .= "\n...(" . scalar(@l) . " rows)" if @l > 10; $t };
		diag("MISMATCH ($q->{kind}, index mode $mode): $q->{sql}\n"
			  . "-- through the index:\n" . $show->(@i)
			  . "\n-- seq scan:\n" . $show->(@s));
	}
	return 0;
}

my $ops_done = 0;
my $batch_no = 0;
while ($ops_done < $n_ops)
{
	$batch_no++;
	my @qs;    # per check: query, mode, explain?
	my $script = "\\pset null '<NULL>'\n";
	for (1 .. $batch_size)
	{
		last if $ops_done >= $n_ops;
		$ops_done++;
		if (rand() < 0.12)
		{
			my $w = gen_write();
			$script .= "\\echo \@\@W\nRESET ALL;\n$w;\n";
			$n_writes++;
			next;
		}
		my $q = gen_query();
		my $mode = (qw(is ios bm))[ int(rand(3)) ];
		my $explain = (rand() < 0.15) && grep { $_ eq $mode } @{ $q->{must} };
		my $n = scalar(@qs);
		push @qs, { %$q, mode => $mode, explain => $explain ? 1 : 0 };
		$script .= "\\echo \@\@$n I\n$mode_sql{$mode}\n$q->{sql};\n";
		$script .= "\\echo \@\@$n E\nEXPLAIN (COSTS OFF) $q->{sql};\n" if $explain;
		$script .= "\\echo \@\@$n S\n$mode_sql{seq}\n$q->{sql};\n";
		$script .= "\\echo \@\@$n X\nEXPLAIN (COSTS OFF) $q->{sql};\n" if $explain;
	}
	# The end marker keeps trailing empty lines ('' keys) of the last result.
	$script .= "\\echo \@\@END\n";
	my ($ret, $out, $err) = $node->psql('postgres', encode('UTF-8', $script),
		on_error_stop => 1);

	# Split the output at the markers.
	my %res;
	my ($cur, $last_marker) = (undef, '');
	for my $line (split /\n/, $out, -1)
	{
		if ($line eq '@@END')
		{
			$cur = undef;
		}
		elsif ($line =~ /^\@\@(\d+) ([IESX])$/)
		{
			$cur = "$1 $2";
			$res{$cur} = [];
			$last_marker = $cur;
		}
		elsif ($line eq '@@W')
		{
			$cur = undef;
			$last_marker = 'W';
		}
		elsif (defined $cur)
		{
			push @{ $res{$cur} }, $line;
		}
	}
	my $failed_at = scalar(@qs);
	if ($ret != 0)
	{
		$n_errors++;
		my $what = 'a write';
		if ($last_marker =~ /^(\d+) (\w)$/)
		{
			$failed_at = $1;
			$what = "query ($qs[$1]{kind}, " . ($2 eq 'S' ? 'seq scan' : "index mode $qs[$1]{mode}") . "): $qs[$1]{sql}";
		}
		diag("ERROR in batch $batch_no during $what\n$err");
	}
	for my $n (0 .. $#qs)
	{
		my $q = $qs[$n];
		# With an error, only the queries before it have both results.
		next unless exists $res{"$n I"} && exists $res{"$n S"};
		next if $n >= $failed_at;
		compare_results($q, $q->{mode}, join("\n", @{ $res{"$n I"} }),
			join("\n", @{ $res{"$n S"} }));
		if ($q->{explain} && exists $res{"$n E"})
		{
			$n_explain++;
			my $plan = join("\n", @{ $res{"$n E"} });
			my $seqplan = join("\n", @{ $res{"$n X"} // [] });
			if ($plan !~ /\b\Q$index\E\b/ || $plan =~ /Seq Scan on t\b/
				|| $seqplan =~ /\b\Q$index\E\b/)
			{
				$n_explain_bad++;
				diag("PLAN does not use $index with index mode $q->{mode} ($q->{kind}): $q->{sql}\n$plan")
				  if $n_explain_bad <= 10;
			}
		}
	}
	# Restarts in the middle: shared memory is lost and must be rebuilt from
	# the index relation; once cleanly, once by a crash (immediate stop).
	my $n_batches = int(($n_ops + $batch_size - 1) / $batch_size);
	if ($batch_no == int($n_batches / 3))
	{
		diag("restarting the server after batch $batch_no");
		$node->restart;
	}
	elsif ($batch_no == int(2 * $n_batches / 3))
	{
		diag("crashing (immediate stop) and restarting the server after batch $batch_no");
		$node->stop('immediate');
		$node->start;
	}

	# memkv_verify after every few batches; and how many runs have a
	# dead list (VACUUM's, src/README "VACUUM"), read from the metapage
	if ($batch_no % 5 == 0 || $ops_done >= $n_ops)
	{
		if ($is_memkv)
		{
			$node->safe_psql('postgres', 'CHECKPOINT');
			my $d = slurp_file_bin($node->data_dir . '/' . $node->safe_psql(
				'postgres', "SELECT pg_relation_filepath('$index')"));
			my $runs = dir_get(\$d)->{runs};
			my $ndl = grep { $_->{dead_block} != $INVALID } @$runs;
			$dead_lists_seen = $ndl if $ndl > $dead_lists_seen;
			$most_runs_with_dead = @$runs
			  if $ndl > 0 && @$runs > $most_runs_with_dead;
		}
		my ($vret, $vout, $verr) = $node->psql('postgres', $verify_sql);
		if ($vret != 0 || $vout ne '')
		{
			$n_errors++;
			diag("memkv_verify after batch $batch_no: $vout $verr");
		}
	}
}

diag(sprintf("%d queries compared (%d mismatches), %d plans checked (%d not using %s), %d writes, %d errors",
		$n_queries, $n_mismatch, $n_explain, $n_explain_bad, $index, $n_writes, $n_errors));
diag(join("\n", map { sprintf("  %-22s %5d queries %3d mismatches", $_, $n_by_kind{$_}, $bad_by_kind{$_} // 0) }
	  sort keys %n_by_kind));

cmp_ok($n_queries, '>=', $n_ops * 0.7, 'thousands of queries were compared');
if ($is_memkv)
{
	diag("at most $most_runs_with_dead runs while some had dead lists ($dead_lists_seen lists)");
	cmp_ok($dead_lists_seen, '>=', 1, 'VACUUM left dead lists in runs');
	cmp_ok($most_runs_with_dead, '>=', 2, '... while the index had several runs');
}
is($n_mismatch, 0, 'index results equal seq scan results for every query');
cmp_ok($n_explain, '>=', 100, 'a sample of plans was checked');
is($n_explain_bad, 0, "every sampled forced-index plan uses $index");
is($n_errors, 0, 'no query, write or memkv_verify reported an error');

# Final state: a full ordered scan through the index equals the heap.
run_sql('RESET ALL; VACUUM t;');
is(run_sql($verify_sql), '', 'memkv_verify is clean at the end');
my $heap = run_sql("\\pset null '<NULL>'\n$mode_sql{seq}\nSELECT k FROM t ORDER BY k");
my $via_index = run_sql("\\pset null '<NULL>'\n$mode_sql{is}\nSELECT k FROM t ORDER BY k");
ok($via_index eq $heap,
	'a full ordered index scan returns every key in byte order, then the NULLs');
my $via_index_desc = run_sql("\\pset null '<NULL>'\n$mode_sql{ios}\nSELECT k FROM t ORDER BY k DESC");
ok($via_index_desc eq join("\n", reverse split /\n/, $heap, -1),
	'a full backward index-only scan returns the NULLs, then every key in reverse');

$node->stop;
done_testing();
