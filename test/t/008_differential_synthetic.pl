# test/t/008_differential_synthetic.pl -- the randomized differential test
# (004_differential.pl) on generated keys instead of Debian paths: a tiny
# alphabet so that keys are prefixes of each other everywhere, every ASCII
# byte at one position (the widest tree nodes), long keys that share long
# prefixes, numbers.  Fewer operations than 004 (MEMKV_DIFF_OPS overrides).

use strict;
use warnings;
use FindBin;
# Loaded here, at compile time, so that their INIT blocks run (a module first
# loaded by "do" at run time would skip them).
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

$ENV{MEMKV_DIFF_KEYSET} = 'synthetic';
$ENV{MEMKV_DIFF_OPS} //= 3000;
$ENV{MEMKV_DIFF_STRIPES} //= 32;
my $file = "$FindBin::RealBin/004_differential.pl";
do $file;
die "running $file: $@" if $@;
