# test/t/031_replica_identity_full.pl -- logical replication into a table
# whose only index is memkv, published with REPLICA IDENTITY FULL.
#
# From 18 on, memkv translates its strategies to CompareType
# (amtranslatecmptype), and a subscriber's apply worker may then find the
# rows an UPDATE or DELETE names through a memkv index (an equality scan,
# then a comparison of whole tuples) instead of a seq scan.  Before 18 it
# uses a seq scan.  Either way the subscriber's table must end up equal to
# the publisher's, duplicates and NULL keys included; on 18 the memkv
# index must have been scanned by the apply worker.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @initdb = ('--locale=C', '--encoding=UTF8');
my $pub = PostgreSQL::Test::Cluster->new('pub');
$pub->init(allows_streaming => 'logical', extra => [@initdb]);
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('sub');
$sub->init(extra => [@initdb]);
$sub->append_conf('postgresql.conf', "shared_preload_libraries = 'memkv'\n");
$sub->start;

my $table = 'CREATE TABLE t (id int, k text COLLATE "C", v int)';
$pub->safe_psql('postgres', qq{
$table;
ALTER TABLE t REPLICA IDENTITY FULL;
INSERT INTO t SELECT g, 'key/' || (g % 700), 0 FROM generate_series(1, 3000) g;
INSERT INTO t VALUES (-1, NULL, 0), (-2, NULL, 0);
CREATE PUBLICATION p FOR TABLE t;
});
$sub->safe_psql('postgres', qq{
CREATE EXTENSION memkv;
$table;
CREATE INDEX t_k ON t USING memkv (k);
});
my $connstr = $pub->connstr . ' dbname=postgres';
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION s CONNECTION '$connstr' PUBLICATION p");
$sub->wait_for_subscription_sync($pub, 's');

# Updates and deletes that each name rows by their whole old tuple: one
# row of a group of duplicate keys, a NULL key, a key that moves.
$pub->safe_psql('postgres', q{
UPDATE t SET v = v + 1 WHERE id % 7 = 0;
UPDATE t SET k = 'moved/' || id WHERE id % 11 = 0;
UPDATE t SET v = 5 WHERE id = -1;
DELETE FROM t WHERE id % 13 = 0;
DELETE FROM t WHERE id = -2;
INSERT INTO t VALUES (5000, 'key/1', 0);
UPDATE t SET v = 9 WHERE id = 5000;
});
$pub->wait_for_catchup('s');

my $all = 'SELECT id, k, v FROM t ORDER BY id, k, v';
is($sub->safe_psql('postgres', $all), $pub->safe_psql('postgres', $all),
	'the subscriber\'s table equals the publisher\'s');
is($sub->safe_psql('postgres', "SELECT * FROM memkv_verify('t_k')"), '',
	'memkv_verify finds no problem on the subscriber');
my $check = q{SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT id FROM t WHERE k = 'key/1' ORDER BY id};
is($sub->safe_psql('postgres', $check),
	$pub->safe_psql('postgres', 'SET enable_indexscan = off; ' . $check),
	'the memkv index answers like the publisher\'s table');

if ($sub->pg_version >= 18)
{
	# The apply worker's scans count in pg_stat_user_indexes once it
	# flushes its statistics: one per replicated UPDATE or DELETE (about
	# 930 of them), where a seq scan would count none.
	ok($sub->poll_query_until('postgres',
		"SELECT idx_scan > 900 FROM pg_stat_user_indexes WHERE indexrelname = 't_k'"),
		'18: the apply worker found the rows through the memkv index');
}

$sub->stop;
$pub->stop;
done_testing();
