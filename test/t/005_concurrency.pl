# test/t/005_concurrency.pl -- many sessions inserting, deleting, updating,
# VACUUMing and scanning one memkv index at the same time (pgbench).
#
# The table holds 10,000 "stable" keys k/NNNNN/s that nobody modifies.
# Writers insert keys right next to them (k/NNNNN, k/NNNNN/w..., so the tree
# changes all around any scan position), delete and update their own keys;
# one script runs VACUUM (and memkv_freeze() when that function exists), and
# the background worker freezes too (memkv.freeze_threshold set low).
# Readers scan the whole k/ range through the index -- index scan, index-only
# scan, bitmap scan, forward and backward -- and assert, inside SQL, that they
# see every stable key exactly once and in order: a failed assertion divides
# by zero, which aborts the pgbench client and fails the test.  A fixed
# number of transactions, no timing.  Afterwards the index must equal the heap
# and memkv_verify() must be clean.  The index has 4 stripes (8 in 025).

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $index = 't_k_mkv';
# 025_stress_many.pl runs this file with more clients and less memory.
my $clients = $ENV{MEMKV_STRESS_CLIENTS} // 6;
my $per_client = $ENV{MEMKV_STRESS_TRANSACTIONS} // 250;
my $stripes = $ENV{MEMKV_STRESS_STRIPES} // 4;

my $node = PostgreSQL::Test::Cluster->new('concurrency');
$node->init(extra => [ '--locale=C', '--encoding=UTF8' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$node->append_conf('postgresql.conf', $ENV{MEMKV_STRESS_CONF})
  if $ENV{MEMKV_STRESS_CONF};
$node->start;
note("$clients clients, $per_client transactions each, $stripes stripes"
	  . ($ENV{MEMKV_STRESS_CONF} ? ", with: $ENV{MEMKV_STRESS_CONF}" : ''));

$node->safe_psql('postgres', qq{
CREATE EXTENSION memkv;
CREATE TABLE t (id bigserial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'k/' || lpad(g::text, 5, '0') || '/s' FROM generate_series(1, 10000) g;
INSERT INTO t(k) VALUES (NULL), (''), ('k'), ('k/'), ('k0');
CREATE INDEX $index ON t USING memkv (k) WITH (stripes = $stripes);
});

# In the stress variant (025) a second memkv index competes for the small
# registry: every use of one may evict the other's entry.
my $other = $ENV{MEMKV_STRESS_CONF} ? 1 : 0;
$node->safe_psql('postgres', qq{
CREATE TABLE u (id bigserial, k text COLLATE "C");
INSERT INTO u(k) SELECT 'u/' || g FROM generate_series(1, 1000) g;
CREATE INDEX u_k_mkv ON u USING memkv (k);
}) if $other;

my $have_freeze = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_proc WHERE proname = 'memkv_freeze'") > 0;
note($have_freeze ? 'memkv_freeze() exists: one script freezes' : 'no memkv_freeze()');

# With automatic freezing (memkv.freeze_threshold, when it exists) set low,
# the background worker freezes the index again and again during the run.
my $have_threshold = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_settings WHERE name = 'memkv.freeze_threshold'") > 0;
if ($have_threshold)
{
	$node->safe_psql('postgres', 'ALTER SYSTEM SET memkv.freeze_threshold = 2000');
	$node->reload;
	note('memkv.freeze_threshold = 2000: the background worker freezes during the run');
}

my $off = 'SET enable_seqscan = off;';
# Every stable key exactly once (count and distinct ids), through the range.
my $check_all = q{SELECT 1 / ((count(*) FILTER (WHERE k LIKE '%/s') = 10000
	AND count(DISTINCT id) FILTER (WHERE k LIKE '%/s') = 10000)::int)
	FROM t WHERE k >= 'k/' AND k < 'k0';};
$check_all =~ s/\n\s*/ /g;

my %scripts = (
	# writers
	'insert.sql@8' => q{
\set n random(1, 10000)
\set w random(1, 1000000000)
INSERT INTO t(k) VALUES ('k/' || lpad(:n::text, 5, '0')), ('k/' || lpad(:n::text, 5, '0') || '/w' || :w), ('k/' || lpad(:n::text, 5, '0') || '/w' || :w || '/x'), ('k/' || lpad(:n::text, 5, '0') || '/s/'), (NULL);
},
	'delete.sql@3' => q{
\set n random(1, 10000)
DELETE FROM t WHERE k > 'k/' || lpad(:n::text, 5, '0') || '/s/' AND k < 'k/' || lpad((:n + 20)::text, 5, '0') AND k NOT LIKE '%/s';
},
	'update.sql@2' => q{
\set n random(1, 10000)
UPDATE t SET k = k || '/u' WHERE k = 'k/' || lpad(:n::text, 5, '0');
},
	'vacuum.sql@1' => ($have_freeze ? "VACUUM t;\nSELECT memkv_freeze('$index');\n" : "VACUUM t;\n"),
	# readers
	'read_indexscan.sql@3' => "$off SET enable_bitmapscan = off; SET enable_indexonlyscan = off;\n$check_all\n",
	'read_bitmap.sql@3' => "$off SET enable_indexscan = off; SET enable_indexonlyscan = off;\n$check_all\n",
	'read_indexonly.sql@3' => "$off SET enable_bitmapscan = off;\n"
	  . q{SELECT 1 / (count(*) = 10000)::int FROM t WHERE k >= 'k/' AND k < 'k0' AND k LIKE '%/s';} . "\n",
	# ordered scans: every key greater (resp. smaller) than the previous one
	# or equal to it; stable keys all there
	'read_ordered.sql@3' => "$off SET enable_bitmapscan = off;\n"
	  . q{SELECT 1 / ((count(*) FILTER (WHERE p > k) = 0 AND count(*) FILTER (WHERE k LIKE '%/s') = 10000)::int) FROM (SELECT k, lag(k) OVER () AS p FROM (SELECT k FROM t WHERE k >= 'k/' AND k < 'k0' ORDER BY k LIMIT 1000000000) s) x;} . "\n",
	'read_backward.sql@3' => "$off SET enable_bitmapscan = off;\n"
	  . q{SELECT 1 / ((count(*) FILTER (WHERE p < k) = 0 AND count(*) FILTER (WHERE k LIKE '%/s') = 10000)::int) FROM (SELECT k, lag(k) OVER () AS p FROM (SELECT k FROM t WHERE k >= 'k/' AND k < 'k0' ORDER BY k DESC LIMIT 1000000000) s) x;} . "\n",
	# short ordered scans from random points: from stable key n, the next
	# c + 2 keys (c = keys strictly between stable keys n and n + 19, in the
	# same snapshot) hold exactly 20 stable keys; and point lookups
	'read_points.sql@3' => "\\set n random(1, 9980)\n$off SET enable_bitmapscan = off;\n"
	  . q{SELECT 1 / ((count(*) FILTER (WHERE k LIKE '%/s') = 20)::int) FROM (SELECT k FROM t WHERE k >= 'k/' || lpad(:n::text, 5, '0') || '/s' ORDER BY k LIMIT 2 + (SELECT count(*) FROM t WHERE k > 'k/' || lpad(:n::text, 5, '0') || '/s' AND k < 'k/' || lpad((:n + 19)::text, 5, '0') || '/s')) s;} . "\n"
	  . q{SELECT 1 / (count(*) = 1)::int FROM t WHERE k = 'k/' || lpad(:n::text, 5, '0') || '/s';} . "\n",
);
# the other index: inserts, and a range that must hold its 1,000 first keys
$scripts{'other.sql@2'} = "\\set n random(1, 1000000000)\n$off SET enable_bitmapscan = off;\n"
  . q{INSERT INTO u(k) VALUES ('u/x/' || :n);} . "\n"
  . q{SELECT 1 / (count(*) FILTER (WHERE k NOT LIKE 'u/x/%') = 1000)::int FROM u WHERE k >= 'u/' AND k < 'u0';} . "\n"
  if $other;

# Show what the readers' plans are, so a reader cannot silently seq scan.
for my $mode ([ 'Index Scan', 'SET enable_bitmapscan = off; SET enable_indexonlyscan = off;' ],
	[ 'Bitmap Index Scan', 'SET enable_indexscan = off; SET enable_indexonlyscan = off;' ])
{
	my $plan = $node->safe_psql('postgres', "$off $mode->[1] EXPLAIN (COSTS OFF) $check_all");
	like($plan, qr/\Q$mode->[0]\E.*\b\Q$index\E\b/, "readers with $mode->[0] use $index");
}

my $total = $clients * $per_client;
$node->pgbench(
	"--no-vacuum --client=$clients --jobs=2 --transactions=$per_client --random-seed=5",
	0,
	[ qr{processed: $total/$total}, qr{number of failed transactions: 0}i ],
	# no client aborted (on failure this shows pgbench's stderr: which
	# script and query failed)
	[ qr/\A(?!.*aborted).*\z/s ],
	'concurrent inserts, deletes, updates, VACUUM and scans: every reader saw every stable key once, in order',
	\%scripts);

ok(!$node->log_contains('terminated by signal'), 'no process crashed during the concurrent run');
if ($have_threshold)
{
	cmp_ok($node->safe_psql('postgres', "SELECT generation FROM memkv_state('$index')"), '>', 1,
		'the index was frozen during the run');
}

# Afterwards: the index equals the heap.
is($node->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"), '',
	'memkv_verify finds no problem after the concurrent run');
my $seq = $node->safe_psql('postgres',
	"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;\n"
	  . "SELECT md5(string_agg(coalesce(k, '<NULL>'), ',' ORDER BY k)), count(*) FROM t");
my $idx = $node->safe_psql('postgres',
	"SET enable_seqscan = off; SET enable_bitmapscan = off;\n"
	  . "SELECT md5(string_agg(coalesce(k, '<NULL>'), ',')), count(*) FROM (SELECT k FROM t ORDER BY k) s");
is($idx, $seq, 'a full ordered index scan equals the sorted heap after the concurrent run');
my $bm_seq = $node->safe_psql('postgres',
	"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;\n"
	  . "SELECT count(*), sum(id) FROM t WHERE k ^@ 'k/0'");
my $bm = $node->safe_psql('postgres',
	"SET enable_seqscan = off; SET enable_indexscan = off;\n"
	  . "SELECT count(*), sum(id) FROM t WHERE k ^@ 'k/0'");
is($bm, $bm_seq, 'a bitmap scan equals the heap after the concurrent run');
if ($other)
{
	is($node->safe_psql('postgres', "SELECT * FROM memkv_verify('u_k_mkv')"), '',
		'memkv_verify finds no problem in the other index');
	is($node->safe_psql('postgres',
			"SET enable_seqscan = off; SET enable_bitmapscan = off;\n"
			  . "SELECT count(*), sum(id) FROM u WHERE k >= 'u/'"),
		$node->safe_psql('postgres',
			"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;\n"
			  . "SELECT count(*), sum(id) FROM u WHERE k >= 'u/'"),
		'the other index equals its heap');
}

$node->stop;
done_testing();
