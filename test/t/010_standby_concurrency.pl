# test/t/010_standby_concurrency.pl -- hot standby readers while the primary
# writes.
#
# On a streaming standby, WAL replay appends to the memkv delta log while
# backends catch their in-memory tree up from it and scan.  The primary runs
# a pgbench writer (inserts next to 5,000 "stable" keys, deletes, VACUUM and
# memkv_freeze() when it exists) in the background; at the same time pgbench
# readers on the standby scan the whole range through the index (index scan,
# bitmap scan, forward, backward) and assert inside SQL that every stable key
# is seen exactly once and in order (a failed assertion divides by zero and
# aborts the client).  A reader whose run page replay reused under it gets
# the serialization error by design (src/README, "Epochs and page reuse"); pgbench retries
# those (--max-tries), never a failed assertion.  Afterwards, caught up,
# the standby's index answers equal the primary's seq scans.  Fixed
# transaction counts, no timing.

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $index = 't_k_mkv';

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1, extra => [ '--locale=C', '--encoding=UTF8' ]);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$primary->start;
$primary->safe_psql('postgres', qq{
CREATE EXTENSION memkv;
CREATE TABLE t (id bigserial, k text COLLATE "C");
INSERT INTO t(k) SELECT 'k/' || lpad(g::text, 5, '0') || '/s' FROM generate_series(1, 5000) g;
CREATE INDEX $index ON t USING memkv (k) WITH (stripes = 4);
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
# Readers must not be cancelled by recovery conflicts: that would abort a
# pgbench client for reasons that have nothing to do with memkv.
$standby->append_conf('postgresql.conf', qq{
hot_standby_feedback = on
max_standby_streaming_delay = -1
});
$standby->start;
$primary->wait_for_catchup($standby);

my $have_freeze = $primary->safe_psql('postgres',
	"SELECT count(*) FROM pg_proc WHERE proname = 'memkv_freeze'") > 0;

my $writer = $primary->basedir . '/writer.sql';
PostgreSQL::Test::Utils::append_to_file($writer, q{
\set n random(1, 5000)
\set w random(1, 1000000000)
INSERT INTO t(k) VALUES ('k/' || lpad(:n::text, 5, '0')), ('k/' || lpad(:n::text, 5, '0') || '/w' || :w), ('k/' || lpad(:n::text, 5, '0') || '/s/'), (NULL);
DELETE FROM t WHERE k > 'k/' || lpad(:n::text, 5, '0') || '/s/' AND k < 'k/' || lpad((:n + 3)::text, 5, '0') AND k NOT LIKE '%/s';
});
my $maint = $primary->basedir . '/maint.sql';
PostgreSQL::Test::Utils::append_to_file($maint,
	"VACUUM t;\n" . ($have_freeze ? "SELECT memkv_freeze('$index');\n" : ''));

my $off = 'SET enable_seqscan = off;';
my %readers = (
	'read_indexscan.sql' => "$off SET enable_bitmapscan = off; SET enable_indexonlyscan = off;\n"
	  . q{SELECT 1 / ((count(*) FILTER (WHERE k LIKE '%/s') = 5000 AND count(DISTINCT id) FILTER (WHERE k LIKE '%/s') = 5000)::int) FROM t WHERE k >= 'k/' AND k < 'k0';} . "\n",
	'read_bitmap.sql' => "$off SET enable_indexscan = off; SET enable_indexonlyscan = off;\n"
	  . q{SELECT 1 / ((count(*) FILTER (WHERE k LIKE '%/s') = 5000 AND count(DISTINCT id) FILTER (WHERE k LIKE '%/s') = 5000)::int) FROM t WHERE k >= 'k/' AND k < 'k0';} . "\n",
	'read_ordered.sql' => "$off SET enable_bitmapscan = off;\n"
	  . q{SELECT 1 / ((count(*) FILTER (WHERE p > k) = 0 AND count(*) FILTER (WHERE k LIKE '%/s') = 5000)::int) FROM (SELECT k, lag(k) OVER () AS p FROM (SELECT k FROM t WHERE k >= 'k/' AND k < 'k0' ORDER BY k LIMIT 1000000000) s) x;} . "\n",
	'read_backward.sql' => "$off SET enable_bitmapscan = off;\n"
	  . q{SELECT 1 / ((count(*) FILTER (WHERE p < k) = 0 AND count(*) FILTER (WHERE k LIKE '%/s') = 5000)::int) FROM (SELECT k, lag(k) OVER () AS p FROM (SELECT k FROM t WHERE k >= 'k/' AND k < 'k0' ORDER BY k DESC LIMIT 1000000000) s) x;} . "\n",
);

# The writer on the primary, in the background.
my ($wout, $werr) = ('', '');
my $wh = IPC::Run::start(
	[ 'pgbench', '--no-vacuum', '--client=2', '--jobs=1', '--transactions=600',
		'-f', "$writer\@20", '-f', "$maint\@1", '-d', $primary->connstr('postgres') ],
	'>', \$wout, '2>', \$werr);

# The readers on the standby, meanwhile.
$standby->pgbench(
	'--no-vacuum --client=3 --jobs=1 --transactions=150 --random-seed=7 --max-tries=20',
	0,
	[ qr{processed: 450/450} ],
	[ qr/\A(?!.*aborted).*\z/s ],
	'standby readers during replay saw every stable key once, in order',
	\%readers);

$wh->finish;
like($wout, qr{processed: 1200/1200}, 'the primary writer finished') or diag($werr);

$primary->wait_for_catchup($standby);
my $q = q{SELECT count(*), md5(string_agg(coalesce(k, '-'), ',' ORDER BY k)) FROM t};
my $want = $primary->safe_psql('postgres',
	"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; $q");
is($standby->safe_psql('postgres', "SET enable_seqscan = off; SET enable_bitmapscan = off; $q WHERE k IS NULL OR k >= ''"),
	$want, 'caught up: the standby index scan equals the primary heap');
is($standby->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"), '',
	'caught up: memkv_verify on the standby finds no problem');

$standby->stop;
$primary->stop;
done_testing();
