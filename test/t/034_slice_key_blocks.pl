# test/t/034_slice_key_blocks.pl -- key blocks of runs of several slices
# (issue 15; src/README "Slices exist to bound the writer's memory" and
# the key blocks of the shared copy).
#
# Key blocks cover a whole run, all its slices, with run-wide ordinals: a
# walk over them crosses no slice boundary and reads each key's postings
# from the slice its ordinal falls in.  Checked, for a run of a few slices
# (maintenance_work_mem = 1MB), one of hundreds (4 kB slices) and the
# many-slice output of memkv_merge:
#   * a range scan gets the key blocks built (by a background worker): the
#     DEBUG1 line says so, and memkv_state's cache_bytes is the run's
#     bytes plus exactly the key blocks' bytes;
#   * while they are in use, every query kind equals a seq scan:
#     equality, = ANY, ranges both ways, prefixes, ordered LIMIT both
#     ways, the whole table in both orders, and scroll cursors moving
#     forward and backward across slice boundaries (so batches resume and
#     turn around in the key blocks);
#   * after DELETE + VACUUM (dead lists name run-wide ordinals) and new
#     rows that may reuse the freed TIDs, index-only scans over the key
#     blocks still equal the seq scan;
#   * memkv_verify is clean throughout;
#   * with an arena whose free half holds the run's copy but not its key
#     blocks, their build stops early and keeps nothing, and scans answer
#     from the FST.

use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvCluster;
use MemkvHostKeys;

my $node = memkv_primary('slice_kb',
	conf => "log_min_messages = debug1\nmemkv.shared_memory = '256MB'\n",
	sql => memkv_host_table_sql(5000));

# Build (or rebuild) the index; returns the writer's slice count from its
# DEBUG1 line.
sub build
{
	my ($settings, $sql) = @_;
	my (undef, $slices) = memkv_host_build($node, $settings, $sql);
	return $slices;
}

my $index_on = $memkv_host_index_on;
my $index_off = $memkv_host_index_off;

# The run's own bytes, and the shared memory the index holds.
sub cache_excess
{
	return $node->safe_psql('postgres',
		"SELECT cache_bytes - (fst_bytes + posting_bytes) FROM memkv_state('t_k')");
}

# A range scan asks a background worker for the key blocks; wait until
# they are in shared memory, and check the worker's DEBUG1 line names
# exactly the bytes cache_bytes gained over the run's copy.
sub key_blocks_built
{
	my ($what) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres',
		"$index_on SELECT count(*) FROM t WHERE k >= 'host2' AND k < 'host3'");
	ok( $node->poll_query_until('postgres',
			"SELECT cache_bytes > fst_bytes + posting_bytes FROM memkv_state('t_k')"),
		"$what: the key blocks are built");
	my ($bytes) = slurp_file($node->logfile, $offset) =~
	  /memkv: built key blocks of index "t_k" \((\d+) bytes\)/;
	ok(defined $bytes && $bytes > 0,
		"$what: the DEBUG1 line reports them (" . ($bytes // 'none') . ' bytes)');
	is(cache_excess(), $bytes // -1,
		"$what: cache_bytes is the run's copy plus the key blocks");
	return;
}

# Every query by the index equals the same by a seq scan, while the key
# blocks are in shared memory (before and after).
sub same_as_seqscan
{
	my ($what) = @_;
	my $kb = cache_excess();
	cmp_ok($kb, '>', 0, "$what: key blocks in shared memory before the queries");
	memkv_host_same_as_seqscan($node, $what);
	is(cache_excess(), $kb, "$what: the same key blocks after the queries");
	return;
}

# (a) a few slices (maintenance_work_mem = 1MB)
my $slices = build(q{SET maintenance_work_mem = '1MB';},
	'CREATE INDEX t_k ON t USING memkv (k)');
cmp_ok($slices, '>', 4, "1MB: the run has several slices ($slices)");
key_blocks_built('1MB');
same_as_seqscan('1MB');

# (b) 4 kB slices: hundreds of them
$slices = build(q{SET memkv.debug_slice_bytes = 4096;}, 'REINDEX INDEX t_k');
cmp_ok($slices, '>', 60, "4 kB slices: the run has many ($slices)");
key_blocks_built('4 kB slices');
same_as_seqscan('4 kB slices');

# (c) DELETE + VACUUM: the run's dead list names run-wide ordinals, which
# the key-block walk must map to the right slice's postings; then rows
# that may take the freed TIDs.  Index-only scans (the visibility map is
# set by VACUUM) would return the dead keys if they were not dropped.
$node->safe_psql('postgres', q{
DELETE FROM t WHERE id % 7 = 0 OR k LIKE 'host3.%' OR k LIKE 'host21.%';
VACUUM t;
});
cmp_ok($node->safe_psql('postgres', "SELECT dead_tids FROM memkv_state('t_k')"),
	'>', 0, 'VACUUM left a dead list');
key_blocks_built('after VACUUM') if cache_excess() <= 0;
my @ios = (
	[ 'index-only count', q{SELECT count(*) FROM t WHERE k >= 'host2' AND k < 'host4'} ],
	[ 'index-only ordered', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k >= 'host' ORDER BY k) s} ],
	[ 'index-only descending', q{SELECT md5(string_agg(k, ',')) FROM (SELECT k FROM t WHERE k <= 'host5' ORDER BY k DESC) s} ],
	[ 'index-only prefix', q{SELECT count(*) FROM t WHERE k LIKE 'host21%'} ],
);
sub ios_same
{
	my ($what) = @_;
	my $plan = $node->safe_psql('postgres', "$index_on EXPLAIN (COSTS OFF) $ios[1][1]");
	like($plan, qr/Index Only Scan using t_k/, "$what: the plan is an index-only scan");
	foreach my $q (@ios)
	{
		is($node->safe_psql('postgres', "$index_on $q->[1]"),
			$node->safe_psql('postgres', "$index_off $q->[1]"),
			"$what: $q->[0]");
	}
	return;
}
ios_same('after DELETE and VACUUM');
same_as_seqscan('after DELETE and VACUUM');
$node->safe_psql('postgres', q{
INSERT INTO t(k) SELECT 'host21.example/new/' || g FROM generate_series(1, 3000) g;
VACUUM t;
});
ios_same('after rows that may reuse the TIDs');
same_as_seqscan('after rows that may reuse the TIDs');

# (d) the many-slice output of a merge gets key blocks too
$node->safe_psql('postgres',
	'ALTER SYSTEM SET memkv.debug_slice_bytes = 4096; SELECT pg_reload_conf()');
$node->safe_psql('postgres', q{
SELECT memkv_freeze('t_k');
INSERT INTO t(k) SELECT 'host' || (g % 13) || '.example/usr/share/doc/pkg' || (g % 997) || '/file' || g FROM generate_series(1, 20000) g;
SELECT memkv_freeze('t_k');
});
memkv_host_merge($node);
key_blocks_built('after memkv_merge');
same_as_seqscan('after memkv_merge');
$node->safe_psql('postgres',
	'ALTER SYSTEM RESET memkv.debug_slice_bytes; SELECT pg_reload_conf()');

# (e) the memory bound: an arena whose free half holds the run's copy but
# not its key blocks.  The build stops once the blocks outgrow that room
# (its DEBUG1 line says so), the entry remembers the
# failure, and scans answer from the FST.
my $copy = $node->safe_psql('postgres',
	"SELECT fst_bytes + posting_bytes FROM memkv_state('t_k')");
my $kb_bytes = cache_excess();
my $mb = int(2 * ($copy + $kb_bytes / 2) / (1024 * 1024) + 0.5);
$node->append_conf('postgresql.conf', "memkv.shared_memory = '${mb}MB'");
$node->restart;
my $offset = -s $node->logfile;
$node->safe_psql('postgres',
	"$index_on SELECT count(*) FROM t WHERE k >= 'host2' AND k < 'host3'");
# ("[k]ey": the server logs this very statement, which must not match)
ok( $node->poll_query_until('postgres',
		"SELECT pg_read_file('" . $node->logfile . "', $offset, 1000000) ~ 'memkv: [k]ey blocks of index \"t_k\"'"),
	"${mb}MB arena: the worker tried to build the key blocks");
like(slurp_file($node->logfile, $offset),
	qr/memkv: key blocks of index "t_k" do not fit in the shared memory left for them: not built/,
	'and gave up once they outgrew the room');
is(cache_excess(), '0', 'shared memory holds the run\'s copy alone');
memkv_host_same_as_seqscan($node, "${mb}MB arena, no key blocks");

$node->stop;
done_testing();
