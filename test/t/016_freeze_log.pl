# test/t/016_freeze_log.pl -- what a DBA sees of freezes: the log line of
# memkv.log_freeze_min_duration, memkv_state's cumulative figures, and a
# failing background freeze.
#
#   * memkv.log_freeze_min_duration = -1 logs no freeze, 0 logs every one,
#     one hour logs none of these quick ones; the line names the index
#     (database.schema.name), the trigger (memkv_freeze(), VACUUM,
#     background worker), keys and TIDs in and out, dead TIDs dropped,
#     pages and bytes written, pages freed, WAL and the elapsed time;
#   * memkv_state's stat_* figures add up every freeze, survive the
#     eviction of the index's registry entry (memkv.max_indexes = 2 and
#     other indexes used), are zeroed by memkv_stat_reset (superuser only),
#     start over after REINDEX and after a restart;
#   * a background freeze that fails (the frozen run no longer matches its
#     checksum) is retried, but logs its reason once, and memkv_state shows
#     the error and the number of failures; so does a worker that cannot
#     start (max_worker_processes = 0).

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvDisk;

my $node = PostgreSQL::Test::Cluster->new('freezelog');
# Without data checksums (initdb's default from 18 on): the damaged page
# must reach memkv's checksum check, not PostgreSQL's.
$node->init(extra => [ '--locale=C', '--encoding=UTF8',
	$node->pg_version >= 18 ? ('--no-data-checksums') : () ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
memkv.max_indexes = 2
memkv.log_freeze_min_duration = -1
});
$node->start;

# Set memkv.log_freeze_min_duration in ms (PGC_SIGHUP, like
# log_autovacuum_min_duration) and wait until this server uses it.
sub set_log_min
{
	my ($value) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET memkv.log_freeze_min_duration = '$value'; SELECT pg_reload_conf()");
	$node->poll_query_until('postgres',
		"SELECT setting = '$value' FROM pg_settings WHERE name = 'memkv.log_freeze_min_duration'")
	  or die "memkv.log_freeze_min_duration did not become $value";
}

# The server log written since byte $offset.
sub log_since
{
	my ($offset) = @_;
	return slurp_file($node->logfile, $offset);
}

sub mstat
{
	my ($index, $cols) = @_;
	return $node->safe_psql('postgres', "SELECT $cols FROM memkv_state('$index')");
}

$node->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE a (id int, k text COLLATE "C");
INSERT INTO a SELECT g, 'a/' || g FROM generate_series(1, 1000) g;
CREATE INDEX a_k ON a USING memkv (k) WITH (freeze_threshold = 0);
});
is(mstat('a_k', 'stat_freezes, stat_bytes_written, stats_reset IS NULL'),
	'0|0|t', 'a fresh index has no freeze figures');

# -1: no line
my $offset = -s $node->logfile;
$node->safe_psql('postgres', q{
INSERT INTO a SELECT g, 'b/' || g FROM generate_series(1, 300) g;
SELECT memkv_freeze('a_k');
});
unlike(log_since($offset), qr/memkv freeze of index/,
	'log_freeze_min_duration = -1: the freeze leaves no line');

# 0: every freeze logs its line, with every field
set_log_min('0');
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{
INSERT INTO a SELECT g, 'c/' || g FROM generate_series(1, 200) g;
SELECT memkv_freeze('a_k');
});
my $log = log_since($offset);
like(
	$log,
	qr/LOG:  memkv freeze of index "postgres\.public\.a_k" \(triggered by memkv_freeze\(\)\): in: frozen 0 keys 0 TIDs, delta 200 keys 200 TIDs; out: 200 keys 200 TIDs; dead TIDs dropped: 0; written: [1-9]\d* pages, [1-9]\d* bytes; freed: \d+ pages; WAL: [1-9]\d* records, \d+ full page images, [1-9]\d* bytes; elapsed: \d+\.\d{3} s\n/,
	'log_freeze_min_duration = 0: memkv_freeze logs one line with its figures');
my @lines = ($log =~ /memkv freeze of index/g);
is(scalar @lines, 1, 'one line per freeze');

# VACUUM: a freeze of the (empty) delta, the run's dead list (7% dead: no
# rewrite), then a freeze by the cleanup
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{
DELETE FROM a WHERE k LIKE 'b/1%';
VACUUM a;
INSERT INTO a SELECT g, 'd/' || g FROM generate_series(1, 50) g;
VACUUM a;
});
$log = log_since($offset);
like($log,
	qr/memkv vacuum of index "postgres\.public\.a_k" \(triggered by VACUUM\): in: frozen 1500 keys 1500 TIDs, delta 0 keys 0 TIDs; out: 1500 keys 1389 TIDs; dead TIDs dropped: 111; written: 2 pages, 16384 bytes;/,
	'VACUUM: the dead-list line counts the dead TIDs dropped');
like($log,
	qr/memkv freeze of index "postgres\.public\.a_k" \(triggered by VACUUM cleanup\): in: frozen 0 keys 0 TIDs, delta 50 keys 50 TIDs; out: 50 keys/,
	'VACUUM without dead TIDs: the cleanup freeze is logged as such');

# the background worker, asked for by the last of 100 inserted rows (so
# that it cannot start freezing while the INSERT still adds rows)
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{
ALTER INDEX a_k SET (freeze_threshold = 100);
INSERT INTO a SELECT g, 'e/' || g FROM generate_series(1, 100) g;
});
ok( $node->poll_query_until('postgres',
		"SELECT delta_tids = 0 FROM memkv_state('a_k')"),
	'the worker froze the delta');
$node->wait_for_log(
	qr/memkv freeze of index "postgres\.public\.a_k" \(triggered by background worker\): in: frozen 0 keys 0 TIDs, delta 100 keys 100 TIDs;/,
	$offset);
pass('the worker\'s freeze is logged with its trigger');

# the figures add up all five freezes
is( mstat('a_k',
		'stat_freezes, stat_tids_frozen, stat_dead_tids, stat_bytes_written > 0, '
		  . 'stat_bytes_written % current_setting(\'block_size\')::int, stat_wal_bytes > 0, '
		  . 'stat_freeze_time > 0, stat_worker_failures, last_worker_error IS NULL'),
	'5|650|111|t|0|t|t|0|t',
	'memkv_state: freezes, TIDs frozen, dead TIDs, bytes and WAL written, time');
my $bytes5 = mstat('a_k', 'stat_bytes_written');

# a threshold above the freeze's time: no line, but the figures still count
set_log_min('3600000');
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{
INSERT INTO a SELECT g, 'f/' || g FROM generate_series(1, 20) g;
SELECT memkv_freeze('a_k');
});
unlike(log_since($offset), qr/memkv freeze of index/,
	'a freeze quicker than log_freeze_min_duration leaves no line');
is(mstat('a_k', "stat_freezes, stat_bytes_written > $bytes5"),
	'6|t', 'it is counted all the same');

# eviction of the registry entry (2 slots, two other indexes used)
$node->safe_psql('postgres', q{
CREATE TABLE o (k text COLLATE "C");
CREATE INDEX o1 ON o USING memkv (k);
CREATE INDEX o2 ON o USING memkv (k);
INSERT INTO o SELECT 'o/' || g FROM generate_series(1, 100) g;
SET enable_seqscan = off;
SELECT count(*) FROM o WHERE k LIKE 'o/1%';
});
is(mstat('a_k', 'art_loaded, stat_freezes, stat_tids_frozen'),
	'f|6|670', 'the figures survive the eviction of the registry entry');

# memkv_stat_reset: zeroes them, for superusers only
$node->safe_psql('postgres', 'CREATE ROLE mortal LOGIN');
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT memkv_stat_reset('a_k')", extra_params => [ '-U', 'mortal' ]);
like($stderr, qr/permission denied for function memkv_stat_reset/,
	'memkv_stat_reset is not for PUBLIC');
$node->safe_psql('postgres', "SELECT memkv_stat_reset('a_k')");
is(mstat('a_k', 'stat_freezes, stat_tids_frozen, stat_bytes_written, stats_reset IS NOT NULL'),
	'0|0|0|t', 'memkv_stat_reset zeroes the figures and says when');
$node->safe_psql('postgres', "SELECT memkv_freeze('a_k')");
is(mstat('a_k', 'stat_freezes, stats_reset IS NOT NULL'), '1|t',
	'and they count again from there');

# REINDEX builds another index: its figures start from zero
$node->safe_psql('postgres', 'REINDEX INDEX a_k');
is(mstat('a_k', 'stat_freezes, stat_bytes_written, stats_reset IS NULL'),
	'0|0|t', 'REINDEX: no figures inherited from the old build');
$node->safe_psql('postgres', "SELECT memkv_freeze('a_k')");
is(mstat('a_k', 'stat_freezes'), '1', 'the new build counts its own');

# a restart: the figures start from zero
$node->restart;
is(mstat('a_k', 'stat_freezes, stat_bytes_written, stats_reset IS NULL'),
	'0|0|t', 'a restart zeroes the figures');

# A failing background freeze.  A freeze reads no run (memkv 2 step 5),
# but the merges the policy then runs do: bad_k gets a small run R1 of 20
# rows, whose data is damaged (header and trailer kept), and a freeze
# threshold of 10, so after a few background freezes the policy merges
# the six runs of the smallest size class, R1 among them, and every such
# merge fails on R1's checksum.  The merges run in "memkv merge" workers
# (step 6), which log and count their failures as freeze workers do.
$node->safe_psql('postgres', q{
CREATE TABLE bad (id int, k text COLLATE "C");
INSERT INTO bad SELECT g, 'host' || (g % 97) || '/path/' || md5(g::text)
  FROM generate_series(1, 30000) g;
CREATE INDEX bad_k ON bad USING memkv (k) WITH (freeze_threshold = 0);
INSERT INTO bad SELECT g, 'r1/' || md5(g::text) FROM generate_series(1, 20) g;
SELECT memkv_freeze('bad_k');
ALTER INDEX bad_k SET (freeze_threshold = 10);
CHECKPOINT;
});
my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('bad_k')");
$node->stop;
my $file = $node->data_dir . "/$path";
{
	my $d = slurp_file_bin($file);
	my $dir = dir_get(\$d);
	my $r1 = $dir->{runs}[0];    # newest first
	die "R1 is not the 20-row run" unless $r1->{ntids} == 20;
	my $h = run_header(\$d, $r1);
	my $at = run_block($h, 0) * $BLCKSZ + $CONTENTS + 100;
	substr($d, $at, 8) = join '', map { chr(ord($_) ^ 0xA5) } split //, substr($d, $at, 8);
	spew_file_bin($file, $d);
}
$node->start;
set_log_min('0');

$offset = -s $node->logfile;
$node->safe_psql('postgres',
	"INSERT INTO bad SELECT g, 'new/' || g FROM generate_series(1, 11) g");
ok( $node->poll_query_until('postgres', q{
		WITH ins AS (INSERT INTO bad VALUES (0, 'more') RETURNING 1)
		SELECT stat_worker_failures >= 1
		FROM memkv_state('bad_k'), (SELECT count(*) FROM ins) i}),
	'the background merge of the damaged run failed');
# every insert past the threshold asks for a freeze again: keep inserting
# until a worker has retried (and failed) twice more
ok( $node->poll_query_until('postgres', q{
		WITH ins AS (INSERT INTO bad VALUES (0, 'again') RETURNING 1)
		SELECT stat_worker_failures >= 3
		FROM memkv_state('bad_k'), (SELECT count(*) FROM ins) i}),
	'the freeze was retried and failed again');
$log = log_since($offset);
my @failed = ($log =~ /LOG:  memkv background (?:freeze|merge) of index "postgres\.public\.bad_k" failed: ([^\n]+)/g);
is(scalar @failed, 1, 'the failure is logged once, not once per retry');
like($failed[0] // '', qr/checksum/, 'the line says why');
unlike($log, qr/"memkv (?:freeze|merge)" \(PID \d+\) exited with exit code/,
	'the failed workers exit normally');
is(mstat('bad_k', "last_worker_error LIKE '%checksum%', last_worker_error_time IS NOT NULL"),
	't|t', 'memkv_state shows the last worker error');

# REINDEX repairs it; the error belonged to the old build
$node->safe_psql('postgres', 'REINDEX INDEX bad_k');
is(mstat('bad_k', 'last_worker_error IS NULL, stat_worker_failures'),
	't|0', 'after REINDEX the old error is gone');

# A background freeze asked for when the delta passed its threshold finds
# it frozen by memkv_freeze() by the time it holds the freeze lock (the
# worker takes far longer to start than the statements below take): it
# must not write a run of the few rows inserted since.  In the unlikely
# other order the worker freezes the whole delta first, and memkv_freeze
# then has nothing; either way no background freeze of fewer TIDs than
# the threshold may be logged.
set_log_min('0');
$node->safe_psql('postgres', q{
CREATE TABLE tf (k text COLLATE "C");
CREATE INDEX tf_k ON tf USING memkv (k) WITH (freeze_threshold = 200);
});
$offset = -s $node->logfile;
$node->safe_psql('postgres', q{
INSERT INTO tf SELECT 'tf/' || g FROM generate_series(1, 200) g;
SELECT memkv_freeze('tf_k');
INSERT INTO tf SELECT 'tf/late/' || g FROM generate_series(1, 5) g;
});
# the worker has been asked for; wait for it to have come and gone
sleep(2);
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'memkv freeze'"),
	'the background freeze is done');
$log = log_since($offset);
my @worker_tids = ($log =~ /memkv freeze of index "postgres\.public\.tf_k" \(triggered by background worker\): in: frozen \d+ keys \d+ TIDs, delta \d+ keys (\d+) TIDs;/g);
is(scalar(grep { $_ < 200 } @worker_tids), 0,
	'no background freeze of a delta below the threshold');
is(mstat('tf_k', 'delta_tids'), '5', 'the rows inserted since stay in the delta');

# Key blocks (the front-coded keys of the largest run that range scans
# read in shared memory): the first range scan on a primary asks a
# background worker to build them and answers without waiting (the build
# takes about half a second per million keys); with no worker slot free,
# the scan builds them itself.
$node->safe_psql('postgres',
	"ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf()");
$node->poll_query_until('postgres',
	"SELECT setting = 'debug1' FROM pg_settings WHERE name = 'log_min_messages'")
  or die "log_min_messages did not become debug1";
$node->safe_psql('postgres', q{
CREATE TABLE kb (k text COLLATE "C");
INSERT INTO kb SELECT 'kb/' || g FROM generate_series(1, 20000) g;
CREATE INDEX kb_k ON kb USING memkv (k);
});
my $kb_range = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT string_agg(k, ',') FROM (SELECT k FROM kb WHERE k >= 'kb/5' ORDER BY k LIMIT 3) s};
$offset = -s $node->logfile;
is($node->safe_psql('postgres', $kb_range), 'kb/5,kb/50,kb/500',
	'a range scan answers before the key blocks exist');
ok( $node->poll_query_until('postgres',
		"SELECT cache_bytes > fst_bytes + posting_bytes FROM memkv_state('kb_k')"),
	'then the shared memory holds the run and its key blocks');
like(log_since($offset),
	qr/memkv: built key blocks of index "kb_k" \(\d+ bytes\) in [\d.]+ ms in a background worker/,
	'built by a background worker');
is($node->safe_psql('postgres', $kb_range), 'kb/5,kb/50,kb/500',
	'a range scan with the key blocks answers the same');

# No worker slot: the background freeze cannot even start.  That is
# logged once too (the request is retried after 10 s), and recorded.
$node->safe_psql('postgres', q{
CREATE TABLE nw (k text COLLATE "C");
CREATE INDEX nw_k ON nw USING memkv (k) WITH (freeze_threshold = 10);
});
$node->append_conf('postgresql.conf', 'max_worker_processes = 0');
$node->restart;
$offset = -s $node->logfile;
$node->safe_psql('postgres',
	"INSERT INTO nw SELECT 'nw/' || g FROM generate_series(1, 20) g");
is(mstat('nw_k', 'stat_worker_failures, last_worker_error'),
	'1|could not start a memkv freeze worker',
	'a worker that cannot start is a failed background freeze');
sleep(11);
$node->safe_psql('postgres', "INSERT INTO nw VALUES ('nw/again')");
is(mstat('nw_k', 'stat_worker_failures'), '2', 'it was retried after 10 s');
my @nostart = (log_since($offset) =~ /LOG:  could not start a memkv freeze worker for index "nw_k"/g);
is(scalar @nostart, 1, 'and logged once');

# ... and no worker can build key blocks: the range scan builds them
$offset = -s $node->logfile;
is($node->safe_psql('postgres', $kb_range), 'kb/5,kb/50,kb/500',
	'without a worker slot a range scan answers');
like(log_since($offset),
	qr/memkv: built key blocks of index "kb_k" \(\d+ bytes\) in [\d.]+ ms\n/,
	'having built the key blocks itself');
is(mstat('kb_k', 'stat_worker_failures'), '0',
	'which is no worker failure');

$node->stop;
done_testing();
