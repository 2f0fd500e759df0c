# test/t/002_crash_recovery.pl -- memkv after a crash in the middle of inserts.
#
# A background psql runs an insert workload (many small transactions, some
# big ones, UPDATEs, duplicate keys, NULLs, empty strings, keys that are
# prefixes of each other) on a table with a memkv index; the server is killed
# (immediate stop) in the middle of it and restarted.  Then:
#   * every row whose transaction the client saw commit is found through the
#     index;
#   * for many probe keys and for full ordered scans (forward and backward),
#     the index (index scan, index-only scan, bitmap scan) returns exactly
#     what a seq scan returns; count through the index = count(*) of the heap;
#   * memkv_verify() reports no problem.
# This is done twice: the second crash hits an index that was itself
# recovered from the first one (and has been written to since).

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $index = 't_k_mkv';

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
});
$node->start;

$node->safe_psql('postgres', qq{
CREATE EXTENSION memkv;
CREATE TABLE t (id serial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'base/' || lpad(g::text, 5, '0') FROM generate_series(1, 3000) g;
INSERT INTO t(k) VALUES (NULL), (''), ('base'), ('base/'), ('base/00001');
CREATE INDEX $index ON t USING memkv (k) WITH (stripes = 4);
-- an unlogged table: a crash resets it to empty (init fork)
CREATE UNLOGGED TABLE u (id serial, k text COLLATE "C");
CREATE INDEX u_k ON u USING memkv (k);
INSERT INTO u(k) SELECT 'u/' || g FROM generate_series(1, 1000) g;
});

my $have_freeze = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_proc WHERE proname = 'memkv_freeze'") > 0;
note($have_freeze ? 'memkv_freeze() exists: the workload freezes too' : 'no memkv_freeze()');

my %mode_sql = (
	is  => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;',
	ios => 'SET enable_seqscan = off; SET enable_indexscan = on; SET enable_indexonlyscan = on; SET enable_bitmapscan = off;',
	bm  => 'SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = on;',
	seq => 'SET enable_seqscan = on; SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;',
);

# The workload of round $round: transaction $n inserts keys derived from n.
# After each COMMIT psql prints "committed <round>/<n>" -- only once the
# COMMIT has returned -- with \warn: stderr is unbuffered, so the test sees
# it at once.
sub workload
{
	my ($round, $ntx) = @_;
	my $s = '';
	for my $n (1 .. $ntx)
	{
		my $key = sprintf('w%d/%06d', $round, $n);
		$s .= "BEGIN;\n";
		$s .= "INSERT INTO t(k) VALUES ('$key'), ('$key/a'), ('$key/a/b'), ('dup/$round'), ('$key');\n";
		$s .= "INSERT INTO t(k) VALUES (NULL), ('');\n" if $n % 10 == 0;
		$s .= "INSERT INTO t(k) SELECT '$key/big/' || g FROM generate_series(1, 300) g;\n"
		  if $n % 25 == 0;
		$s .= "UPDATE t SET k = k || '/u$round' WHERE id = " . (1 + ($n * 7) % 3000) . ";\n"
		  if $n % 5 == 0;
		$s .= "COMMIT;\n\\warn committed $round/$n\n";
		# checkpoints in between, so that recovery starts in mid-workload
		$s .= "CHECKPOINT;\n" if $n % 150 == 0;
		# freezes in between too (when memkv_freeze() exists)
		$s .= "SELECT memkv_freeze('$index');\n" if $have_freeze && $n % 120 == 0;
	}
	return $s;
}

# Compare one query through the index (in the given modes) with a seq scan.
sub check_query
{
	my ($sql, $ordered, $modes, $name) = @_;
	my $script = "\\pset null '<NULL>'\n";
	for my $m ('seq', @$modes)
	{
		$script .= "\\echo \@\@$m\n$mode_sql{$m}\n$sql;\n";
	}
	# The end marker keeps trailing empty lines ('' keys) of the last result.
	$script .= "\\echo \@\@END\n";
	my $out = $node->safe_psql('postgres', $script);
	my %res;
	my $cur;
	for my $line (split /\n/, $out, -1)
	{
		if ($line =~ /^\@\@(\w+)$/) { $cur = $1; $res{$cur} = []; next; }
		push @{ $res{$cur} }, $line;
	}
	my $bad = 0;
	for my $m (@$modes)
	{
		my @a = @{ $res{$m} };
		my @b = @{ $res{seq} };
		if (!$ordered) { @a = sort @a; @b = sort @b; }
		if (join("\n", @a) ne join("\n", @b))
		{
			$bad++;
			my $j = 0;
			$j++ while $j < @a && $j < @b && $a[$j] eq $b[$j];
			my $ctx = sub { my @l = @_; join(' | ', map { $_ // '(end)' } @l[ ($j > 2 ? $j - 2 : 0) .. $j + 2 ]) };
			diag("$name: index mode $m differs from seq scan: $sql\n"
				  . scalar(@a) . " rows through the index, " . scalar(@b) . " by seq scan; "
				  . "first difference at row $j:\n  index: " . $ctx->(@a) . "\n  seq:   " . $ctx->(@b));
		}
	}
	return $bad == 0;
}

sub check_index_matches_heap
{
	my ($label, $committed) = @_;

	is($node->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"),
		'', "$label: memkv_verify finds no problem");

	# Rows the client saw committed must be there, through the index.
	my @keys = map { "'$_'" } @$committed;
	my $found = $node->safe_psql('postgres', "$mode_sql{bm}\n"
		  . "SELECT count(DISTINCT k) FROM t WHERE k = ANY (ARRAY[" . join(',', @keys) . "]::text[])");
	is($found, scalar(@keys), "$label: all " . scalar(@keys) . " committed keys are found through the index");
	my $missing = 0;
	for my $i (0 .. $#keys)
	{
		next unless $i % 7 == 0 || $i == $#keys;
		my $c = $node->safe_psql('postgres', "$mode_sql{is}\nSELECT count(*) FROM t WHERE k = $keys[$i]");
		$missing++ if $c < 2;    # each transaction inserted its key twice
	}
	is($missing, 0, "$label: committed keys found by index scans, with both duplicates");

	# Counts
	my $heap_count = $node->safe_psql('postgres', "$mode_sql{seq}\nSELECT count(*) FROM t");
	is($node->safe_psql('postgres', "$mode_sql{ios}\nSELECT count(*) FROM t"),
		$heap_count, "$label: count(*) through the index = count(*) of the heap ($heap_count)");

	# Full scans, ordered both ways, every access path.
	ok(check_query('SELECT k FROM t ORDER BY k', 1, [qw(is ios)], $label),
		"$label: full ordered index scan equals the sorted heap");
	ok(check_query('SELECT k FROM t ORDER BY k DESC', 1, [qw(is ios)], $label),
		"$label: full backward index scan equals the sorted heap");
	ok(check_query('SELECT id, k FROM t WHERE k IS NOT NULL', 0, [qw(is ios bm)], $label),
		"$label: IS NOT NULL through the index equals the heap");
	ok(check_query('SELECT id, k FROM t WHERE k IS NULL', 0, [qw(is ios bm)], $label),
		"$label: IS NULL through the index equals the heap");

	# Probe keys: present, absent, prefixes, ranges.
	my @probes = ('', 'base', 'base/', 'base/00001', 'dup/1', 'dup/2', 'w1/', 'zzz');
	for my $i (1 .. 40)
	{
		my $n = int(rand(@$committed ? 2 * @$committed : 10));
		push @probes, sprintf('w%d/%06d', 1 + $i % 2, $n), sprintf('base/%05d', 1 + int(rand(3000)));
	}
	my $bad = 0;
	for my $p (@probes)
	{
		$bad++ unless check_query("SELECT id, k FROM t WHERE k = '$p'", 0, [qw(is ios bm)], $label);
		$bad++ unless check_query("SELECT id, k FROM t WHERE k ^@ '$p' AND k < '$p/zzz'", 0, [qw(is bm)], $label);
		$bad++ unless check_query("SELECT k FROM t WHERE k >= '$p' ORDER BY k LIMIT 20", 1, [qw(is ios)], $label);
		$bad++ unless check_query("SELECT k FROM t WHERE k < '$p' ORDER BY k DESC LIMIT 20", 1, [qw(is ios)], $label);
	}
	is($bad, 0, "$label: " . (4 * @probes) . " probe queries through the index equal the seq scan");
}

# Run a workload round in the background, kill the server once the client has
# seen $min_commits commits, restart.  Returns the keys of committed rows.
sub crash_round
{
	my ($round, $min_commits) = @_;
	my ($stdin, $stdout, $stderr) = (workload($round, $min_commits * 20), '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$stdin, '>', \$stdout, '2>', \$stderr);
	my $timeout = IPC::Run::timer($PostgreSQL::Test::Utils::timeout_default);
	$timeout->start;
	$h->pump until $stderr =~ /committed $round\/$min_commits\n/ || $timeout->is_expired || !$h->pumpable;
	ok($stderr =~ /committed $round\/$min_commits\n/,
		"round $round: workload reached $min_commits commits") or diag($stderr);

	$node->stop('immediate');
	# psql exits (the connection is gone).  Stop feeding it (writing could
	# fail with EPIPE, which would be harmless: output lost with it only
	# shortens the list of commits we check).
	$stdin = '';
	eval { $h->finish; 1 } or note('psql ended: ' . substr($@, 0, 60));
	eval { $h->kill_kill; 1 };
	my @committed = $stderr =~ /^committed $round\/(\d+)$/mg;
	diag("round $round: killed the server after " . scalar(@committed) . " committed transactions");
	cmp_ok(scalar(@committed), '<', $min_commits * 20, "round $round: the crash hit in the middle of the workload");

	$node->start;
	return [ map { sprintf('w%d/%06d', $round, $_) } @committed ];
}

srand(2);
my $c1 = crash_round(1, 400);
check_index_matches_heap('after crash 1', $c1);

# The unlogged table was reset by the crash; its index is empty and works.
is($node->safe_psql('postgres', "$mode_sql{seq}\nSELECT count(*) FROM u"), '0',
	'unlogged table is empty after the crash');
is($node->safe_psql('postgres', "$mode_sql{is}\nSELECT count(*) FROM u WHERE k >= ''"), '0',
	'its memkv index is empty after the crash');
$node->safe_psql('postgres', "INSERT INTO u(k) VALUES ('u/1'), ('u/2'), ('u/2')");
is($node->safe_psql('postgres', "$mode_sql{is}\nSELECT count(*) FROM u WHERE k = 'u/2'"), '2',
	'rows inserted into the unlogged table after the crash are found through the index');
is($node->safe_psql('postgres', "SELECT * FROM memkv_verify('u_k')"), '',
	'memkv_verify on the reset unlogged index finds no problem');

# More writes after recovery, then crash again.
$node->safe_psql('postgres', q{
	INSERT INTO t(k) SELECT 'after1/' || g FROM generate_series(1, 500) g;
	DELETE FROM t WHERE id % 11 = 0;
	VACUUM t;
});
my $c2 = crash_round(2, 400);
check_index_matches_heap('after crash 2', $c2);

# The first round's keys survived the second crash too.
my $w1 = q{SELECT k FROM t WHERE k ^@ 'w1/' AND k ~ '^w1/[0-9]+$' ORDER BY k};
ok(check_query($w1, 1, [qw(is ios bm)], 'after crash 2'),
	'round 1 keys: index and heap agree after the second crash');
my $n_w1 = $node->safe_psql('postgres', "$mode_sql{bm}\nSELECT count(DISTINCT k) FROM t WHERE k = ANY (ARRAY["
	  . join(',', map { "'$_'" } @$c1) . "]::text[])");
is($n_w1, scalar(@$c1), 'round 1: every committed key is still found through the index');

$node->stop;
done_testing();
