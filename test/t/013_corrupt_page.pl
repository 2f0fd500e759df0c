# test/t/013_corrupt_page.pl -- damaged pages of the run and the metapage.
#
# While the server is down, two memkv indexes get one data page in the
# middle of their run damaged on disk (the page found through the
# directory and the run's header, see test/lib/MemkvDisk.pm), with the
# page header left valid (so PostgreSQL's own page check passes and
# memkv's has to catch it):
#   * bad_k: the memkv trailer (special space) is overwritten: every scan
#     fails with the corruption ERROR and its REINDEX hint;
#   * bad2_k: a few bytes of FST/postings data are changed, the trailer is
#     intact: the slice no longer matches its checksum, so every scan fails
#     (point lookups included: they read the run's checked shared copy)
#     and memkv_verify reports it.
# In both cases, never a crash and never a wrong answer.  Moreover:
#   * the same session goes on scanning a healthy memkv index, also right
#     after an error caught by a PL/pgSQL exception block, many times over
#     (the state a failed scan leaves behind is cleaned up by the abort);
#   * REINDEX repairs the damaged index.
# Then the metapage (format version 3: the run directory):
#   * damaged directory: a byte changed with the CRC left (dcrc_k), the
#     run count past its limit with the CRC fixed (dcount_k), the run's
#     header block past the relation's end with the CRC fixed (dblock_k):
#     a scan, an insert and memkv_verify each give the ERROR
#     index_corrupted, "metapage of index ... is corrupted: <the rule>",
#     with the REINDEX hint;
#   * version 2 (a memkv 1.x metapage): the version field rewritten to 2,
#     with the CRC fixed (v2_k) or not (v2raw_k): refused with "built by
#     memkv 1.x" and the REINDEX hint;
#   * REINDEX repairs all of them.

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../lib";
use MemkvDisk;

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
# the metapage cases: small indexes, each with one run
my @meta_cases = qw(dcrc dcount dblock v2 v2raw);
foreach my $t (@meta_cases)
{
	$node->safe_psql('postgres', qq{
CREATE TABLE $t AS SELECT * FROM bad WHERE id <= 2000;
CREATE INDEX ${t}_k ON $t USING memkv (k);
});
}
my %meta_file = map {
	$_ => $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('${_}_k')")
} @meta_cases;

my $path = $node->safe_psql('postgres', "SELECT pg_relation_filepath('bad_k')");
my $frozen_pages = $node->safe_psql('postgres',
	"SELECT frozen_pages FROM memkv_state('bad_k')");
ok($frozen_pages > 4, "the run spans several pages ($frozen_pages)");
my $key = $node->safe_psql('postgres', "SELECT k FROM bad WHERE id = 12345");
my $path2 = $node->safe_psql('postgres', "SELECT pg_relation_filepath('bad2_k')");

$node->stop;

# The middle data page of an index's run: through the directory and the
# run's header, so that neither the metapage nor a header page is hit.
sub middle_run_page
{
	my ($d) = @_;
	my $dir = dir_get($d);
	die "expected one run, found $dir->{nruns}" if $dir->{nruns} != 1;
	my $h = run_header($d, $dir->{runs}[0]);
	my $npages = 0;
	$npages += $_->[1] foreach @{ $h->{extents} };
	return run_block($h, int($npages / 2));
}

# bad_k: the special space of the middle run page
my $file = $node->data_dir . "/$path";
my $d = slurp_file_bin($file);
my $victim = middle_run_page(\$d);
substr($d, $victim * $BLCKSZ + $SPECIAL, 16) = "\x5a" x 16;
spew_file_bin($file, $d);
# bad2_k: 8 bytes in the middle of a page's contents (header and trailer kept)
my $file2 = $node->data_dir . "/$path2";
$d = slurp_file_bin($file2);
my $victim2 = middle_run_page(\$d);
my $o8 = $victim2 * $BLCKSZ + 4000;
substr($d, $o8, 8) = join '', map { chr(ord($_) ^ 0xA5) } split //, substr($d, $o8, 8);
spew_file_bin($file2, $d);

# the metapage cases
my %meta_damage = (
	dcrc => sub {
		my ($d) = @_;
		my $o = dir_offset(32);    # freeze_count
		substr($$d, $o, 1) = chr(ord(substr($$d, $o, 1)) ^ 0x10);
	},
	dcount => sub {
		my ($d) = @_;
		my $dir = dir_get($d);
		die "expected one run, found $dir->{nruns}" if $dir->{nruns} != 1;
		$dir->{nruns} = 25;
		dir_put($d, $dir);
	},
	dblock => sub {
		my ($d) = @_;
		my $dir = dir_get($d);
		die "expected one run, found $dir->{nruns}" if $dir->{nruns} != 1;
		$dir->{runs}[0]{header_block} = length($$d) / $BLCKSZ + 3;
		dir_put($d, $dir);
	},
	v2 => sub {
		my ($d) = @_;
		my $dir = dir_get($d);
		$dir->{version} = 2;
		dir_put($d, $dir);
	},
	v2raw => sub { put32($_[0], dir_offset(4), 2); },
);
foreach my $t (@meta_cases)
{
	my $d = slurp_file_bin($meta_file{$t});
	my $before = $d;
	$meta_damage{$t}->(\$d);
	die "$t: damage changed nothing" if $d eq $before;
	spew_file_bin($meta_file{$t}, $d);
}
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

# The metapage cases: every entry point that reads the directory refuses
# the index with the rule it breaks.
my %meta_message = (
	dcrc => qr/metapage of index "dcrc_k" is corrupted: checksum mismatch/,
	dcount => qr/metapage of index "dcount_k" is corrupted: too many runs/,
	# caught by the directory's rules or by the header reader (which
	# does not read past the relation's end)
	dblock => qr/(metapage|run header) of index "dblock_k" is corrupted: .*(past the end|outside the relation)/,
	v2 => qr/index "v2_k" was built by memkv 1\.x/,
	v2raw => qr/index "v2raw_k" was built by memkv 1\.x/,
);
foreach my $t (@meta_cases)
{
	foreach my $q (
		"$idx SELECT id FROM $t WHERE k = '$key'",
		"$idx SELECT count(*) FROM $t WHERE k LIKE 'host1%'",
		"INSERT INTO $t VALUES (-1, 'inserted')",
		"SELECT * FROM memkv_verify('${t}_k')")
	{
		my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$q");
		is($ret, 3, "$t: fails: $q");
		like($err, qr/ERROR:\s+XX002/, "$t: index_corrupted for: $q");
		like($err, $meta_message{$t}, "$t: the message names the damage for: $q");
		like($err, qr/HINT:\s+(Please )?REINDEX it/, "$t: REINDEX hint for: $q");
	}
}
ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'the server is still up after the metapage cases');

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
foreach my $t (@meta_cases)
{
	$node->safe_psql('postgres', "REINDEX INDEX ${t}_k");
	is($node->safe_psql('postgres', "$idx SELECT count(*) FROM $t WHERE k LIKE 'host1%'"),
		$node->safe_psql('postgres', "SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM $t WHERE k LIKE 'host1%'"),
		"REINDEX repairs $t");
	is($node->safe_psql('postgres', "SELECT count(*) FROM memkv_verify('${t}_k')"), '0',
		"memkv_verify is clean on $t after REINDEX");
}

$node->stop;
done_testing();
