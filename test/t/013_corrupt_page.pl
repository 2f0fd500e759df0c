# test/t/013_corrupt_page.pl -- damaged pages of the frozen layer.
#
# While the server is down, two memkv indexes get one page in the middle of
# their frozen layer damaged on disk, with the page header left valid (so
# PostgreSQL's own page check passes and memkv's has to catch it):
#   * bad_k: the memkv trailer (special space) is overwritten: every scan
#     fails with the corruption ERROR and its REINDEX hint;
#   * bad2_k: a few bytes of FST/postings data are changed, the trailer is
#     intact: the run no longer matches its checksum, so every scan fails
#     (point lookups included: they read the run's checked shared copy)
#     and memkv_verify reports it.
# In both cases, never a crash and never a wrong answer.  Moreover:
#   * the same session goes on scanning a healthy memkv index, also right
#     after an error caught by a PL/pgSQL exception block, many times over
#     (the state a failed scan leaves behind is cleaned up by the abort);
#   * REINDEX repairs the damaged index.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('corrupt');
# Without data checksums (initdb's default from 18 on): with them, PostgreSQL
# rejects the damaged pages itself ("invalid page in block") before memkv
# reads them, and memkv's own checks would go untested.
$node->init(extra => [ '--locale=C', '--encoding=UTF8',
	$node->pg_version >= 18 ? ('--no-data-checksums') : () ]);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'memkv'
autovacuum = off
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION memkv;
CREATE TABLE bad (id int, k text COLLATE "C");
INSERT INTO bad SELECT i, 'host' || (i % 97) || '/path/' || md5(i::text)
  FROM generate_series(1, 30000) i;
CREATE INDEX bad_k ON bad USING memkv (k);
CREATE TABLE bad2 (id int, k text COLLATE "C");
INSERT INTO bad2 SELECT * FROM bad;
CREATE INDEX bad2_k ON bad2 USING memkv (k);
CREATE TABLE good (id int, k text COLLATE "C");
INSERT INTO good SELECT * FROM bad;
CREATE INDEX good_k ON good USING memkv (k);
});

my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('bad_k')");
my $nblocks = $node->safe_psql('postgres',
	"SELECT pg_relation_size('bad_k') / current_setting('block_size')::int");
my $frozen_pages = $node->safe_psql('postgres',
	"SELECT frozen_pages FROM memkv_state('bad_k')");
ok($frozen_pages > 4, "the frozen layer spans several pages ($frozen_pages)");
my $key = $node->safe_psql('postgres', "SELECT k FROM bad WHERE id = 12345");
my $path2 = $node->safe_psql('postgres', "SELECT pg_relation_filepath('bad2_k')");
my $nblocks2 = $node->safe_psql('postgres',
	"SELECT pg_relation_size('bad2_k') / current_setting('block_size')::int");

$node->stop;
my $victim = int($nblocks / 2);
my $file = $node->data_dir . "/$path";
open(my $fh, '+<', $file) or die "open $file: $!";
binmode $fh;
seek($fh, $victim * 8192 + 8192 - 16, 0) or die "seek: $!";
print $fh ("\x5a" x 16) or die "write: $!";
close($fh) or die "close: $!";
# bad2_k: 8 bytes in the middle of a page's contents (header and trailer kept)
my $file2 = $node->data_dir . "/$path2";
open(my $fh2, '+<', $file2) or die "open $file2: $!";
binmode $fh2;
seek($fh2, int($nblocks2 / 2) * 8192 + 4000, 0) or die "seek: $!";
my $old8;
read($fh2, $old8, 8) == 8 or die "read: $!";
seek($fh2, int($nblocks2 / 2) * 8192 + 4000, 0) or die "seek: $!";
print $fh2 (join '', map { chr(ord($_) ^ 0xA5) } split //, $old8) or die "write: $!";
close($fh2) or die "close: $!";
$node->start;

# bad2_k: every kind of scan fails the checksum, even the first
foreach my $q (
	"SELECT id FROM bad2 WHERE k = '$key'",
	"SELECT count(*) FROM bad2 WHERE k LIKE 'host1/%'",
	"SELECT k FROM bad2 WHERE k > 'host5' ORDER BY k LIMIT 5000",
	"SELECT k FROM bad2 ORDER BY k DESC LIMIT 30000")
{
	my ($ret, $out, $err) = $node->psql('postgres', "SET enable_seqscan = off; SET enable_bitmapscan = off; $q");
	isnt($ret, 0, "flipped bytes: the scan fails: $q");
	like($err, qr/ERROR:.*does not match its checksum|ERROR:.*do not match their checksum/, "flipped bytes: checksum ERROR for: $q");
	like($err, qr/HINT:.*REINDEX/, "flipped bytes: REINDEX hint for: $q");
}
{
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM memkv_verify('bad2_k')");
	like("$out $err", qr/checksum|corrupt/, 'memkv_verify reports the flipped bytes');
}

my $idx = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my @queries = (
	"SELECT id FROM bad WHERE k = '$key'",
	"SELECT count(*) FROM bad WHERE k LIKE 'host1/%'",
	"SELECT k FROM bad WHERE k > 'host5' ORDER BY k LIMIT 5000",
	"SELECT k FROM bad ORDER BY k DESC LIMIT 30000",
);
my $errors = 0;
foreach my $q (@queries)
{
	my ($ret, $out, $err) = $node->psql('postgres', "$idx $q");
	if ($ret != 0)
	{
		$errors++;
		like($err, qr/ERROR:.*(corrupt|impossible)/, "damaged index: clean ERROR for: $q");
		like($err, qr/HINT:.*REINDEX/, "damaged index: REINDEX hint for: $q");
	}
}
# all fail, even those that would not reach the page: the first scan
# copies the whole run into shared memory and checks every page
is($errors, scalar(@queries), "every scan of the damaged index fails");
ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'the server is still up');

# One session: a failing scan, caught, then many scans of the healthy index.
my $expect = $node->safe_psql('postgres',
	"SELECT count(*) FROM good WHERE k LIKE 'host2%'");
my $out = $node->safe_psql('postgres', qq{
$idx
CREATE FUNCTION probe_bad() RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE caught int := 0;
BEGIN
  FOR i IN 1..20 LOOP
    BEGIN
      PERFORM count(*) FROM (SELECT k FROM bad ORDER BY k DESC LIMIT 30000) s;
    EXCEPTION WHEN index_corrupted THEN
      caught := caught + 1;
    END;
    PERFORM count(*) FROM good WHERE k = '$key';
  END LOOP;
  RETURN caught;
END \$\$;
SELECT probe_bad();
SELECT count(*) FROM good WHERE k LIKE 'host2%';
SELECT sum((SELECT count(*) FROM good g WHERE g.k = s.k)) FROM (SELECT k FROM good LIMIT 500) s;
});
my @lines = split /\n/, $out;
ok($lines[0] > 0, "the exception block caught the corruption error ($lines[0] of 20)");
is($lines[1], $expect, 'the healthy index answers a prefix count after the errors');
is($lines[2], '500', 'the healthy index answers 500 point lookups after the errors');

# An error outside any exception block, then the healthy index, same session.
my ($ret, $o2, $e2) = $node->psql('postgres', qq{
$idx
SELECT count(*) FROM (SELECT k FROM bad ORDER BY k DESC LIMIT 30000) s;
SELECT count(*) FROM good WHERE k LIKE 'host2%';
}, on_error_stop => 0);
like($e2, qr/ERROR:.*(corrupt|impossible)/, 'a failing scan at top level');
is((split /\n/, $o2)[-1], $expect, 'then the healthy index answers in the same session');

$node->safe_psql('postgres', 'REINDEX INDEX bad_k');
$node->safe_psql('postgres', 'REINDEX INDEX bad2_k');
is($node->safe_psql('postgres', "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT id FROM bad2 WHERE k = '$key'"),
	'12345', 'REINDEX repairs the index with flipped bytes');
is($node->safe_psql('postgres', "$idx SELECT count(*) FROM bad WHERE k LIKE 'host1%'"),
	$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM bad WHERE k LIKE 'host1%'"),
	'REINDEX repairs the damaged index');
is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('bad_k')"), '0',
	'memkv_verify is clean after REINDEX')
  if $node->safe_psql('postgres', "SELECT count(*) FROM pg_proc WHERE proname = 'memkv_verify'") > 0;

$node->stop;
done_testing();
