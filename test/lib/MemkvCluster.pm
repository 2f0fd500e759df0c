# test/lib/MemkvCluster.pm -- the cluster set-up the memkv TAP tests share.
#
# memkv_primary(NAME, OPTIONS) makes, starts and returns a
# PostgreSQL::Test::Cluster initialized in the C locale and UTF8, with
# memkv in shared_preload_libraries, autovacuum off and the extension
# created in database postgres.  OPTIONS:
#   streaming => 1     allows_streaming (for a standby, or a backup);
#   checksums => 0     no data checksums (18 turns them on by default): for
#                      a test that changes a page's bytes on disk and
#                      wants memkv's own check, not the checksum's, to
#                      answer;
#   conf => TEXT       more postgresql.conf lines, e.g.
#                      "memkv.freeze_threshold = 0";
#   sql => TEXT        SQL run in database postgres right after CREATE
#                      EXTENSION (the test's tables and indexes).
#
# memkv_standby(PRIMARY, NAME, OPTIONS) takes a base backup of PRIMARY
# (made with streaming => 1), starts a streaming standby from it with
# OPTIONS' conf lines, waits until it has replayed everything the primary
# wrote, and returns it.
#
# memkv_check_scans(NODE, LABEL, INDEX, QUERIES) runs every query of the
# array QUERIES on NODE through the index (an index scan, then a bitmap
# scan) and asserts each answer equals the sequential scan's, then that
# memkv_verify(INDEX) finds no problem.

package MemkvCluster;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(memkv_primary memkv_standby memkv_check_scans);

sub memkv_primary
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my @extra = ('--locale=C', '--encoding=UTF8');

	push @extra, '--no-data-checksums'
	  if defined $opt{checksums} && !$opt{checksums} && $node->pg_version >= 18;
	$node->init(allows_streaming => $opt{streaming} ? 1 : 0, extra => \@extra);
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'memkv'\nautovacuum = off\n"
		  . ($opt{conf} // ''));
	$node->start;
	$node->safe_psql('postgres',
		"CREATE EXTENSION memkv;\n" . ($opt{sql} // ''));
	return $node;
}

sub memkv_standby
{
	my ($primary, $name, %opt) = @_;
	my $backup = "${name}_backup";

	$primary->backup($backup);
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($primary, $backup, has_streaming => 1);
	$standby->append_conf('postgresql.conf', $opt{conf}) if $opt{conf};
	$standby->start;
	$primary->wait_for_catchup($standby);
	return $standby;
}

sub memkv_check_scans
{
	my ($node, $label, $index, $queries) = @_;
	foreach my $q (@$queries)
	{
		my $want = $node->safe_psql('postgres',
			"SET enable_indexscan = off; SET enable_bitmapscan = off; $q");
		foreach my $m ('enable_bitmapscan = off', 'enable_indexscan = off')
		{
			my $got = $node->safe_psql('postgres',
				"SET enable_seqscan = off; SET $m; $q");
			is($got, $want, "$label: $q ($m)");
		}
	}
	is($node->safe_psql('postgres', "SELECT * FROM memkv_verify('$index')"),
		'', "$label: memkv_verify finds no problem");
	return;
}

1;
