# test/t/015_shmem_workers.pl -- shared memory, freeze workers and the
# registry at their edges.
#
#   * temp tables: inserts into a temp index past a tiny freeze_threshold
#     start no background worker (the owning backend freezes it itself);
#   * registry: memkv.max_indexes = 2, five indexes, eight clients inserting
#     and scanning: a briefly full registry waits, nobody gets an error;
#   * three indexes with automatic freezing share the two slots: every
#     worker ends its own request (found by RelFileNode), none fails;
#   * an insert succeeds after a scan of its own index copied the frozen
#     run into shared memory (memkv.shared_memory = 4: the copy is freed to
#     make room, and copies only ever take up to half the arena);
#   * a damaged frozen page that makes the buffer manager fail every scan of
#     one index leaks no shared memory: inserts into another index go on;
#     its freeze worker fails, and is not restarted by every later insert
#     (one worker in 3 s of inserts past its threshold);
#   * a dropped index gives its shared memory back at once;
#   * a hot standby with 1 MB of memkv shared memory, whose delta does not
#     fit, answers queries right (by reading the delta log), registers no
#     freeze worker, so its worker slots stay free, and scans of that index
#     do not evict another index's tree every time.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $seq = 'SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;';
my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $bm = 'SET enable_seqscan = off; SET enable_indexscan = off;';

# Run a query without dying on an ERROR: (output, error text or '').
sub try_sql
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return ($out, $ret == 0 ? '' : $err);
}

# The same rows through a seq scan, an index scan and a bitmap scan.
sub same_through_index
{
	my ($node, $table, $where, $name) = @_;
	my $q = "SELECT count(*), md5(coalesce(string_agg(coalesce(k, '-') || ':' || id, ',' ORDER BY k, id), '')) FROM $table WHERE $where";
	my ($want, $e0) = try_sql($node, "$seq $q");
	my ($got_idx, $e1) = try_sql($node, "$idx $q");
	my ($got_bm, $e2) = try_sql($node, "$bm $q");
	ok($e0 eq '' && $e1 eq '' && $e2 eq '' && $got_idx eq $want && $got_bm eq $want, $name)
	  or diag("seq: $want $e0\nindex: $got_idx $e1\nbitmap: $got_bm $e2");
}

# Lines of the server log from byte offset $from on that match $re.
sub log_count
{
	my ($node, $from, $re) = @_;
	my $log = slurp_file($node->logfile, $from);
	my @m = ($log =~ /$re/g);
	return scalar(@m);
}

my $node = PostgreSQL::Test::Cluster->new('shmem');
$node->init(allows_streaming => 1, extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
memkv.shared_memory = 4
memkv.max_indexes = 2
autovacuum = off
log_min_messages = debug1
max_worker_processes = 8
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION memkv');

# ---------------------------------------------------------------- temp tables

{
	my $off = -s $node->logfile;
	my @sql = (q{
CREATE TEMP TABLE tt (id serial, k text COLLATE "C");
CREATE INDEX tt_k ON tt USING memkv (k) WITH (freeze_threshold = 10);
});
	for my $i (1 .. 30)
	{
		push @sql, "INSERT INTO tt(k) SELECT 'temp/$i/' || g FROM generate_series(1, 20) g; SELECT pg_sleep(0.1);";
	}
	push @sql, "SELECT generation > 0 FROM memkv_state('tt_k');";
	push @sql, "$seq SELECT count(*) FROM tt WHERE k ^@ 'temp/1';";
	push @sql, "$idx SELECT count(*) FROM tt WHERE k ^@ 'temp/1';";
	my ($out, $err) = try_sql($node, join("\n", @sql));
	is($err, '', 'inserts into a temp index past its threshold succeed');
	my @lines = grep { $_ ne '' } split /\n/, $out;
	is($lines[-3], 't', 'the temp index was frozen by its own backend');
	is($lines[-1], $lines[-2], 'the temp index answers like a seq scan after its freezes');
	my $workers = log_count($node, $off, qr/DEBUG:  registering background worker "memkv freeze/);
	is($workers, 0, 'no freeze worker was registered for the temp index');
	is(log_count($node, $off, qr/temporary tables of other sessions/), 0,
		'no worker failed on the temp table');
}

# ------------------------------------------------------ a briefly full registry

{
	for my $i (1 .. 5)
	{
		$node->safe_psql('postgres', qq{
CREATE TABLE r$i (id serial, k text COLLATE "C");
CREATE INDEX r${i}_k ON r$i USING memkv (k) WITH (freeze_threshold = 0);
INSERT INTO r$i(k) SELECT 'reg/$i/' || g FROM generate_series(1, 10000) g;
});
	}
	my $t0 = time();
	$node->pgbench(
		'--no-vacuum --client=8 --jobs=2 --transactions=100 --protocol=simple',
		0,
		[qr{processed: 800/800}],
		[qr{^$}],
		'8 clients over 5 indexes with max_indexes = 2: no error',
		{
			'015_registry' => q{
\set t random(1, 5)
\set v random(1, 100000)
INSERT INTO r:t(k) VALUES ('reg/:t/new/:v');
SET enable_seqscan = off;
SELECT count(*) FROM r:t WHERE k ^@ 'reg/:t/1';
}
		});
	my $secs = time() - $t0;
	ok($secs < 120, sprintf('... in bounded time (%.1f s)', $secs));
	for my $i (1 .. 5)
	{
		same_through_index($node, "r$i", 'true', "index r${i}_k after the registry contest equals the heap");
	}
	$node->safe_psql('postgres', join("\n", map { "DROP TABLE r$_;" } 1 .. 5));
}

# ------------------- workers of three busy indexes sharing two registry slots

{
	# Each worker's index moves between slots while it freezes; the worker
	# must end its request on its own index, found by RelFileNode.
	my $off = -s $node->logfile;
	for my $i (1 .. 3)
	{
		$node->safe_psql('postgres', qq{
CREATE TABLE w$i (id serial, k text COLLATE "C");
CREATE INDEX w${i}_k ON w$i USING memkv (k) WITH (freeze_threshold = 300);
});
	}
	$node->pgbench(
		'--no-vacuum --client=6 --jobs=2 --transactions=150 --protocol=simple',
		0,
		[qr{processed: 900/900}],
		[qr{^$}],
		'inserts into three indexes with automatic freezing and two slots',
		{
			'015_workers' => q{
\set t random(1, 3)
INSERT INTO w:t(k) SELECT 'w/:t/' || g || '/' || random() FROM generate_series(1, 20) g;
SELECT pg_sleep(0.01);
}
		});
	for my $i (1 .. 3)
	{
		ok($node->poll_query_until('postgres',
				"SELECT generation > 1 FROM memkv_state('w${i}_k')"),
			"index w${i}_k was frozen by a worker");
		same_through_index($node, "w$i", 'true', "index w${i}_k after its workers equals the heap");
	}
	# let the last workers finish before reading the log
	ok($node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'memkv freeze'"),
		'the freeze workers are done');
	is(log_count($node, $off, qr/is not the latest entry/), 0,
		'no worker unregistered another exit callback than its own');
	is($node->safe_psql('postgres',
			"SELECT sum((memkv_state(i)).stat_worker_failures) FROM unnest('{w1_k,w2_k,w3_k}'::regclass[]) i"),
		'0', 'no freeze worker failed');
	is(log_count($node, $off, qr/memkv background freeze of index .* failed|exited with exit code 1/), 0,
		'... and none logged a failure');
	$node->safe_psql('postgres', join("\n", map { "DROP TABLE w$_;" } 1 .. 3));
}

# ------------------------------- an insert after a scan copied the run to memory

{
	# md5 keys: the run's copy takes about 1.2 MB of the 4 MB arena (a
	# 2 MB block), and 60,000 more keys need about 2.9 MB of delta tree
	$node->safe_psql('postgres', q{
CREATE TABLE own (id serial, k text COLLATE "C");
INSERT INTO own(k) SELECT md5(g::text) FROM generate_series(1, 50000) g;
CREATE INDEX own_k ON own USING memkv (k) WITH (freeze_threshold = 0);
});
	my ($out, $err) = try_sql($node,
		"$idx SELECT count(*) FROM own WHERE k = md5('7'); SELECT cache_bytes > 0 FROM memkv_state('own_k')");
	is($out, "1\nt", 'a scan copied the frozen run into shared memory');
	($out, $err) = try_sql($node,
		"INSERT INTO own(k) SELECT md5('more' || g) FROM generate_series(1, 60000) g");
	is($err, '', 'an insert into the same index succeeds after the scan filled the arena');
	same_through_index($node, 'own', "k < '4'", 'after that insert: range scan equals the heap');
	$node->safe_psql('postgres', 'DROP TABLE own');
}

# ------------------- failing scans of a damaged index leak no shared memory

{
	$node->safe_psql('postgres', q{
CREATE TABLE dmg (id serial, k text COLLATE "C");
INSERT INTO dmg(k) SELECT md5(g::text) FROM generate_series(1, 50000) g;
CREATE INDEX dmg_k ON dmg USING memkv (k) WITH (freeze_threshold = 0);
CREATE TABLE other (id serial, k text COLLATE "C");
CREATE INDEX other_k ON other USING memkv (k) WITH (freeze_threshold = 0);
});
	my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('dmg_k')");
	my $npages = $node->safe_psql('postgres', "SELECT frozen_pages FROM memkv_state('dmg_k')");
	my $nblocks = $node->safe_psql('postgres',
		"SELECT pg_relation_size('dmg_k') / current_setting('block_size')::int");
	$node->stop;
	# a page header the buffer manager refuses (pd_flags with unknown bits)
	# in the last data page of the run (its header page follows it), so the
	# copy is allocated before it fails
	my $victim = $nblocks - 2;
	my $file = $node->data_dir . "/$path";
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	seek($fh, $victim * 8192 + 10, 0) or die "seek: $!";
	print $fh "\xff\xff" or die "write: $!";
	close($fh) or die "close: $!";
	$node->start;

	my ($nerr, $bad) = (0, 0);
	for my $i (1 .. 15)
	{
		my ($out, $err) = try_sql($node, "$idx SELECT count(*) FROM dmg WHERE k = md5('$i')");
		if ($err =~ /invalid page/) { $nerr++; }
		elsif ($err ne '') { $bad++; diag($err); }
	}
	is($nerr, 15, "every scan of the damaged index ($npages run pages) fails on the damaged page");
	is($bad, 0, '... and with no other error');
	is($node->safe_psql('postgres', "SELECT cache_bytes FROM memkv_state('dmg_k')"), '0',
		'a failed copy of the damaged run holds no shared memory');
	my ($out, $err) = try_sql($node,
		"INSERT INTO other(k) SELECT md5('o' || g) FROM generate_series(1, 60000) g");
	is($err, '', 'after 15 failed scans of a damaged index, a big insert into another index succeeds');
	same_through_index($node, 'other', "k < '4'", '... and that index answers like a seq scan');
	ok(!$node->log_contains('terminated by signal'), 'no backend crashed');

	# A freeze writes the delta alone and reads no run (memkv 2 step 5),
	# so the workers that inserts past the threshold start freeze the
	# damaged index without reading its damaged page.
	my $oid = $node->safe_psql('postgres', "SELECT 'dmg_k'::regclass::oid");
	my $off = -s $node->logfile;
	$node->safe_psql('postgres', 'ALTER INDEX dmg_k SET (freeze_threshold = 10)');
	my @ins;
	for my $i (1 .. 30)
	{
		push @ins, "INSERT INTO dmg(k) SELECT 'retry/$i/' || g FROM generate_series(1, 20) g; SELECT pg_sleep(0.1);";
	}
	($out, $err) = try_sql($node, join("\n", @ins));
	is($err, '', 'inserts into the damaged index past its threshold succeed');
	my $failed = $node->safe_psql('postgres', "SELECT stat_worker_failures FROM memkv_state('dmg_k')");
	my $started = log_count($node, $off, qr/DEBUG:  registering background worker "memkv freeze of index $oid"/);
	is($failed, '0', 'the freeze workers do not read the damaged run, and none fails');
	cmp_ok($started, '>=', 1, "inserts past the threshold started freeze workers ($started)");
	$node->safe_psql('postgres', 'DROP TABLE dmg');

	# A dropped index gives its memory back at once.  Else the 2.9 MB of
	# other_k's tree would stay until an insert needs room, and meanwhile
	# no scan could copy a run into shared memory (copies take only up to
	# half of the arena).
	my $before = $node->safe_psql('postgres', "SELECT shmem_bytes FROM memkv_state('other_k')");
	ok($before > 2000000, "the other index's delta holds shared memory ($before bytes)");
	$node->safe_psql('postgres', q{
DROP TABLE other;
CREATE TABLE probe (id serial, k text COLLATE "C");
INSERT INTO probe(k) SELECT md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX probe_k ON probe USING memkv (k);
});
	($out, $err) = try_sql($node,
		"$idx SELECT count(*) FROM probe WHERE k = md5('7'); SELECT cache_bytes > 0 FROM memkv_state('probe_k')");
	is($out, "1\nt", 'after DROP TABLE, its shared memory is free again: a scan copies its run')
	  or diag($err);
	$node->safe_psql('postgres', 'DROP TABLE probe');
}

# -------------------------------------------------------------- hot standby

{
	$node->safe_psql('postgres', q{
CREATE TABLE sb (id serial, k text COLLATE "C");
INSERT INTO sb(k) SELECT md5(g::text) FROM generate_series(1, 20000) g;
INSERT INTO sb(k) VALUES (NULL), (NULL), ('');
CREATE INDEX sb_k ON sb USING memkv (k) WITH (freeze_threshold = 0);
INSERT INTO sb(k) SELECT md5('delta' || g) FROM generate_series(1, 30000) g;
INSERT INTO sb(k) SELECT 'dup' FROM generate_series(1, 300);
INSERT INTO sb(k) VALUES (NULL), ('0');
CREATE TABLE sb2 (id serial, k text COLLATE "C");
CREATE INDEX sb2_k ON sb2 USING memkv (k) WITH (freeze_threshold = 0);
INSERT INTO sb2(k) SELECT 'small/' || g FROM generate_series(1, 1000) g;
});
	$node->backup('sb');
	my $standby = PostgreSQL::Test::Cluster->new('shmem_standby');
	$standby->init_from_backup($node, 'sb', has_streaming => 1);
	$standby->append_conf('postgresql.conf', qq{
memkv.shared_memory = 1
max_parallel_workers = 4
});
	$standby->start;
	$node->wait_for_catchup($standby);
	my $off = -s $standby->logfile;
	my ($st, $sterr) = try_sql($standby, "SELECT art_loaded, delta_keys IS NULL, delta_tids FROM memkv_state('sb_k')");
	is("$st$sterr", 'f|t|30302', "the standby's delta (30,302 entries) does not fit in its shared memory");

	for my $pass (1 .. 2)
	{
		same_through_index($standby, 'sb', 'true', "standby pass $pass: full scan equals the heap");
		same_through_index($standby, 'sb', "k = md5('delta77')", "standby pass $pass: equality on a delta key");
		same_through_index($standby, 'sb', "k = md5('77')", "standby pass $pass: equality on a frozen key");
		same_through_index($standby, 'sb', "k ^@ 'a1'", "standby pass $pass: prefix");
		same_through_index($standby, 'sb', "k >= 'f' AND k < 'f4'", "standby pass $pass: range");
		same_through_index($standby, 'sb', "k IS NULL", "standby pass $pass: IS NULL");
		same_through_index($standby, 'sb', "k = 'dup'", "standby pass $pass: a key with 300 TIDs");
		my ($want) = try_sql($standby, "$seq SELECT string_agg(k, ',' ORDER BY k DESC) FROM (SELECT k FROM sb WHERE k < 'b' ORDER BY k DESC LIMIT 2000) s");
		my ($got, $err) = try_sql($standby, "$idx SELECT string_agg(k, ',' ORDER BY k DESC) FROM (SELECT k FROM sb WHERE k < 'b' ORDER BY k DESC LIMIT 2000) s");
		ok($err eq '' && $got eq $want, "standby pass $pass: backward scan with LIMIT") or diag($err);
		# writes on the primary in between
		$node->safe_psql('postgres', "INSERT INTO sb(k) SELECT md5('pass$pass' || g) FROM generate_series(1, 2000) g");
		$node->wait_for_catchup($standby);
	}
	# The big delta's failed sync evicts what it can once; after that,
	# scans of it read the log without evicting the other index's tree.
	same_through_index($standby, 'sb2', "k ^@ 'small/1'", 'standby: the small index answers');
	for my $i (1 .. 5)
	{
		try_sql($standby, "$idx SELECT count(*) FROM sb WHERE k ^@ 'a$i'");
	}
	is($standby->safe_psql('postgres', "SELECT art_loaded FROM memkv_state('sb2_k')"), 't',
		"standby: scans of the index too big for shared memory leave the other index's tree alone");
	my $plan = $standby->safe_psql('postgres', "$idx EXPLAIN (COSTS OFF) SELECT * FROM sb WHERE k = 'dup'");
	like($plan, qr/sb_k/, 'the standby queries went through the memkv index');
	is(log_count($standby, $off, qr/DEBUG:  registering background worker "memkv freeze/), 0,
		'the standby registered no freeze worker');
	my $par = $standby->safe_psql('postgres', q{
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 4;
SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM sb;
});
	my ($planned) = $par =~ /Workers Planned: (\d+)/;
	my ($launched) = $par =~ /Workers Launched: (\d+)/;
	ok(defined $planned && defined $launched && $launched == $planned && $launched > 0,
		"the standby's worker slots are free (parallel query launched " . ($launched // '?') . ' of ' . ($planned // '?') . ')');
	ok(!$standby->log_contains('terminated by signal'), 'no standby backend crashed');
	$standby->stop;

	# The same on a primary whose delta does not fit (1 MB, and no worker
	# can start to freeze it): scans read the log, inserts fail cleanly.
	$node->append_conf('postgresql.conf', "memkv.shared_memory = 1\nmax_worker_processes = 0\n");
	$node->restart;
	same_through_index($node, 'sb', "k ^@ 'a1'", 'primary, delta too big: prefix');
	same_through_index($node, 'sb', "k IS NULL", 'primary, delta too big: IS NULL');
	same_through_index($node, 'sb', "k = md5('pass1' || 7)", 'primary, delta too big: equality');
	my ($out, $err) = try_sql($node, "INSERT INTO sb(k) VALUES ('late')");
	like($err, qr/memkv shared memory is exhausted.*HINT:  A background freeze/s,
		'primary, delta too big: an insert fails with the exhausted error and its HINT');
	($out, $err) = try_sql($node, "SELECT memkv_freeze('sb_k')");
	is($err, '', 'primary, delta too big: memkv_freeze works');
	($out, $err) = try_sql($node, "INSERT INTO sb(k) VALUES ('late')");
	is($err, '', 'primary: after the freeze, inserts fit again');
	same_through_index($node, 'sb', 'true', 'primary: after the freeze, full scan equals the heap');
}

$node->stop;
done_testing();
