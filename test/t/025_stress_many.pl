# test/t/025_stress_many.pl -- 005_concurrency.pl's mix (inserts, deletes,
# updates, VACUUM and memkv_freeze, the background worker freezing, and
# readers asserting in SQL that every stable key is seen once and in order:
# index, index-only and bitmap scans, forward and backward, short ordered
# scans and point lookups) with 32 clients on 2 jobs, an index of 8
# stripes, in 4 MB of memkv shared memory and a registry of one entry: a
# second index, which some clients insert into and scan, evicts the first
# at every turn.  So stripe
# locks, syncs, evictions, run-copy drops and freezes all meet under
# contention (issue 14's stress test).  Afterwards both indexes must equal
# their heaps and memkv_verify() must be clean, as in 005.

use strict;
use warnings;
use FindBin;
# Loaded here, at compile time, so that their INIT blocks run (a module first
# loaded by "do" at run time would skip them).
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

$ENV{MEMKV_STRESS_CLIENTS} //= 32;
$ENV{MEMKV_STRESS_TRANSACTIONS} //= 40;
$ENV{MEMKV_STRESS_STRIPES} //= 8;
$ENV{MEMKV_STRESS_CONF} //= "memkv.shared_memory = 4\nmemkv.max_indexes = 1\n";
my $file = "$FindBin::RealBin/005_concurrency.pl";
do $file;
die "running $file: $@" if $@;
